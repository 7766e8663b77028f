"""Warp workload: B uint8 RGB 512×512 images → 448×448, per-sample random affine, bilinear, fill 0."""
from __future__ import annotations

import math

import torch

import geomaug
from geomaug import _backend

from . import peers
from .harness import Recorder, Settings, sync

IN_HW, OUT_HW = (512, 512), (448, 448)
FULL_BATCH, QUICK_BATCH = 64, 4


def random_affines(B: int, device: torch.device, seed: int = 0) -> torch.Tensor:
    """(B, 3, 3) forward matrices about the image centre: rotation ±30°, scale 0.75–1.75,
    translation ±10 % of the output size."""
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(B, 4, generator=g, dtype=torch.float64)
    angle = (u[:, 0] * 2 - 1) * math.radians(30)
    scale = 0.75 + u[:, 1]
    tx = (u[:, 2] * 2 - 1) * 0.1 * OUT_HW[1]
    ty = (u[:, 3] * 2 - 1) * 0.1 * OUT_HW[0]
    cx_in, cy_in = (IN_HW[1] - 1) / 2, (IN_HW[0] - 1) / 2
    cx_out, cy_out = (OUT_HW[1] - 1) / 2, (OUT_HW[0] - 1) / 2
    c, s = scale * torch.cos(angle), scale * torch.sin(angle)
    M = torch.zeros(B, 3, 3, dtype=torch.float64)
    M[:, 0, 0], M[:, 0, 1], M[:, 1, 0], M[:, 1, 1] = c, -s, s, c
    M[:, 0, 2] = cx_out + tx - (c * cx_in - s * cy_in)
    M[:, 1, 2] = cy_out + ty - (s * cx_in + c * cy_in)
    M[:, 2, 2] = 1
    return M.float().to(device)


def _check(name: str, label: str, out: torch.Tensor, ref: torch.Tensor) -> dict:
    d = (out.int() - ref.int()).abs()
    res = {"vs": name, "max_abs": int(d.max()), "frac_gt1": float((d > 1).float().mean())}
    res["ok"] = res["frac_gt1"] < 1e-3
    print(f"  [check {label}] geomaug vs {name}: max|Δ| {res['max_abs']} levels, "
          f"{100 * res['frac_gt1']:.4f}% of values differ by > 1  "
          f"{'OK' if res['ok'] else 'MISMATCH'}", flush=True)
    return res


def run(rec: Recorder, device: torch.device, settings: Settings, cpu_threads: int) -> None:
    B = QUICK_BATCH if settings.quick else FULL_BATCH
    on_cpu = device.type == "cpu"
    if on_cpu:
        torch.set_num_threads(cpu_threads)
    threads = cpu_threads if on_cpu else None
    g = torch.Generator().manual_seed(1)
    image = torch.randint(0, 256, (B, 3, *IN_HW), generator=g, dtype=torch.uint8).to(device)
    M = random_affines(B, device)
    sync(device)
    label = f"warp {device.type} B={B}"
    kornia_ok = peers.optional("kornia.geometry.transform") is not None

    def geo():
        return geomaug.warp(image, M, OUT_HW, interpolation="bilinear", fill=0)

    def grid():
        return peers.torch_grid_warp(image, M, OUT_HW)

    def kor():
        return peers.kornia_warp(image, M, OUT_HW)

    out = geo()
    checks = [_check("torch affine_grid+grid_sample", label, out, grid())]
    if kornia_ok:
        try:
            checks.append(_check("kornia warp_affine", label, out, kor()))
        except Exception as exc:  # a kornia that imports but does not run here
            print(f"  [skip] kornia failed on {device.type} ({type(exc).__name__}: {exc})", flush=True)
            kornia_ok = False
    del out
    common = dict(workload="warp", device=device, batch=B, n_items=B, threads=threads,
                  in_hw=list(IN_HW), out_hw=list(OUT_HW), dtype="uint8", channels=3)
    rec.time(geo, settings, library="geomaug", backend=_backend.backend_name("warp", device),
             check=checks, **common)
    rec.time(grid, settings, library="torch grid_sample",
             note="F.affine_grid + F.grid_sample(align_corners=True), uint8→float32→round→uint8 "
                  "timed", **common)
    if kornia_ok:
        rec.time(kor, settings, library="kornia",
                 note="kornia.geometry.transform.warp_affine(align_corners=True), "
                      "uint8→float32→round→uint8 timed", **common)
