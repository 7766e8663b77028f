"""Batched warps: every sample resampled through its own 3x3 matrix in one pass.

Convention: pixel (row i, col j) has its centre at (x=j, y=i) and an image of width W covers
[-0.5, W-0.5]; ``matrix`` maps source pixel coordinates to destination ones, and destination pixel
p samples the source at ``matrix⁻¹ p`` — the same map keypoints go through, so a point on a pixel
stays on that pixel's content.  Border rule (docs/conventions.md): a sample point inside the image's
area is image content (bilinear taps clamp to the edge pixels, so a resize equals ``cv2.resize``);
a point outside it takes the border mode, per tap, as ``cv2.warpAffine`` does.

Kernels: ``csrc/cpu/warp_cpu.cpp`` and ``csrc/cuda/warp_cuda.cu`` (per-pixel math in
``csrc/include/geomaug/warp_math.h``, binding ``csrc/bindings/warp.cpp``); the PyTorch path
is :func:`warp_reference`.
"""
from __future__ import annotations

import functools
import math
import warnings
from typing import Sequence

import numpy as np
import torch

from . import _ops
from ._checks import as_matrices, as_size, fail

FAR = 2.0**30  # source coordinates are clamped to ±FAR before they become indices
_IMAGE_DTYPES = (torch.uint8, torch.float32, torch.float64)
_LABEL_DTYPES = (torch.uint8, torch.int32, torch.int64, torch.float32, torch.float64)


def warp(image, matrix, size: Sequence[int], *, interpolation: str = "bilinear",
         fill: float | Sequence[float] | torch.Tensor = 0.0, border: str = "constant"):
    """Warp images (or masks) by per-sample forward matrices in one resampling pass.

    Convention: destination pixel p samples the source at ``matrix⁻¹ p`` (pixel centres at
    integers, an image of width W covers [-0.5, W-0.5]); see docs/conventions.md.

    Args:
        image: torch tensor ``(C, H, W)`` or ``(B, C, H, W)`` in any memory format (channels-last is
            read and written without copies), or a numpy array ``(H, W)`` / ``(H, W, C)`` (read in
            place, read-only arrays such as ``np.asarray(PIL.Image)`` included).
            uint8, float32 or float64; with ``interpolation="nearest"`` also int32/int64 labels.
        matrix: forward (source → destination) matrices, ``(3, 3)``, ``(2, 3)``, ``(B, 3, 3)`` or
            ``(B, 2, 3)``; a projective last row is allowed.
        size: ``(out_h, out_w)``, non-negative integers below ``2**30``.
        interpolation: ``"bilinear"`` for images, ``"nearest"`` for masks and labels.
        fill: the value that ``border="constant"`` reads outside the image, a scalar or one per
            channel; converted to the image's dtype (rounded for integer types, exact for int64).
        border: what a sample point outside the image's area reads, per bilinear tap:
            ``"constant"`` (``fill``), ``"replicate"`` (the nearest edge pixel) or ``"reflect"``
            (mirrored without repeating the edge, OpenCV's BORDER_REFLECT_101).

    Returns:
        The warped image, same type, dtype, layout and batch shape as ``image``.

    Example:
        >>> img = torch.rand(3, 64, 64)
        >>> M = torch.tensor([[1., 0., 5.], [0., 1., 0.], [0., 0., 1.]])  # shift right by 5
        >>> warp(img, M, (64, 64))[:, 10, 20].allclose(img[:, 10, 15])
        True
    """
    if interpolation not in _ops.INTERPOLATION:
        fail(f"interpolation must be one of {sorted(_ops.INTERPOLATION)}, got {interpolation!r}")
    if border not in _ops.BORDER:
        fail(f"border must be one of {sorted(_ops.BORDER)}, got {border!r}")
    as_numpy = isinstance(image, np.ndarray)
    if as_numpy:
        src, unbatched, restore = _from_numpy(image)
    elif isinstance(image, torch.Tensor):
        if image.dim() not in (3, 4):
            fail(f"image must be (C, H, W) or (B, C, H, W), got shape {tuple(image.shape)}")
        unbatched = image.dim() == 3
        src = image[None] if unbatched else image
        restore = None
    else:
        fail(f"image must be a torch.Tensor or numpy.ndarray, got {type(image).__name__}")
    allowed = _IMAGE_DTYPES if interpolation == "bilinear" else _LABEL_DTYPES
    if src.dtype not in allowed:
        fail(f"image dtype must be one of {[str(d).replace('torch.', '') for d in allowed]} with "
             f"{interpolation} interpolation, got {str(src.dtype).replace('torch.', '')}")
    out_h, out_w = as_size(size)
    B, C = src.shape[:2]
    fills = _fill(fill, C, src.dtype, src.device)
    differentiable = torch.is_grad_enabled() and (
        src.requires_grad or (isinstance(matrix, torch.Tensor) and matrix.requires_grad))
    if (B == 1 and isinstance(matrix, np.ndarray) and matrix.shape == (3, 3)
            and matrix.dtype.kind in "fiu" and src.device.type == "cpu"):
        # The DataLoader case: one numpy matrix, one image; skip the general conversion.
        mats = torch.from_numpy(np.array(matrix, dtype=np.float64).reshape(1, 3, 3))
    else:
        mats = as_matrices(matrix, B, src.device, keep_grad=differentiable)
    out = _run(src, mats, (out_h, out_w), interpolation, fills, border, differentiable)
    if as_numpy:
        return restore(out)
    return out[0] if unbatched else out


