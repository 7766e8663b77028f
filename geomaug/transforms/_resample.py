"""The one call through which the transforms resample images and masks.

``resample`` calls :func:`geomaug.warp` with its ``border`` argument.  Until that argument exists in
the installed geomaug, it runs :func:`_emulate`, a plain PyTorch transcription of the same rule
(see docs/conventions.md, "Borders"):

* a sample point inside the source area ``[-0.5, W-0.5] × [-0.5, H-0.5]`` is image content: its
  bilinear taps clamp to the edge pixels (so a resize equals ``cv2.resize``, no dark frame);
* a point outside takes the border mode, per tap as OpenCV: ``"constant"`` (the fill),
  ``"replicate"`` (BORDER_REPLICATE) or ``"reflect"`` (BORDER_REFLECT_101).
"""
from __future__ import annotations

import inspect

import torch

import geomaug

BORDERS = ("constant", "replicate", "reflect")
WARP_HAS_BORDER = "border" in inspect.signature(geomaug.warp).parameters


def resample(src: torch.Tensor, matrices: torch.Tensor, size: tuple[int, int], interpolation: str,
             fill, border: str) -> torch.Tensor:
    """Warp ``src`` ``(B, C, H, W)`` by forward ``matrices`` ``(B, 3, 3)`` to ``size`` ``(h, w)``."""
    if WARP_HAS_BORDER:
        return geomaug.warp(src, matrices, size, interpolation=interpolation, fill=fill,
                            border=border)
    return _emulate(src, matrices, size, interpolation, fill, border)


def _tap(index: torch.Tensor, n: int, inside: torch.Tensor, border: str):
    """Source index of a tap and whether it reads the image (False: the fill)."""
    clamped = index.clamp(0, n - 1)
    if border == "replicate":
        return clamped, torch.ones_like(inside)
    if border == "reflect":
        if n == 1:
            reflected = torch.zeros_like(index)
        else:
            period = 2 * (n - 1)
            r = torch.remainder(index, period)
            reflected = torch.where(r >= n, period - r, r)
        return torch.where(inside, clamped, reflected), torch.ones_like(inside)
    valid = (index >= 0) & (index <= n - 1)
    return clamped, valid | inside


def _emulate(src, matrices, size, interpolation, fill, border):
    B, C, H, W = src.shape
    out_h, out_w = size
    work = torch.float64 if src.dtype in (torch.float64, torch.int64, torch.int32) else torch.float32
    fill_t = torch.as_tensor(fill, dtype=work, device=src.device).flatten()
    fill_t = fill_t.expand(C) if fill_t.numel() == 1 else fill_t
    if B == 0 or out_h == 0 or out_w == 0:
        return torch.empty((B, C, out_h, out_w), dtype=src.dtype, device=src.device)
    inv = torch.linalg.inv(matrices.to(device=src.device, dtype=torch.float64))
    ys, xs = torch.meshgrid(torch.arange(out_h, dtype=torch.float64, device=src.device),
                            torch.arange(out_w, dtype=torch.float64, device=src.device),
                            indexing="ij")
    pts = torch.stack([xs, ys, torch.ones_like(xs)], -1).reshape(1, -1, 3)
    q = pts @ inv.transpose(1, 2)  # (B, P, 3)
    sx, sy = q[..., 0] / q[..., 2], q[..., 1] / q[..., 2]
    inside = (sx >= -0.5) & (sx <= W - 0.5) & (sy >= -0.5) & (sy <= H - 0.5)
    flat = src.reshape(B, C, H * W).to(work)

    def gather(ix, iy, ok):
        idx = (iy * W + ix).unsqueeze(1).expand(B, C, ix.shape[1])
        v = torch.gather(flat, 2, idx)
        return torch.where(ok.unsqueeze(1), v, fill_t.view(1, C, 1))

    if interpolation == "nearest":
        ix, okx = _tap(torch.floor(sx + 0.5).long(), W, inside, border)
        iy, oky = _tap(torch.floor(sy + 0.5).long(), H, inside, border)
        out = gather(ix, iy, okx & oky)
    else:
        x0, y0 = torch.floor(sx), torch.floor(sy)
        fx, fy = (sx - x0).to(work).unsqueeze(1), (sy - y0).to(work).unsqueeze(1)
        x0, y0 = x0.long(), y0.long()
        (ix0, okx0), (ix1, okx1) = _tap(x0, W, inside, border), _tap(x0 + 1, W, inside, border)
        (iy0, oky0), (iy1, oky1) = _tap(y0, H, inside, border), _tap(y0 + 1, H, inside, border)
        top = gather(ix0, iy0, okx0 & oky0) * (1 - fx) + gather(ix1, iy0, okx1 & oky0) * fx
        bot = gather(ix0, iy1, okx0 & oky1) * (1 - fx) + gather(ix1, iy1, okx1 & oky1) * fx
        out = top * (1 - fy) + bot * fy
    out = out.reshape(B, C, out_h, out_w)
    if src.dtype == torch.uint8:
        out = out.round().clamp(0, 255)
    elif not src.dtype.is_floating_point:
        out = out.round()
    return out.to(src.dtype)
