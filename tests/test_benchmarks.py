"""The benchmark harness runs end to end (quick mode) and writes the records it promises."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_benchmark_writes_records_and_chart(tmp_path):
    r = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--device", "cpu",
                        "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    records = json.loads((tmp_path / "latest.json").read_text())
    assert records[0]["workload"] == "env"
    measured = records[1:]
    assert {rec["workload"] for rec in measured} >= {"W2-2D", "W2-3D", "warp"}
    for rec in measured:
        assert {"workload", "library", "device", "median_s", "per_item_s"} <= rec.keys()
        assert rec["median_s"] > 0 and rec["per_item_s"] > 0
    ours = [rec for rec in measured if rec["library"] == "geomaug"]
    checks = [c for rec in ours for c in (rec.get("check") or [])
              if isinstance(rec.get("check"), list)]
    checks += [rec["check"] for rec in ours if isinstance(rec.get("check"), dict)]
    assert checks and all(c["ok"] for c in checks)  # geomaug agreed with the peers it timed
    assert (tmp_path / "latest.png").stat().st_size > 10_000