def warp_mask(mask: torch.Tensor, matrix, size: Sequence[int], *, border: str = "constant",
              ignore_index: int = 255) -> torch.Tensor:
    """Warp label masks ``(B, 1, H, W)`` or ``(B, H, W)`` of any integer or bool dtype: nearest,
    ``ignore_index`` where ``border="constant"`` reads outside, dtype kept (the mask pass of the
    transforms and of :func:`geomaug.fused.augment`).

    Example:
        >>> m = torch.randint(0, 5, (2, 1, 64, 64), dtype=torch.uint8)
        >>> warp_mask(m, torch.eye(3).expand(2, 3, 3), (32, 32)).shape
        torch.Size([2, 1, 32, 32])
    """
    if not isinstance(mask, torch.Tensor) or not (
            mask.dim() == 3 or (mask.dim() == 4 and mask.shape[1] == 1)):
        fail(f"mask must be a (B, H, W) or (B, 1, H, W) tensor, got "
             f"{tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__}")
    if border not in _ops.BORDER:
        fail(f"border must be one of {sorted(_ops.BORDER)}, got {border!r}")
    dtype = mask.dtype
    if dtype.is_floating_point or dtype.is_complex:
        fail(f"mask must have an integer (or bool) dtype, got {dtype}")
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
        raise TypeError(f"ignore_index must be an int, got {type(ignore_index).__name__}")
    mats = as_matrices(matrix, mask.shape[0], mask.device)
    if mask.dim() == 4:
        return warp_labels(mask, mats, as_size(size), border, ignore_index)
    return warp_labels(mask[:, None], mats, as_size(size), border, ignore_index)[:, 0]


def warp_labels(mask: torch.Tensor, matrices: torch.Tensor, size: tuple[int, int], border: str,
                ignore_index: int) -> torch.Tensor:
    """:func:`warp_mask` on checked arguments (``mask`` ``(B, 1, H, W)`` of an integer or bool
    dtype, ``matrices`` ``(B, 3, 3)`` float64 on its device, a known border, an int
    ``ignore_index``), as the transforms call it; checks only that ``ignore_index`` fits the
    mask's dtype."""
    dtype = mask.dtype
    info = _label_range(dtype)
    if border == "constant" and not info[0] <= ignore_index <= info[1]:
        fail(f"ignore_index={ignore_index} does not fit the mask dtype {dtype} (range "
             f"{info[0]}..{info[1]}); give an ignore_index in that range")
    work = dtype if dtype in (torch.uint8, torch.int32, torch.int64) else torch.int64
    src = mask if dtype == work else mask.to(work)
    if src.device.type == "cpu" and not torch.compiler.is_compiling():
        fill = _cpu_label_fill(ignore_index, work)
    else:
        fill = _fill(ignore_index, 1, work, src.device)
    out = _run(src, matrices, size, "nearest", fill, border)
    return out if dtype == work else out.to(dtype)


