"""W1: joint augmentation of image + mask + 68 keypoints (flip, affine, 448² centre crop, colour
jitter, normalise), per sample on one CPU thread (W1-CPU) and batched on the GPU (W1-GPU)."""
from __future__ import annotations

import dataclasses
import statistics
import time

import numpy as np
import torch

from . import w1_peers as P
from .harness import Recorder, Settings, fmt_time, sync
from .peers import optional
from .w2_align import copy_bandwidth

N_KEYPOINTS, N_LABELS = 68, 5
FULL_BATCH, QUICK_BATCH = 64, 4
FULL_PER_RUN, QUICK_PER_RUN = 10, 1  # W1-CPU samples per timed run
NORMALISED_RANGE = (-2.2, 2.7)  # (0 − mean)/std .. (1 − mean)/std for ImageNet's mean/std


def sample(seed: int = 0):
    """One numpy sample: HWC uint8 RGB image, (H, W) uint8 mask, (68, 2) float32 keypoints."""
    rng = np.random.default_rng(seed)
    h, w = P.IN_HW
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = rng.integers(0, N_LABELS, (h, w), dtype=np.uint8)
    keypoints = (rng.random((N_KEYPOINTS, 2)) * [w - 1, h - 1]).astype(np.float32)
    return image, mask, keypoints


def min_bytes(B: int) -> int:
    """Bytes W1 must move at least: read uint8 image + mask, write float32 CHW image + uint8 mask."""
    (h, w), (oh, ow) = P.IN_HW, P.OUT_HW
    return B * (h * w * (3 + 1) + oh * ow * (3 * 4 + 1))


def check_output(library: str, label: str, out, batch: int | None) -> dict:
    """Comparable work: float32 (3, 448, 448) image with values in the normalised range, uint8
    448² mask, 68 keypoints (a leading B when batched).  Printed, and returned for the records."""
    desc = P.describe(out)
    lead = [] if batch is None else [batch]
    want = {"image": (lead + [3, *P.OUT_HW], "float32"), "mask": (lead + list(P.OUT_HW), "uint8"),
            "keypoints": (lead + [N_KEYPOINTS, 2], None)}
    ok = all(desc[k]["shape"] == shape and (dt is None or desc[k]["dtype"].removeprefix("torch.") == dt)
             for k, (shape, dt) in want.items())
    image = torch.as_tensor(out[0])
    lo, hi = float(image.min()), float(image.max())
    ok = ok and bool(torch.isfinite(image).all()) and NORMALISED_RANGE[0] <= lo <= hi <= NORMALISED_RANGE[1]
    desc.update(library=library, image_range=[lo, hi], ok=ok)
    parts = [f"{k} {d['type']} {tuple(d['shape'])} {d['dtype'].removeprefix('torch.')}"
             for k, d in desc.items() if k in want]
    print(f"  [check {label}] {library:<24} " + ", ".join(parts)
          + f", image in [{lo:.2f}, {hi:.2f}]  {'OK' if ok else 'NOT COMPARABLE'}", flush=True)
    return desc


# --- W1-CPU -------------------------------------------------------------------------------------

def cpu_pipelines() -> dict:
    """library → builder, for the peers importable here (a missing one prints [skip])."""
    pipes = {"geomaug": P.geomaug_pipeline}
    if optional("albumentations") is not None:
        pipes["albumentations"] = P.albumentations_pipeline
    if optional("torchvision.transforms.v2") is not None:
        pipes["torchvision v2 (PIL)"] = lambda: P.torchvision_pipeline(pil=True)
        pipes["torchvision v2 (tensor)"] = lambda: P.torchvision_pipeline(pil=False)
    if optional("kornia.augmentation") is not None:
        pipes["kornia"] = P.kornia_pipeline
    pipes["torch grid_sample"] = P.torch_pipeline
    return pipes


