"""The apply half of a call: one resampling pass of the image and one of the mask through the
composed matrices, keypoints and boxes through the same matrices, then colour ops and Normalize.

For uint8 images with colour ops or Normalize, the pass runs in float32 on the 0..255 scale: the
warp is not rounded, each colour op clamps to [0, 255], and the result is rounded half to even once
at the end (or normalised).  A later fused kernel computes exactly this; this is its reference.
"""
from __future__ import annotations

import functools

import numpy as np
import torch

from .._checks import fail
from ..warping import warp_labels
from ..fused import fill_values as fused_fill
from ..fused import run as fused_run
from . import geometry as G
from ._resample import resample
from .color import _OPS, ColorJitter, RandomGrayscale


def finish(root, ctx, targets, params, settings) -> dict:
    sizes = ctx.sizes.tolist()
    if any(s != sizes[0] for s in sizes):
        seen = sorted({tuple(s) for s in sizes})
        fail(f"the samples of this batch end at different sizes ({seen}): a batch needs one "
             f"output size; end the pipeline with RandomCrop, CenterCrop or Resize")
    size = ctx.empty_size if len(sizes) == 0 else tuple(sizes[0])
    check_size(size)
    image = None if targets.image is None else (
        lambda: _image(ctx, targets.image, size, settings))
    return outputs(targets, ctx, size, settings, params, image)


def outputs(targets, ctx, size, settings, params, image) -> dict:
    """A call's results: keypoints and boxes mapped through ``ctx.matrix`` (``(B, 3, 3)``
    numpy), the image by ``image()`` (``(tensor, normalized)``; None: no image), the mask
    resampled (``ctx.stage``: the number of geometric ops walked, 0: nothing to warp), each given
    back as it came.  The small work runs before the kernels (and the mask's before the image's),
    whose memory traffic leaves the caches cold for whatever follows them."""
    r = targets.restore
    points = {}
    pairs = settings.get("flip_pairs")
    if targets.keypoints is not None:  # numpy, or torch on its device
        kp = targets.keypoints
        m = _matrix_like(ctx.matrix, kp)
        mapped = G.apply_matrix(kp, m, getattr(ctx, "affine", False)) if kp.shape[1] else kp[:]
        if pairs and kp.shape[1]:
            mapped = G.swap_pairs(mapped, G.mirrors(m), pairs)
        h, w = size
        # inside [-0.5, w - 0.5) x [-0.5, h - 0.5): one comparison against (B, K, 2) bounds
        high = _matrix_like(np.array([w - 0.5, h - 0.5]), kp)
        inside = (mapped >= -0.5) & (mapped < high)
        visible = inside[..., 0] & inside[..., 1]
        points["keypoints"] = r["keypoints"](mapped, targets.batched)
        points["visible"] = _like_kind(visible if targets.batched else visible[0], targets.kind)
    if targets.boxes is not None:
        bx = targets.boxes
        mapped = G.map_boxes(bx, _matrix_like(ctx.matrix, bx)) if bx.shape[1] else bx[:]
        points["boxes"] = r["boxes"](mapped, targets.batched)
    m = ctx.matrix if targets.batched else ctx.matrix[0]
    points["matrix"] = m if targets.kind in ("numpy", "pil") else torch.from_numpy(m).to(
        targets.device)
    mask = None if targets.mask is None else _mask(ctx, targets.mask, size, settings)
    out = {}
    if image is not None:
        out["image"] = r["image"](*image())
    if mask is not None:
        out["mask"] = r["mask"](mask)
    out.update(points)
    out["params"] = params
    return out


def _like_kind(t, kind: str):
    """A result array/tensor as the call's targets came: numpy for numpy/PIL, else torch."""
    if kind in ("numpy", "pil"):
        return t if isinstance(t, np.ndarray) else t.cpu().numpy()
    return torch.from_numpy(t) if isinstance(t, np.ndarray) else t


def _matrix_like(a: np.ndarray, like):
    """A float64 numpy array as ``like`` is: numpy, or a torch tensor on its device."""
    if isinstance(like, np.ndarray):
        return a
    t = torch.from_numpy(a)
    return t if like.device.type == "cpu" else t.to(like.device)


def check_size(size):
    if min(size) <= 0:
        fail(f"the pipeline produces an empty image of size {size}")


