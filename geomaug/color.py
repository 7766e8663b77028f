"""Colour operations with torchvision's (PIL's) semantics, per-sample factors and RGB/BGR input.

- ``adjust_brightness``: ``x·f``.
- ``adjust_contrast``: ``f·x + (1−f)·m``, ``m`` the mean of the image's grayscale (per sample).
- ``adjust_saturation``: ``f·x + (1−f)·gray(x)`` per pixel.
- ``adjust_hue``: H of HSV shifted by ``shift`` turns (``shift`` in [−0.5, 0.5]), S and V kept.
- ``to_grayscale``: ``0.299 R + 0.587 G + 0.114 B``.
- ``normalize`` / ``denormalize``: ``(x/255 − mean)/std`` and back, ImageNet defaults.

Images are torch ``(C, H, W)`` or ``(B, C, H, W)``, uint8 in [0, 255] or float in [0, 1]
(float16, bfloat16, float32, float64), any memory format; outputs keep dtype, device and memory
format. A factor is a number (all samples) or a tensor ``(B,)`` (one per sample). Channel order is
RGB unless ``channel_order="BGR"`` (``cv2.imread``): grayscale weights, saturation and hue then act
on the right channels, so a BGR image gives the channel-reversed RGB result.

Each result is clamped to the valid range. Arithmetic is float32 (float64 for float64 images);
uint8 images are processed on the 0..255 scale and rounded (half to even) once at the end. A
pipeline of several colour ops on uint8 input runs the same *float chain*: the internal functions
``_brightness``, ``_contrast``, ``_saturation``, ``_hue`` take float32 values on the 0..255 scale
with ``bound=255.0`` (or on [0, 1] with ``bound=1.0``), clamp to ``[0, bound]`` after each op and
never round in between; round once at the end or normalise. These are per-pixel formulas (contrast
adds one per-sample mean, :func:`gray_mean`), so a fused kernel can reproduce them exactly.

Differences from torchvision on uint8: torchvision floors the grayscale image (saturation,
contrast's mean) and truncates the result; geomaug rounds once, so results may differ by a level
or two. Its grayscale red weight is 0.2989, geomaug's 0.299 (weights sum to 1: gray stays gray).
Conventions: docs/conventions.md (Colour).
"""
from __future__ import annotations

import numbers
from typing import Sequence

import numpy as np
import torch

from ._checks import fail

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "adjust_brightness", "adjust_contrast",
           "adjust_hue", "adjust_saturation", "denormalize", "gray_mean", "normalize",
           "to_grayscale"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CHANNEL_ORDERS = ("RGB", "BGR")
_WEIGHTS = (0.299, 0.587, 0.114)  # R, G, B
_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


# ----------------------------------------------------------------------------------------------
# The float chain: float tensors (..., C, H, W), values in [0, bound]; factors a number or a
# tensor () / (B,) already of x's dtype and device (see _per_sample). No checks here.
# ----------------------------------------------------------------------------------------------

def _per_sample(f, x: torch.Tensor):
    """A number stays a number; a tensor ``()``/``(B,)`` becomes ``x``'s dtype/device and is viewed
    as ``(B, 1, ..., 1)`` to broadcast over ``x`` (``(B, C, H, W)`` or ``(B, H, W)``; for an
    unbatched ``x`` a ``(1,)`` tensor broadcasts without adding a dimension). A number is rounded
    to float32 (unless ``x`` is float64), so a number and a tensor of it give identical results."""
    if not isinstance(f, torch.Tensor):
        return float(f) if x.dtype == torch.float64 else float(np.float32(f))
    f = f.to(device=x.device, dtype=x.dtype)
    return f.reshape(-1, *([1] * (x.dim() - 1))) if f.dim() == 1 else f


def _rgb(x: torch.Tensor, order: str):
    c0, c1, c2 = x.unbind(dim=-3)
    return (c2, c1, c0) if order == "BGR" else (c0, c1, c2)


