"""The fused augment op: a uint8 (or float) image warped, colour-jittered and normalised in one
pass, without intermediate images.

:func:`augment` is what a pipeline of "one resample + colour ops + Normalize" computes
(``geomaug.transforms.Compose`` calls it when its pipeline has that form); :func:`augment_reference`
is its PyTorch path and executable definition: :func:`geomaug.warp` of the float image, the float
chain of :mod:`geomaug.color`, then normalisation.

Convention: destination pixel p samples the source at ``matrix⁻¹ p``, with the warp's border rule
(docs/conventions.md, "Borders"); colour ops act on the resampled pixels (docs/conventions.md,
"Colour").

Kernels: ``csrc/cpu/augment_cpu.cpp``, ``csrc/cuda/augment_cuda.cu`` (per-pixel math in
``csrc/include/geomaug/augment_math.h``, binding ``csrc/bindings/augment.cpp``).
"""
from __future__ import annotations

import functools
import math
import numbers
from typing import Sequence

import numpy as np
import torch

from . import _ops
from . import color as _color
from ._checks import as_matrices, as_size, fail
from .warping import _fill, _from_numpy, warp_mask
from .warping import warp as _warp

__all__ = ["augment", "augment_reference", "run", "COLOR_OPS"]

COLOR_OPS = tuple(_ops.COLOR_OP)  # names of the colour step codes 0..5
_NORMALIZED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def augment(image, matrix, size: Sequence[int], *, interpolation: str = "bilinear",
            border: str = "constant", fill: float | Sequence[float] = 0.0, color_ops=None,
            color_factors=None, contrast_means=None, channel_order: str = "RGB", mean=None,
            std=None, out_dtype: torch.dtype | None = None, mask=None, ignore_index: int = 255):
    """Warp, colour-adjust and normalise images in one pass (and their label masks in one more).

    Convention: destination pixel p samples the source at ``matrix⁻¹ p`` (pixel centres at
    integers; inside the source area taps clamp, outside the ``border`` mode applies per tap).

    Args:
        image: torch ``(C, H, W)`` / ``(B, C, H, W)`` uint8 (0..255) or float32 (0..1), any
            strides (channels-last read in place), C in 1..4; or a numpy ``(H, W, C)`` /
            ``(H, W)`` uint8/float32 array (read in place).
        matrix: forward matrices ``(3, 3)``, ``(2, 3)``, ``(B, 3, 3)`` or ``(B, 2, 3)``.
        size: ``(out_h, out_w)``.
        interpolation: ``"bilinear"`` or ``"nearest"``.  border: ``"constant"``, ``"replicate"``
            or ``"reflect"``.  fill: the constant border value on the image's scale (0..255 for
            uint8; not rounded), a number or one per channel.
        color_ops: ``(B, S)`` (or ``(S,)`` / ``(1, S)`` for all samples) step codes, applied in order to the
            resampled pixels: 0 none, 1 brightness, 2 contrast, 3 saturation, 4 hue, 5 grayscale
            (names in :data:`COLOR_OPS`); codes ≥ 2 need C in {1, 3}.
        color_factors: the factor of each step (hue: the shift in turns, in [-0.5, 0.5]).
        contrast_means: the grey mean a contrast step blends with (image scale); NaN (default)
            measures it on the image as it is at that step — at most one per sample.
        channel_order: ``"RGB"`` or ``"BGR"`` (grayscale weights, saturation, hue, and which
            ``mean``/``std`` value each channel gets).
        mean, std: normalise ``(x/bound − mean)/std`` (bound 255 for uint8, 1 for float), one
            value per channel in RGB order, or one number; both or neither.
        out_dtype: with ``mean``/``std``: float32 (default), float16 or bfloat16; without: the
            image's dtype (uint8 rounds half to even once) or float32 (the unrounded values on the
            image's scale).
        mask: optional label masks of the same images, any integer or bool dtype: ``(B, H, W)``
            or ``(B, 1, H, W)`` (``(H, W)`` with an unbatched or numpy image; numpy with numpy),
            warped by the same matrices and border mode, nearest, ``ignore_index`` where the
            constant border reads outside (:func:`geomaug.warping.warp_mask`).

    Returns:
        ``(B, C, out_h, out_w)`` contiguous (``(C, out_h, out_w)`` for unbatched or numpy input);
        with ``mask``: ``(image, mask)``, the mask in the form and dtype it came in.

    Example:
        >>> img = torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8)
        >>> M = torch.eye(3).expand(2, 3, 3)
        >>> out = augment(img, M, (32, 32), color_ops=[[1, 2]], color_factors=[[1.2, 0.8]],
        ...               mean=_color.IMAGENET_MEAN, std=_color.IMAGENET_STD)
        >>> out.shape, out.dtype
        (torch.Size([2, 3, 32, 32]), torch.float32)
    """
    src, unbatched = _as_batch(image)
    needs_grad = torch.is_grad_enabled() and (
        src.requires_grad or (isinstance(matrix, torch.Tensor) and matrix.requires_grad))
    mats, size, fills, ops, factors, means, norm, odt = _check(
        src, matrix, size, interpolation, border, fill, color_ops, color_factors, contrast_means,
        channel_order, mean, std, out_dtype)
    if needs_grad:
        mats = as_matrices(matrix, src.shape[0], src.device, keep_grad=True)
    labels = None if mask is None else _as_masks(mask, src, unbatched, image)
    out = run(src, mats, size, fills, ops, factors, means, norm, odt, interpolation=interpolation,
              border=border, channel_order=channel_order)
    out = out[0] if unbatched else out
    if labels is None:
        return out
    m, back = labels
    return out, back(warp_mask(m, mats.detach(), size, border=border, ignore_index=ignore_index))


