"""The compiled ops as Python sees them, in one place.

* the name → int tables behind the ops' enum arguments (a test checks them against the C++ enums
  that ``geomaug._C.enums()`` reports);
* one typed wrapper per op over ``torch.ops.geomaug.<op>``, taking names, not bare ints;
* the fake (meta) registration of every op, so ``torch.compile`` traces through them;
* :func:`use_kernel`, the one decision, per call, between an op's kernel and its PyTorch path.

Adding an op: its math header, CPU kernel, CUDA kernel and binding file under ``csrc/``, a wrapper
and a fake here (registered with :func:`_kernel`), its public function and PyTorch path in the
topic module, a test file.
"""
from __future__ import annotations

from typing import Callable

import torch

from . import _backend

INTERPOLATION = {"bilinear": 0, "nearest": 1}
ALIGN_MODEL = {"rigid": 0, "similarity": 1, "affine": 2}
BORDER = {"constant": 0, "replicate": 1, "reflect": 2}
COLOR_OP = {"none": 0, "brightness": 1, "contrast": 2, "saturation": 3, "hue": 4, "grayscale": 5}
CHANNEL_ORDER = {"RGB": 0, "BGR": 1}
ENUMS = {"interpolation": INTERPOLATION, "border": BORDER, "align_model": ALIGN_MODEL,
         "color_op": COLOR_OP, "channel_order": CHANNEL_ORDER}

KERNELS: dict[str, Callable] = {}  # op name -> typed wrapper; every op of torch.ops.geomaug


def _kernel(name: str):
    def register(fn):
        KERNELS[name] = fn
        return fn
    return register


def use_kernel(op: str, device: torch.device, needs_grad: bool = False) -> bool:
    """True to run ``op`` through its kernel, False for its PyTorch path.

    The PyTorch path runs when gradients are needed (the kernels have no backward), when
    ``GEOMAUG_BACKEND=torch``, or when the extension cannot run on ``device`` (one warning says
    why; ``GEOMAUG_BACKEND=ext`` raises instead).
    """
    if op not in KERNELS:
        raise KeyError(f"geomaug has no compiled op {op!r} (known: {sorted(KERNELS)})")
    if needs_grad:
        return False
    return _backend.use_extension(op, device)


def memory_format(t: torch.Tensor) -> torch.memory_format:
    """The memory format an op's image output takes after its input (the C++ binding's rule)."""
    if t.dim() == 4 and not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


@_kernel("warp")
def warp(src: torch.Tensor, matrices: torch.Tensor, out_h: int, out_w: int, interpolation: str,
         fill: torch.Tensor, border: str = "constant") -> torch.Tensor:
    """``(B, C, H, W)`` → ``(B, C, out_h, out_w)``; ``matrices`` ``(B, 3, 3)`` float64 forward,
    ``fill`` ``(C,)`` in src's dtype (or float64).  Checks are the binding's
    (csrc/bindings/warp.cpp)."""
    return torch.ops.geomaug.warp(src, matrices, out_h, out_w, INTERPOLATION[interpolation], fill,
                                  BORDER[border])


@_kernel("align")
def align(src: torch.Tensor, dst: torch.Tensor, weights: torch.Tensor | None, model: str,
          allow_reflection: bool, squared_weights: bool):
    """``(B, N, D)`` contiguous → ``(matrix, R, t, s, rmse, valid)`` (csrc/bindings/align.cpp)."""
    return torch.ops.geomaug.align(src, dst, weights, ALIGN_MODEL[model], allow_reflection,
                                   squared_weights)


@_kernel("augment")
def augment(image: torch.Tensor, matrices: torch.Tensor, out_h: int, out_w: int,
            interpolation: str, border: str, fill: list[float], color_ops: torch.Tensor,
            color_factors: torch.Tensor, contrast_means: torch.Tensor, channel_order: str,
            mean: list[float] | None, std: list[float] | None,
            out_dtype: torch.dtype | None) -> torch.Tensor:
    """``(B, C, H, W)`` uint8/float32 → ``(B, C, out_h, out_w)`` contiguous; ``matrices``
    ``(B, 3, 3)`` float64 forward; the colour program ``(B, S)`` int64 codes / float64 factors /
    float64 means (NaN: measured in the kernel); ``mean``/``std`` C values in the image's channel
    order.  Checks are the binding's (csrc/bindings/augment.cpp)."""
    return torch.ops.geomaug.augment(image, matrices, out_h, out_w, INTERPOLATION[interpolation],
                                     BORDER[border], fill, color_ops, color_factors,
                                     contrast_means, CHANNEL_ORDER[channel_order], mean, std,
                                     out_dtype)


def _register_fakes() -> None:
    @torch.library.register_fake("geomaug::warp")
    def _warp_fake(src, matrix, out_h, out_w, interpolation, fill, border=0):
        return torch.empty((src.shape[0], src.shape[1], out_h, out_w), dtype=src.dtype,
                           device=src.device, memory_format=memory_format(src))

    @torch.library.register_fake("geomaug::augment")
    def _augment_fake(image, matrix, out_h, out_w, interpolation, border, fill, color_ops,
                      color_factors, contrast_means, channel_order, mean, std, out_dtype):
        dtype = out_dtype or (torch.float32 if mean is not None else image.dtype)
        return image.new_empty((image.shape[0], image.shape[1], out_h, out_w), dtype=dtype)

    @torch.library.register_fake("geomaug::align")
    def _align_fake(src, dst, weights, mode, allow_reflection, squared_weights):
        B, N, D = src.shape
        return (src.new_empty(B, D + 1, D + 1), src.new_empty(B, D, D), src.new_empty(B, D),
                src.new_empty(B), src.new_empty(B), src.new_empty(B, dtype=torch.bool))


def _check_loaded_ops() -> bool:
    """True when the loaded extension has every op of :data:`KERNELS`; else (an in-place build
    left over from older sources) the extension is marked unusable, with the rebuild command."""
    missing = [name for name in KERNELS if not hasattr(torch.ops.geomaug, name)]
    if missing:
        _backend.mark_stale(missing)
    return not missing


if _backend.extension().module is not None and _check_loaded_ops():
    _register_fakes()