def _gray(x: torch.Tensor, order: str = "RGB") -> torch.Tensor:
    """Grayscale ``(..., 1, H, W)`` of a float image (``x`` itself when C = 1)."""
    if x.shape[-3] == 1:
        return x
    r, g, b = _rgb(x, order)
    return (r * _WEIGHTS[0] + g * _WEIGHTS[1] + b * _WEIGHTS[2]).unsqueeze(-3)


def _gray_mean(x: torch.Tensor, order: str = "RGB") -> torch.Tensor:
    """Per-sample mean of the grayscale of a float image: ``(B,)`` (``()`` for (C, H, W)), summed
    in float64 and given in ``x``'s dtype -- the fused op's rule (geomaug.fused), so that both
    paths blend with the same mean."""
    return _gray(x, order).double().mean(dim=(-3, -2, -1)).to(x.dtype)


def _brightness(x: torch.Tensor, f, bound: float) -> torch.Tensor:
    return (x * _per_sample(f, x)).clamp_(0.0, bound)


def _contrast(x: torch.Tensor, f, mean, bound: float) -> torch.Tensor:
    f, mean = _per_sample(f, x), _per_sample(mean, x)
    return (x * f + (1.0 - f) * mean).clamp_(0.0, bound)


def _saturation(x: torch.Tensor, f, bound: float, order: str = "RGB") -> torch.Tensor:
    if x.shape[-3] == 1:
        return x
    f = _per_sample(f, x)
    return (x * f + (1.0 - f) * _gray(x, order)).clamp_(0.0, bound)


def _hue(x: torch.Tensor, shift, bound: float, order: str = "RGB") -> torch.Tensor:
    """Rotate the hue by ``shift`` turns. With ``v = max``, ``c = max − min`` and the hue in
    sixths ``h6``, channel n ∈ {R: 5, G: 3, B: 1} is ``v − c·clamp(min(k, 4 − k), 0, 1)``,
    ``k = (n + h6 + 6·shift) mod 6`` — the HSV round trip of torchvision/PIL, branch-free."""
    if x.shape[-3] == 1:
        return x
    r, g, b = _rgb(x, order)
    v = torch.maximum(torch.maximum(r, g), b)
    c = v - torch.minimum(torch.minimum(r, g), b)
    safe = torch.where(c > 0, c, torch.ones_like(c))
    h6 = torch.where(v == r, (g - b) / safe,
                     torch.where(v == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0))
    h6 = h6 + 6.0 * _per_sample(shift, h6)

    def channel(n: float) -> torch.Tensor:
        k = torch.remainder(h6 + n, 6.0)
        return v - c * torch.minimum(k, 4.0 - k).clamp_(0.0, 1.0)

    red, green, blue = channel(5.0), channel(3.0), channel(1.0)
    out = (blue, green, red) if order == "BGR" else (red, green, blue)
    return torch.stack(out, dim=-3).clamp_(0.0, bound)


# ----------------------------------------------------------------------------------------------
# Checks and the uint8/float wrapper
# ----------------------------------------------------------------------------------------------

def _check_order(channel_order) -> str:
    if channel_order not in CHANNEL_ORDERS:
        fail(f"channel_order must be 'RGB' or 'BGR', got {channel_order!r}")
    return channel_order


def _check_image(image, channels: Sequence[int] | None = (1, 3),
                 name: str = "image") -> torch.Tensor:
    if not isinstance(image, torch.Tensor):
        fail(f"{name} must be a torch tensor (C, H, W) or (B, C, H, W), got "
             f"{type(image).__name__}")
    if image.dim() not in (3, 4):
        fail(f"{name} must be (C, H, W) or (B, C, H, W), got shape {tuple(image.shape)}")
    if image.dtype != torch.uint8 and image.dtype not in _FLOAT_DTYPES:
        fail(f"{name} must be uint8 or float16/bfloat16/float32/float64, got {image.dtype}")
    if channels is None and image.shape[-3] == 0:
        fail(f"{name} must have at least one channel (dim -3), got shape {tuple(image.shape)}")
    if channels is not None and image.shape[-3] not in channels:
        fail(f"{name} must have {' or '.join(map(str, channels))} channels (dim -3), got "
             f"{image.shape[-3]} in shape {tuple(image.shape)}")
    return image


