"""The float colour chain the colour transforms call, on ``(B, C, H, W)`` float tensors with values
in ``[0, bound]`` (255 for uint8 sources, 1 for float ones) and per-sample factors ``(B,)``.

These call :mod:`geomaug.color` when it is installed; until then a PyTorch transcription of the same
semantics (torchvision v2 / PIL: brightness multiplies, contrast blends with the grayscale mean,
saturation with the grayscale image, hue shifts H in HSV; each clamps to ``[0, bound]``).
"""
from __future__ import annotations

import torch

try:  # the colour functions of geomaug (another module of the package)
    from .. import color as _color  # noqa: F401
    _HAS = all(hasattr(_color, n) for n in ("_brightness", "_contrast", "_saturation", "_hue",
                                              "_gray"))
except ImportError:
    _color, _HAS = None, False

# torchvision v2's luma weights (0.2989 where PIL and the docs round to 0.299).
_WEIGHTS = {"RGB": (0.2989, 0.587, 0.114), "BGR": (0.114, 0.587, 0.2989)}


def _col(f, x):
    return torch.as_tensor(f, device=x.device).to(x.dtype).reshape(-1, 1, 1, 1)


def gray(x: torch.Tensor, order: str) -> torch.Tensor:
    """(B, 3, H, W) → (B, 1, H, W) luma 0.2989 R + 0.587 G + 0.114 B (any other C: unchanged)."""
    if _HAS:
        return _color._gray(x, order)
    if x.shape[1] != 3:
        return x[:, :1] if x.shape[1] == 1 else x
    r, g, b = _WEIGHTS[order]
    return (r * x[:, 0:1] + g * x[:, 1:2] + b * x[:, 2:3])


def gray_mean(x: torch.Tensor, order: str) -> torch.Tensor:
    """(B,) mean of the grayscale image (of the image itself when it is not RGB)."""
    return gray(x, order).mean(dim=(1, 2, 3))


def brightness(x, f, bound):
    if _HAS:
        return _color._brightness(x, f, bound)
    return (x * _col(f, x)).clamp_(0, bound)


def contrast(x, f, mean, bound):
    if _HAS:
        return _color._contrast(x, f, mean, bound)
    f = _col(f, x)
    return (x * f + _col(mean, x) * (1 - f)).clamp_(0, bound)


def saturation(x, f, bound, order):
    if _HAS:
        return _color._saturation(x, f, bound, order)
    if x.shape[1] != 3:
        return x
    f = _col(f, x)
    return (x * f + gray(x, order) * (1 - f)).clamp_(0, bound)


def hue(x, shift, bound, order):
    if _HAS:
        return _color._hue(x, shift, bound, order)
    if x.shape[1] != 3:
        return x
    import kornia.color as KC

    rgb = x if order == "RGB" else x.flip(1)
    hsv = KC.rgb_to_hsv(rgb / bound)
    two_pi = 2 * torch.pi
    h = torch.remainder(hsv[:, :1] + _col(shift, x) * two_pi, two_pi)
    out = KC.hsv_to_rgb(torch.cat([h, hsv[:, 1:]], 1)) * bound
    return (out if order == "RGB" else out.flip(1)).clamp_(0, bound)


def to_gray(x, order):
    """Grayscale with the channel count kept (luma in every channel)."""
    if x.shape[1] != 3:
        return x
    return gray(x, order).expand_as(x).contiguous()
