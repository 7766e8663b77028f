"""Argument checks shared by the public API: each error names the argument, what was expected and
what came."""
from __future__ import annotations

import operator

import numpy as np
import torch


class InputError(ValueError):
    """A geomaug function was given an argument it cannot use (the message says which and why)."""


def fail(message: str):
    raise InputError(message)


MAX_SIDE = 2**30 - 1  # the kernels' limit on an output side (csrc/bindings/warp.cpp)


def as_size(size, name: str = "size", *, allow_int: bool = False, allow_zero: bool = True
            ) -> tuple[int, int]:
    """``(height, width)`` of whole numbers (an int for both when ``allow_int``); floats such as
    ``10.7`` are an error rather than truncated."""
    if allow_int and not isinstance(size, (tuple, list)) and hasattr(size, "__index__"):
        size = (size, size)
    try:
        h, w = size
        h, w = operator.index(h), operator.index(w)
    except (TypeError, ValueError):
        fail(f"{name} must be {'an int or ' if allow_int else ''}(height, width) of integers, "
             f"got {size!r}")
    low = 0 if allow_zero else 1
    if not (low <= h <= MAX_SIDE and low <= w <= MAX_SIDE):
        fail(f"{name} must be between {low} and {MAX_SIDE} on each side, got {(h, w)}")
    return h, w


def as_matrices(matrix, batch: int, device, keep_grad: bool = False) -> torch.Tensor:
    """``(3,3)``, ``(2,3)``, ``(B,3,3)`` or ``(B,2,3)`` (torch or numpy) → contiguous ``(B,3,3)``
    float64 on ``device`` (float dtype of ``matrix`` kept when ``keep_grad``)."""
    if isinstance(matrix, np.ndarray):
        m = torch.from_numpy(np.asarray(matrix, dtype=np.float64))
    elif isinstance(matrix, torch.Tensor):
        m = matrix
    else:
        try:
            m = torch.as_tensor(matrix, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):
            fail(f"matrix must be a tensor or array of shape (3, 3), (2, 3), (B, 3, 3) or "
                 f"(B, 2, 3), got {type(matrix).__name__}")
    if m.dim() not in (2, 3) or m.shape[-1] != 3 or m.shape[-2] not in (2, 3):
        fail(f"matrix must be (3, 3), (2, 3), (B, 3, 3) or (B, 2, 3), got shape {tuple(m.shape)}")
    if m.dim() == 3 and m.shape[0] != batch:
        fail(f"matrix has {m.shape[0]} matrices for a batch of {batch} images")
    if not (m.dtype.is_floating_point or m.dtype in (torch.int32, torch.int64)):
        fail(f"matrix must hold real numbers, got dtype {m.dtype}")
    dtype = m.dtype if (keep_grad and m.dtype.is_floating_point) else torch.float64
    m = m.to(device=device, dtype=dtype)
    if m.shape[-2] == 2:
        last = torch.tensor([0.0, 0.0, 1.0], dtype=dtype, device=device).expand(*m.shape[:-2], 1, 3)
        m = torch.cat([m, last], dim=-2)
    if m.dim() == 2:
        m = m.expand(batch, 3, 3)
    return m if keep_grad else m.contiguous()
