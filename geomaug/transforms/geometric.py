"""Geometric transforms: each is a 3x3 forward matrix per sample (and a new size), composed into
the pipeline's one matrix and applied in its one resampling pass.

Convention: pixel (row i, col j) has its centre at (x=j, y=i), width W spans [-0.5, W-0.5]; flip
x' = (W−1) − x; resize x' = (x+0.5)·W'/W − 0.5; crop at (left, top) x' = x − left; rotation, scale
and shear about ((W−1)/2, (H−1)/2), positive angles counter-clockwise on screen.

Pass settings (``border``, ``interpolation``, ``fill``, ``ignore_index``): ``None`` = not declared,
the pipeline's (default constant border, as Albumentations 2.x for its crops, pads, ``Rotate`` and
``Affine``); see :func:`geomaug.transforms.core.pass_settings` for the rule when ops differ.
"""
from __future__ import annotations

import math

import numpy as np

from .._checks import fail
from . import geometry as G
from .core import Context, Transform, _check_pairs, check_pass_settings, check_probability


def _number(v, name):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise TypeError(f"{name} must be a finite number, got {v!r}")
    return float(v)


def symmetric_range(value, name, *, positive=False):
    """A number d → (−d, d) (d ≥ 0); a pair (lo, hi) with lo ≤ hi; ``None`` → None."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        d = _number(value, name)
        if d < 0:
            fail(f"{name} must be ≥ 0 as a single number (the range is (-{name}, {name})), got {d}")
        lo, hi = -d, d
    else:
        lo, hi = pair(value, name)
    if positive and lo <= 0:
        fail(f"{name} must be a range of positive numbers, got ({lo}, {hi})")
    return lo, hi


def pair(value, name):
    try:
        lo, hi = value
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number or a (min, max) pair, got {value!r}") from None
    lo, hi = _number(lo, name), _number(hi, name)
    if lo > hi:
        fail(f"{name} must be (min, max) with min ≤ max, got ({lo}, {hi})")
    return lo, hi


def crop_size(size, name="size"):
    """int s → (s, s); (h, w) → (h, w); both positive."""
    if isinstance(size, int) and not isinstance(size, bool):
        h = w = size
    else:
        try:
            h, w = size
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be an int or (height, width), got {size!r}") from None
        if any(isinstance(v, bool) or not isinstance(v, int) for v in (h, w)):
            raise TypeError(f"{name} must hold ints, got {size!r}")
    if h <= 0 or w <= 0:
        fail(f"{name} must be positive, got (height, width) = ({h}, {w})")
    return int(h), int(w)


_EYE = np.eye(3)


def _hw(sizes: np.ndarray):
    """(B, 2) int64 sizes → float64 (h, w), each (B,)."""
    s = sizes.astype(np.float64)
    return s[:, 0], s[:, 1]


def _fixed_size(size, n: int) -> np.ndarray:
    return np.repeat(np.array([size], dtype=np.int64), n, 0)


class GeometricTransform(Transform):
    """Base of the geometric ops: ``matrix(params, sizes) -> ((B, 3, 3), new sizes (B, 2))``."""
    geometric = True
    param_shapes = {"apply": ()}

    def __init__(self, p: float = 1.0, *, border=None, interpolation=None, fill=None,
                 ignore_index=None):
        super().__init__()
        self.p = check_probability(p)
        self.settings = check_pass_settings(border, interpolation, fill, ignore_index)

    def draw_values(self, ctx: Context) -> dict:
        return {}

    def draw(self, ctx):
        params = {"apply": ctx.coin(self.p)} if self.p < 1.0 else {}
        params.update(self.draw_values(ctx))
        return params

    def matrix(self, params: dict, sizes: np.ndarray):
        """``(B, 3, 3)`` float64 forward matrices and the new ``(B, 2)`` int64 sizes (numpy)."""
        raise NotImplementedError

    def apply(self, ctx, params):
        m, sizes = self.matrix(params, ctx.sizes)
        if "apply" in params:
            on = params["apply"].astype(bool)
            m = np.where(on[:, None, None], m, _EYE)
            if sizes is not ctx.sizes:  # (flips keep the size)
                sizes = np.where(on[:, None], sizes, ctx.sizes)
        ctx.add_geometry(m, sizes)

    # One sample on Python floats (transforms/_single.py), the same values as draw/matrix:
    def draw_values_one(self, one) -> dict:
        return {}

    def draw_one(self, one) -> dict:
        params = {"apply": one.coin(self.p)} if self.p < 1.0 else {}
        params.update(self.draw_values_one(one))
        return params

    def matrix_one(self, params: dict, h: int, w: int):
        """One sample's forward matrix as its entries (Python floats, see
        :func:`geometry.compose_entries`) and its new ``(h, w)`` (params: Python scalars)."""
        raise NotImplementedError


class HorizontalFlip(GeometricTransform):
    """Mirror left-right with probability ``p``: x' = (W − 1) − x.  ``flip_pairs`` (keypoint index
    pairs) swap wherever the pipeline's composed matrix mirrors.

    Example:
        >>> out = HorizontalFlip(p=1.0, flip_pairs=[(0, 1)])(image=img, keypoints=kp)
    """

    def __init__(self, p: float = 0.5, flip_pairs=None):
        super().__init__(p)
        self.flip_pairs = _check_pairs(flip_pairs)
        self.settings["flip_pairs"] = self.flip_pairs

    def draw(self, ctx):
        return {"apply": ctx.coin(self.p)}

    def matrix(self, params, sizes):
        return G.hflip(_hw(sizes)[1]), sizes

    def draw_one(self, one):
        return {"apply": one.coin(self.p)}

    def matrix_one(self, params, h, w):
        return G.hflip_entries(float(w)), (h, w)


class VerticalFlip(HorizontalFlip):
    """Mirror top-bottom with probability ``p``: y' = (H − 1) − y (a mirror: flip pairs swap)."""

    def matrix(self, params, sizes):
        return G.vflip(_hw(sizes)[0]), sizes

    def matrix_one(self, params, h, w):
        return G.vflip_entries(float(h)), (h, w)