NOTES = {
    "geomaug": "geomaug.transforms.Compose([HorizontalFlip(p=0.5), RandomAffine(30, scale=(0.75, "
               "1.75), translate=(0.1, 0.1)), CenterCrop(448), ColorJitter(0.4, 0.4, 0.4), "
               "Normalize()]), seed= per call",
    "albumentations": "A.Compose([HorizontalFlip, Affine(p=1), CenterCrop(448, 448), "
                      "ColorJitter(0.4, 0.4, 0.4, 0, p=1), Normalize, ToTensorV2], KeypointParams("
                      "'xy', remove_invisible=False))",
    "torchvision v2 (PIL)": "Image.fromarray, v2.Compose([RandomHorizontalFlip, RandomAffine, "
                            "CenterCrop, ColorJitter, PILToTensor, ToDtype(float32, scale=True), "
                            "Normalize]) with tv_tensors Mask/KeyPoints",
    "torchvision v2 (tensor)": "tv_tensors.Image(from_numpy.permute), v2.Compose([RandomHorizontal"
                               "Flip, RandomAffine, CenterCrop, ColorJitter, ToDtype(float32, "
                               "scale=True), Normalize]) with tv_tensors Mask/KeyPoints",
    "kornia": "AugmentationSequential(RandomHorizontalFlip, RandomAffine, CenterCrop, ColorJitter, "
              "Normalize; input/mask/keypoints) on a 1-image float batch, mask as float",
    "torch grid_sample": "per-sample matrix, F.affine_grid + F.grid_sample (bilinear image, "
                         "nearest mask), keypoints by the matrix, batched jitter, normalise",
}


def _loop(fn, data, n: int):
    def run():
        for _ in range(n):
            fn(*data)
    return run


def measure_interleaved(fns: dict, settings: Settings) -> dict:
    """Round-robin timing: warm-up, then each round times every library once (perf_counter), so a
    change of machine load hits all libraries alike; at least ``min_reps`` rounds (``slow_reps`` if
    a library's first run took over ``slow_s``) and until ``min_time`` s per library.  A library
    that raises is dropped (its exception is returned in place of its timing)."""
    times: dict = {name: [] for name in fns}
    result: dict = {}
    first = {}
    for name, fn in fns.items():
        try:
            t0 = time.perf_counter()
            fn()
            first[name] = time.perf_counter() - t0
            for _ in range(settings.warmup - 1):
                fn()
        except Exception as exc:
            result[name] = exc
    live = [n for n in fns if n not in result]
    slow = any(first[n] > settings.slow_s for n in live)
    rounds = settings.slow_reps if slow else settings.min_reps
    r = 0
    while live and r < settings.max_reps and (
            r < rounds or min(sum(times[n]) for n in live) < settings.min_time and not slow):
        for name in list(live):
            t0 = time.perf_counter()
            try:
                fns[name]()
            except Exception as exc:
                result[name] = exc
                live.remove(name)
                continue
            times[name].append(time.perf_counter() - t0)
        r += 1
    for name in live:
        ts = times[name]
        result[name] = {"median_s": statistics.median(ts), "min_s": min(ts), "reps": len(ts),
                        "calls_per_timing": 1}
    return result


def run_cpu(rec: Recorder, settings: Settings) -> None:
    """W1-CPU: one sample per call on one thread (torch and cv2), as in a DataLoader worker."""
    torch.set_num_threads(1)
    cv2 = optional("cv2")
    if cv2 is not None:
        cv2.setNumThreads(1)
    device = torch.device("cpu")
    per_run = QUICK_PER_RUN if settings.quick else FULL_PER_RUN
    if not settings.quick:  # W1-CPU runs of 10 samples take seconds: keep min_reps rounds anyway
        settings = dataclasses.replace(settings, slow_s=10.0)
    data = sample()
    label = "W1-CPU"
    fns, checks = {}, []
    for library, build in cpu_pipelines().items():
        try:
            fn = build()
            checks.append(check_output(library, label, fn(*data), None))
        except Exception as exc:
            if library == "geomaug":
                raise
            print(f"  [error] {library} on cpu, W1-CPU: {type(exc).__name__}: {exc}; skipped", flush=True)
            rec.records[0].setdefault("errors", []).append(f"{library} W1-CPU: {exc}")
            continue
        fns[library] = _loop(fn, data, per_run)
    print(f"  [W1-CPU] timing {', '.join(fns)} round-robin, {per_run} sample(s) per timed run",
          flush=True)
    timings = measure_interleaved(fns, settings)
    for library, timing in timings.items():
        if isinstance(timing, Exception):
            if library == "geomaug":
                raise timing
            print(f"  [error] {library} on cpu, W1-CPU: {type(timing).__name__}: {timing}; skipped",
                  flush=True)
            rec.records[0].setdefault("errors", []).append(f"{library} W1-CPU: {timing}")
            continue
        extra = {"check": checks} if library == "geomaug" else \
            {"check": next(c for c in checks if c["library"] == library)}
        r = rec.add(workload="W1-CPU", library=library, device=device, batch=1, n_items=per_run,
                    timing=timing, threads=1, note=NOTES[library], in_hw=list(P.IN_HW),
                    out_hw=list(P.OUT_HW), n_keypoints=N_KEYPOINTS, interleaved=True, **extra)
        r["images_per_s"] = 1 / r["per_item_s"]


