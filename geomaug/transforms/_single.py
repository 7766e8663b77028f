"""One sample per call, on Python floats: the walk a DataLoader worker's calls take.

The batched walk (:func:`geomaug.transforms.core.run`) treats one sample as a batch of one and pays
numpy's cost per call (about a microsecond, several in a real call where the kernels have just
emptied the caches) on one-element arrays, some hundred times per call.  This walk draws the
same uniforms in the same order, builds each op's matrix with the same builders on Python floats,
composes them with the same product and hands the kernels the same arguments: its results equal
the batched walk's to the bit (``tests/test_transforms_single.py`` checks every op it takes).

It takes a flat :class:`Compose` of the ops in :data:`OPS` (exact types, no method overridden
on an instance: a subclass may change ``draw`` or ``matrix``), called on one unbatched CPU sample
without ``params``, when the image work is one fused pass, one resample or nothing; :func:`run`
returns None for every other call before it draws anything (the decision reads the pipeline as
it is at the call), and the batched walk takes it.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import torch

from . import geometry as G
from ._apply import _image, _jitter_codes, check_size, outputs
from .color import _OPS, ColorJitter, Normalize, RandomGrayscale
from .core import _POOL, Compose
from .geometric import (CenterCrop, Crop, HorizontalFlip, Pad, RandomAffine, RandomCrop, Resize,
                        Rotate, VerticalFlip)
from ..fused import fill_values

OPS = frozenset({HorizontalFlip, VerticalFlip, Resize, RandomCrop, Crop, CenterCrop, Pad, Rotate,
                 RandomAffine, ColorJitter, RandomGrayscale, Normalize})
_FUSED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


class One:
    """The walk's state: the sample's uniforms (handed out as ``Context`` does for a batch of
    one: ``_POOL`` columns per ``torch.rand``), its size and composed matrix where the walk stands,
    its colour steps and Normalize (what :func:`geomaug.transforms._apply._image` reads)."""

    affine = True  # every op this walk takes is affine (outputs() maps keypoints without w)

    def __init__(self, generator, h: int, w: int):
        self.generator = generator
        self._pool, self._next = [], 0
        self.h, self.w = h, w
        self.entries = G.IDENTITY_ENTRIES  # the composed matrix while walking (Python floats)
        self.matrix = None  # then (1, 3, 3), as the batched walk's
        self.stage = 0  # geometric ops walked
        self.colors = []  # (op, params)
        self.normalize = None  # (Normalize, channel order)

    def columns(self, k: int) -> list:
        if self._next + k > len(self._pool):
            self._pool = torch.rand(1, max(k, _POOL), generator=self.generator,
                                    dtype=torch.float64).tolist()[0]
            self._next = 0
        u = self._pool[self._next:self._next + k]
        self._next += k
        return u

    def rand(self) -> float:
        return self.columns(1)[0]

    def uniform(self, lo: float, hi: float) -> float:
        return lo + (hi - lo) * self.columns(1)[0]

    def coin(self, p: float) -> bool:
        return self.columns(1)[0] < p

    def integers(self, lo: int, hi: int) -> int:
        """Uniform in [lo, hi] (inclusive), as ``Context.integers``."""
        return min(lo + math.floor(self.rand() * (hi - lo + 1)), hi)


# Methods an instance may not override for this walk to take it (it calls the class's).
_METHODS = frozenset({"draw", "draw_values", "matrix", "apply", "step", "color", "draw_one",
                      "draw_values_one", "matrix_one"})


class Plan:
    """Whether this walk takes a call (``ok``), from the pipeline as it is at the call (the batched
    walk reads its ops' settings at each call too): its ops, the image's channel count and dtype,
    and whether the image's colour work fuses (not with a contrast mean measured before a warp,
    two contrasts or two channel orders); ``order``: the fused pass's channel order."""

    def __init__(self, root: Compose, targets):
        transforms = root.transforms
        self.ok = (not targets.batched and targets.batch == 1 and targets.device.type == "cpu"
                   and bool(transforms)
                   and all(type(t) in OPS and _METHODS.isdisjoint(t.__dict__)
                           for t in transforms))
        if not self.ok:
            return
        default = root.channel_order or "RGB"
        self.norm = norm = transforms[-1] if type(transforms[-1]) is Normalize else None
        self.order = default
        img = targets.image
        orders, colors, contrast_at, last_geometric = set(), False, [], -1
        for i, t in enumerate(transforms):
            if t.geometric:
                last_geometric = i
            elif type(t) is Normalize and t is not norm:  # not last: a list edited after the build
                self.ok = False
                return
            elif t.color:
                colors = True
                orders.add(t.channel_order or default)
                if type(t) is ColorJitter and t.contrast is not None:
                    contrast_at.append(i)
        if img is None or (not colors and norm is None):
            return  # the image, if any, is resampled (or kept) as it is
        if norm is not None:
            orders.add(norm.channel_order or default)
        C = img.shape[1]
        self.ok = (last_geometric >= 0 and len(orders) == 1 and len(contrast_at) <= 1
                   and not (contrast_at and contrast_at[0] < last_geometric)
                   and (norm is None or norm.dtype in _FUSED_DTYPES)
                   and img.dtype in (torch.uint8, torch.float32) and 1 <= C <= 4
                   and (not colors or C in (1, 3)))
        self.order = orders.pop()