class Resize(GeometricTransform):
    """Resize to ``size``: ``(h, w)``, or an int for the shorter side (aspect kept, as torchvision).
    x' = (x + 0.5)·W'/W − 0.5; with the border rule this equals ``cv2.resize`` (bilinear)."""

    def __init__(self, size, *, interpolation=None):
        super().__init__(interpolation=interpolation)
        if isinstance(size, int) and not isinstance(size, bool):
            if size <= 0:
                fail(f"size must be positive, got {size}")
            self.size = size
        else:
            self.size = crop_size(size)

    def matrix(self, params, sizes):
        h, w = _hw(sizes)
        if isinstance(self.size, int):
            short = np.minimum(h, w)
            nh = np.where(h <= w, float(self.size), np.floor(self.size * h / short))
            nw = np.where(w < h, float(self.size), np.floor(self.size * w / short))
        else:
            nh = np.full_like(h, self.size[0])
            nw = np.full_like(w, self.size[1])
        return G.resize(h, w, nh, nw), np.stack([nh, nw], 1).astype(np.int64)

    def matrix_one(self, params, h, w):
        h, w = float(h), float(w)
        if isinstance(self.size, int):
            short = min(h, w)
            nh = float(self.size) if h <= w else float(math.floor(self.size * h / short))
            nw = float(self.size) if w < h else float(math.floor(self.size * w / short))
        else:
            nh, nw = float(self.size[0]), float(self.size[1])
        return G.resize_entries(h, w, nh, nw), (int(nh), int(nw))


class RandomScale(GeometricTransform):
    """Resize by a random factor per sample: ``scale=(lo, hi)`` uniform, or ``choices=[...]``
    (as segmentation recipes use).  New size round(H·s) (half up, at least 1); the matrix scales by
    the exact ratio new/old.  Sizes then differ per sample: follow with a crop for batches."""
    param_shapes = {**GeometricTransform.param_shapes, "scale": ()}

    def __init__(self, scale=None, *, choices=None, p: float = 1.0, interpolation=None):
        super().__init__(p, interpolation=interpolation)
        if (scale is None) == (choices is None):
            fail("RandomScale needs scale=(min, max) or choices=[...] (one of them)")
        if isinstance(scale, (int, float)) and not isinstance(scale, bool):
            fail(f"scale must be a (min, max) range of factors, got {scale!r}")
        self.scale = symmetric_range(scale, "scale", positive=True) if scale is not None else None
        if choices is not None:
            try:
                vals = [_number(v, "choices") for v in choices]
            except TypeError:
                raise TypeError(f"choices must be a list of numbers, got {choices!r}") from None
            if not vals or min(vals) <= 0:
                fail(f"choices must be a non-empty list of positive factors, got {choices!r}")
            self.choices = vals
        else:
            self.choices = None

    def draw_values(self, ctx):
        if self.choices is not None:
            u = ctx.rand()
            idx = np.minimum((u * len(self.choices)).astype(np.int64), len(self.choices) - 1)
            return {"scale": np.array(self.choices, dtype=np.float64)[idx]}
        return {"scale": ctx.uniform(*self.scale)}

    def matrix(self, params, sizes):
        h, w = _hw(sizes)
        s = params["scale"].astype(np.float64)
        nh = np.maximum(np.floor(h * s + 0.5), 1)
        nw = np.maximum(np.floor(w * s + 0.5), 1)
        return G.resize(h, w, nh, nw), np.stack([nh, nw], 1).astype(np.int64)