def _image(ctx, img: torch.Tensor, size, settings, plan=None):
    """→ (image (B, C, h, w), normalized).  ``plan``: how to build the fused op's arguments
    (default :func:`fused_plan`)."""
    bound = 255.0 if img.dtype == torch.uint8 else 1.0
    C = img.shape[1]
    fill = settings["fill"]
    if isinstance(fill, (list, tuple)) and len(fill) not in (1, C):
        fail(f"fill must be a number or one value per channel ({C}), got {len(fill)} values")
    warp = dict(interpolation=settings["interpolation"], fill=fill, border=settings["border"])
    if not ctx.colors and ctx.normalize is None:
        if ctx.stage == 0:
            return img, False
        return resample(img, ctx.matrix, size, **warp), False
    plan = (plan or fused_plan)(ctx, img, settings)
    if plan is not None:  # one pass of the fused op (kernel or its PyTorch path)
        return fused_run(img, size=size, **plan), ctx.normalize is not None
    if img.dtype == torch.uint8:  # held to uint8's range here too, as geomaug.warp and the
        fused_fill(fill, C, img.dtype)  # fused op hold it (this path resamples a float copy)
    work = torch.float64 if img.dtype == torch.float64 else torch.float32
    x = img.to(work)
    means = _preview_means(ctx, x, settings, bound)
    if ctx.stage:
        x = resample(x, ctx.matrix, size, **warp)
    x = run_colors(x, ctx.colors, bound, means)
    if ctx.normalize is not None:
        op, order = ctx.normalize
        return op.normalize(x, bound, order), True
    if img.dtype == torch.uint8:
        x = x.round().clamp_(0, 255).to(torch.uint8)  # round half to even, once
    return x.to(img.dtype), False


_FUSED_CODES = {"brightness": 1, "contrast": 2, "saturation": 3, "hue": 4}


def fused_plan(ctx, img: torch.Tensor, settings) -> dict | None:
    """The one decision between the fused op and the step-by-step path: the checked arguments of
    :func:`geomaug.fused.run` when the image work is exactly one resample (at least one geometric
    op) + ColorJitter/RandomGrayscale steps (at most one contrast mean per sample left to
    measure) + an optional Normalize to float32/16/bf16, on a non-empty uint8/float32 image with
    C ≤ 4 and one channel order; else None.  Means of contrast steps that stand before (some of)
    the geometry are computed here (:func:`_preview_means`) and passed in; later ones are
    measured in the op (NaN)."""
    B, C = img.shape[:2]
    if (img.dtype not in (torch.uint8, torch.float32) or not 1 <= C <= 4 or img.numel() == 0
            or settings["interpolation"] not in ("bilinear", "nearest")):
        return None
    if ctx.stage == 0 or (not ctx.colors and ctx.normalize is None):
        return None  # no resample (colour work alone stays geomaug.color's) or nothing to fuse
    if ctx.colors and C not in (1, 3):
        return None  # the step-by-step path raises the colour op's own error
    orders = {getattr(st.op, "channel_order", None) or st.order for st in ctx.colors}
    norm = None
    if ctx.normalize is not None:
        norm, norm_order = ctx.normalize
        if norm.dtype not in (torch.float32, torch.float16, torch.bfloat16):
            return None
        orders.add(norm_order)
    if len(orders) > 1:
        return None
    order = orders.pop() if orders else "RGB"
    codes, factors, steps = [], [], []  # (B, n) blocks of the program, the step of each column
    contrasts = 0  # contrast slots whose mean the op may have to measure
    for k, st in enumerate(ctx.colors):
        p = st.params
        on = st.active & p["apply"].astype(bool) if "apply" in p else st.active
        if type(st.op) is ColorJitter:  # slot i runs op order[:, i] (if drawn and applied)
            drawn = tuple(name in p for name in _OPS)
            values = np.ones((len(_OPS), B))
            for j, name in enumerate(_OPS):
                if drawn[j]:
                    values[j] = p[name]
            slots = p["order"].astype(np.int64, copy=False)
            codes.append(_jitter_codes(drawn)[slots] * on[:, None])
            factors.append(values.T[np.arange(B)[:, None], slots])
            steps.extend([k] * 4)
            contrasts += "contrast" in p
        elif type(st.op) is RandomGrayscale:
            codes.append(np.where(on, 5, 0)[:, None])
            factors.append(np.ones((B, 1)))
            steps.append(k)
        else:
            return None
    ops = np.concatenate(codes, 1) if codes else np.zeros((B, 0), dtype=np.int64)
    fac = np.concatenate(factors, 1).astype(np.float64, copy=False) if factors else \
        np.zeros((B, 0))
    means = np.empty(ops.shape)
    means.fill(np.nan)
    before = [i for i, k in enumerate(steps) if ctx.colors[k].stage < ctx.stage]
    if before and (ops[:, before] == 2).any():
        if img.requires_grad and torch.is_grad_enabled():
            return None  # the step-by-step path: gradients flow through those means too
        bound = 255.0 if img.dtype == torch.uint8 else 1.0
        known = _preview_means(ctx, img.to(torch.float32), settings, bound) or {}
        for i, k in enumerate(steps):
            if k in known:
                means[:, i] = known[k].to(torch.float64).cpu().numpy()
    if contrasts > 1 and int(((ops == 2) & np.isnan(means)).sum(1).max()) > 1:
        return None
    matrices = torch.from_numpy(ctx.matrix)
    return dict(matrices=matrices if img.device.type == "cpu" else matrices.to(img.device),
                interpolation=settings["interpolation"], border=settings["border"],
                fill=fused_fill(settings["fill"], C, img.dtype),
                ops=torch.from_numpy(ops), factors=torch.from_numpy(fac),
                means=torch.from_numpy(means),
                normalize=None if norm is None else norm.fused_args(C, order),
                out_dtype=norm.dtype if norm is not None else img.dtype, channel_order=order)