def _as_masks(mask, src: torch.Tensor, unbatched: bool, image):
    """The ``mask`` argument → ((B, 1, H, W) tensor, the way back to its form)."""
    B, _, H, W = src.shape
    is_np = isinstance(mask, np.ndarray)
    if is_np != isinstance(image, np.ndarray):
        fail(f"mask must be a {'numpy array' if isinstance(image, np.ndarray) else 'torch tensor'}"
             f" like the image, got {type(mask).__name__}")
    shape = tuple(mask.shape)
    if is_np and mask.ndim == 2:  # read in place (read-only arrays included)
        m, back = _from_numpy(mask)[0], lambda o: o[0, 0].numpy()
    elif not is_np and unbatched and mask.dim() == 2:
        m, back = mask[None, None], lambda o: o[0, 0]
    elif not is_np and not unbatched and mask.dim() == 3:
        m, back = mask[:, None], lambda o: o[:, 0]
    elif not is_np and not unbatched and mask.dim() == 4 and shape[1] == 1:
        m, back = mask, lambda o: o
    else:
        want = "(H, W)" if unbatched else "(B, H, W) or (B, 1, H, W)"
        fail(f"mask must be {want} for this image, got shape {shape}")
    if m.shape[0] != B or tuple(m.shape[-2:]) != (H, W):
        fail(f"mask shape {shape} does not match the image: {B} image(s) of {H}x{W}")
    if m.device != src.device:
        fail(f"mask is on {m.device} but the image on {src.device}")
    return m, back


