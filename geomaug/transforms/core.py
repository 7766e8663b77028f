"""The machinery every transform shares: the call, drawing parameters, composing the matrix, and
the one resampling pass; and the containers :class:`Compose`, :class:`RandomApply`, :class:`OneOf`.

A call walks the transforms in order with a :class:`Context` that tracks, per sample, the composed
forward matrix and the current size.  Each transform draws its parameters (CPU, float64, from the
call's generator) unless they are given, then a geometric one multiplies its matrix in and a colour
one is recorded.  Then the image is resampled once, the mask once, keypoints and boxes are mapped,
the colour ops run on the resampled pixels in their listed order, and Normalize runs last.

A call on one unbatched sample without ``params`` (a DataLoader worker's) takes the same walk on
Python floats instead (``_single.py``): the same draws, matrices and results, less Python.
"""
from __future__ import annotations

import importlib
import numbers
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from .._checks import fail
from . import geometry as G
from ._resample import BORDERS
from ._targets import read_targets

INTERPOLATIONS = ("bilinear", "nearest")
CHANNEL_ORDERS = ("RGB", "BGR")
# Settings of the one resampling pass, and their defaults.
_POOL = 32  # uniforms drawn per torch.rand call (a W1 call uses 14)
PASS_DEFAULTS = {"border": "constant", "interpolation": "bilinear", "fill": 0.0,
                 "ignore_index": 255}


def check_probability(p, name="p"):
    if isinstance(p, bool) or not isinstance(p, (int, float)):
        raise TypeError(f"{name} must be a number in [0, 1], got {type(p).__name__}")
    if not 0.0 <= p <= 1.0:
        fail(f"{name} must be in [0, 1], got {p}")
    return float(p)


def check_choice(value, allowed, name):
    if value is not None and value not in allowed:
        fail(f"{name} must be one of {list(allowed)}, got {value!r}")
    return value


def make_generator(generator=None, seed=None) -> torch.Generator | None:
    if generator is not None and seed is not None:
        fail("give generator= or seed=, not both")
    if seed is not None:
        if type(seed) is not int:  # numpy integers too (bools are not seeds)
            if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
                raise TypeError(f"seed must be an int, got {type(seed).__name__}")
            seed = int(seed)
        return torch.Generator().manual_seed(seed)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    if generator is not None and generator.device.type != "cpu":
        fail(f"generator must be a CPU generator (parameters are drawn on the CPU), got one on "
             f"{generator.device}")
    return generator


@dataclass
class ColorStep:
    op: Any
    params: dict  # numpy arrays, (B, ...)
    active: np.ndarray  # (B,) bool: samples it acts on
    stage: int  # number of geometric ops before it in the list
    matrix: np.ndarray  # composed matrix where it stands
    sizes: np.ndarray  # sizes where it stands
    order: str = "RGB"  # the channel order of the Compose it stands in (its own, if set, wins)


