"""Seeding that scales out: a sample's augmentation depends on (base seed, epoch, sample index)
only — not on the worker that loads it, the number of workers, or the number of ranks."""
from __future__ import annotations

import numpy as np
import torch

from .._checks import fail

TARGETS = ("image", "mask", "keypoints", "boxes")


def _nonneg_int(v, name):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(v).__name__}")
    if v < 0:
        fail(f"{name} must be ≥ 0, got {v}")
    return int(v)


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A 63-bit seed mixed from (seed, epoch, index) with numpy's SeedSequence (well spread: nearby
    indices or epochs give unrelated streams)."""
    entropy = [_nonneg_int(seed, "seed"), _nonneg_int(epoch, "epoch"), _nonneg_int(index, "index")]
    return int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0] >> np.uint64(1))


def sample_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """The CPU generator for one sample's augmentation in one epoch.

    Example:
        >>> def __getitem__(self, i):
        ...     g = sample_generator(self.seed, self.epoch, i)
        ...     return self.transform(image=..., generator=g)
    """
    return torch.Generator().manual_seed(sample_seed(seed, epoch, index))


class AugmentedDataset(torch.utils.data.Dataset):
    """Wrap a dataset whose items are dicts (``image``, ``mask``, ``keypoints``, ``boxes``, any
    other keys passed through) and augment item i with ``sample_generator(seed, epoch, i)``.

    ``set_epoch(e)`` (call it each epoch, as with ``DistributedSampler``) reaches the DataLoader's
    workers too, persistent ones included (the epoch lives in shared memory).  Picklable for spawn.

    Example:
        >>> ds = AugmentedDataset(base, Compose([...]), seed=0)
        >>> for epoch in range(n):
        ...     ds.set_epoch(epoch)
        ...     for batch in DataLoader(ds, batch_size=8, num_workers=4): ...
    """

    def __init__(self, dataset, transform, seed: int = 0):
        self.dataset = dataset
        self.transform = transform
        self.seed = _nonneg_int(seed, "seed")
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()

    @property
    def epoch(self) -> int:
        return int(self._epoch)

    def set_epoch(self, epoch: int) -> None:
        self._epoch.fill_(_nonneg_int(epoch, "epoch"))

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        item = self.dataset[index]
        if not isinstance(item, dict):
            raise TypeError(f"AugmentedDataset needs items that are dicts of targets "
                            f"({', '.join(TARGETS)}), got {type(item).__name__}")
        targets = {k: v for k, v in item.items() if k in TARGETS}
        out = self.transform(**targets, generator=sample_generator(self.seed, self.epoch, index))
        rest = {k: v for k, v in item.items() if k not in TARGETS}
        out.pop("params", None)
        return {**rest, **out}