def run(src: torch.Tensor, matrices: torch.Tensor, size: tuple[int, int], fill: torch.Tensor,
        ops: torch.Tensor, factors: torch.Tensor, means: torch.Tensor,
        normalize: tuple[torch.Tensor, torch.Tensor] | None, out_dtype: torch.dtype,
        interpolation: str = "bilinear", border: str = "constant",
        channel_order: str = "RGB") -> torch.Tensor:
    """:func:`augment` on checked arguments (as :func:`augment_reference` takes them; the
    transforms build them directly): the kernel, or the PyTorch path where
    :func:`geomaug._ops.use_kernel` says so."""
    needs_grad = torch.is_grad_enabled() and (src.requires_grad or matrices.requires_grad)
    if not _ops.use_kernel("augment", src.device, needs_grad=needs_grad):
        return augment_reference(src, matrices, size, fill, ops, factors, means, normalize,
                                 out_dtype, interpolation=interpolation, border=border,
                                 channel_order=channel_order)
    dev = src.device
    if dev.type != "cpu":
        ops, factors, means = ops.to(dev), factors.to(dev), means.to(dev)
    mean, std = (None, None) if normalize is None else (normalize[0].tolist(),
                                                        normalize[1].tolist())
    return _ops.augment(src, matrices, size[0], size[1], interpolation, border, fill.tolist(),
                        ops, factors, means, channel_order, mean, std, out_dtype)


def augment_reference(src: torch.Tensor, matrices: torch.Tensor, size: tuple[int, int],
                      fill: torch.Tensor, ops: torch.Tensor, factors: torch.Tensor,
                      means: torch.Tensor, normalize: tuple[torch.Tensor, torch.Tensor] | None,
                      out_dtype: torch.dtype, interpolation: str = "bilinear",
                      border: str = "constant", channel_order: str = "RGB") -> torch.Tensor:
    """The PyTorch path of :func:`augment` on checked arguments: ``src`` ``(B, C, H, W)``,
    ``matrices`` ``(B, 3, 3)``, ``fill`` ``(C,)`` float64, the program ``(B, S)`` (CPU),
    ``normalize`` = (mean, std) ``(C,)`` float64 in the image's channel order, or None.

    The float image (float32, 0..255 for uint8) is warped by :func:`geomaug.warp`, each step runs
    the float chain of :mod:`geomaug.color` on the samples it names (a NaN contrast mean is the
    grey mean of the image at that step, summed in float64), then ``(x/bound − mean)/std``.
    """
    bound = 255.0 if src.dtype == torch.uint8 else 1.0
    x = _warp(src.to(torch.float32), matrices, size, interpolation=interpolation,
              fill=fill.to(torch.float32), border=border)
    x = run_program(x, ops, factors, means, bound, channel_order)
    return finish(x, src.dtype, bound, normalize, out_dtype)


def run_program(x: torch.Tensor, ops: torch.Tensor, factors: torch.Tensor, means: torch.Tensor,
                bound: float, order: str) -> torch.Tensor:
    """Apply a ``(B, S)`` colour program to float ``x`` ``(B, C, h, w)``, step by step."""
    for k in range(ops.shape[1]):
        for code in ops[:, k].unique().tolist():
            if code == 0:
                continue
            idx = (ops[:, k] == code).nonzero().flatten()
            dev = idx.to(x.device)
            sub = x if idx.numel() == x.shape[0] else x.index_select(0, dev)
            f = factors[idx, k].to(device=x.device, dtype=x.dtype)
            if code == 1:
                y = _color._brightness(sub, f, bound)
            elif code == 2:
                m = means[idx, k].to(x.device)
                measured = _color._gray(sub, order).double().mean(dim=(-3, -2, -1))
                m = torch.where(torch.isnan(m), measured, m).to(x.dtype)
                y = _color._contrast(sub, f, m, bound)
            elif code == 3:
                y = _color._saturation(sub, f, bound, order)
            elif code == 4:
                y = _color._hue(sub, f, bound, order)
            else:
                y = _color._gray(sub, order).expand_as(sub) if sub.shape[1] == 3 else sub
            x = y if idx.numel() == x.shape[0] else x.index_copy(0, dev, y.contiguous())
    return x


def finish(x: torch.Tensor, dtype: torch.dtype, bound: float, normalize, out_dtype) -> torch.Tensor:
    """Normalise (``normalize`` = (mean, std) per channel, float64) or convert to ``out_dtype``."""
    if normalize is not None:
        c = x.shape[1]
        mean = normalize[0].to(x.device, torch.float32).view(1, c, 1, 1)
        inv = (1.0 / normalize[1]).to(x.device, torch.float32).view(1, c, 1, 1)
        return ((x / bound - mean) * inv).to(out_dtype).contiguous()
    if out_dtype == torch.uint8:
        return x.round().clamp_(0, 255).to(torch.uint8).contiguous()
    return x.to(out_dtype).contiguous()


