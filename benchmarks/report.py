"""The end of a run: a PNG chart and a compact markdown table of the records."""
from __future__ import annotations

import math
from pathlib import Path

from .harness import fmt_time


def _panels(records: list[dict]) -> dict:
    panels: dict = {}
    for r in records:
        panels.setdefault((r["workload"], r["device"]), []).append(r)
    return panels


def chart(records: list[dict], path: Path) -> None:
    """Per-item time (log scale), one panel per workload/device, bars grouped by B."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = _panels(records)
    if not panels:
        return
    libraries = list(dict.fromkeys(r["library"] for r in records))
    colours = {lib: plt.get_cmap("tab10")(i % 10) for i, lib in enumerate(libraries)}
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 3.8 * nrows), squeeze=False)
    for ax, ((workload, device), recs) in zip(axes.flat, panels.items()):
        sizes = sorted({r["batch"] for r in recs})
        libs = [lib for lib in libraries if any(r["library"] == lib for r in recs)]
        width = 0.8 / len(libs)
        for j, lib in enumerate(libs):
            xs, ys = [], []
            for i, B in enumerate(sizes):
                for r in recs:
                    if r["library"] == lib and r["batch"] == B:
                        xs.append(i - 0.4 + width * (j + 0.5))
                        ys.append(r["per_item_s"])
            ax.bar(xs, ys, width, label=lib, color=colours[lib],
                   hatch="//" if any(r.get("is_floor") for r in recs if r["library"] == lib)
                   else None)
        ax.set_yscale("log")
        ys = [r["per_item_s"] for r in recs]
        ax.set_ylim(10 ** math.floor(math.log10(min(ys)) - 0.3),
                    10 ** math.ceil(math.log10(max(ys)) + 0.6))
        ax.set_xticks(range(len(sizes)), [f"B={B:,}" for B in sizes])
        ax.set_ylabel("time per item [s]")
        ax.set_title(f"{workload} on {device}")
        ax.grid(axis="y", which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", ncols=2)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle("geomaug benchmarks (median; lower is better)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _rate(per_s: float) -> str:
    return f"{per_s:,.0f}" if per_s >= 100 else f"{per_s:.3g}"


def markdown(records: list[dict]) -> str:
    """workload | device | B | library | median | per item | items/s | geomaug speedup
    (| % of floor)."""
    with_floor = any(r.get("fraction_of_floor") is not None for r in records)
    head = ["workload", "device", "B", "library", "median", "per item", "items/s",
            "geomaug speedup"]
    if with_floor:
        head.append("% of floor")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in records:
        per_item = fmt_time(r["per_item_s"])
        if r["n_items"] != r["batch"]:
            per_item += f" (n={r['n_items']})"
        ratio = f"{r['ratio']:.3g}×" if r.get("ratio") is not None else "—"
        row = [r["workload"], r["device"], str(r["batch"]), r["library"],
               fmt_time(r["median_s"]), per_item, _rate(1 / r["per_item_s"]), ratio]
        if with_floor:
            f = r.get("fraction_of_floor")
            row.append(f"{100 * f:.3g}%" if f is not None else "")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)
