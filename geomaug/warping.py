"""Batched warps: every sample resampled through its own 3x3 matrix in one pass.

Convention (docs/conventions.md): pixel (row i, col j) has its centre at (x=j, y=i); ``matrix``
maps source pixel coordinates to destination ones, and destination pixel p samples the source at
``matrix⁻¹ p`` — the same map keypoints go through, so a point on a pixel stays on that pixel's
content.

Kernels: ``csrc/cpu/warp_cpu.cpp`` and ``csrc/cuda/warp_cuda.cu`` (per-pixel math in
``csrc/include/geomaug/warp_math.h``, binding ``csrc/bindings/warp.cpp``); the PyTorch path is
:func:`warp_reference`.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from . import _ops
from ._checks import as_matrices, as_size, fail

_IMAGE_DTYPES = (torch.uint8, torch.float32, torch.float64)
_LABEL_DTYPES = (torch.uint8, torch.int32, torch.int64, torch.float32, torch.float64)


def warp(image, matrix, size: Sequence[int], *, interpolation: str = "bilinear",
         fill: float | Sequence[float] | torch.Tensor = 0.0):
    """Warp images (or masks) by per-sample forward matrices in one resampling pass.

    Args:
        image: torch tensor ``(C, H, W)`` or ``(B, C, H, W)`` in any memory format (channels-last is
            read and written without copies), or a numpy array ``(H, W)`` / ``(H, W, C)``.
            uint8, float32 or float64; with ``interpolation="nearest"`` also int32/int64 labels.
        matrix: forward (source → destination) matrices, ``(3, 3)``, ``(2, 3)``, ``(B, 3, 3)`` or
            ``(B, 2, 3)``; a projective last row is allowed.
        size: ``(out_h, out_w)``.
        interpolation: ``"bilinear"`` for images, ``"nearest"`` for masks and labels.
        fill: value of pixels that map outside the source, a scalar or one per channel.

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
    mats = as_matrices(matrix, B, src.device)
    fills = _fill(fill, C, src.device)
    differentiable = torch.is_grad_enabled() and (
        src.requires_grad or (isinstance(matrix, torch.Tensor) and matrix.requires_grad))
    if _ops.use_kernel("warp", src.device, needs_grad=differentiable):
        out = _ops.warp(src, mats, out_h, out_w, interpolation, fills)
    else:
        if differentiable and isinstance(matrix, torch.Tensor):
            mats = as_matrices(matrix, B, src.device, keep_grad=True)
        out = warp_reference(src, mats, (out_h, out_w), interpolation, fills)
    if as_numpy:
        return restore(out)
    return out[0] if unbatched else out


def warp_reference(src: torch.Tensor, matrices: torch.Tensor, size: tuple[int, int],
                   interpolation: str, fill: torch.Tensor) -> torch.Tensor:
    """The PyTorch path and executable definition of :func:`warp` (kornia's ``warp_affine``).

    ``src`` is ``(B, C, H, W)``, ``matrices`` ``(B, 3, 3)`` forward, ``fill`` ``(C,)``.  Computes in
    float32 (float64 for float64 and int64 input), rounds half to even and saturates for uint8.
    """
    import kornia.geometry.transform as KT

    B, C, H, W = src.shape
    out_h, out_w = size
    work = torch.float64 if src.dtype in (torch.float64, torch.int64, torch.int32) else torch.float32
    if B == 0 or C == 0 or out_h == 0 or out_w == 0 or H == 0 or W == 0:
        out = fill.to(work).view(1, C, 1, 1).expand(B, C, out_h, out_w)
        return _cast_back(out.contiguous(), src)
    x = src.to(work)
    M = matrices.to(work)
    # A singular or non-finite matrix samples nothing: that sample is all fill (as in the kernels).
    usable = torch.isfinite(M).flatten(1).all(1) & (torch.linalg.det(M.double()).abs() > 0)
    M = torch.where(usable[:, None, None], M, torch.eye(3, dtype=work, device=M.device))
    mode = "nearest" if interpolation == "nearest" else "bilinear"
    kwargs = dict(mode=mode, padding_mode="fill", align_corners=True, fill_value=fill.to(work))
    affine = bool((matrices[:, 2, :2] == 0).all()) and bool((matrices[:, 2, 2] != 0).all())
    if affine:
        out = KT.warp_affine(x, M[:, :2] / M[:, 2:3, 2:3], (out_h, out_w), **kwargs)
    else:
        out = KT.warp_perspective(x, M, (out_h, out_w), **kwargs)
    out = torch.where(usable[:, None, None, None], out, fill.to(work).view(1, C, 1, 1))
    out = _cast_back(out, src)
    return out.contiguous(memory_format=_ops.memory_format(src))


def _cast_back(out: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    if like.dtype == torch.uint8:
        return out.round().clamp(0, 255).to(torch.uint8)
    if not like.dtype.is_floating_point:
        return out.round().to(like.dtype)
    return out.to(like.dtype)


def _fill(fill, channels: int, device) -> torch.Tensor:
    if isinstance(fill, (int, float)) and not isinstance(fill, bool):
        if not math.isfinite(fill):
            fail(f"fill must be finite, got {fill}")
        # Made on the device: no host-to-device copy (which would wait for the GPU) per call.
        return torch.full((channels,), float(fill), dtype=torch.float64, device=device)
    t = torch.as_tensor(fill, dtype=torch.float64).flatten()
    if t.numel() == 1:
        t = t.expand(channels)
    if t.numel() != channels:
        fail(f"fill must be a scalar or have one value per channel ({channels}), got {t.numel()}")
    if not torch.isfinite(t).all():
        fail(f"fill must be finite, got {t.tolist()}")
    return t.contiguous().to(device)


def _from_numpy(array: np.ndarray):
    """(H, W) / (H, W, C) numpy → a (1, C, H, W) strided view (no copy), and the way back."""
    if array.ndim not in (2, 3):
        fail(f"a numpy image must be (H, W) or (H, W, C), got shape {array.shape}")
    if not array.flags.writeable or array.strides[-1] < 0 or any(s < 0 for s in array.strides):
        array = np.ascontiguousarray(array)
    t = torch.from_numpy(array)
    hwc = t if array.ndim == 3 else t[..., None]
    src = hwc.permute(2, 0, 1)[None]

    def restore(out: torch.Tensor) -> np.ndarray:
        hwc_out = out[0].permute(1, 2, 0).cpu().numpy()
        return hwc_out if array.ndim == 3 else hwc_out[..., 0]

    return src, False, restore

