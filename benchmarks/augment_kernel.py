"""The fused augment CPU kernel alone against ``cv2.warpAffine`` (448² bilinear, uint8 HWC), one
thread, in one process: ``torch.ops.geomaug.augment`` called directly (no Python wrapper) on
W1's input (numpy HWC uint8 512², or a contiguous CHW tensor with ``--chw``) with W1 matrices
(flip, rotation ±30°, scale 0.75–1.75, translation ±10 %), for the colour programmes of W1 and
each CPU variant (``GEOMAUG_CPU_ISA``).  Timings are interleaved round-robin (cv2 first in each
round), medians per matrix; the ratios are the figures to read.

``python -m benchmarks.augment_kernel [--reps N] [--matrices N] [--chw] [--border reflect]
[--interpolation nearest] [--dtype float32] [--channels 1]``: the same comparison for the other
inputs the SIMD rows take (cv2 gets the same interpolation, dtype and channels)."""
from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import numpy as np
import torch

from .warp import IN_HW, OUT_HW, random_affines

MEAN, STD = {1: [0.45], 3: [0.485, 0.456, 0.406], 4: [0.485, 0.456, 0.406, 0.5]}, \
    {1: [0.225], 3: [0.229, 0.224, 0.225], 4: [0.229, 0.224, 0.225, 0.25]}
# name -> (codes, factors): brightness 1, contrast 2 (mean measured in the kernel), saturation 3
# (RGB only: the programmes with it run on three channels)
PROGRAMMES = {"normalise only": ([], []), "b, s": ([1, 3], [1.2, 0.8]),
              "b, c": ([1, 2], [1.2, 0.7]), "b, c, s": ([1, 2, 3], [1.2, 0.7, 0.8]),
              "s, c, b": ([3, 2, 1], [0.8, 1.3, 0.9])}
BORDERS = {"constant": 0, "replicate": 1, "reflect": 2}


def w1_matrices(n: int, seed: int = 0) -> torch.Tensor:
    """(n, 3, 3) float64: W1's random affine after a horizontal flip on every other sample."""
    M = random_affines(n, torch.device("cpu"), seed).double()
    flip = torch.tensor([[-1.0, 0, IN_HW[1] - 1], [0, 1, 0], [0, 0, 1]], dtype=torch.float64)
    M[1::2] = M[1::2] @ flip
    return M


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.augment_kernel", description=__doc__)
    p.add_argument("--reps", type=int, default=15, help="timed rounds per matrix")
    p.add_argument("--matrices", type=int, default=6)
    p.add_argument("--chw", action="store_true", help="a contiguous CHW tensor instead of HWC")
    p.add_argument("--border", choices=tuple(BORDERS), default="constant")
    p.add_argument("--isa", default="avx2,avx512", help="comma-separated GEOMAUG_CPU_ISA values")
    p.add_argument("--interpolation", choices=("bilinear", "nearest"), default="bilinear")
    p.add_argument("--dtype", choices=("uint8", "float32"), default="uint8",
                   help="float32: the uint8 image / 255")
    p.add_argument("--channels", type=int, choices=(1, 3, 4), default=3)
    args = p.parse_args(argv)
    import cv2

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    rng = np.random.default_rng(0)
    C = args.channels
    image = rng.integers(0, 256, (*IN_HW, C), dtype=np.uint8)
    if args.dtype == "float32":
        image = image.astype(np.float32) / 255
    src = torch.from_numpy(image).permute(2, 0, 1)[None]
    if args.chw:
        src = src.contiguous()
    cv2_border = {0: cv2.BORDER_CONSTANT, 1: cv2.BORDER_REPLICATE, 2: cv2.BORDER_REFLECT_101}
    border = BORDERS[args.border]
    oh, ow = OUT_HW
    op = torch.ops.geomaug.augment
    isas = args.isa.split(",")
    times: dict[str, list[float]] = {}
    flag = cv2.INTER_LINEAR if args.interpolation == "bilinear" else cv2.INTER_NEAREST
    interp = 0 if args.interpolation == "bilinear" else 1
    for M in w1_matrices(args.matrices):
        M23 = M[:2].numpy().copy()
        fns = {"cv2.warpAffine": lambda M23=M23: cv2.warpAffine(
            image, M23, (ow, oh), flags=flag, borderMode=cv2_border[border])}
        mat = M[None].contiguous()
        for name, (codes, factors) in PROGRAMMES.items():
            if C != 3 and 3 in codes:
                continue
            ops = torch.tensor([codes], dtype=torch.int64).reshape(1, -1)
            fac = torch.tensor([factors], dtype=torch.float64).reshape(1, -1)
            means = torch.full_like(fac, math.nan)
            for isa in isas:
                def run(ops=ops, fac=fac, means=means, isa=isa):
                    os.environ["GEOMAUG_CPU_ISA"] = isa
                    return op(src, mat, oh, ow, interp, border, [0.0] * C, ops, fac, means, 0,
                              MEAN[C], STD[C], None)
                fns[f"{name} [{isa}]"] = run
        per: dict[str, list[float]] = {k: [] for k in fns}
        for fn in fns.values():
            fn()
            fn()
        for _ in range(args.reps):
            for k, fn in fns.items():
                t0 = time.perf_counter()
                fn()
                per[k].append(time.perf_counter() - t0)
        for k, ts in per.items():
            times.setdefault(k, []).append(statistics.median(ts))
    os.environ.pop("GEOMAUG_CPU_ISA", None)
    base = times["cv2.warpAffine"]
    print(f"one thread, {'CHW tensor' if args.chw else 'numpy HWC'} {args.dtype} x{C} "
          f"{IN_HW[0]}x{IN_HW[1]} -> {oh}x{ow}, {args.interpolation}, border {args.border}, "
          f"{args.matrices} W1 matrices x {args.reps} rounds")
    print(f"{'':28s} {'median':>9s}  {'x cv2 (median over matrices)':>30s}")
    for k, v in times.items():
        ratio = statistics.median(a / b for a, b in zip(v, base))
        print(f"{k:28s} {statistics.median(v) * 1e3:7.3f} ms  {ratio:30.2f}")


if __name__ == "__main__":
    main()
