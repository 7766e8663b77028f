"""Colour transforms and normalisation.

In a pipeline they act on the resampled pixels, in their listed order among themselves; contrast's
mean is that of the image where the op stands in the list.  Semantics of torchvision v2 (PIL's):
brightness multiplies, contrast blends with the grayscale mean, saturation with the grayscale image,
hue shifts H in HSV, grayscale = 0.299 R + 0.587 G + 0.114 B; each clamps to the valid range
(the float chain of :mod:`geomaug.color`, which lists its differences from torchvision).
``channel_order="BGR"`` (on the op or on the Compose) says the input is BGR (``cv2.imread``).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .. import color as _color
from .._checks import fail
from ..fused import normalize_values
from ..color import IMAGENET_MEAN, IMAGENET_STD, denormalize  # noqa: F401  (re-exported)
from . import _colorfn as F
from .core import CHANNEL_ORDERS, Context, Transform, check_choice, check_probability

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
            raise TypeError(f"{name} must be a number or a (min, max) pair, "
                            f"got {value!r}") from None
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
            fail(f"{name} must be (min, max) with min ≤ max, got {value!r}")
    if lo < lower or hi > upper:
        fail(f"{name} must lie in [{lower}, {upper}], got ({lo}, {hi})")
    return lo, hi


class ColorTransform(Transform):
    color = True
    param_shapes = {"apply": ()}

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
    param_shapes = {**ColorTransform.param_shapes, "order": (4,), **{n: () for n in _OPS}}

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
            params["order"] = np.argsort(ctx.rand(4), 1)
        else:
            params["order"] = np.tile(np.arange(4), (ctx.batch, 1))
        for name in _OPS:
            rng = getattr(self, name)
            if rng is not None:
                params[name] = ctx.uniform(*rng)
        return params

    def draw_one(self, one):
        """:meth:`draw` for one sample (transforms/_single.py): Python scalars, same values."""
        params = {}
        if self.p < 1.0:
            params["apply"] = one.coin(self.p)
        if self.random_order:
            params["order"] = np.array([one.columns(4)]).argsort(1)  # as np.argsort
        else:
            params["order"] = np.arange(4)[None]
        for name in _OPS:
            rng = getattr(self, name)
            if rng is not None:
                params[name] = one.uniform(*rng)
        return params

    def _check_params(self, params, batch):
        """Replayed params: each row's order a permutation of the four ops, the factors where
        the colour functions take them (as geomaug.fused.augment checks its factors)."""
        params = super()._check_params(params, batch)
        if "order" in params and not (np.sort(params["order"], 1) == np.arange(4)).all():
            fail("params['order'] of ColorJitter must hold a permutation of 0..3 per sample, got "
                 f"{params['order'].tolist()}")
        for name in ("brightness", "contrast", "saturation"):
            if name in params and (params[name] < 0).any():
                fail(f"params['{name}'] of ColorJitter must be >= 0, got {params[name].tolist()}")
        if "hue" in params and (np.abs(params["hue"]) > 0.5).any():
            fail(f"params['hue'] of ColorJitter must lie in [-0.5, 0.5], got "
                 f"{params['hue'].tolist()}")
        return params

    def needs_mean(self, params):
        return "contrast" in params

    def color(self, x, params, bound, order, mean=None):
        """Apply to ``x`` (n, C, H, W) float with this op's params for those n samples."""
        F.check_channels(x, "ColorJitter")
        n = x.shape[0]
        params = {k: torch.from_numpy(v) for k, v in params.items()}
        on = params["apply"].to(torch.bool) if "apply" in params else None
        used = None
        perm = params["order"].to(torch.int64)
        if (on is None or bool(on.all())) and (n == 1 or bool((perm == perm[:1]).all())):
            # one order for all (e.g. B = 1)
            for j in perm[0].tolist():
                name = _OPS[j]
                if name in params:
                    x, m = self._one(name, x, params[name], bound, order, mean)
                    used = m if m is not None else used
            return x, used
        if on is None:
            on = torch.ones(n, dtype=torch.bool)
        for k in range(4):
            for j, name in enumerate(_OPS):
                if name not in params:
                    continue
                sel = on & (perm[:, k] == j)
                idx = sel.nonzero().flatten()
                if idx.numel() == 0:
                    continue
                dev = idx.to(x.device)
                sub = x if idx.numel() == n else x.index_select(0, dev)
                sub_mean = None if mean is None else mean[idx.to(mean.device)]
                y, m = self._one(name, sub, params[name][idx], bound, order, sub_mean)
                if m is not None:
                    used = torch.zeros(n, dtype=m.dtype, device=m.device) if used is None else used
                    used[idx.to(m.device)] = m
                x = y if idx.numel() == n else x.index_copy(0, dev, y)
        return x, used

    @staticmethod
    def _one(name, x, f, bound, order, mean):
        """One of the four on ``x`` with factors ``f`` → (result, contrast mean used or None)."""
        if name == "brightness":
            return F.brightness(x, f, bound), None
        if name == "contrast":
            m = F.gray_mean(x, order, bound) if mean is None else mean.to(x)
            return F.contrast(x, f, m, bound), m
        if name == "saturation":
            return F.saturation(x, f, bound, order), None
        return F.hue(x, f, bound, order), None


