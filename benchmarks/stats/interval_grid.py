"""Run the interval-method calibration grid (issue 15) and write its JSON and Markdown table.

Usage::

    python benchmarks/stats/interval_grid.py --grid partial --out benchmarks/stats/results
    python benchmarks/stats/interval_grid.py --from-json grid.json   # table of an earlier run
    python benchmarks/stats/interval_grid.py --grid confirm --seed 2025 --metric mae

Equivalent to ``brainbench calibrate --grid GRID --format json``; this script also writes the
Markdown table pasted into benchmarks/stats/README.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from brainbench.stats._calibrate_grid import (
    GRID_PRESETS,
    render_grid_markdown,
    render_grid_text,
    run_interval_grid,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", choices=list(GRID_PRESETS), default="quick")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--replicates", type=int)
    ap.add_argument("--metric", action="append", help="Only this metric of the grid.")
    ap.add_argument("--from-json", type=Path, help="Tabulate this earlier run instead.")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/stats/results"))
    a = ap.parse_args()
    if a.from_json:
        res = json.loads(a.from_json.read_text())
    else:
        res = run_interval_grid(a.grid, replicates=a.replicates, seed=a.seed, metrics=a.metric)
    name = res["command"].split("--grid ")[1].split()[0]
    name += "".join(f"-{m}" for m in res["command"].split(" --metric ")[1:])
    a.out.mkdir(parents=True, exist_ok=True)
    # Confirmation runs (--grid confirm) are interval-confirm-*, selection runs interval-grid-*.
    stem = a.out / (f"interval-{name}" if name.startswith("confirm") else f"interval-grid-{name}")
    stem.with_suffix(".json").write_text(json.dumps(res, indent=2) + "\n")
    stem.with_suffix(".md").write_text(render_grid_markdown(res) + "\n")
    print(render_grid_text(res))


if __name__ == "__main__":
    main()