def _check_factor(f, image: torch.Tensor, name: str, low: float | None = 0.0,
                  high: float | None = None):
    """A real number, or a tensor ``()`` / ``(B,)`` (``(1,)`` for an unbatched image). Values of
    a tensor are checked on the CPU only (elsewhere a check would synchronise)."""
    batch = image.shape[0] if image.dim() == 4 else 1
    if isinstance(f, torch.Tensor):
        if f.dim() > 1 or (f.dim() == 1 and f.shape[0] != batch):
            fail(f"{name} must be a number or a tensor of shape ({batch},) (one per sample), got "
                 f"shape {tuple(f.shape)}")
        if f.dtype == torch.bool or f.is_complex():
            fail(f"{name} must hold real numbers, got dtype {f.dtype}")
        if (low is not None and f.device.type == "cpu" and f.numel()
                and not torch.compiler.is_compiling()):
            bad = f < low if high is None else (f < low) | (f > high)
            if bool(bad.any()) or bool(f.isnan().any()):
                fail(f"{name} must be {_allowed(low, high)}, got {f[bad | f.isnan()][0].item()}")
        return f
    if isinstance(f, bool) or not isinstance(f, numbers.Real):
        fail(f"{name} must be a number or a tensor of shape ({batch},), got {type(f).__name__}")
    if low is not None and not (f >= low and (high is None or f <= high)):
        fail(f"{name} must be {_allowed(low, high)}, got {f}")
    return f


def _allowed(low: float, high: float | None) -> str:
    return f"in [{low:g}, {high:g}]" if high is not None else f">= {low:g}"