class RandomCrop(GeometricTransform):
    """Crop ``size`` at a random position; where the image is smaller, it is placed at a random
    position inside the crop and the rest is padding (image ``fill``, mask ``ignore_index``)."""
    param_shapes = {**GeometricTransform.param_shapes, "top": (), "left": ()}

    def __init__(self, size, *, fill=None, ignore_index=None, border=None):
        super().__init__(fill=fill, ignore_index=ignore_index, border=border)
        self.size = crop_size(size)

    def draw_values(self, ctx):
        h, w = ctx.sizes[:, 0], ctx.sizes[:, 1]
        dy, dx = h - self.size[0], w - self.size[1]
        top = ctx.integers(np.minimum(dy, 0), np.maximum(dy, 0))
        left = ctx.integers(np.minimum(dx, 0), np.maximum(dx, 0))
        return {"top": top, "left": left}

    def matrix(self, params, sizes):
        m = G.translation(-params["left"].astype(np.float64), -params["top"].astype(np.float64))
        return m, _fixed_size(self.size, len(sizes))

    def draw_values_one(self, one):
        dy, dx = one.h - self.size[0], one.w - self.size[1]
        top = one.integers(min(dy, 0), max(dy, 0))
        left = one.integers(min(dx, 0), max(dx, 0))
        return {"top": top, "left": left}

    def matrix_one(self, params, h, w):
        return G.translation_entries(-float(params["left"]), -float(params["top"])), self.size


class Crop(GeometricTransform):
    """Crop the fixed box ``(top, left, height, width)`` (padding where it leaves the image):
    x' = x − left, y' = y − top."""

    def __init__(self, top: int, left: int, height: int, width: int, *, fill=None,
                 ignore_index=None, border=None):
        super().__init__(fill=fill, ignore_index=ignore_index, border=border)
        for name, v in (("top", top), ("left", left)):
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError(f"{name} must be an int, got {v!r}")
        self.top, self.left = top, left
        self.size = crop_size((height, width), "(height, width)")

    def matrix(self, params, sizes):
        n = len(sizes)
        m = G.translation(np.full(n, -float(self.left)), -float(self.top))
        return m, _fixed_size(self.size, n)

    def matrix_one(self, params, h, w):
        return G.translation_entries(-float(self.left), -float(self.top)), self.size


class CenterCrop(GeometricTransform):
    """Crop ``size`` at the centre (offset round((H − h)/2) as torchvision; pads when smaller)."""

    def __init__(self, size, *, fill=None, ignore_index=None, border=None):
        super().__init__(fill=fill, ignore_index=ignore_index, border=border)
        self.size = crop_size(size)

    def matrix(self, params, sizes):
        top_left = _centre((sizes - self.size).astype(np.float64))  # (B, 2): both sides at once
        return G.translation(-top_left[:, 1], -top_left[:, 0]), _fixed_size(self.size, len(sizes))

    def matrix_one(self, params, h, w):
        top, left = (_centre_one(float(d)) for d in (h - self.size[0], w - self.size[1]))
        return G.translation_entries(-left, -top), self.size


def _centre(diff: np.ndarray) -> np.ndarray:
    """torchvision's centre-crop offset: round(diff / 2) (half to even); when padding, the pad
    before is floor(−diff / 2)."""
    return np.where(diff >= 0, np.rint(diff / 2), -np.floor(-diff / 2))


def _centre_one(diff: float) -> float:
    """:func:`_centre` of one float (``round`` rounds half to even, as ``np.rint``)."""
    return float(round(diff / 2)) if diff >= 0 else -float(math.floor(-diff / 2))


