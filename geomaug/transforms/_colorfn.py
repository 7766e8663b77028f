"""The float colour chain the colour transforms call: :mod:`geomaug.color`'s internal functions, on
``(B, C, H, W)`` float tensors with values in ``[0, bound]`` (255 for uint8 sources, 1 for float
ones) and per-sample factors ``(B,)``; each clamps to ``[0, bound]``, none rounds."""
from __future__ import annotations

import torch

from .. import color as C
from .._checks import fail


def _factor(f, x):
    return torch.as_tensor(f).to(device=x.device, dtype=x.dtype).reshape(-1)


def check_channels(x: torch.Tensor, what: str):
    if x.shape[1] not in (1, 3):
        fail(f"{what} needs images with 1 or 3 channels, got {x.shape[1]}")


def gray_mean(x: torch.Tensor, order: str, bound: float = 1.0) -> torch.Tensor:
    """(B,) mean of the grayscale image (contrast's mean)."""
    return C._gray_mean(x, order)


def brightness(x, f, bound):
    return C._brightness(x, _factor(f, x), bound)


def contrast(x, f, mean, bound):
    return C._contrast(x, _factor(f, x), _factor(mean, x), bound)


def saturation(x, f, bound, order):
    return C._saturation(x, _factor(f, x), bound, order)


def hue(x, shift, bound, order):
    return C._hue(x, _factor(shift, x), bound, order)


def to_gray(x, order):
    """Grayscale with the channel count kept (luma in every channel)."""
    if x.shape[1] == 1:
        return x
    return C._gray(x, order).expand_as(x).contiguous()
