"""Warp workload: B uint8 RGB 512×512 images → 448×448, per-sample random affine, bilinear, fill 0;
and on the CPU the one-thread comparison with cv2.warpAffine (numpy HWC image, uint8 mask).

``python -m benchmarks.warp [--runs N]`` runs only that comparison (several times, for a range)."""
from __future__ import annotations

import argparse
import math
import statistics
import time

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
    if on_cpu:
        one_thread_vs_cv2(rec, runs=30 if settings.quick else 300)
        torch.set_num_threads(cpu_threads)


def _median_time(fn, runs: int) -> float:
    for _ in range(max(3, runs // 10)):  # warm-up
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def one_thread_vs_cv2(rec: Recorder | None, runs: int = 300) -> list[dict]:
    """One thread (torch and cv2): geomaug.warp vs cv2.warpAffine on a numpy HWC uint8 512²×3 image
    → 448² (rotation + scale, bilinear), on the same image as float32 in [0, 1] (bilinear) and on a
    512² uint8 mask (nearest), medians of ``runs`` calls after warm-up, in one run.  Prints both
    times, cv2 time / geomaug time and, where both follow the same rule, the largest difference
    in uint8 steps (cv2 quantises its bilinear weights to 1/32)."""
    import cv2
    import numpy as np

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (*IN_HW, 3), dtype=np.uint8)
    mask = rng.integers(0, 20, IN_HW, dtype=np.uint8)
    M = random_affines(1, torch.device("cpu"), seed=3)[0].double().numpy()
    cases = [("image HWC uint8 ×3, bilinear", image, "bilinear", cv2.INTER_LINEAR, 0),
             ("image HWC float32 ×3, bilinear", image.astype(np.float32) / 255, "bilinear",
              cv2.INTER_LINEAR, 0),
             ("mask uint8, nearest", mask, "nearest", cv2.INTER_NEAREST, 255)]
    out = []
    for label, arr, interp, flag, fill in cases:
        def geo():
            return geomaug.warp(arr, M, OUT_HW, interpolation=interp, fill=fill)

        def ocv():
            return cv2.warpAffine(arr, M[:2], OUT_HW[::-1], flags=flag,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=fill)

        t_geo, t_cv = _median_time(geo, runs), _median_time(ocv, runs)
        steps = 255.0 if arr.dtype == np.float32 else 1.0  # differences in uint8 steps
        diff = np.abs(geo().astype(np.float64) - ocv().astype(np.float64)) * steps
        if diff.ndim == 3:
            diff = diff.max(axis=2)
        ratio = t_cv / t_geo
        # Where the whole bilinear footprint is inside the source both follow the same rule; at
        # the image's edge geomaug clamps (no dark frame) where cv2 blends with the fill.
        inv = np.linalg.inv(M)
        ys, xs = np.mgrid[0:OUT_HW[0], 0:OUT_HW[1]]
        sx = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
        sy = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
        interior = (sx >= 1) & (sx <= IN_HW[1] - 2) & (sy >= 1) & (sy <= IN_HW[0] - 2)
        print(f"  [1 thread] {label} 512²→448²: geomaug {t_geo * 1e3:.3f} ms, cv2.warpAffine "
              f"{t_cv * 1e3:.3f} ms, ratio cv2/geomaug {ratio:.2f}× (≥1: geomaug faster); "
              f"interior max|Δ| vs cv2 {diff[interior].max():.3g}, "
              f"{100 * (diff[interior] > 1).mean():.3f}% > 1", flush=True)
        res = {"case": label, "geomaug_s": t_geo, "cv2_s": t_cv, "ratio": ratio}
        out.append(res)
        if rec is not None:
            dtype = str(arr.dtype)
            common = dict(workload=f"warp-1thread {interp}" + (" float32" if steps > 1 else ""),
                          device=torch.device("cpu"), batch=1, n_items=1, threads=1,
                          in_hw=list(IN_HW), out_hw=list(OUT_HW), dtype=dtype,
                          channels=arr.shape[2] if arr.ndim == 3 else 1)
            rec.add(library="geomaug", timing={"median_s": t_geo, "reps": runs}, **common)
            rec.add(library="cv2.warpAffine", timing={"median_s": t_cv, "reps": runs},
                    note="numpy HWC, cv2.setNumThreads(1)", **common)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.warp", description=__doc__)
    parser.add_argument("--runs", type=int, default=300, help="timed calls per case")
    parser.add_argument("--repeat", type=int, default=3, help="how many times to run the comparison")
    args = parser.parse_args()
    print(f"GEOMAUG_CPU_ISA={__import__('os').environ.get('GEOMAUG_CPU_ISA', '(best)')}")
    for _ in range(args.repeat):
        one_thread_vs_cv2(None, args.runs)