class RandomResizedCrop(GeometricTransform):
    """A crop of random area fraction ``scale`` and aspect ``ratio`` (log-uniform), resized to
    ``size`` — torchvision's algorithm (10 tries, then a centre crop of the clamped ratio)."""
    param_shapes = {**GeometricTransform.param_shapes, "top": (), "left": (), "height": (),
                    "width": ()}

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), *, interpolation=None):
        super().__init__(interpolation=interpolation)
        self.size = crop_size(size)
        self.scale = pair(scale, "scale")
        self.ratio = pair(ratio, "ratio")
        if self.scale[0] <= 0 or self.scale[1] > 1:
            fail(f"scale must be a range in (0, 1], got {self.scale}")
        if self.ratio[0] <= 0:
            fail(f"ratio must be a range of positive numbers, got {self.ratio}")

    def draw_values(self, ctx):
        tries = 10
        h, w = _hw(ctx.sizes)
        area = (h * w)[:, None]
        target = area * ctx.uniform(*self.scale, n=tries)
        log_r = ctx.uniform(math.log(self.ratio[0]), math.log(self.ratio[1]), n=tries)
        r = np.exp(log_r)
        cw = np.round(np.sqrt(target * r))
        ch = np.round(np.sqrt(target / r))
        ok = (cw > 0) & (ch > 0) & (cw <= w[:, None]) & (ch <= h[:, None])
        u = ctx.uniform(0.0, 1.0, n=2 * tries)
        top = np.floor(u[:, :tries] * (h[:, None] - ch + 1))
        left = np.floor(u[:, tries:] * (w[:, None] - cw + 1))
        first = ok.argmax(1)[:, None]  # the first try that fits (0 when none does)
        pick = lambda t: np.take_along_axis(t, first, 1)[:, 0]  # noqa: E731
        # Fallback (no try fits): centre crop at the ratio clamped to the range.
        in_ratio = w / h
        fw = np.where(in_ratio < self.ratio[0], w, np.where(
            in_ratio > self.ratio[1], np.round(h * self.ratio[1]), w))
        fh = np.where(in_ratio < self.ratio[0], np.round(w / self.ratio[0]), h)
        any_ok = ok.any(1)
        ch_, cw_ = np.where(any_ok, pick(ch), fh), np.where(any_ok, pick(cw), fw)
        top_ = np.where(any_ok, pick(top), np.floor((h - fh) / 2))
        left_ = np.where(any_ok, pick(left), np.floor((w - fw) / 2))
        return {"top": top_, "left": left_, "height": ch_, "width": cw_}

    def matrix(self, params, sizes):
        ch, cw = params["height"].astype(np.float64), params["width"].astype(np.float64)
        crop = G.translation(-params["left"].astype(np.float64), -params["top"].astype(np.float64))
        m = G.compose(G.resize(ch, cw, float(self.size[0]), float(self.size[1])), crop)
        return m, _fixed_size(self.size, len(sizes))


class Pad(GeometricTransform):
    """Pad by ``padding``: an int (all sides), ``(left/right, top/bottom)`` or
    ``(left, top, right, bottom)`` pixels: x' = x + left."""

    def __init__(self, padding, *, fill=None, ignore_index=None, border=None):
        super().__init__(fill=fill, ignore_index=ignore_index, border=border)
        vals = [padding] if isinstance(padding, int) else padding
        try:
            vals = [int(v) for v in vals if not isinstance(v, bool) and v == int(v)]
        except (TypeError, ValueError):
            raise TypeError(f"padding must be an int or a tuple of 2 or 4 ints, "
                            f"got {padding!r}") from None
        if len(vals) not in (1, 2, 4) or (not isinstance(padding, int)
                                          and len(vals) != len(padding)):
            fail(f"padding must be an int or a tuple of 2 or 4 ints, got {padding!r}")
        if min(vals) < 0:
            fail(f"padding must be non-negative, got {padding!r}")
        l, t, r, b = (vals * 4) if len(vals) == 1 else (vals * 2 if len(vals) == 2 else vals)
        self.padding = (l, t, r, b)

    def matrix(self, params, sizes):
        l, t, r, b = self.padding
        m = G.translation(np.full(len(sizes), float(l)), float(t))
        return m, sizes + np.array([[t + b, l + r]], dtype=np.int64)

    def matrix_one(self, params, h, w):
        l, t, r, b = self.padding
        return G.translation_entries(float(l), float(t)), (h + t + b, w + l + r)