@functools.cache
def _jitter_codes(drawn: tuple[bool, ...]) -> np.ndarray:
    """The fused op's code of each ColorJitter slot (0 where that factor is not drawn)."""
    return np.array([_FUSED_CODES[n] if d else 0 for n, d in zip(_OPS, drawn)], dtype=np.int64)


def run_colors(x, steps, bound, means=None, capture=None, upto=None):
    """Apply recorded colour steps in order to ``x`` (B, C, H, W) float, each on its samples
    (in the op's channel order, else that of the Compose it stands in)."""
    B = x.shape[0]
    for k, st in enumerate(steps[:upto]):
        sel = np.flatnonzero(st.active)
        if sel.size == 0:
            continue
        idx = torch.from_numpy(sel)
        order = getattr(st.op, "channel_order", None) or st.order
        mean = None if means is None or k not in means else means[k]
        if sel.size == B:
            x, used = st.op.color(x, st.params, bound, order, mean)
        else:
            p = {key: v[sel] for key, v in st.params.items()}
            dev_idx = idx.to(x.device)
            y, used = st.op.color(x.index_select(0, dev_idx), p, bound, order,
                                  None if mean is None else mean[idx.to(mean.device)])
            x = x.index_copy(0, dev_idx, y)
        if capture is not None and used is not None:
            full = capture.setdefault(k, torch.zeros(B, dtype=used.dtype, device=used.device))
            full[idx.to(used.device)] = used
    return x


def _preview_means(ctx, x, settings, bound):
    """Contrast means of colour ops that stand before (some of) the geometry: taken from the
    image as it is where the op stands (input resampled by the matrix so far, earlier colour ops
    applied).  Ops after all the geometry compute theirs from the resampled image as they run."""
    needing = [k for k, st in enumerate(ctx.colors)
               if st.stage < ctx.stage and st.op.needs_mean(st.params)]
    if not needing:
        return None
    means = {}
    for stage in sorted({ctx.colors[k].stage for k in needing}):
        keys = [k for k in needing if ctx.colors[k].stage == stage]
        last = keys[-1]
        st = ctx.colors[last]
        capture = {}
        if stage == 0:
            run_colors(x, ctx.colors, bound, capture=capture, upto=last + 1)
        else:  # sizes where the op stands may differ per sample: one preview per sample
            for b in range(x.shape[0]):
                h, w = (int(v) for v in st.sizes[b])
                pv = resample(x[b:b + 1], st.matrix[b:b + 1], (h, w),
                              settings["interpolation"], settings["fill"], settings["border"])
                steps = [_one(s, b) for s in ctx.colors[:last + 1]]
                cap = {}  # earlier stages' means as found where their ops stand
                run_colors(pv, steps, bound, {k: v[b:b + 1] for k, v in means.items()},
                           capture=cap)
                for k, v in cap.items():
                    capture.setdefault(k, torch.zeros(x.shape[0], dtype=v.dtype, device=v.device))
                    capture[k][b] = v[0]
        means.update({k: capture[k] for k in keys if k in capture})
    return means


def _one(step, b):
    from copy import copy

    s = copy(step)
    s.params = {k: v[b:b + 1] for k, v in step.params.items()}
    s.active = step.active[b:b + 1]
    return s


def _mask(ctx, mask: torch.Tensor, size, settings):
    if ctx.stage == 0:
        return mask
    return warp_labels(mask, _matrix_like(ctx.matrix, mask), size, settings["border"],
                       settings["ignore_index"])
