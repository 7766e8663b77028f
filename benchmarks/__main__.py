"""``python -m benchmarks``: run the workloads, write <out>/latest.json and latest.png, print a table."""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import torch

from . import report, w1, w2_align, warp
from .harness import Recorder, Settings, environment

WORKLOADS = ("w1", "w2", "warp")


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--device", choices=("cpu", "cuda", "all"), default=None,
                   help="default: cpu, plus cuda when available")
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke test (< 60 s on CPU)")
    p.add_argument("--only", choices=WORKLOADS, default=None, help="run one workload")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results",
                   help="folder for latest.json and latest.png (default: benchmarks/results)")
    return p.parse_args(argv)


def devices_for(choice: str | None) -> list[torch.device]:
    cuda = torch.cuda.is_available()
    if choice == "cpu":
        return [torch.device("cpu")]
    if choice in ("cuda", "all") and not cuda:
        print(f"[skip] --device {choice}: no CUDA device is available here", flush=True)
        return [] if choice == "cuda" else [torch.device("cpu")]
    if choice == "cuda":
        return [torch.device("cuda")]
    return [torch.device("cpu")] + ([torch.device("cuda")] if cuda else [])


def main(argv: list[str]) -> int:
    args = parse(argv)
    devices = devices_for(args.device)
    if not devices:
        return 2
    settings = Settings.for_mode(args.quick)
    cpu_threads = torch.get_num_threads()
    rec = Recorder(environment(argv, devices))
    env = rec.records[0]
    env["mode"] = "quick" if args.quick else "full"
    print(f"geomaug {env['geomaug']} | torch {env['torch']} | {env['cpu']} ({env['cpu_count']} CPUs)"
          f"{' | ' + ', '.join(env['gpus']) if env['gpus'] else ''} | backend {env['geomaug_backend']}"
          f" | {'quick' if args.quick else 'full'} run", flush=True)
    t0 = time.perf_counter()
    torch.set_grad_enabled(False)
    names = [args.only] if args.only else list(WORKLOADS)
    for device in devices:
        for name in names:
            print(f"== {name} on {device.type} ==", flush=True)
            if name == "warp":
                warp.run(rec, device, settings, cpu_threads)
            elif name == "w1":
                w1.run(rec, device, settings)
            else:
                w2_align.run(rec, device, settings)
            torch.set_num_threads(cpu_threads)
    if "w1" in names and all(d.type != "cuda" for d in devices):
        why = "no CUDA device" if not torch.cuda.is_available() else f"--device {args.device}"
        print(f"[skip] W1-GPU: {why}", flush=True)
    rec.finalize()
    env["elapsed_s"] = round(time.perf_counter() - t0, 1)
    rec.write_json(args.out / "latest.json")
    report.chart(rec.results(), args.out / "latest.png")
    print(f"\n{report.markdown(rec.results())}\n", flush=True)
    print(f"wrote {args.out / 'latest.json'} and {args.out / 'latest.png'} "
          f"({env['elapsed_s']} s)", flush=True)
    return 0


if __name__ == "__main__":
    warnings.simplefilter("default")
    sys.exit(main(sys.argv[1:]))