class RandomGrayscale(ColorTransform):
    """Grayscale (luma in every channel) with probability ``p`` per sample."""

    def __init__(self, p: float = 0.1, *, channel_order=None):
        super().__init__(p, channel_order)

    def draw(self, ctx):
        return {"apply": ctx.coin(self.p)}

    def draw_one(self, one):
        return {"apply": one.coin(self.p)}

    def color(self, x, params, bound, order, mean=None):
        F.check_channels(x, "RandomGrayscale")
        idx = torch.from_numpy(params["apply"].astype(bool)).nonzero().flatten()
        if idx.numel() == 0:
            return x, None
        dev = idx.to(x.device)
        return x.index_copy(0, dev, F.to_gray(x.index_select(0, dev), order)), None


class Normalize(Transform):
    """``(x/255 − mean)/std`` for uint8 input (``(x − mean)/std`` for float input in [0, 1]);
    output float CHW torch (``dtype``, default float32) whatever the input type.  Last in a
    pipeline.  ``mean``/``std``: one per channel (or one number), in **RGB** order (ImageNet
    defaults); for BGR input (``channel_order``) they are applied reversed, as
    :func:`geomaug.color.normalize`.  :func:`denormalize` inverts it for display."""

    def __init__(self, mean=IMAGENET_MEAN, std=IMAGENET_STD, *, dtype=torch.float32,
                 channel_order=None):
        super().__init__()
        self.mean = mean
        self.std = std
        if dtype not in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
            fail(f"dtype must be float32, float64, float16 or bfloat16, got {dtype}")
        self.dtype = dtype
        self.channel_order = check_choice(channel_order, CHANNEL_ORDERS, "channel_order")

    @property
    def mean(self) -> tuple[float, ...]:
        """Per-channel means (RGB order; one number: every channel); may be set again (checked)."""
        return self._mean

    @mean.setter
    def mean(self, value):
        self._mean = _values(value, "mean")
        self.__dict__.pop("_fused", None)

    @property
    def std(self) -> tuple[float, ...]:
        """Per-channel standard deviations, > 0; may be set again (checked)."""
        return self._std

    @std.setter
    def std(self, value):
        std = _values(value, "std")
        if min(std) <= 0:
            fail(f"std must be > 0 for every channel, got {value!r}")
        self._std = std
        self.__dict__.pop("_fused", None)

    def apply(self, ctx, params):
        ctx.normalize = (self, self.channel_order or ctx.channel_order)

    def _check_channels(self, c: int):
        for name, values in (("mean", self.mean), ("std", self.std)):
            if len(values) not in (1, c):
                alpha = " (PIL LA / RGBA images keep their alpha channel)" if c in (2, 4) else ""
                fail(f"Normalize: the image has {c} channels{alpha} but {name} has "
                     f"{len(values)} values: give one per channel, or one for all")

    def fused_args(self, c: int, order: str):
        """``(mean, std)`` as :func:`geomaug.fused.run` takes them (made once per setting)."""
        key = (c, order)
        cache = self.__dict__.setdefault("_fused", {})  # emptied when mean or std is set
        if key not in cache:
            self._check_channels(c)
            cache[key] = normalize_values(_spread(self.mean, c), _spread(self.std, c), c, order)
        return cache[key]

    def normalize(self, x: torch.Tensor, bound: float, order: str = "RGB") -> torch.Tensor:
        c = x.shape[1]
        work = torch.float64 if x.dtype == torch.float64 else torch.float32
        scale, bias = self._scale_bias(c, bound, order, work, x.device)
        out = torch.addcmul(bias, x.to(work), scale)  # (x/bound − mean)/std in one pass
        return out.to(self.dtype).contiguous()

    def _scale_bias(self, c, bound, order, work, device):
        """``(1, c, 1, 1)`` scale 1/(bound·std) and bias −mean/std, made once per setting."""
        key = (self.mean, self.std, c, bound, order, work, device)
        cache = self.__dict__.setdefault("_cache", {})
        if key not in cache:
            self._check_channels(c)
            mean = _color._mean_std(_spread(self.mean, c), c, "mean", order)
            std = _color._mean_std(_spread(self.std, c), c, "std", order)
            inv = 1.0 / std
            cache.clear()  # one setting at a time is the common case; keep it small
            cache[key] = ((inv / bound).to(device, work).view(1, c, 1, 1),
                          (-mean * inv).to(device, work).view(1, c, 1, 1))
        return cache[key]


def _spread(values, c):
    return list(values) * (c if len(values) == 1 else 1)


def _values(v, name):
    try:
        t = torch.as_tensor(v, dtype=torch.float64).flatten()
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"{name} must be a number or one number per channel, got {v!r}") from None
    if t.numel() == 0 or not torch.isfinite(t).all():
        fail(f"{name} must be finite numbers, got {v!r}")
    return tuple(t.tolist())
