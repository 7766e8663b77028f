"""Test-time augmentation: copies of an input at several scales (and mirrored), each with its
matrix, and the way back: predictions made on the copies resampled into the input's frame."""
from __future__ import annotations

from typing import Sequence

import torch

from .._checks import fail
from .core import Compose
from .geometric import HorizontalFlip, RandomScale, _number


class MultiScale:
    """Copies of the targets at each of ``scales`` (new size round(H·s)), and each also mirrored
    when ``flip``; ``copies[i]["matrix"]`` maps the input's pixels to copy i's.

    Example:
        >>> ms = MultiScale((0.75, 1.0, 1.25), flip=True)
        >>> copies = ms(image=img)                                  # 6 dicts
        >>> logits = [model(c["image"]) for c in copies]             # (B, n_classes, h_i, w_i) each
        >>> fused = ms.merge(logits, copies, size=img.shape[-2:])  # input's frame, averaged
    """

    def __init__(self, scales: Sequence[float] = (1.0,), flip: bool = False, *, flip_pairs=None):
        try:
            self.scales = [_number(s, "scales") for s in scales]
        except TypeError:
            raise TypeError(f"scales must be a list of numbers, got {scales!r}") from None
        if not self.scales or min(self.scales) <= 0:
            fail(f"scales must be a non-empty list of positive factors, got {scales!r}")
        if not isinstance(flip, bool):
            raise TypeError(f"flip must be a bool, got {type(flip).__name__}")
        self.flip = flip
        self.flip_pairs = flip_pairs
        self._pipelines = [Compose([RandomScale(choices=[s]), HorizontalFlip(p=float(f))],
                                   flip_pairs=flip_pairs)
                           for s in self.scales for f in ((False, True) if flip else (False,))]

    def __call__(self, image=None, mask=None, keypoints=None, boxes=None, *, size=None) -> list:
        """One output dict per copy (as a transform's: image, …, matrix, visible)."""
        return [p(image=image, mask=mask, keypoints=keypoints, boxes=boxes, size=size, seed=0)
                for p in self._pipelines]

    def merge(self, predictions: Sequence[torch.Tensor], copies: Sequence[dict], size,
              interpolation: str = "bilinear") -> torch.Tensor:
        """Resample each prediction ``(C, h, w)``/``(B, C, h, w)`` (float, e.g. logits) back into
        the input's ``size`` with its copy's inverse matrix, and average them."""
        if len(predictions) != len(copies):
            fail(f"predictions has {len(predictions)} entries for {len(copies)} copies")
        out = None
        for pred, c in zip(predictions, copies):
            back = warp_back(pred, c["matrix"], size, interpolation)
            out = back if out is None else out + back
        return out / len(predictions)


def warp_back(prediction: torch.Tensor, matrix, size, interpolation: str = "bilinear"):
    """Resample a prediction made on an augmented image into the source frame (``size`` (H, W))
    through ``matrix⁻¹`` — one warp; points outside the augmented image replicate its edge.

    Convention: ``matrix`` is the forward (source → augmented) matrix a transform returned.
    """
    m = torch.as_tensor(matrix, dtype=torch.float64)
    inv = torch.linalg.inv(m)
    h, w = (int(v) for v in size)
    from ._resample import resample

    x = prediction if prediction.dim() == 4 else prediction[None]
    inv = inv.expand(x.shape[0], 3, 3) if inv.dim() == 2 else inv
    out = resample(x, inv.to(x.device), (h, w), interpolation, 0.0, "replicate")
    return out if prediction.dim() == 4 else out[0]

