"""The benchmark harness runs end to end (quick mode) and writes the records it promises."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
W1_PEERS = {"albumentations": "albumentations", "torchvision v2 (PIL)": "torchvision",
            "torchvision v2 (tensor)": "torchvision", "kornia": "kornia",
            "torch grid_sample": "torch"}


def _importable(name):
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    r = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--device", "cpu",
                        "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return r.stdout, json.loads((out / "latest.json").read_text()), out


def test_quick_benchmark_writes_records_and_chart(quick_run):
    _, records, out = quick_run
    assert records[0]["workload"] == "env"
    measured = records[1:]
    assert {rec["workload"] for rec in measured} >= {"W1-CPU", "W2-2D", "W2-3D", "warp"}
    for rec in measured:
        assert {"workload", "library", "device", "median_s", "per_item_s"} <= rec.keys()
        assert rec["median_s"] > 0 and rec["per_item_s"] > 0
    ours = [rec for rec in measured if rec["library"] == "geomaug"]
    checks = [c for rec in ours for c in (rec.get("check") or [])
              if isinstance(rec.get("check"), list)]
    checks += [rec["check"] for rec in ours if isinstance(rec.get("check"), dict)]
    assert checks and all(c["ok"] for c in checks)  # geomaug agreed with the peers it timed
    assert (out / "latest.png").stat().st_size > 10_000


def test_quick_w1_cpu_times_every_importable_peer_with_ratios(quick_run):
    stdout, records, _ = quick_run
    w1 = {rec["library"]: rec for rec in records[1:] if rec["workload"] == "W1-CPU"}
    expected = {lib for lib, mod in W1_PEERS.items() if _importable(mod)}
    assert {"albumentations", "torchvision v2 (PIL)", "kornia"} <= expected  # installed here
    assert set(w1) == {"geomaug"} | expected, stdout[-3000:]
    geo = w1["geomaug"]
    assert geo["threads"] == 1 and geo["batch"] == 1 and geo["ratio"] is None
    # the comparable-work check ran for every timed library, and each passed
    assert {c["library"] for c in geo["check"]} >= set(w1)
    assert all(c["ok"] and c["image"]["shape"] == [3, 448, 448] for c in geo["check"])
    for lib in expected:
        rec = w1[lib]
        assert rec["check"]["ok"] and rec["threads"] == 1
        assert rec["ratio"] == pytest.approx(rec["per_item_s"] / geo["per_item_s"])
        assert rec["images_per_s"] == pytest.approx(1 / rec["per_item_s"])
        assert rec["reps"] >= 3
    if not torch.cuda.is_available():
        assert "[skip] W1-GPU: no CUDA device" in stdout
        assert not any(rec["workload"] == "W1-GPU" for rec in records)
    assert "| W1-CPU | cpu | 1 | albumentations |" in stdout  # the closing table has W1 rows


def test_w1_gpu_path_on_cpu_tensors(monkeypatch, capsys):
    """W1-GPU's code (checks, floor, records, fractions) on CPU tensors, B=4, a fixed bandwidth."""
    from benchmarks import w1
    from benchmarks.harness import Recorder, Settings

    monkeypatch.setattr(w1, "copy_bandwidth", lambda device, settings: 1e12)
    rec = Recorder({"workload": "env"})
    w1.run_gpu(rec, torch.device("cpu"), Settings.for_mode(quick=True))
    rec.finalize()
    res = {r["library"]: r for r in rec.results()}
    floor = res.pop("bandwidth floor")
    assert floor["is_floor"] and floor["min_bytes"] == 4 * (512 * 512 * 4 + 448 * 448 * 13)
    assert floor["median_s"] == pytest.approx(floor["min_bytes"] / 1e12)
    assert {"geomaug", "torch grid_sample"} <= set(res)
    assert all(c["ok"] for c in res["geomaug"]["check"]), capsys.readouterr().out
    for r in res.values():
        assert r["workload"] == "W1-GPU" and r["batch"] == 4 and r["n_items"] == 4
        assert r["fraction_of_floor"] == pytest.approx(floor["median_s"] / r["median_s"])


def test_w1_min_bytes_is_the_documented_234_mb():
    from benchmarks import w1
    assert round(w1.min_bytes(64) / 1e6) == 234


def test_w1_cpu_check_rejects_unnormalised_or_misshaped_output():
    from benchmarks import w1
    good = (torch.zeros(3, 448, 448), torch.zeros(448, 448, dtype=torch.uint8), torch.zeros(68, 2))
    assert w1.check_output("x", "t", good, None)["ok"]
    assert not w1.check_output("x", "t", (good[0] * 0 + 200.0, *good[1:]), None)["ok"]  # not /255
    assert not w1.check_output("x", "t", (torch.zeros(3, 512, 512), *good[1:]), None)["ok"]
    assert not w1.check_output("x", "t", (good[0], good[1].float(), good[2]), None)["ok"]
    assert not w1.check_output("x", "t", (good[0], good[1], torch.zeros(67, 2)), None)["ok"]
    assert not w1.check_output("x", "t", good, 1)["ok"]  # a batch of 1 needs the leading B


@pytest.mark.skipif(not _importable("cv2"), reason="OpenCV (a benchmark peer) is not installed")
@pytest.mark.parametrize("extra", [[], ["--interpolation", "nearest", "--dtype", "float32"],
                                   ["--channels", "1", "--chw"]])
def test_augment_kernel_benchmark_runs_each_input_kind(extra):
    """The fused kernel vs cv2.warpAffine micro-benchmark, for the inputs the SIMD rows take: it
    prints cv2's row and one row per programme and variant the CPU runs."""
    if not hasattr(torch.ops.geomaug, "augment"):
        pytest.skip("the extension is not built")
    r = subprocess.run([sys.executable, "-m", "benchmarks.augment_kernel", "--reps", "1",
                        "--matrices", "1", "--isa", "baseline", *extra], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    rows = [line for line in r.stdout.splitlines() if line.endswith(tuple("0123456789"))]
    assert rows[0].startswith("cv2.warpAffine") and len(rows) >= 2, r.stdout


def test_w1_overhead_breakdown_runs():
    """The W1-CPU time breakdown (Compose stubbed, kernels alone, whole call) runs; where Compose
    takes the PyTorch path (GEOMAUG_BACKEND=torch, no extension) it says there is nothing to
    break down and exits non-zero."""
    from geomaug import _backend

    r = subprocess.run([sys.executable, "-m", "benchmarks.w1_overhead", "--calls", "3"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    if _backend.backend_name("augment", torch.device("cpu")) != "ext":
        assert r.returncode != 0 and "did not call the kernels" in r.stderr, r.stderr[-2000:]
        return
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    for label in ("whole call", "the two kernel calls", "Compose, kernels stubbed"):
        assert label in r.stdout, r.stdout
