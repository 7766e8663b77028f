"""Where a W1-CPU call's time goes: the whole call, and inside it the two kernel calls (timed
where ``Compose`` makes them) and the rest (the Python); the two kernel calls alone, with the
arguments ``Compose`` passes them; the Python of ``Compose`` with the kernels stubbed out (alone,
and right after a real augment kernel call, as in a real call).  One thread, p10 and median of
``--calls`` calls; the stubs return preallocated outputs of the right shape.

``python -m benchmarks.w1_overhead [--calls N]``"""
from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time

import torch

from . import w1
from . import w1_peers as P


def _stats(ts: list[float]) -> str:
    ts = sorted(ts)
    return f"p10 {ts[len(ts) // 10] * 1e3:6.3f} ms   median {statistics.median(ts) * 1e3:6.3f} ms"


def _time(fn, calls: int, before=None) -> list[float]:
    out = []
    for _ in range(calls):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.w1_overhead", description=__doc__)
    p.add_argument("--calls", type=int, default=500)
    args = p.parse_args(argv)
    from geomaug import _ops

    torch.set_num_threads(1)
    image, mask, keypoints = w1.sample()
    pipeline = P.geomaug_pipeline()
    real = {"augment": _ops.augment, "warp": _ops.warp}
    calls = []  # (op, args, kwargs) as Compose makes them

    def recording(name):
        def op(*a, **k):
            calls.append((name, a, k))
            return real[name](*a, **k)
        return op

    _ops.augment, _ops.warp = recording("augment"), recording("warp")
    for _ in range(20):
        pipeline(image, mask, keypoints)
    _ops.augment, _ops.warp = real["augment"], real["warp"]
    if not calls:
        sys.exit("w1_overhead: Compose did not call the kernels (GEOMAUG_BACKEND=torch, or no "
                 "extension): nothing to break down")
    pairs = itertools.cycle(list(zip(calls[0::2], calls[1::2])))
    outputs = {name: real[name](*a, **k) for name, a, k in calls[:2]}

    def kernels():
        for name, a, k in next(pairs):
            real[name](*a, **k)

    def one_kernel():
        name, a, k = next(c for c in next(pairs) if c[0] == "augment")
        real[name](*a, **k)

    run = lambda: pipeline(image, mask, keypoints)  # noqa: E731
    inside = {"augment": [], "warp": []}  # kernel time of each whole call

    def timed(name):
        def op(*a, **k):
            t0 = time.perf_counter()
            out = real[name](*a, **k)
            inside[name][-1] += time.perf_counter() - t0
            return out
        return op

    def before_whole():
        for ts in inside.values():
            ts.append(0.0)

    try:
        _ops.augment, _ops.warp = timed("augment"), timed("warp")
        whole = _time(run, args.calls, before=before_whole)
    finally:
        _ops.augment, _ops.warp = real["augment"], real["warp"]
    results = {"whole call": whole,
               "  in it: the augment kernel call": inside["augment"],
               "  in it: the mask's warp kernel call": inside["warp"],
               "  in it: the rest (Python)": [t - a - w for t, a, w in
                                              zip(whole, inside["augment"], inside["warp"])],
               "the two kernel calls alone": _time(kernels, args.calls)}
    try:
        _ops.augment = lambda *a, **k: outputs["augment"]
        _ops.warp = lambda *a, **k: outputs["warp"]
        results["Compose, kernels stubbed"] = _time(run, args.calls)
        results["Compose, kernels stubbed, after an augment kernel call"] = _time(
            run, args.calls, before=one_kernel)
    finally:
        _ops.augment, _ops.warp = real["augment"], real["warp"]
    print(f"W1-CPU, one thread, {args.calls} calls each (numpy HWC uint8 512² + mask + 68 keypoints)")
    for k, ts in results.items():
        print(f"  {k:56s} {_stats(ts)}")


if __name__ == "__main__":
    main()