# --- W1-GPU -------------------------------------------------------------------------------------

def gpu_pipelines() -> dict:
    pipes = {"geomaug": P.geomaug_pipeline, "torch grid_sample": P.torch_batch}
    if optional("kornia.augmentation") is not None:
        pipes["kornia"] = P.kornia_batch
    if optional("torchvision.transforms.v2") is not None:
        pipes["torchvision v2 (loop)"] = P.torchvision_batch_loop
    return pipes


GPU_NOTES = {
    "geomaug": NOTES["geomaug"] + " on the (B, 3, H, W) batch",
    "torch grid_sample": NOTES["torch grid_sample"] + ", batched",
    "kornia": NOTES["kornia"].replace("a 1-image float batch", "the float batch"),
    "torchvision v2 (loop)": "v2.Compose per sample on CUDA tv_tensors in a Python loop, stacked",
}


def run_gpu(rec: Recorder, device: torch.device, settings: Settings) -> None:
    """W1-GPU: the whole batch on the device per call; CUDA-event timing; the bandwidth floor."""
    B = QUICK_BATCH if settings.quick else FULL_BATCH
    g = torch.Generator().manual_seed(0)
    h, w = P.IN_HW
    images = torch.randint(0, 256, (B, 3, h, w), generator=g, dtype=torch.uint8).to(device)
    masks = torch.randint(0, N_LABELS, (B, h, w), generator=g, dtype=torch.uint8).to(device)
    keypoints = (torch.rand(B, N_KEYPOINTS, 2, generator=g) * (w - 1)).to(device)
    data = (images, masks, keypoints)
    sync(device)
    label = f"W1-GPU B={B}"
    bandwidth = copy_bandwidth(device, settings)
    floor = min_bytes(B) / bandwidth
    print(f"  [W1-GPU] device copy bandwidth {bandwidth / 1e12:.3f} TB/s (1 GiB, read + write); "
          f"{min_bytes(B) / 1e6:.0f} MB minimum → floor {fmt_time(floor)}", flush=True)
    common = dict(workload="W1-GPU", device=device, batch=B, n_items=B, threads=None,
                  in_hw=list(P.IN_HW), out_hw=list(P.OUT_HW), n_keypoints=N_KEYPOINTS)
    rec.add(library="bandwidth floor", is_floor=True, timing={"median_s": floor, "reps": 0},
            bandwidth_Bps=bandwidth, min_bytes=min_bytes(B), fraction_of_floor=1.0,
            note="minimum bytes (read uint8 image + mask, write float32 image + uint8 mask) / "
                 "measured copy bandwidth", **common)
    fns, checks = {}, []
    for library, build in gpu_pipelines().items():
        try:
            fn = build()
            checks.append(check_output(library, label, fn(*data), B))
        except Exception as exc:
            if library == "geomaug":
                raise
            print(f"  [error] {library} on cuda, W1-GPU: {type(exc).__name__}: {exc}; skipped", flush=True)
            rec.records[0].setdefault("errors", []).append(f"{library} W1-GPU: {exc}")
            continue
        fns[library] = fn
    for library, fn in fns.items():
        extra = {"check": checks} if library == "geomaug" else \
            {"check": next(c for c in checks if c["library"] == library)}
        r = rec.time(lambda fn=fn: fn(*data), settings, library=library, note=GPU_NOTES[library],
                     **common, **extra)
        if r is not None:
            r["images_per_s"] = 1 / r["per_item_s"]
            r["fraction_of_floor"] = floor / r["median_s"]
            r["bandwidth_Bps"] = bandwidth
    del images, masks, keypoints, data
    if device.type == "cuda":
        torch.cuda.empty_cache()


def run(rec: Recorder, device: torch.device, settings: Settings) -> None:
    if device.type == "cuda":
        run_gpu(rec, device, settings)
    else:
        run_cpu(rec, settings)