def _work_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _keep_layout(out: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """``out`` (same shape as ``image``) in ``image``'s memory format: contiguous stays
    contiguous, channels-last (or any dense permutation) keeps its strides."""
    if image.is_contiguous():
        return out.contiguous()
    if out.stride() == image.stride():
        return out
    return torch.empty_like(image, dtype=out.dtype).copy_(out)


def _run(image: torch.Tensor, op) -> torch.Tensor:
    """Apply ``op(x_float, bound)``: uint8 on the 0..255 scale, rounded half-even once at the end;
    float in float32 (float64 kept) and cast back."""
    if image.dtype == torch.uint8:
        out = op(image.to(torch.float32), 255.0).round_().clamp_(0.0, 255.0).to(torch.uint8)
    else:
        out = op(image.to(_work_dtype(image.dtype)), 1.0).to(image.dtype)
    return _keep_layout(out, image)


# ----------------------------------------------------------------------------------------------
# Public functions
# ----------------------------------------------------------------------------------------------

def adjust_brightness(image: torch.Tensor, factor: float | torch.Tensor, *,
                      channel_order: str = "RGB") -> torch.Tensor:
    """Multiply by ``factor`` (0 → black, 1 → unchanged) and clamp to the valid range.

    Args:
        image: ``(C, H, W)`` or ``(B, C, H, W)``, C ∈ {1, 3}, uint8 or float.
        factor: ≥ 0, a number or a tensor ``(B,)`` (one per sample).
        channel_order: ``"RGB"`` or ``"BGR"`` (no effect here; accepted for a uniform API).

    Returns:
        A tensor of ``image``'s shape, dtype, device and memory format.

    Example:
        >>> adjust_brightness(torch.full((3, 2, 2), 100, dtype=torch.uint8), 1.5)[0, 0, 0]
        tensor(150, dtype=torch.uint8)
    """
    _check_order(channel_order)
    _check_image(image)
    factor = _check_factor(factor, image, "factor")
    return _run(image, lambda x, bound: _brightness(x, factor, bound))


def adjust_contrast(image: torch.Tensor, factor: float | torch.Tensor,
                    mean: float | torch.Tensor | None = None, *,
                    channel_order: str = "RGB") -> torch.Tensor:
    """Blend with the mean of the grayscale image: ``factor·x + (1 − factor)·mean``, clamped.

    Args:
        image: ``(C, H, W)`` or ``(B, C, H, W)``, C ∈ {1, 3} (a 1-channel image is its own gray).
        factor: ≥ 0 (0 → uniform gray, 1 → unchanged), a number or a tensor ``(B,)``.
        mean: per-sample grayscale mean on the image's scale (0..255 for uint8, 0..1 for float),
            a number or a tensor ``(B,)``; ``None`` → :func:`gray_mean` of ``image``.
        channel_order: ``"RGB"`` or ``"BGR"`` (grayscale weights follow it).

    Returns:
        A tensor of ``image``'s shape, dtype, device and memory format.

    Example:
        >>> img = torch.tensor([[[0, 200]]], dtype=torch.uint8)   # (1, 1, 2), mean 100
        >>> adjust_contrast(img, 0.5)
        tensor([[[ 50, 150]]], dtype=torch.uint8)
    """
    order = _check_order(channel_order)
    _check_image(image)
    factor = _check_factor(factor, image, "factor")
    if mean is not None:
        mean = _check_factor(mean, image, "mean", low=None)

    def op(x, bound):
        m = _gray_mean(x, order) if mean is None else mean
        return _contrast(x, factor, m, bound)
    return _run(image, op)


def adjust_saturation(image: torch.Tensor, factor: float | torch.Tensor, *,
                      channel_order: str = "RGB") -> torch.Tensor:
    """Blend each pixel with its gray value: ``factor·x + (1 − factor)·gray(x)``, clamped.

    Args:
        image: ``(C, H, W)`` or ``(B, C, H, W)``, C ∈ {1, 3}; a 1-channel image is returned
            unchanged (a copy), as in torchvision.
        factor: ≥ 0 (0 → grayscale, 1 → unchanged, > 1 → more saturated), a number or a
            tensor ``(B,)``.
        channel_order: ``"RGB"`` or ``"BGR"``.

    Returns:
        A tensor of ``image``'s shape, dtype, device and memory format.

    Example:
        >>> img = torch.tensor([255, 0, 0], dtype=torch.uint8).view(3, 1, 1)   # pure red
        >>> adjust_saturation(img, 0.0).flatten()                                # its gray
        tensor([76, 76, 76], dtype=torch.uint8)
    """
    order = _check_order(channel_order)
    _check_image(image)
    factor = _check_factor(factor, image, "factor")
    if image.shape[-3] == 1:
        return image.clone()
    return _run(image, lambda x, bound: _saturation(x, factor, bound, order))


def adjust_hue(image: torch.Tensor, shift: float | torch.Tensor, *,
               channel_order: str = "RGB") -> torch.Tensor:
    """Shift the hue (H of HSV) by ``shift`` turns; saturation and value are kept.

    Args:
        image: ``(C, H, W)`` or ``(B, C, H, W)``, C ∈ {1, 3}; a 1-channel image is returned
            unchanged (a copy), as in torchvision.
        shift: in [−0.5, 0.5] (±0.5 → complementary colours), a number or a tensor ``(B,)``.
        channel_order: ``"RGB"`` or ``"BGR"``.

    Returns:
        A tensor of ``image``'s shape, dtype, device and memory format.

    Example:
        >>> red = torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1)
        >>> adjust_hue(red, 1 / 3).flatten()                                     # red → green
        tensor([0., 1., 0.])
    """
    order = _check_order(channel_order)
    _check_image(image)
    shift = _check_factor(shift, image, "shift", low=-0.5, high=0.5)
    if image.shape[-3] == 1:
        return image.clone()
    return _run(image, lambda x, bound: _hue(x, shift, bound, order))


def to_grayscale(image: torch.Tensor, num_output_channels: int | None = None, *,
                 channel_order: str = "RGB") -> torch.Tensor:
    """Grayscale ``0.299 R + 0.587 G + 0.114 B``, repeated over ``num_output_channels``.

    Args:
        image: ``(C, H, W)`` or ``(B, C, H, W)``, C ∈ {1, 3}, uint8 (result rounded) or float.
        num_output_channels: 1 or 3; ``None`` → C (same shape as the input).
        channel_order: ``"RGB"`` or ``"BGR"``.

    Returns:
        ``(..., num_output_channels, H, W)``, ``image``'s dtype and device.

    Example:
        >>> img = torch.tensor([0, 0, 255], dtype=torch.uint8).view(3, 1, 1)   # blue in RGB
        >>> to_grayscale(img, 1).flatten(), to_grayscale(img, 1, channel_order="BGR").flatten()
        (tensor([29], dtype=torch.uint8), tensor([76], dtype=torch.uint8))
    """
    order = _check_order(channel_order)
    _check_image(image)
    c = image.shape[-3]
    n = c if num_output_channels is None else num_output_channels
    if isinstance(n, bool) or n not in (1, 3):
        fail(f"num_output_channels must be 1, 3 or None, got {num_output_channels!r}")
    if image.dtype == torch.uint8:
        gray = _gray(image.to(torch.float32), order).round().clamp_(0.0, 255.0).to(torch.uint8)
    else:
        gray = _gray(image.to(_work_dtype(image.dtype)), order).clamp(0.0, 1.0).to(image.dtype)
    if n == 1:
        return gray.contiguous()
    shape = (*image.shape[:-3], n, *image.shape[-2:])
    if c == n:
        return torch.empty_like(image).copy_(gray.expand(shape))   # image's memory format
    return gray.expand(shape).contiguous()


def gray_mean(image: torch.Tensor, *, channel_order: str = "RGB") -> torch.Tensor:
    """Per-sample mean of the grayscale image, the ``mean`` that :func:`adjust_contrast` blends
    with.

    Args:
        image: ``(C, H, W)`` or ``(B, C, H, W)``, C ∈ {1, 3}, uint8 or float.
        channel_order: ``"RGB"`` or ``"BGR"``.

    Returns:
        ``(B,)`` (``()`` for a ``(C, H, W)`` image) on the image's scale (0..255 for uint8,
        unrounded), float32 (float64 for float64 images), summed in float64.

    Example:
        >>> gray_mean(torch.tensor([[[0, 255]]], dtype=torch.uint8))
        tensor(127.5000)
    """
    order = _check_order(channel_order)
    _check_image(image)
    return _gray_mean(image.to(_work_dtype(image.dtype)), order)


def _mean_std(values, c: int, name: str, order: str) -> torch.Tensor:
    if isinstance(values, numbers.Real) and not isinstance(values, bool):
        values = [float(values)] * c
    try:
        t = torch.as_tensor(values, dtype=torch.float64).flatten().cpu()
    except (TypeError, ValueError, RuntimeError):
        fail(f"{name} must be a number or a sequence of {c} numbers, got {values!r}")
    if t.numel() != c:
        fail(f"{name} must have one value per channel ({c}), got {t.numel()}: {values!r}")
    if name == "std" and not bool((t > 0).all()):
        fail(f"std must be > 0 for every channel, got {values!r}")
    if not bool(t.isfinite().all()):
        fail(f"{name} must be finite, got {values!r}")
    return t.flip(0) if order == "BGR" else t


def normalize(image, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
              *, dtype: torch.dtype = torch.float32, channel_order: str = "RGB") -> torch.Tensor:
    """``(x/255 − mean)/std`` for uint8, ``(x − mean)/std`` for float images.

    Args:
        image: torch ``(C, H, W)`` / ``(B, C, H, W)`` (uint8 or float, any memory format), or a
            numpy uint8 array ``(H, W, C)`` / ``(H, W)`` (read-only arrays are fine).
        mean, std: one value per channel (or one number for all), given in **RGB** order; for a
            BGR image they are applied reversed, so each channel gets its own colour's value.
        dtype: output dtype, float32 (default), float16, bfloat16 or float64.
        channel_order: ``"RGB"`` or ``"BGR"``; the output keeps the input's channel order.

    Returns:
        Float tensor ``(C, H, W)`` / ``(B, C, H, W)`` (numpy ``(H, W, C)`` → contiguous
        ``(C, H, W)``); torch inputs keep their memory format.

    Example:
        >>> x = np.full((4, 4, 3), 255, dtype=np.uint8)
        >>> normalize(x)[:, 0, 0]
        tensor([2.2489, 2.4286, 2.6400])
    """
    order = _check_order(channel_order)
    if dtype not in _FLOAT_DTYPES:
        fail(f"dtype must be float32, float16, bfloat16 or float64, got {dtype}")
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim not in (2, 3):
            fail(f"image as a numpy array must be uint8 (H, W) or (H, W, C), got {image.dtype} "
                 f"of shape {image.shape}")
        # a copy where torch would warn (read-only) or refuse (negative strides, e.g. BGR views)
        arr = image if image.flags.writeable and min(image.strides) >= 0 else image.copy()
        src = torch.from_numpy(arr)
        src = src[None] if src.dim() == 2 else src.permute(2, 0, 1)
        target = torch.empty(src.shape, dtype=dtype)
    else:
        src = _check_image(image, channels=None)
        target = None
    c = src.shape[-3]
    work = _work_dtype(dtype if src.dtype == torch.uint8 else src.dtype)
    inv_std = 1.0 / _mean_std(std, c, "std", order)
    scale = inv_std / 255.0 if src.dtype == torch.uint8 else inv_std
    bias = -_mean_std(mean, c, "mean", order) * inv_std
    scale = scale.to(device=src.device, dtype=work).view(c, 1, 1)
    bias = bias.to(device=src.device, dtype=work).view(c, 1, 1)
    if target is not None and dtype == work:
        return torch.addcmul(bias, src, scale, out=target)      # x·scale + bias, one pass
    out = torch.addcmul(bias, src, scale)
    if target is not None:
        return target.copy_(out)
    return _keep_layout(out.to(dtype), src)


def denormalize(tensor: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN,
                std: Sequence[float] = IMAGENET_STD, *,
                channel_order: str = "RGB") -> torch.Tensor:
    """Invert :func:`normalize` for display: ``round((x·std + mean)·255)`` as uint8, clamped.

    Args:
        tensor: float ``(C, H, W)`` or ``(B, C, H, W)`` from :func:`normalize`.
        mean, std: those given to :func:`normalize` (RGB order).
        channel_order: the channel order of ``tensor``.

    Returns:
        uint8 tensor of the same shape and memory format.

    Example:
        >>> x = torch.randint(0, 256, (3, 5, 5), dtype=torch.uint8)
        >>> bool((denormalize(normalize(x)) == x).all())
        True
    """
    order = _check_order(channel_order)
    if isinstance(tensor, torch.Tensor) and not tensor.dtype.is_floating_point:
        fail(f"tensor must be a float tensor from normalize, got {tensor.dtype}")
    _check_image(tensor, channels=None, name="tensor")
    c = tensor.shape[-3]
    work = _work_dtype(tensor.dtype)
    std_t = _mean_std(std, c, "std", order)
    scale = (std_t * 255.0).to(device=tensor.device, dtype=work).view(c, 1, 1)
    bias = (_mean_std(mean, c, "mean", order) * 255.0).to(device=tensor.device, dtype=work)
    out = torch.addcmul(bias.view(c, 1, 1), tensor.to(work), scale)
    out = out.round_().clamp_(0.0, 255.0).to(torch.uint8)
    return _keep_layout(out, tensor)