@dataclass
class Context:
    """Per-sample state while walking the transforms.

    Everything here is numpy on the CPU (matrices float64 ``(B, 3, 3)``, sizes int64 ``(B, 2)``,
    ``active`` bool ``(B,)``, the drawn parameters): a call works on a few tiny arrays, where
    numpy's cost per operation is a fraction of torch's.  The parameters are returned as drawn
    (``out["params"]``: numpy arrays, one row per sample)."""
    batch: int
    sizes: np.ndarray  # (B, 2) int64 (h, w) where we are in the list (replaced, never written)
    generator: torch.Generator | None
    channel_order: str = "RGB"
    matrix: np.ndarray = None  # (B, 3, 3) float64 composed so far
    active: np.ndarray = None  # (B,) bool: the samples the current op acts on
    all_active: bool = True
    stage: int = 0
    colors: list = field(default_factory=list)
    normalize: Any = None
    empty_size: tuple | None = None

    def __post_init__(self):
        self.matrix = G.eye(self.batch)
        self.set_active(None)
        self._pool = None  # (B, n) uniforms drawn ahead, handed out column by column
        self._next = 0

    # --- drawing helpers (float64 on the CPU, one value per sample) ---
    def _columns(self, k: int) -> np.ndarray:
        """The next ``k`` columns of uniforms, ``(B, k)`` numpy (a view of a torch draw).  Drawn
        ``_POOL`` columns at a time: one ``torch.rand`` per call of a pipeline, not one per
        parameter; the same generator state gives the same values."""
        if self._pool is None or self._next + k > self._pool.shape[1]:
            self._pool = torch.rand(self.batch, max(k, _POOL), generator=self.generator,
                                    dtype=torch.float64).numpy()
            self._next = 0
        u = self._pool[:, self._next:self._next + k]
        self._next += k
        return u

    def rand(self, n: int | None = None) -> np.ndarray:
        """Uniforms in [0, 1): ``(B,)``, or ``(B, n)``."""
        u = self._columns(1 if n is None else n)
        return u[:, 0].copy() if n is None else u.copy()

    def uniform(self, lo, hi, n: int | None = None) -> np.ndarray:
        u = self._columns(1 if n is None else n)
        return lo + (hi - lo) * (u[:, 0] if n is None else u)

    def coin(self, p: float) -> np.ndarray:
        return self._columns(1)[:, 0] < p

    def integers(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Uniform integers in [lo, hi] per sample (inclusive)."""
        u = self.rand()
        return np.minimum((lo + np.floor(u * (hi - lo + 1))).astype(np.int64), hi)

    # --- applying ---
    def add_geometry(self, matrix: np.ndarray, sizes: np.ndarray | None = None):
        if self.all_active:
            self.matrix = G.compose(matrix, self.matrix)
            if sizes is not None:
                self.sizes = sizes.astype(np.int64, copy=False)
        else:
            a = self.active
            self.matrix = np.where(a[:, None, None], G.compose(matrix, self.matrix), self.matrix)
            if sizes is not None:
                self.sizes = np.where(a[:, None], sizes.astype(np.int64, copy=False), self.sizes)
        self.stage += 1

    def set_active(self, active: np.ndarray | None):
        """Restrict the following ops to some samples (``None``: all of them)."""
        self.all_active = active is None
        self.active = np.repeat(True, self.batch) if active is None else active

    def add_color(self, op, params: dict):
        # No copies: matrix, sizes and active are replaced (never written in place) as ops run.
        self.colors.append(ColorStep(op, params, self.active, self.stage, self.matrix,
                                     self.sizes, self.channel_order))


class Transform:
    """Base of every transform: ``t(image=..., mask=..., keypoints=..., boxes=...)``.

    Subclasses implement ``draw(ctx) -> params`` (a dict of ``(B, ...)`` numpy arrays; the
    built-in ops list theirs in ``param_shapes``) and ``apply(ctx, params)``.  Geometric ops set
    ``geometric = True`` and may declare pass settings (``border``, ``interpolation``, ``fill``,
    ``ignore_index``; ``None`` = not declared).
    """
    geometric = False
    color = False
    # The parameters this op draws and the trailing shape of each (() : one value per sample):
    # replayed params of these keys must have exactly (B, *shape); other keys (a subclass's own)
    # only B rows.
    param_shapes: dict = {}

    def __init__(self):
        self.settings = {}

    # --- to override ---
    def draw(self, ctx: Context) -> dict:
        return {}

    def apply(self, ctx: Context, params: dict) -> None:
        raise NotImplementedError

    def draw_one(self, one) -> dict:
        """:meth:`draw` for one sample, as Python scalars (the ops of transforms/_single.py)."""
        return {}

    def children(self) -> Sequence["Transform"]:
        return ()

    # --- shared ---
    def step(self, ctx: Context, params) -> Any:
        if params is None:
            params = self.draw(ctx)
        else:
            params = self._check_params(params, ctx.batch)
        try:
            self.apply(ctx, params)
        except KeyError as e:
            fail(f"params for {type(self).__name__} lack the entry {e}: pass the params recorded "
                 f"in out['params'] by the same pipeline")
        return params

    def _check_params(self, params, batch):
        if not isinstance(params, dict):
            fail(f"params for {type(self).__name__} must be a dict as recorded in "
                 f"out['params'], got {type(params).__name__}")
        out = {}
        name = type(self).__name__
        for k, v in params.items():
            v = as_numpy(v)
            shape = self.param_shapes.get(k)
            if shape is not None and v.shape != (batch, *shape):
                fail(f"params['{k}'] of {name} must have shape {(batch, *shape)} (one row per "
                     f"sample), got shape {tuple(v.shape)}")
            if v.ndim == 0 or v.shape[0] != batch:
                fail(f"params['{k}'] of {name} must have {batch} rows (one per sample), got shape "
                     f"{tuple(v.shape)}")
            if v.dtype.kind not in "biuf":
                fail(f"params['{k}'] of {name} must hold real numbers, got dtype {v.dtype}")
            if v.dtype.kind == "f" and not np.isfinite(v).all():
                fail(f"params['{k}'] of {name} must be finite, got {v[~np.isfinite(v)][0]}")
            out[k] = v
        return out

    def walk(self):
        yield self
        for c in self.children():
            yield from c.walk()

    def __call__(self, image=None, mask=None, keypoints=None, boxes=None, *, params=None,
                 generator: torch.Generator | None = None, seed: int | None = None, size=None):
        """Transform the given targets; returns a dict with the same keys plus ``matrix``
        (source → output), ``visible`` (with keypoints) and ``params`` (the drawn parameters as
        nested dicts/lists of numpy arrays with one row per sample; pass them back to replay).

        Args:
            image: torch ``(C, H, W)``/``(B, C, H, W)`` (any memory format), numpy ``(H, W, C)``/
                ``(H, W)``, or a PIL image; uint8 (0..255) or float (0..1).
            mask: ``(H, W)``, ``(B, H, W)``, ``(B, 1, H, W)`` (numpy ``(H, W)``/``(H, W, 1)``, PIL),
                any integer dtype (kept).
            keypoints: ``(K, 2)``/``(B, K, 2)`` (x, y) floats.
            boxes: xyxy ``(N, 4)``/``(B, N, 4)``.
            params: the ``out["params"]`` of an earlier call (numpy arrays or tensors): replays it
                exactly.
            generator / seed: where the parameters are drawn from (default: torch's global RNG).
            size: ``(H, W)`` of the image, needed only when neither image nor mask is given.
        """
        targets = read_targets(image, mask, keypoints, boxes, size)
        return run(self, targets, params, make_generator(generator, seed))

    def replay(self, params, **targets):
        """``t(**targets, params=params)``: the same augmentation again (e.g. on another target)."""
        return self(**targets, params=params)

    def __repr__(self):
        names = (k[1:] if k.startswith("_") and isinstance(getattr(type(self), k[1:], None),
                                                            property) else k for k in vars(self))
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in names
                         if not k.startswith("_") and k != "settings" and
                         getattr(self, k) is not None)
        return f"{type(self).__name__}({args})"


def pass_settings(root: Transform) -> dict:
    """The resampling settings of a pipeline: what its geometric ops (and containers) declare.

    One pass has one border mode, interpolation, fill and ignore_index.  Ops that declare none
    take the pipeline's (default: constant border, bilinear, fill 0, ignore_index 255); ops that
    declare different values raise InputError naming them.
    """
    chosen: dict[str, tuple[Any, str]] = {}
    for t in root.walk():
        for key, value in t.settings.items():
            if value is None:
                continue
            if key in chosen and not _same(chosen[key][0], value):
                fail(f"one resampling pass has one {key}: {chosen[key][1]} declares "
                     f"{chosen[key][0]!r} but {type(t).__name__} declares {value!r}; declare it "
                     f"once (e.g. on the Compose)")
            chosen.setdefault(key, (value, type(t).__name__))
    out = dict(PASS_DEFAULTS)
    out.update({k: v for k, (v, _) in chosen.items()})
    return out


def _same(a, b):
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return list(a if isinstance(a, (list, tuple)) else [a]) == \
            list(b if isinstance(b, (list, tuple)) else [b])
    return a == b


def check_pass_settings(border=None, interpolation=None, fill=None, ignore_index=None) -> dict:
    check_choice(border, BORDERS, "border")
    check_choice(interpolation, INTERPOLATIONS, "interpolation")
    if fill is not None:
        vals = list(fill) if isinstance(fill, (list, tuple)) else [fill]
        if not vals or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                               for v in vals):
            raise TypeError(f"fill must be a number or a sequence of numbers, got {fill!r}")
    if ignore_index is not None and (isinstance(ignore_index, bool) or
                                     not isinstance(ignore_index, int)):
        raise TypeError(f"ignore_index must be an int, got {type(ignore_index).__name__}")
    return {"border": border, "interpolation": interpolation, "fill": fill,
            "ignore_index": ignore_index}


class Compose(Transform):
    """Run transforms in order: geometric ones compose into one matrix per sample, applied in one
    resampling pass; colour ops act on the resampled pixels in their listed order; Normalize last.

    Args:
        transforms: the transforms, in order.
        flip_pairs: keypoint index pairs ``[(left, right), ...]`` swapped wherever the composed
            matrix mirrors (so two flips cancel).  Flips may also declare them.
        channel_order: ``"RGB"`` (default) or ``"BGR"``: the order of the input's channels, for the
            colour ops that depend on it (an op's own ``channel_order`` wins).
        border, interpolation, fill, ignore_index: settings of the resampling pass (see
            :func:`pass_settings`); the geometric ops may declare them instead.  They are
            read once, when the Compose is built.

    Example:
        >>> t = Compose([HorizontalFlip(), RandomAffine(degrees=15), CenterCrop(224), Normalize()],
        ...             flip_pairs=[(0, 1)])
        >>> out = t(image=img, mask=mask, keypoints=kp, seed=0)
        >>> out["image"].shape, out["matrix"].shape, out["visible"].shape
    """

    def __init__(self, transforms: Sequence[Transform], *, flip_pairs=None, channel_order=None,
                 border=None, interpolation=None, fill=None, ignore_index=None):
        super().__init__()
        self.transforms = _check_list(transforms, "transforms")
        self.flip_pairs = _check_pairs(flip_pairs)
        self.channel_order = check_choice(channel_order, CHANNEL_ORDERS, "channel_order")
        self.settings = check_pass_settings(border, interpolation, fill, ignore_index)
        self.settings["flip_pairs"] = self.flip_pairs
        # Read once, when built (raises now on conflicting declarations); every call uses it.
        self._pass_settings = pass_settings(self)
        _check_normalize_last(self)

    def children(self):
        return self.transforms

    def step(self, ctx, params):
        if params is not None and (not isinstance(params, (list, tuple)) or
                                   len(params) != len(self.transforms)):
            fail(f"params for Compose must be a list of {len(self.transforms)} entries as "
                 f"recorded in out['params'], got {type(params).__name__}")
        outer = ctx.channel_order
        ctx.channel_order = getattr(self, "channel_order", None) or outer
        try:
            return [t.step(ctx, None if params is None else p)
                    for t, p in zip(self.transforms, params or [None] * len(self.transforms))]
        finally:
            ctx.channel_order = outer


class RandomApply(Transform):
    """Apply ``transforms`` (in order) to each sample with probability ``p`` (drawn per sample)."""

    def __init__(self, transforms: Sequence[Transform] | Transform, p: float = 0.5):
        super().__init__()
        if isinstance(transforms, Transform):
            transforms = [transforms]
        self.transforms = _check_list(transforms, "transforms")
        self.p = check_probability(p)
        _check_normalize_last(self)

    def children(self):
        return self.transforms

    def step(self, ctx, params):
        if params is None:
            applied = ctx.coin(self.p)
            inner = None
        else:
            if not isinstance(params, dict) or set(params) != {"apply", "params"}:
                fail("params for RandomApply must be {'apply': (B,) bool, 'params': [...]}")
            applied = as_numpy(params["apply"]).astype(bool).reshape(ctx.batch)
            inner = params["params"]
        outer, outer_all = ctx.active, ctx.all_active
        ctx.set_active(outer & applied)
        try:
            inner = Compose.step(self, ctx, inner)
        finally:
            ctx.set_active(None if outer_all else outer)
        return {"apply": applied, "params": inner}


class OneOf(Transform):
    """Apply one of ``transforms`` to each sample, chosen per sample with ``weights``
    (default equal), and the whole with probability ``p``."""

    def __init__(self, transforms: Sequence[Transform], weights=None, p: float = 1.0):
        super().__init__()
        self.transforms = _check_list(transforms, "transforms")
        if not self.transforms:
            fail("OneOf needs at least one transform, got none")
        self.weights = weights
        self.p = check_probability(p)
        _check_normalize_last(self)

    @property
    def weights(self) -> tuple[float, ...]:
        """The choice probabilities (normalised to sum 1); may be set again (checked)."""
        return self._weights

    @weights.setter
    def weights(self, weights):
        n = len(self.transforms)
        w = torch.as_tensor([1.0] * n if weights is None else weights, dtype=torch.float64)
        if w.shape != (n,) or not torch.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            fail(f"weights must be {n} non-negative numbers, not all zero, got {weights!r}")
        self._weights = tuple(float(v) for v in w / w.sum())
        self._cdf = np.cumsum(self._weights)

    def children(self):
        return self.transforms

    def step(self, ctx, params):
        n = len(self.transforms)
        if params is None:
            u = ctx.rand()
            index = np.minimum(np.searchsorted(self._cdf, u, side="right"), n - 1)
            index = np.where(ctx.coin(self.p), index, -1)
            inner = [None] * n
        else:
            if not isinstance(params, dict) or set(params) != {"index", "params"}:
                fail("params for OneOf must be {'index': (B,) int, 'params': [...]}")
            index = as_numpy(params["index"])
            if index.size != ctx.batch or index.dtype.kind not in "iu" or \
                    ((index < -1) | (index >= n)).any():
                fail(f"params['index'] of OneOf must be {ctx.batch} integers in [-1, {n - 1}] "
                     f"(-1: none applied), got {index.tolist()}")
            index = index.astype(np.int64).reshape(ctx.batch)
            inner = params["params"]
        outer, outer_all = ctx.active, ctx.all_active
        out = []
        try:
            for i, (t, p) in enumerate(zip(self.transforms, inner)):
                ctx.set_active(outer & (index == i))
                out.append(t.step(ctx, p))
        finally:
            ctx.set_active(None if outer_all else outer)
        return {"index": index, "params": out}


def _check_list(transforms, name):
    if isinstance(transforms, Transform) or not isinstance(transforms, (list, tuple)):
        raise TypeError(f"{name} must be a list of transforms, got {type(transforms).__name__}")
    for i, t in enumerate(transforms):
        if not isinstance(t, Transform):
            raise TypeError(f"{name}[{i}] must be a geomaug transform, got {type(t).__name__}")
    return list(transforms)


def _check_pairs(pairs):
    if pairs is None:
        return None
    try:
        out = [(int(i), int(j)) for i, j in pairs]
    except (TypeError, ValueError):
        fail(f"flip_pairs must be a list of (i, j) index pairs, got {pairs!r}")
    seen = [k for p in out for k in p]
    if len(seen) != len(set(seen)) or any(k < 0 for k in seen):
        fail(f"flip_pairs must pair distinct non-negative indices, each at most once, got {out}")
    return out


def _check_normalize_last(root):
    """Normalize only as the last op of a Compose that is itself last (all the way up): never
    inside RandomApply / OneOf (it applies to every sample or none)."""
    from .color import Normalize

    def find(t, last):
        kids = t.children()
        for i, c in enumerate(kids):
            at_end = last and isinstance(t, Compose) and i == len(kids) - 1
            if isinstance(c, Normalize) and not at_end:
                fail(f"Normalize must be the last transform of the pipeline (not inside "
                     f"RandomApply or OneOf), found it at position {i} of {type(t).__name__}")
            find(c, at_end)

    find(root, True)


def run(root: Transform, targets, params, generator) -> dict:
    """Draw (or replay) the parameters, then transform every target in one pass."""
    if params is None:  # one unbatched sample: the same results on Python floats
        out = _late("_single").run(root, targets, generator)
        if out is not None:
            return out
    B = targets.batch
    h, w = targets.size
    ctx = Context(batch=B, sizes=np.repeat(np.array([[h, w]], dtype=np.int64), B, 0),
                  generator=generator,
                  channel_order=getattr(root, "channel_order", None) or "RGB")
    settings = getattr(root, "_pass_settings", None) or pass_settings(root)
    params = root.step(ctx, params)
    if B == 0:  # an empty batch keeps its shape: the output size of one probe sample
        probe = Context(batch=1, sizes=np.array([[h, w]], dtype=np.int64),
                        generator=torch.Generator().manual_seed(0),
                        channel_order=ctx.channel_order)
        root.step(probe, None)
        ctx.sizes = probe.sizes[:0]
        ctx.empty_size = tuple(int(v) for v in probe.sizes[0])
    return _late("_apply").finish(root, ctx, targets, params, settings)


_LATE: dict = {}


def _late(name: str):
    """Module ``name`` of this package, which imports this one (the apply half, the one-sample
    walk): imported on first use, then looked up (an import statement per call costs more)."""
    module = _LATE.get(name)
    if module is None:
        module = _LATE[name] = importlib.import_module(f"{__package__}.{name}")
    return module


def as_numpy(v) -> np.ndarray:
    """A parameter given for replay (tensor, array, list) → numpy on the CPU."""
    if isinstance(v, torch.Tensor):
        v = v.detach().cpu().numpy()
    v = np.asarray(v)
    return v if v.flags.writeable else v.copy()

