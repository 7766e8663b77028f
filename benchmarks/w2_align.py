"""W2: B sets of N=68 corresponding points, D = 2 and 3, similarity."""
from __future__ import annotations

import math

import torch

import geomaug
from geomaug import _backend

from . import peers
from .harness import Recorder, Settings, measure, sync

N_POINTS = 68
FULL_SIZES = (10**3, 10**4, 10**5, 10**6)
QUICK_SIZES = (10**3, 10**4)
LOOP_CAP, QUICK_LOOP_CAP = 2000, 200


def make_pairs(B: int, D: int, device: torch.device, seed: int = 0):
    """Well-conditioned sets: src uniform in [-1, 1]^D, dst = s R src + t + noise (σ = 1e-3)."""
    g = torch.Generator(device=device).manual_seed(seed)

    def rand(*shape):
        return torch.rand(*shape, generator=g, device=device)

    src = rand(B, N_POINTS, D) * 2 - 1
    if D == 2:
        a = (rand(B) * 2 - 1) * math.pi
        c, s_ = torch.cos(a), torch.sin(a)
        R = torch.stack([torch.stack([c, -s_], -1), torch.stack([s_, c], -1)], -2)
    else:
        w, x, y, z = torch.nn.functional.normalize(rand(B, 4) * 2 - 1, dim=-1).unbind(-1)
        R = torch.stack([
            torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            torch.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            torch.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ], -2)
    scale = 0.5 + 1.5 * rand(B)
    t = rand(B, D) * 4 - 2
    dst = scale[:, None, None] * src @ R.mT + t[:, None, :]
    dst += 1e-3 * (rand(B, N_POINTS, D) * 2 - 1)
    return src.contiguous(), dst.contiguous()


def _check(label: str, src, dst) -> dict:
    """geomaug vs the pytorch3d-style torch code on the same data: max |R|, |s|, |t| differences."""
    a = geomaug.estimate(src, dst, model="similarity")
    R, T, s = peers.pytorch3d_similarity(src, dst)
    diff = {"max_abs_R": float((a.R - R.mT).abs().max()), "max_abs_s": float((a.s - s).abs().max()),
            "max_abs_t": float((a.t - T).abs().max())}
    ok = diff["max_abs_R"] < 1e-3 and diff["max_abs_s"] < 1e-3 and diff["max_abs_t"] < 1e-3
    diff["ok"], diff["at"] = ok, label
    print(f"  [check {label}] geomaug vs pytorch3d-style torch: max|ΔR| {diff['max_abs_R']:.2e}  "
          f"max|Δs| {diff['max_abs_s']:.2e}  max|Δt| {diff['max_abs_t']:.2e}  "
          f"{'OK' if ok else 'MISMATCH (> 1e-3)'}", flush=True)
    return diff


def copy_bandwidth(device: torch.device, settings: Settings) -> float:
    """Device-to-device copy bandwidth (bytes read + written per second) of a 1 GiB float buffer."""
    n = (1 << 30) // 4
    x = torch.empty(n, dtype=torch.float32, device=device).uniform_()
    y = torch.empty_like(x)
    timing = measure(lambda: y.copy_(x), device, settings)
    del x, y
    return 2 * (1 << 30) / timing["median_s"]


def run(rec: Recorder, device: torch.device, settings: Settings) -> None:
    sizes = QUICK_SIZES if settings.quick else FULL_SIZES
    cap = QUICK_LOOP_CAP if settings.quick else LOOP_CAP
    on_cpu = device.type == "cpu"
    threads = None
    if on_cpu:
        torch.set_num_threads(1)
        if peers.optional("cv2"):
            peers.optional("cv2").setNumThreads(1)
        threads = 1
    bandwidth = None
    if not on_cpu:
        bandwidth = copy_bandwidth(device, settings)
        print(f"  [W2 {device.type}] device copy bandwidth {bandwidth / 1e12:.3f} TB/s "
              f"(1 GiB, read + write)", flush=True)
    backend = _backend.backend_name("align", device)
    for D in (2, 3):
        workload = f"W2-{D}D"
        checked = None
        for B in sizes:
            src, dst = make_pairs(B, D, device)
            sync(device)
            if checked is None:
                checked = _check(f"{workload} {device.type} B={B}", src, dst)
            common = dict(workload=workload, device=device, batch=B, threads=threads,
                          dim=D, n_points=N_POINTS, model="similarity")
            floor = None
            if bandwidth:
                floor = 2 * B * N_POINTS * D * 4 / bandwidth
                rec.add(library="read-once floor", n_items=B, is_floor=True,
                        timing={"median_s": floor, "reps": 0}, bandwidth_Bps=bandwidth,
                        fraction_of_floor=1.0,
                        note="2·B·N·D·4 bytes (src + dst float32) / measured copy bandwidth",
                        **common)

            def add(library, fn, n_items=B, **extra):
                r = rec.time(fn, settings, library=library, n_items=n_items, **common, **extra)
                if r is not None and floor is not None:
                    r["fraction_of_floor"] = floor / r["median_s"]

            add("geomaug", lambda: geomaug.estimate(src, dst, model="similarity"),
                backend=backend, check=checked)
            add("torch (pytorch3d alg.)", lambda: peers.pytorch3d_similarity(src, dst),
                note="pytorch3d corresponding_points_alignment(estimate_scale=True) "
                     "transcribed in batched torch, torch.linalg.svd")
            if not on_cpu and peers.optional("roma"):
                add("roma", lambda: peers.roma_similarity(src, dst),
                    note="roma.rigid_points_registration(compute_scaling=True)")
            if on_cpu:
                n = min(B, cap)
                s_np, d_np = src[:n].numpy(), dst[:n].numpy()
                if peers.optional("skimage.transform"):
                    add("skimage (loop)", lambda: peers.skimage_loop(s_np, d_np), n_items=n,
                        note=f"SimilarityTransform.from_estimate per set, Python loop over {n} sets")
                if D == 2 and peers.optional("cv2"):
                    add("cv2 (loop)", lambda: peers.cv2_loop(s_np, d_np), n_items=n,
                        note=f"estimateAffinePartial2D with defaults (RANSAC + LM refine), Python "
                             f"loop over {n} sets")
            del src, dst
            if not on_cpu:
                torch.cuda.empty_cache()