# ----------------------------------------------------------------------------------------------
# Checks

def _as_batch(image):
    if isinstance(image, np.ndarray):
        src, _, _ = _from_numpy(image)
        return src, True
    if not isinstance(image, torch.Tensor):
        fail(f"image must be a torch.Tensor or numpy.ndarray, got {type(image).__name__}")
    if image.dim() not in (3, 4):
        fail(f"image must be (C, H, W) or (B, C, H, W), got shape {tuple(image.shape)}")
    return (image[None], True) if image.dim() == 3 else (image, False)


def fill_values(fill, channels: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The constant border value(s) as a ``(C,)`` float64 CPU tensor (checked; on the image's
    scale, not rounded; for a uint8 image (``dtype``) within [0, 255] once rounded, as
    :func:`geomaug.warp` takes them).  Made once per setting (the op only reads it)."""
    if isinstance(fill, (list, tuple)) and all(isinstance(v, numbers.Real) for v in fill):
        fill = tuple(fill)
    if isinstance(fill, (numbers.Real, tuple)):  # numbers: the same tensor each time
        return _fill_values(fill, type(fill), channels, dtype == torch.uint8)
    return _checked_fill(fill, channels, dtype == torch.uint8)


@functools.lru_cache(maxsize=64)
def _fill_values(fill, kind: type, channels: int, uint8: bool) -> torch.Tensor:
    return _checked_fill(fill, channels, uint8)


def _checked_fill(fill, channels: int, uint8: bool) -> torch.Tensor:
    if uint8:
        _fill(fill, channels, torch.uint8, torch.device("cpu"))  # geomaug.warp's range check
    return _fill(fill, channels, torch.float64, torch.device("cpu"))


def _program(values, B: int, S: int | None, name: str, dtype, default: float):
    if values is None:
        return torch.full((B, S or 0), default, dtype=dtype)
    try:
        t = torch.as_tensor(values).detach().cpu()
    except (TypeError, ValueError, RuntimeError):
        fail(f"{name} must be a (B, S) or (S,) array of numbers, got {type(values).__name__}")
    if t.dim() == 1 or (t.dim() == 2 and t.shape[0] == 1):
        t = t.reshape(1, -1).expand(B, t.shape[-1])
    if t.dim() != 2 or t.shape[0] != B or (S is not None and t.shape[1] != S):
        want = f"({B}, {S})" if S is not None else f"({B}, S)"
        fail(f"{name} must have shape {want}, (1, S) or (S,), got {tuple(t.shape)}")
    if t.dtype == torch.bool or t.is_complex() or (dtype == torch.int64 and t.is_floating_point()):
        fail(f"{name} must hold {'integers' if dtype == torch.int64 else 'real numbers'}, got "
             f"dtype {t.dtype}")
    return t.to(dtype).contiguous()


def _per_channel(values, C: int, name: str) -> torch.Tensor:
    if isinstance(values, numbers.Real) and not isinstance(values, bool):
        values = [float(values)] * C
    try:
        t = torch.as_tensor(values, dtype=torch.float64).flatten().cpu()
    except (TypeError, ValueError, RuntimeError):
        fail(f"{name} must be a number or one number per channel ({C}), got {values!r}")
    if t.numel() == 1:
        t = t.expand(C)
    if t.numel() != C:
        fail(f"{name} must be a number or one per channel ({C}), got {t.numel()} values: "
             f"{values!r}")
    if not bool(t.isfinite().all()):
        fail(f"{name} must be finite, got {values!r}")
    return t.contiguous()


def normalize_values(mean, std, channels: int, channel_order: str):
    """``(mean, std)``, given in RGB order, as ``(C,)`` float64 tensors in the image's channel
    order (checked: finite, std > 0)."""
    m, s = _per_channel(mean, channels, "mean"), _per_channel(std, channels, "std")
    if not bool((s > 0).all()):
        fail(f"std must be > 0 for every channel, got {std!r}")
    if channel_order == "BGR":
        m, s = m.flip(0), s.flip(0)
    return m.contiguous(), s.contiguous()


def _check(src, matrix, size, interpolation, border, fill, color_ops, color_factors,
           contrast_means, channel_order, mean, std, out_dtype):
    B, C, H, W = src.shape
    if src.dtype not in (torch.uint8, torch.float32):
        fail(f"image dtype must be uint8 or float32, got {src.dtype}")
    if not 1 <= C <= 4:
        fail(f"image must have 1 to 4 channels, got {C} in shape {tuple(src.shape)}")
    if H == 0 or W == 0:
        fail(f"image must not be empty, got shape {tuple(src.shape)}")
    if interpolation not in _ops.INTERPOLATION:
        fail(f"interpolation must be one of {sorted(_ops.INTERPOLATION)}, got {interpolation!r}")
    if border not in _ops.BORDER:
        fail(f"border must be one of {sorted(_ops.BORDER)}, got {border!r}")
    if channel_order not in _ops.CHANNEL_ORDER:
        fail(f"channel_order must be 'RGB' or 'BGR', got {channel_order!r}")
    size = as_size(size)
    mats = as_matrices(matrix, B, src.device)
    fills = fill_values(fill, C, src.dtype)
    ops = _program(color_ops, B, None, "color_ops", torch.int64, 0)
    S = ops.shape[1]
    if color_ops is not None and color_factors is None:
        fail("color_factors must be given with color_ops (one factor per step)")
    factors = _program(color_factors, B, S, "color_factors", torch.float64, 1.0)
    means = _program(contrast_means, B, S, "contrast_means", torch.float64, math.nan)
    o, f = ops.numpy(), factors.numpy()  # small checks in numpy: a fraction of torch's overhead
    if o.size:
        if ((o < 0) | (o > 5)).any():
            fail(f"color_ops must hold codes 0..5 ({', '.join(COLOR_OPS)}), got "
                 f"{sorted(set(o.flatten().tolist()))}")
        if C not in (1, 3) and (o >= 2).any():
            fail(f"color_ops contrast, saturation, hue and grayscale need 1 or 3 channels, got {C}")
        if not np.isfinite(f).all():
            fail(f"color_factors must be finite, got {f[~np.isfinite(f)][0]}")
        if ((o >= 1) & (o <= 3) & (f < 0)).any():
            fail("color_factors of brightness, contrast and saturation must be >= 0")
        if ((o == 4) & (np.abs(f) > 0.5)).any():
            fail("color_factors of hue (the shift) must lie in [-0.5, 0.5]")
        m = means.numpy()
        if np.isinf(m[o == 2]).any():
            fail("contrast_means must be finite (a given mean) or NaN (measured), got "
                 f"{m[(o == 2) & np.isinf(m)][0]}")
        measured = ((o == 2) & np.isnan(m)).sum(1)
        if measured.max() > 1:
            fail(f"contrast_means: at most one contrast mean per sample can be measured (NaN), "
                 f"sample {int(measured.argmax())} has {int(measured.max())}; pass the others")
    if (mean is None) != (std is None):
        fail("mean and std must be given together (normalisation) or not at all")
    norm = None
    if mean is not None:
        norm = normalize_values(mean, std, C, channel_order)
        odt = torch.float32 if out_dtype is None else out_dtype
        if odt not in _NORMALIZED_DTYPES:
            fail(f"out_dtype with mean/std must be float32, float16 or bfloat16, got {out_dtype}")
    else:
        odt = src.dtype if out_dtype is None else out_dtype
        if odt not in (src.dtype, torch.float32):
            fail(f"out_dtype without mean/std must be the image's dtype ({src.dtype}) or "
                 f"float32, got {out_dtype}")
    return mats, size, fills, ops, factors, means, norm, odt
