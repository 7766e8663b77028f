"""A Dataset + DataLoader with per-sample seeding: item i of epoch e is augmented from
``sample_generator(seed, e, i)``, so the result is the same with any number of workers.

    python examples/dataloader.py
"""
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

import geomaug.transforms as T


class Synthetic(Dataset):
    """Stands in for files on disk: item i is always the same image, mask and keypoints."""

    def __init__(self, n=8, size=48):
        self.n, self.size = n, size

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        rng = np.random.default_rng(i)
        s = self.size
        return {"image": rng.integers(0, 256, (s, s, 3), dtype=np.uint8),
                "mask": rng.integers(0, 4, (s, s), dtype=np.uint8),
                "keypoints": rng.uniform(0, s - 1, (5, 2)).astype(np.float32),
                "index": i}


def make_dataset(seed=0, n=8):
    t = T.Compose([T.ColorJitter(0.4, 0.4, 0.4, 0.1), T.HorizontalFlip(flip_pairs=[(0, 1)]),
                   T.RandomScale((0.75, 1.5)), T.RandomCrop(40), T.Normalize()])
    return T.AugmentedDataset(Synthetic(n), t, seed=seed)


def load(num_workers=2, epoch=0, seed=0, n=8):
    ds = make_dataset(seed, n)
    ds.set_epoch(epoch)
    loader = DataLoader(ds, batch_size=4, num_workers=num_workers)
    return [b for b in loader]


def main():
    a, b = load(0), load(2)
    same = all(torch.equal(x["image"], y["image"]) for x, y in zip(a, b))
    print(f"{len(a)} batches of {tuple(a[0]['image'].shape)}; "
          f"identical with 0 and 2 workers: {same}")
    return same


if __name__ == "__main__":
    main()
