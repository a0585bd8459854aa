"""Run the calibration study and write its JSON, figure and Markdown tables.

Usage::

    python benchmarks/stats/calibration.py --preset full --out benchmarks/stats/results
    python benchmarks/stats/calibration.py --preset ci          # under a minute

Equivalent to ``brainbench calibrate --preset full --format json --plot FIG``; this script also
writes the Markdown tables pasted into benchmarks/stats/README.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from brainbench.stats._calibrate import (
    plot_calibration,
    render_markdown,
    render_text,
    run_calibration,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", choices=["ci", "full"], default="ci")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--replicates", type=int)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/stats/results"))
    a = ap.parse_args()
    res = run_calibration(a.preset, replicates=a.replicates, seed=a.seed)
    a.out.mkdir(parents=True, exist_ok=True)
    stem = a.out / f"calibration-{a.preset}"
    stem.with_suffix(".json").write_text(json.dumps(res, indent=2) + "\n")
    plot_calibration(res, str(stem.with_suffix(".png")))
    stem.with_suffix(".md").write_text(render_markdown(res) + "\n")
    print(render_text(res))


if __name__ == "__main__":
    main()
