"""Shared data makers and the kernel test contract.

``check_kernel(fn, args)`` checks, for any op and input, what every kernel must keep (after
torchvision's ``check_kernel``): the input is untouched; dtype, device and memory format are kept;
CUDA ≈ CPU when a GPU is present; batched ≈ one by one; an empty batch keeps its shape; the kernel
≈ the PyTorch path.
"""
from __future__ import annotations

import math
import os
from contextlib import contextmanager
from typing import Callable, Sequence

import numpy as np
import torch

from conftest import HAS_CUDA


# ---------------------------------------------------------------------------------------------
# Data makers: random content, fresh per run (the seed comes from the autouse fixture).

def random_image(rng, B, C, H, W, dtype):
    if dtype == torch.uint8:
        return torch.from_numpy(rng.integers(0, 256, (B, C, H, W), dtype=np.uint8))
    if dtype in (torch.int32, torch.int64):
        return torch.from_numpy(rng.integers(0, 20, (B, C, H, W))).to(dtype)
    return torch.from_numpy(rng.random((B, C, H, W))).to(dtype)


def smooth_image(rng, B, C, H, W, dtype):
    """Random but smooth content (bilinear upsampling of coarse noise), so that the 1/32-pixel
    coordinate rounding of cv2's fixed-point path stays well under one uint8 level."""
    coarse = torch.from_numpy(rng.random((B, C, H // 16 + 2, W // 16 + 2)))
    img = torch.nn.functional.interpolate(coarse, size=(H, W), mode="bilinear", align_corners=True)
    if dtype == torch.uint8:
        return (img * 255).round().to(torch.uint8)
    return img.to(dtype)


def random_affine(rng, B, H, W, out_hw=None, max_rot=30, scale=(0.75, 1.75), shift=0.1):
    """Forward matrices: rotation/scale about the source centre, then shift, then recentre."""
    oh, ow = out_hw or (H, W)
    mats = []
    for _ in range(B):
        a = math.radians(rng.uniform(-max_rot, max_rot))
        s = rng.uniform(*scale)
        c, sn = s * math.cos(a), s * math.sin(a)
        cx, cy = (W - 1) / 2, (H - 1) / 2
        tx = (ow - 1) / 2 + rng.uniform(-shift, shift) * W
        ty = (oh - 1) / 2 + rng.uniform(-shift, shift) * H
        mats.append([[c, -sn, tx - c * cx + sn * cy], [sn, c, ty - sn * cx - c * cy], [0, 0, 1]])
    return torch.tensor(mats, dtype=torch.float64)


def random_rotation(B, D, dtype=torch.float64):
    q, r = torch.linalg.qr(torch.randn(B, D, D, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))[..., None, :]
    q[torch.linalg.det(q) < 0, :, 0] *= -1
    return q.to(dtype)


def random_problem(B, N, D, dtype=torch.float32, noise=0.0, model="similarity"):
    """``dst = s A src + t + noise`` for random (A, s, t) of ``model``: (src, dst, A, s, t)."""
    src = torch.randn(B, N, D, dtype=torch.float64) * 3 + torch.randn(B, 1, D, dtype=torch.float64) * 10
    if model == "affine":
        A = torch.randn(B, D, D, dtype=torch.float64) + 2 * torch.eye(D, dtype=torch.float64)
        s = torch.ones(B, dtype=torch.float64)
    else:
        A = random_rotation(B, D)
        s = torch.rand(B, dtype=torch.float64) * 2 + 0.5 if model == "similarity" else torch.ones(B, dtype=torch.float64)
    t = torch.randn(B, D, dtype=torch.float64) * 5
    dst = s[:, None, None] * src @ A.mT + t[:, None] + noise * torch.randn(B, N, D, dtype=torch.float64)
    return src.to(dtype), dst.to(dtype), A, s, t


# ---------------------------------------------------------------------------------------------
# The kernel test contract.

@contextmanager
def backend(value: str):
    """Run the block with GEOMAUG_BACKEND=value (read on every call)."""
    old = os.environ.get("GEOMAUG_BACKEND")
    os.environ["GEOMAUG_BACKEND"] = value
    try:
        yield
    finally:
        if old is None:
            del os.environ["GEOMAUG_BACKEND"]
        else:
            os.environ["GEOMAUG_BACKEND"] = old


def _tensors(out) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if hasattr(out, "__dataclass_fields__"):
        out = [getattr(out, f) for f in out.__dataclass_fields__]
    return [v for v in out if isinstance(v, torch.Tensor)]


def _close(got, want, atol, rtol, what):
    for i, (g, w) in enumerate(zip(_tensors(got), _tensors(want))):
        assert g.shape == w.shape, f"{what}: output {i} shape {tuple(g.shape)} != {tuple(w.shape)}"
        assert g.dtype == w.dtype, f"{what}: output {i} dtype {g.dtype} != {w.dtype}"
        if g.dtype == torch.bool or not (g.dtype.is_floating_point or g.dtype == torch.uint8):
            assert torch.equal(g.cpu(), w.cpu()), f"{what}: output {i} differs"
            continue
        g64, w64 = g.cpu().double(), w.cpu().double()
        both_nan = g64.isnan() & w64.isnan()
        err = ((g64 - w64).abs() - rtol * w64.abs()).masked_fill(both_nan, 0)
        worst = float(err.max()) if err.numel() else 0.0
        assert worst <= atol, f"{what}: output {i} off by {worst:.3g} (atol {atol}, rtol {rtol})"


def _move(args, device):
    return tuple(a.to(device) if isinstance(a, torch.Tensor) else a for a in args)


def _slice(args, batched: Sequence[int], i: slice):
    return tuple(a[i] if k in batched else a for k, a in enumerate(args))


def check_kernel(fn: Callable, args: tuple, *, batched: Sequence[int] = (0,), atol: float = 0.0,
                 rtol: float = 0.0, memory_format: bool = True, reference: bool = True) -> None:
    """Check ``fn(*args)`` against the contract every geomaug kernel keeps.

    ``batched``: positions of the arguments whose first dimension is the batch (sliced for the
    one-by-one and empty-batch checks).  Tolerances compare kernel to PyTorch path, CUDA to CPU
    and batched to one by one.
    """
    before = [a.clone() for a in args if isinstance(a, torch.Tensor)]
    out = fn(*args)
    after = [a for a in args if isinstance(a, torch.Tensor)]
    for b, a in zip(before, after):
        assert torch.equal(b, a), "the input was modified in place"
    first = next(a for a in args if isinstance(a, torch.Tensor))
    main = _tensors(out)[0]
    assert main.device == first.device, f"device {main.device} != input's {first.device}"
    if memory_format and main.dim() == 4 and first.dim() == 4 and main.numel():
        cl_in = not first.is_contiguous() and first.is_contiguous(memory_format=torch.channels_last)
        cl_out = not main.is_contiguous() and main.is_contiguous(memory_format=torch.channels_last)
        assert cl_in == cl_out, "the memory format was not kept"
    if reference:
        with backend("torch"):
            _close(out, fn(*args), atol, rtol, "kernel vs PyTorch path")
    if HAS_CUDA and first.device.type == "cpu":
        _close(fn(*_move(args, "cuda")), out, atol, rtol, "CUDA vs CPU")
    B = args[batched[0]].shape[0]
    for i in range(B):
        one = fn(*_slice(args, batched, slice(i, i + 1)))
        want = [t[i:i + 1] if t.dim() and t.shape[0] == B else t for t in _tensors(out)]
        _close(one, want, atol, rtol, f"sample {i} alone vs in the batch")
    empty = fn(*_slice(args, batched, slice(0, 0)))
    for e, o in zip(_tensors(empty), _tensors(out)):
        if o.dim() and o.shape[0] == B:
            assert e.shape == (0, *o.shape[1:]), f"empty batch gave shape {tuple(e.shape)}"
