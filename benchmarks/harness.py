"""Timing (median of repeated runs after warm-up), result records and the environment record."""
from __future__ import annotations

import datetime
import importlib
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass
class Settings:
    """How long to measure: ``warmup`` runs, then ``min_reps``..``max_reps`` runs, stopping once
    ``min_time`` seconds have been timed.  A first run slower than ``slow_s`` gets one warm-up and
    ``slow_reps`` timed runs."""
    quick: bool = False
    warmup: int = 2
    min_reps: int = 5
    max_reps: int = 30
    min_time: float = 0.5
    slow_s: float = 1.0
    slow_reps: int = 3

    @classmethod
    def for_mode(cls, quick: bool) -> "Settings":
        if quick:
            return cls(quick=True, warmup=1, min_reps=3, max_reps=10, min_time=0.05, slow_reps=3)
        return cls()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_once(fn, device: torch.device, inner: int = 1) -> float:
    """Seconds per call.  On CUDA, ``inner`` calls run back to back between two events (as a
    training loop issues them), so the host's per-call work overlaps the GPU's when the GPU is the
    bottleneck, and shows when the host is."""
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize(device)
        start.record()
        for _ in range(inner):
            fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3 / inner
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure(fn, device: torch.device, settings: Settings) -> dict:
    """Median wall time of ``fn()`` on ``device`` (CUDA events on GPU, perf_counter on CPU)."""
    first = _time_once(fn, device)  # warm-up 1
    slow = first > settings.slow_s
    inner = 10 if device.type == "cuda" and first < 2e-3 else 1
    for _ in range(0 if slow else settings.warmup - 1):
        _time_once(fn, device, inner)
    min_reps = settings.slow_reps if slow else settings.min_reps
    times: list[float] = []
    while len(times) < settings.max_reps and (len(times) < min_reps or sum(times) * inner < settings.min_time):
        times.append(_time_once(fn, device, inner))
    return {"median_s": statistics.median(times), "min_s": min(times), "reps": len(times),
            "calls_per_timing": inner}


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= scale or unit == "ns":
            return f"{seconds / scale:.3g} {unit}"
    return str(seconds)


class Recorder:
    """Collects records (one dict per measurement) and prints one line as each completes."""

    def __init__(self, env: dict):
        self.records: list[dict] = [env]

    def add(self, *, workload: str, library: str, device: torch.device, batch: int, n_items: int,
            timing: dict, threads: int | None, **extra) -> dict:
        rec = {"workload": workload, "library": library, "device": device.type, "batch": batch,
               "n_items": n_items, "median_s": timing["median_s"],
               "per_item_s": timing["median_s"] / n_items, "min_s": timing.get("min_s"),
               "reps": timing.get("reps"), "threads": threads, **extra}
        self.records.append(rec)
        print(f"  [{workload} {device.type} B={batch}] {library:<24} median {fmt_time(rec['median_s']):>9}"
              f"  per item {fmt_time(rec['per_item_s']):>9}  "
              + ("(computed)" if extra.get("is_floor") else f"({rec['reps']} reps, {n_items} items)"),
              flush=True)
        return rec

    def time(self, fn, settings: Settings, *, library: str, device: torch.device,
             **fields) -> dict | None:
        """measure() then add(); a peer that raises is reported and skipped (geomaug's errors
        propagate, so a broken geomaug fails the run)."""
        try:
            timing = measure(fn, device, settings)
        except Exception as exc:
            if library == "geomaug":
                raise
            msg = f"{library} on {device.type}, {fields.get('workload')} B={fields.get('batch')}: " \
                  f"{type(exc).__name__}: {exc}"
            print(f"  [error] {msg}; skipped", flush=True)
            self.records[0].setdefault("errors", []).append(msg)
            if device.type == "cuda":
                torch.cuda.empty_cache()
            return None
        return self.add(library=library, device=device, timing=timing, **fields)

    def results(self) -> list[dict]:
        return [r for r in self.records if r["workload"] != "env"]

    def finalize(self) -> None:
        """ratio = peer per-item time / geomaug per-item time, same workload, device and B."""
        geo = {(r["workload"], r["device"], r["batch"]): r["per_item_s"]
               for r in self.results() if r["library"] == "geomaug"}
        for r in self.results():
            g = geo.get((r["workload"], r["device"], r["batch"]))
            peer = r["library"] != "geomaug" and not r.get("is_floor")
            r["ratio"] = r["per_item_s"] / g if (peer and g) else None

    def write_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.records, indent=1))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(name: str) -> str | None:
    try:
        mod = importlib.import_module(name)
    except Exception:
        return None
    return getattr(mod, "__version__", "?")


def environment(argv: list[str], devices: list[torch.device]) -> dict:
    """The first record of latest.json (workload "env"): machine, versions, date and command."""
    import geomaug
    from geomaug import _backend, _ops

    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] \
        if torch.cuda.is_available() else []
    return {
        "workload": "env",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python", "-m", "benchmarks", *argv]),
        "cpu": _cpu_model(), "cpu_count": os.cpu_count(),
        "default_torch_threads": torch.get_num_threads(),
        "gpus": gpus, "python": platform.python_version(), "platform": platform.platform(),
        "torch": torch.__version__, "torch_cuda": torch.version.cuda,
        "geomaug": geomaug.__version__,
        "geomaug_backend": {f"{op}/{d.type}": _backend.backend_name(op, d)
                            for op in _ops.KERNELS for d in devices},
        "versions": {n: _version(n) for n in ("numpy", "cv2", "skimage", "kornia", "roma",
                                                 "torchvision", "albumentations", "PIL")},
        "executable": sys.executable,
    }