@functools.lru_cache(maxsize=64)
def _cpu_label_fill(ignore_index: int, work: torch.dtype) -> torch.Tensor:
    """:func:`_fill` of a label on the CPU, made once per value (the op only reads it)."""
    return _fill(ignore_index, 1, work, torch.device("cpu"))


@functools.cache
def _label_range(dtype: torch.dtype) -> tuple[int, int]:
    return (0, 1) if dtype == torch.bool else (torch.iinfo(dtype).min, torch.iinfo(dtype).max)


def _run(src: torch.Tensor, matrices: torch.Tensor, size: tuple[int, int], interpolation: str,
         fill: torch.Tensor, border: str, needs_grad: bool = False) -> torch.Tensor:
    """:func:`warp` on checked arguments: the kernel, or the PyTorch path where
    :func:`geomaug._ops.use_kernel` says so."""
    if _ops.use_kernel("warp", src.device, needs_grad=needs_grad):
        return _ops.warp(src, matrices, size[0], size[1], interpolation, fill, border)
    return warp_reference(src, matrices, size, interpolation, fill, border)


def warp_reference(src: torch.Tensor, matrices: torch.Tensor, size: tuple[int, int],
                   interpolation: str = "bilinear", fill: torch.Tensor | None = None,
                   border: str = "constant") -> torch.Tensor:
    """The PyTorch path and executable definition of :func:`warp`, in plain torch.

    ``src`` is ``(B, C, H, W)``, ``matrices`` ``(B, 3, 3)`` forward, ``fill`` ``(C,)`` (converted to
    ``src``'s dtype as :func:`warp` does; default 0).  Source coordinates are computed in float32
    (float64 for float64 images) as ``m0 x + (m1 y + m2)``; bilinear values in that precision,
    summed as ``w00 p00 + w01 p01 + w10 p10 + w11 p11``; uint8 rounds half to even and saturates.
    Differentiable w.r.t. ``src`` and all nine entries of ``matrices``; traceable by
    ``torch.compile(fullgraph=True, dynamic=True)``.
    """
    B, C, H, W = src.shape
    out_h, out_w = size
    coord = torch.float64 if src.dtype == torch.float64 else torch.float32
    bilinear = interpolation == "bilinear"
    fmt = _ops.memory_format(src)
    fill = _fill_as(fill, C, src)
    value_dtype = coord if bilinear else src.dtype
    f = fill.to(value_dtype).view(1, C, 1, 1)
    if B == 0 or C == 0 or out_h == 0 or out_w == 0 or H == 0 or W == 0:
        return fill.view(1, C, 1, 1).expand(B, C, out_h, out_w).contiguous(memory_format=fmt)
    inv, usable = inverse_maps(matrices)
    m = inv.to(coord).view(B, 9, 1, 1).unbind(1)
    xs = torch.arange(out_w, dtype=coord, device=src.device).view(1, 1, out_w)
    ys = torch.arange(out_h, dtype=coord, device=src.device).view(1, out_h, 1)
    sx = m[0] * xs + (m[1] * ys + m[2])
    sy = m[3] * xs + (m[4] * ys + m[5])
    z = m[6] * xs + (m[7] * ys + m[8])  # exactly 1 for affine maps (normalised by inverse_maps)
    hit = z > 0
    z = torch.where(hit, z, torch.ones_like(z))
    sx, sy = sx / z, sy / z
    ok = usable.view(B, 1, 1) & hit & torch.isfinite(sx) & torch.isfinite(sy)
    sx = torch.where(ok, sx, torch.zeros_like(sx)).clamp(-FAR, FAR)
    sy = torch.where(ok, sy, torch.zeros_like(sy)).clamp(-FAR, FAR)
    inside = (sx >= -0.5) & (sx <= W - 0.5) & (sy >= -0.5) & (sy <= H - 0.5)
    flat = src.reshape(B, C, H * W).to(value_dtype)

    def gather(yi: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
        idx = (yi * W + xi).view(B, 1, out_h * out_w).expand(B, C, out_h * out_w)
        return flat.gather(2, idx).view(B, C, out_h, out_w)

    if bilinear:
        x0, y0 = sx.floor(), sy.floor()
        ax, ay = (sx - x0).unsqueeze(1), (sy - y0).unsqueeze(1)
        xt = [_tap(x0.long() + k, W, inside, border) for k in (0, 1)]
        yt = [_tap(y0.long() + k, H, inside, border) for k in (0, 1)]
        weights = ((1 - ay) * (1 - ax), (1 - ay) * ax, ay * (1 - ax), ay * ax)
        out = None
        for w, (yi, yv), (xi, xv) in zip(weights, (yt[0], yt[0], yt[1], yt[1]),
                                         (xt[0], xt[1], xt[0], xt[1])):
            term = w * torch.where((yv & xv).unsqueeze(1), gather(yi, xi), f)
            out = term if out is None else out + term
        any_tap = ((yt[0][1] | yt[1][1]) & (xt[0][1] | xt[1][1])).unsqueeze(1)
        out = torch.where(any_tap, out, f)  # no tap in the image: exactly the fill value
    else:
        xi, xv = _tap(sx.round().long(), W, inside, border)
        yi, yv = _tap(sy.round().long(), H, inside, border)
        out = torch.where((xv & yv).unsqueeze(1), gather(yi, xi), f)
    out = torch.where(ok.unsqueeze(1), out, f)
    return _cast_back(out, src).contiguous(memory_format=fmt)


def inverse_maps(matrices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Destination → source maps of forward ``(B, 3, 3)`` matrices, as the kernels compute them:
    float64 ``(B, 3, 3)`` inverses (affine ones normalised to a last row ``0, 0, 1``; identity where
    unusable) and ``(B,)`` usable flags (False: singular or not finite).  Each matrix is scaled by
    its largest entry before the adjugate, so ``diag(1e200, 1e200, 1)`` inverts fine."""
    B = matrices.shape[0]
    M = matrices.to(torch.float64).reshape(B, 9)
    eye = torch.eye(3, dtype=torch.float64, device=M.device).reshape(1, 9)
    scale = M.abs().amax(1)
    finite = torch.isfinite(M).all(1) & (scale > 0) & torch.isfinite(scale)
    scale = torch.where(finite, scale, torch.ones_like(scale))
    M = torch.where(finite[:, None], M / scale[:, None], eye)
    a, b, c, d, e, f, g, h, i = M.unbind(1)
    c00, c01, c02 = e * i - f * h, f * g - d * i, d * h - e * g
    det = a * c00 + b * c01 + c * c02
    good = finite & (det != 0) & torch.isfinite(det)
    r = 1.0 / (torch.where(good, det, torch.ones_like(det)) * scale)
    inv = torch.stack([c00, c * h - b * i, b * f - c * e, c01, a * i - c * g, c * d - a * f,
                       c02, b * g - a * h, a * e - b * d], 1) * r[:, None]
    good = good & torch.isfinite(inv).all(1)
    affine = good & (inv[:, 6] == 0) & (inv[:, 7] == 0)
    inv = inv / torch.where(affine, inv[:, 8], torch.ones_like(inv[:, 8]))[:, None]
    inv = torch.where(good[:, None], inv, eye)
    return inv.view(B, 3, 3), good


def _tap(i: torch.Tensor, n: int, inside: torch.Tensor, border: str):
    """Index (clamped into [0, n)) and validity of tap indices ``i``: clamped inside the area; outside
    it, per border mode (constant: valid only within the image)."""
    clamped = i.clamp(0, n - 1)
    if border == "constant":
        return clamped, inside | ((i >= 0) & (i < n))
    if border == "replicate":
        return clamped, torch.ones_like(inside)
    if n == 1:
        return torch.zeros_like(i), torch.ones_like(inside)
    period = 2 * n - 2
    r = torch.remainder(i, period)
    reflected = torch.where(r < n, r, period - r)
    return torch.where(inside, clamped, reflected), torch.ones_like(inside)


def _cast_back(out: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    if out.dtype == like.dtype:
        return out
    if like.dtype == torch.uint8:
        return out.round().clamp(0, 255).to(torch.uint8)
    if not like.dtype.is_floating_point:
        return out.round().to(like.dtype)
    return out.to(like.dtype)


def _dtype_range(dtype: torch.dtype) -> tuple[int, int] | None:
    return None if dtype.is_floating_point else (torch.iinfo(dtype).min, torch.iinfo(dtype).max)


def _fill(fill, channels: int, dtype: torch.dtype, device) -> torch.Tensor:
    """The user's fill as a ``(C,)`` tensor of the image's dtype on its device (integer types:
    rounded half to even and range-checked; python ints stay exact, int64 labels included)."""
    limits = _dtype_range(dtype)
    name = str(dtype).replace("torch.", "") if limits is not None else None  # for the messages
    if isinstance(fill, (int, float)) and not isinstance(fill, bool):
        if not -math.inf < fill < math.inf:  # comparisons, not math.isfinite: traceable
            fail(f"fill must be finite, got {fill}")
        if limits is not None:
            fill = round(fill) if isinstance(fill, float) else fill
            if not limits[0] <= fill <= limits[1]:
                fail(f"fill must be within {name}'s range [{limits[0]}, {limits[1]}], got {fill}")
        on_cpu = (device if isinstance(device, torch.device) else torch.device(device)).type == "cpu"
        if on_cpu and not torch.compiler.is_compiling():
            return _cpu_fill(fill, type(fill), channels, dtype)
        # Made on the device: no host-to-device copy (which would wait for the GPU) per call.
        return torch.full((channels,), fill, dtype=dtype, device=device)
    t = torch.as_tensor(fill).flatten()
    if t.dtype == torch.bool or t.is_complex():
        fail(f"fill must hold real numbers, got dtype {t.dtype}")
    if t.numel() == 1:
        t = t.expand(channels)
    if t.numel() != channels:
        fail(f"fill must be a scalar or have one value per channel ({channels}), got {t.numel()}")
    if t.dtype.is_floating_point:
        t = t.double()
        if not torch.isfinite(t).all():
            fail(f"fill must be finite, got {t.tolist()}")
        if limits is not None:
            t = t.round()
    if limits is not None and ((t < limits[0]).any() or (t > limits[1]).any()):
        fail(f"fill must be within {name}'s range [{limits[0]}, {limits[1]}], got {t.tolist()}")
    return t.to(device=device, dtype=dtype).contiguous()


@functools.lru_cache(maxsize=64)
def _cpu_fill(fill, kind: type, channels: int, dtype: torch.dtype) -> torch.Tensor:
    """Scalar fills on the CPU, made once (the op only reads them): saves a tensor per call.
    ``kind`` keeps 1 and 1.0 apart in the cache."""
    return torch.full((channels,), fill, dtype=dtype)


def _fill_as(fill: torch.Tensor | None, channels: int, like: torch.Tensor) -> torch.Tensor:
    """The reference's fill in ``like``'s dtype, converted as the op converts a float64 fill."""
    if fill is None:
        return torch.zeros(channels, dtype=like.dtype, device=like.device)
    fill = fill.to(like.device)
    if fill.dtype == like.dtype:
        return fill
    limits = _dtype_range(like.dtype)
    if limits is not None and fill.dtype.is_floating_point:
        fill = fill.double().round().clamp(*limits)
    return fill.to(like.dtype)


def _from_numpy(array: np.ndarray):
    """(H, W) / (H, W, C) numpy → a (1, C, H, W) strided view (no copy), and the way back.
    Reshapes happen on the numpy side (cheaper per call than torch views)."""
    if array.ndim not in (2, 3):
        fail(f"a numpy image must be (H, W) or (H, W, C), got shape {array.shape}")
    if any(s < 0 for s in array.strides):
        array = np.ascontiguousarray(array)  # torch has no negative strides
    if not array.dtype.isnative:  # nor other byte orders (big-endian data): read in this one's
        array = array.astype(array.dtype.newbyteorder("="))
    # (1, C, H, W) viewed on the numpy side (one torch call): channels-last for C > 1, so the
    # output is interleaved too (and comes back as a contiguous HWC array).
    view = array.transpose(2, 0, 1)[None] if array.ndim == 3 else array[None, None]
    if array.flags.writeable:
        src = torch.from_numpy(view)
    else:
        # The warp only reads its input: view read-only arrays (np.asarray(PIL image)) in place.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            src = torch.from_numpy(view)

    def restore(out: torch.Tensor) -> np.ndarray:
        nchw = out.numpy() if out.device.type == "cpu" else out.cpu().numpy()
        hwc_out = nchw[0].transpose(1, 2, 0)
        return hwc_out if array.ndim == 3 else hwc_out[..., 0]

    return src, False, restore