def run(root, targets, generator) -> dict | None:
    """The call's results (as :func:`geomaug.transforms.core.run`'s), or None (nothing drawn)
    when this walk does not take it."""
    if type(root) is not Compose:
        return None
    walk = Plan(root, targets)
    if not walk.ok:
        return None
    order = walk.order
    h, w = targets.size
    one = One(generator, h, w)
    params = []
    for t in root.transforms:
        p = t.draw_one(one)
        if t.geometric:
            if p.get("apply", True):
                m, (one.h, one.w) = t.matrix_one(p, one.h, one.w)
            else:
                m = G.IDENTITY_ENTRIES  # the batched walk's identity where an op is not applied
            one.entries = G.compose_entries(m, one.entries)
            one.stage += 1
        elif t.color:
            one.colors.append((t, p))
        elif type(t) is Normalize:
            one.normalize = (t, order)
        params.append(_as_params(p))
    size = (one.h, one.w)
    check_size(size)
    one.matrix = G.from_entries(one.entries)[None]
    settings = root._pass_settings
    image = None if targets.image is None else (
        lambda: _image(one, targets.image, size, settings,
                       plan=lambda ctx, img, s: _fused_args(one, img, s, walk)))
    return outputs(targets, one, size, settings, params, image)


def _as_params(p: dict) -> dict:
    """One sample's drawn values as the batched walk records them: ``(1,)`` arrays of their type
    (bool, int64, float64); the floats are rows of one array (one numpy call, not one each)."""
    rows = iter(np.array([v for v in p.values() if type(v) is float])[:, None])
    return {k: next(rows) if type(v) is float else v if isinstance(v, np.ndarray) else
            np.array([v], dtype=np.int64 if type(v) is int else None) for k, v in p.items()}


@functools.lru_cache(maxsize=1024)
def _program(codes: tuple) -> torch.Tensor:
    """The ``(1, S)`` step codes (a pipeline has a few dozen programs; the op only reads them)."""
    return torch.tensor([codes], dtype=torch.int64).view(1, len(codes))


@functools.cache
def _unknown_means(steps: int) -> torch.Tensor:
    """``(1, steps)`` NaN: every contrast mean measured in the pass (the op only reads it)."""
    return torch.full((1, steps), math.nan, dtype=torch.float64)


def _fused_args(one: One, img: torch.Tensor, settings, walk: Plan) -> dict:
    """:func:`geomaug.transforms._apply.fused_plan`'s arguments for this sample: each ColorJitter
    slot runs the op its drawn order names (code 0 where not applied), RandomGrayscale code 5;
    every contrast mean measured in the pass (NaN)."""
    codes, factors = [], []
    for op, p in one.colors:
        on = p.get("apply", True)
        if type(op) is ColorJitter:
            table = _jitter_codes(tuple(name in p for name in _OPS))
            for slot in p["order"][0].tolist():
                codes.append(table[slot] if on else 0)
                factors.append(p.get(_OPS[slot], 1.0))
        else:
            assert type(op) is RandomGrayscale
            codes.append(5 if on else 0)
            factors.append(1.0)
    C, norm = img.shape[1], walk.norm
    return dict(matrices=torch.from_numpy(one.matrix), interpolation=settings["interpolation"],
                border=settings["border"], fill=fill_values(settings["fill"], C, img.dtype),
                ops=_program(tuple(codes)),
                factors=torch.from_numpy(np.array([factors], dtype=np.float64)),
                means=_unknown_means(len(codes)),
                normalize=None if norm is None else norm.fused_args(C, walk.order),
                out_dtype=norm.dtype if norm is not None else img.dtype,
                channel_order=walk.order)
