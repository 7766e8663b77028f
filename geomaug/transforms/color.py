"""Colour transforms and normalisation.

In a pipeline they act on the resampled pixels, in their listed order among themselves; contrast's
mean is that of the image where the op stands in the list.  Semantics of torchvision v2 (PIL's):
brightness multiplies, contrast blends with the grayscale mean, saturation with the grayscale image,
hue shifts H in HSV, grayscale = 0.299 R + 0.587 G + 0.114 B; each clamps to the valid range.
``channel_order="BGR"`` (on the op or on the Compose) says the input is BGR (``cv2.imread``).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .._checks import fail
from . import _colorfn as F
from .core import CHANNEL_ORDERS, Context, Transform, check_choice, check_probability

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_OPS = ("brightness", "contrast", "saturation", "hue")


def _factor_range(value, name, center, lower=0.0, upper=math.inf):
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value) or value < 0:
            fail(f"{name} must be a non-negative number or a (min, max) pair, got {value}")
        if value == 0:
            return None
        lo, hi = center - value, center + value
        lo = max(lo, lower)
    else:
        try:
            lo, hi = (float(v) for v in value)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a number or a (min, max) pair, got {value!r}") from None
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
            fail(f"{name} must be (min, max) with min ≤ max, got {value!r}")
    if lo < lower or hi > upper:
        fail(f"{name} must lie in [{lower}, {upper}], got ({lo}, {hi})")
    return lo, hi


class ColorTransform(Transform):
    color = True

    def __init__(self, p: float, channel_order):
        super().__init__()
        self.p = check_probability(p)
        self.channel_order = check_choice(channel_order, CHANNEL_ORDERS, "channel_order")

    def apply(self, ctx: Context, params):
        ctx.add_color(self, params)

    def needs_mean(self, params) -> bool:
        return False


class ColorJitter(ColorTransform):
    """Random brightness, contrast, saturation and hue, factors drawn per sample.

    Args:
        brightness, contrast, saturation: a number v → factor in [max(0, 1 − v), 1 + v], or
            ``(min, max)``; 0 = off.
        hue: h in [0, 0.5] → shift in [−h, h] (fraction of the hue circle), or ``(min, max)``.
        random_order: a random order of the four per sample (as torchvision, default), or
            ``False``: brightness, contrast, saturation, hue.
        p: probability per sample.  channel_order: ``"RGB"``/``"BGR"`` (default: the pipeline's).

    Example:
        >>> out = ColorJitter(0.5, 0.5, 0.5)(image=img_uint8, seed=0)
    """

    def __init__(self, brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0, *,
                 random_order: bool = True, p: float = 1.0, channel_order=None):
        super().__init__(p, channel_order)
        self.brightness = _factor_range(brightness, "brightness", 1.0)
        self.contrast = _factor_range(contrast, "contrast", 1.0)
        self.saturation = _factor_range(saturation, "saturation", 1.0)
        self.hue = _factor_range(hue, "hue", 0.0, -0.5, 0.5)
        if not isinstance(random_order, bool):
            raise TypeError(f"random_order must be a bool, got {type(random_order).__name__}")
        self.random_order = random_order

    def draw(self, ctx):
        params = {}
        if self.p < 1.0:
            params["apply"] = ctx.coin(self.p)
        if self.random_order:
            params["order"] = torch.argsort(torch.rand(ctx.batch, 4, generator=ctx.generator), 1)
        else:
            params["order"] = torch.arange(4).expand(ctx.batch, 4).clone()
        for name in _OPS:
            rng = getattr(self, name)
            if rng is not None:
                params[name] = ctx.uniform(*rng)
        return params

    def needs_mean(self, params):
        return "contrast" in params

    def color(self, x, params, bound, order, mean=None):
        """Apply to ``x`` (n, C, H, W) float with this op's params for those n samples."""
        n = x.shape[0]
        on = params["apply"].to(torch.bool) if "apply" in params else torch.ones(n, dtype=torch.bool)
        used = None
        perm = params["order"].to(torch.int64)
        for k in range(4):
            for j, name in enumerate(_OPS):
                if name not in params:
                    continue
                sel = on & (perm[:, k] == j)
                idx = sel.nonzero().flatten()
                if idx.numel() == 0:
                    continue
                f = params[name][idx]
                dev = idx.to(x.device)
                sub = x if idx.numel() == n else x.index_select(0, dev)
                if name == "brightness":
                    y = F.brightness(sub, f, bound)
                elif name == "contrast":
                    m = F.gray_mean(sub, order) if mean is None else mean[idx.to(mean.device)].to(sub)
                    used = torch.zeros(n, dtype=m.dtype, device=m.device) if used is None else used
                    used[idx.to(m.device)] = m
                    y = F.contrast(sub, f, m, bound)
                elif name == "saturation":
                    y = F.saturation(sub, f, bound, order)
                else:
                    y = F.hue(sub, f, bound, order)
                x = y if idx.numel() == n else x.index_copy(0, dev, y)
        return x, used


class RandomGrayscale(ColorTransform):
    """Grayscale (luma in every channel) with probability ``p`` per sample."""

    def __init__(self, p: float = 0.1, *, channel_order=None):
        super().__init__(p, channel_order)

    def draw(self, ctx):
        return {"apply": ctx.coin(self.p)}

    def color(self, x, params, bound, order, mean=None):
        idx = params["apply"].to(torch.bool).nonzero().flatten()
        if idx.numel() == 0:
            return x, None
        dev = idx.to(x.device)
        return x.index_copy(0, dev, F.to_gray(x.index_select(0, dev), order)), None


def _per_channel(v, name):
    try:
        t = torch.as_tensor(v, dtype=torch.float64).flatten()
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"{name} must be a number or one number per channel, got {v!r}") from None
    if t.numel() == 0 or not torch.isfinite(t).all():
        fail(f"{name} must be finite numbers, got {v!r}")
    return t