class Rotate(GeometricTransform):
    """Rotate about the image centre by an angle drawn uniformly from ``degrees`` (a number d →
    (−d, d), or (min, max)); positive = counter-clockwise on screen; same output size."""
    param_shapes = {**GeometricTransform.param_shapes, "angle": ()}

    def __init__(self, degrees, p: float = 1.0, *, border=None, interpolation=None, fill=None,
                 ignore_index=None):
        super().__init__(p, border=border, interpolation=interpolation, fill=fill,
                         ignore_index=ignore_index)
        self.degrees = symmetric_range(degrees, "degrees")

    def draw_values(self, ctx):
        return {"angle": ctx.uniform(*self.degrees)}

    def matrix(self, params, sizes):
        h, w = _hw(sizes)
        return G.centered_affine(params["angle"], 1.0, 0.0, 0.0, 0.0, 0.0, h, w), sizes

    def draw_values_one(self, one):
        return {"angle": one.uniform(*self.degrees)}

    def matrix_one(self, params, h, w):
        return G.centered_affine_entries(params["angle"], 1.0, 0.0, 0.0, 0.0, 0.0, float(h),
                                         float(w)), (h, w)


class RandomAffine(GeometricTransform):
    """Random scale, shear, rotation about the centre, then translation, per sample.

    Args:
        degrees: rotation range (number d → (−d, d)), counter-clockwise positive.
        translate: ``(fx, fy)`` maximal |shift| as fractions of width/height (torchvision's).
        scale: ``(min, max)`` factor range.
        shear: degrees; d → x-shear in (−d, d); ``(min, max)`` x-shear;
            ``(xmin, xmax, ymin, ymax)`` x and y shear.
    """
    param_shapes = {**GeometricTransform.param_shapes, "angle": (), "tx": (), "ty": (),
                    "scale": (), "shear_x": (), "shear_y": ()}

    def __init__(self, degrees=0.0, translate=None, scale=None, shear=None, p: float = 1.0, *,
                 border=None, interpolation=None, fill=None, ignore_index=None):
        super().__init__(p, border=border, interpolation=interpolation, fill=fill,
                         ignore_index=ignore_index)
        self.degrees = symmetric_range(degrees, "degrees")
        if translate is not None:
            fx, fy = _pair_any(translate, "translate")
            if not (0 <= fx <= 1 and 0 <= fy <= 1):
                fail(f"translate must be two fractions in [0, 1], got {translate!r}")
            translate = (fx, fy)
        self.translate = translate
        self.scale = pair(scale, "scale") if scale is not None else None
        if self.scale is not None and self.scale[0] <= 0:
            fail(f"scale must be a range of positive factors, got {scale!r}")
        if shear is None or isinstance(shear, (int, float)):
            sx = symmetric_range(shear, "shear")
            self.shear = None if sx is None else (sx, (0.0, 0.0))
        elif len(shear) == 4:
            self.shear = (pair(shear[:2], "shear"), pair(shear[2:], "shear"))
        else:
            self.shear = (pair(shear, "shear"), (0.0, 0.0))

    def draw_values(self, ctx):
        d = {"angle": ctx.uniform(*self.degrees)}
        fx, fy = self.translate or (0.0, 0.0)
        h, w = _hw(ctx.sizes)
        d["tx"] = ctx.uniform(-fx * w, fx * w)  # (B,) bounds: (lo + (hi − lo)·u)
        d["ty"] = ctx.uniform(-fy * h, fy * h)
        d["scale"] = (ctx.uniform(*self.scale) if self.scale
                      else np.ones(ctx.batch))
        (a, b), (c, e) = self.shear or ((0.0, 0.0), (0.0, 0.0))
        d["shear_x"] = ctx.uniform(a, b)
        d["shear_y"] = ctx.uniform(c, e)
        return d

    def matrix(self, params, sizes):
        h, w = _hw(sizes)
        p = params
        return G.centered_affine(p["angle"], p["scale"], p["shear_x"], p["shear_y"], p["tx"],
                                 p["ty"], h, w), sizes

    def draw_values_one(self, one):
        d = {"angle": one.uniform(*self.degrees)}
        fx, fy = self.translate or (0.0, 0.0)
        h, w = float(one.h), float(one.w)
        d["tx"] = one.uniform(-fx * w, fx * w)
        d["ty"] = one.uniform(-fy * h, fy * h)
        d["scale"] = one.uniform(*self.scale) if self.scale else 1.0
        (a, b), (c, e) = self.shear or ((0.0, 0.0), (0.0, 0.0))
        d["shear_x"] = one.uniform(a, b)
        d["shear_y"] = one.uniform(c, e)
        return d

    def matrix_one(self, params, h, w):
        p = params
        return G.centered_affine_entries(p["angle"], p["scale"], p["shear_x"], p["shear_y"],
                                         p["tx"], p["ty"], float(h), float(w)), (h, w)


def _pair_any(v, name):
    try:
        a, b = v
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a pair of numbers, got {v!r}") from None
    return _number(a, name), _number(b, name)
