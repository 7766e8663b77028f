"""One sample per call, on Python floats: the walk a DataLoader worker's calls take.

The batched walk (:func:`geomaug.transforms.core.run`) treats one sample as a batch of one and pays
numpy's cost per call (about a microsecond, several in a real call where the kernels have just
emptied the caches) on one-element arrays, some hundred times per call.  This walk draws the
same uniforms in the same order, builds each op's matrix with the same builders on Python floats,
composes them with the same product and hands the kernels the same arguments: its results equal
the batched walk's to the bit (``tests/test_transforms_single.py`` checks every op it takes).

It takes a flat :class:`Compose` of the ops in :data:`OPS` (exact types: a subclass may change
``draw`` or ``matrix``), called on one unbatched CPU sample without ``params``, when the image
work is one fused pass, one resample or nothing; :func:`run` returns None for every other call
before it draws anything, and the batched walk takes it.
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


class Plan:
    """What a pipeline's calls need to know to take this walk, read once when the Compose is built
    (as its pass settings are): its ops, and for the image the fused pass's channel order (None:
    the colour work needs the step-by-step path, e.g. a contrast mean measured before a warp)."""

    def __init__(self, root: Compose):
        self.transforms = list(root.transforms)
        default = root.channel_order or "RGB"
        colors = [t for t in self.transforms if t.color]
        norm = self.transforms[-1] if type(self.transforms[-1]) is Normalize else None
        self.colors = bool(colors)  # colour ops (they need 1 or 3 channels)
        self.image_work = bool(colors) or norm is not None  # else the image is resampled as is
        geometric = [i for i, t in enumerate(self.transforms) if t.geometric]
        contrasts = [i for i, t in enumerate(self.transforms)
                     if type(t) is ColorJitter and t.contrast is not None]
        orders = {t.channel_order or default for t in colors}
        if norm is not None:
            orders.add(norm.channel_order or default)
        fused = (geometric and len(orders) <= 1 and len(contrasts) <= 1
                 and not (contrasts and contrasts[0] < geometric[-1])
                 and (norm is None or norm.dtype in _FUSED_DTYPES))
        self.order = (orders.pop() if orders else default) if fused else None
        self.norm = norm
        self._constants = {}  # channels -> the fused op's fill and normalisation arguments

    def constants(self, C: int, settings: dict):
        """The fused op's fill and (mean, std) for ``C`` channels, made once per pipeline."""
        if C not in self._constants:
            norm = None if self.norm is None else self.norm.fused_args(C, self.order)
            self._constants[C] = (fill_values(settings["fill"], C), norm)
        return self._constants[C]

    def takes(self, root: Compose, targets) -> bool:
        if (targets.batched or targets.batch != 1 or targets.device.type != "cpu"
                or root.transforms != self.transforms):
            return False
        img = targets.image
        if img is None or not self.image_work:
            return True
        C = img.shape[1]
        return (self.order is not None and img.dtype in (torch.uint8, torch.float32)
                and 1 <= C <= 4 and (not self.colors or C in (1, 3)))


def plan(root: Compose) -> Plan | None:
    """The pipeline's :class:`Plan`, or None when it holds an op this walk does not take."""
    if type(root) is not Compose or not root.transforms or \
            not all(type(t) in OPS for t in root.transforms):
        return None
    return Plan(root)


def run(root, targets, generator) -> dict | None:
    """The call's results (as :func:`geomaug.transforms.core.run`'s), or None (nothing drawn)
    when this walk does not take it."""
    walk = getattr(root, "_single", None)
    if walk is None or not walk.takes(root, targets):
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
    return {k: next(rows) if type(v) is float else v if isinstance(v, np.ndarray) else np.array([v])
            for k, v in p.items()}


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
    fill, normalize = walk.constants(img.shape[1], settings)
    norm = walk.norm
    return dict(matrices=torch.from_numpy(one.matrix), interpolation=settings["interpolation"],
                border=settings["border"], fill=fill,
                ops=_program(tuple(codes)),
                factors=torch.from_numpy(np.array([factors], dtype=np.float64)),
                means=_unknown_means(len(codes)), normalize=normalize,
                out_dtype=norm.dtype if norm is not None else img.dtype,
                channel_order=walk.order)