class Normalize(Transform):
    """``(x/255 − mean)/std`` for uint8 input (``(x − mean)/std`` for float input in [0, 1]);
    output float CHW torch (``dtype``, default float32) whatever the input type.  Last in a
    pipeline.  ``mean``/``std``: one per channel, in the image's channel order (ImageNet RGB
    defaults)."""

    def __init__(self, mean=IMAGENET_MEAN, std=IMAGENET_STD, *, dtype=torch.float32):
        super().__init__()
        self.mean = tuple(_per_channel(mean, "mean").tolist())
        self.std = tuple(_per_channel(std, "std").tolist())
        if min(self.std) <= 0:
            fail(f"std must be positive, got {std!r}")
        if dtype not in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
            fail(f"dtype must be float32, float64, float16 or bfloat16, got {dtype}")
        self.dtype = dtype

    def apply(self, ctx, params):
        ctx.normalize = self

    def normalize(self, x: torch.Tensor, bound: float) -> torch.Tensor:
        C = x.shape[1]
        mean, std = torch.tensor(self.mean), torch.tensor(self.std)
        if mean.numel() not in (1, C) or std.numel() not in (1, C):
            fail(f"Normalize has {mean.numel()} means and {std.numel()} stds for an image with "
                 f"{C} channels")
        work = torch.float64 if x.dtype == torch.float64 else torch.float32
        mean = mean.to(x.device, work).reshape(1, -1, 1, 1)
        std = std.to(x.device, work).reshape(1, -1, 1, 1)
        return ((x.to(work) / bound - mean) / std).to(self.dtype).contiguous()


def denormalize(x, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> torch.Tensor:
    """Invert :class:`Normalize` for display: float ``(…, C, H, W)`` → uint8 (rounded, clamped).

    Example:
        >>> denormalize(out["image"]).permute(1, 2, 0).numpy()  # an (H, W, 3) uint8 picture
    """
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(np.asarray(x))
    if x.dim() < 3 or not x.dtype.is_floating_point:
        fail(f"x must be a float (..., C, H, W) tensor, got shape {tuple(x.shape)} {x.dtype}")
    m = _per_channel(mean, "mean").to(x.device, torch.float32).reshape(-1, 1, 1)
    s = _per_channel(std, "std").to(x.device, torch.float32).reshape(-1, 1, 1)
    return ((x.float() * s + m) * 255).round().clamp(0, 255).to(torch.uint8)
