"""Run the paired-comparison calibration grid (issue 15) and write its JSON and Markdown table.

Usage::

    python benchmarks/stats/paired_grid.py --grid partial --out benchmarks/stats/results
    python benchmarks/stats/paired_grid.py --from-json run.json   # run.md: table of an earlier run

Equivalent to ``brainbench calibrate --paired-grid GRID --seed SEED --format json`` (and, for
the table, the same command's text output), in one run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from brainbench.stats._calibrate_paired import (
    PAIRED_PRESETS,
    render_paired_markdown,
    run_paired_grid,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", choices=list(PAIRED_PRESETS), default="quick")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--replicates", type=int)
    ap.add_argument("--from-json", type=Path, help="Tabulate this earlier run instead.")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/stats/results"))
    a = ap.parse_args()
    if a.from_json:
        res = json.loads(a.from_json.read_text())
        stem = a.from_json.with_suffix("")
    else:
        res = run_paired_grid(a.grid, replicates=a.replicates, seed=a.seed)
        a.out.mkdir(parents=True, exist_ok=True)
        stem = a.out / f"paired-grid-{a.grid}"
        stem.with_suffix(".json").write_text(json.dumps(res, indent=2) + "\n")
    table = render_paired_markdown(res)
    stem.with_suffix(".md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
