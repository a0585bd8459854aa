"""Figure of the confirmation runs (issue 15): coverage of the chosen interval per design.

Usage::

    python benchmarks/stats/confirm_figure.py benchmarks/stats/results/interval-confirm-*.json \
        --out benchmarks/stats/results/interval-confirm.png

One panel per metric; per design regime (sites x subjects per site) its designs side by side:
the chosen method's coverage (filled, +-2 Monte-Carlo SEs) and the percentile interval's on
the same data sets (open), with the goal band 94-96%.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from brainbench.stats._interval_defaults import regime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument(
        "--out", type=Path, default=Path("benchmarks/stats/results/interval-confirm.png")
    )
    a = ap.parse_args()
    rows = [r for f in a.runs for r in json.loads(f.read_text())["coverage"]]
    metrics = list(dict.fromkeys(r["metric"] for r in rows))
    fig, axes = plt.subplots(
        len(metrics), 1, figsize=(14, 2.6 * len(metrics)), constrained_layout=True, squeeze=False
    )
    for ax, metric in zip(axes[:, 0], metrics, strict=True):
        mine = [r for r in rows if r["metric"] == metric]
        regimes = list(dict.fromkeys(regime(r["sites"], r["subjects_per_site"]) for r in mine))
        x, ticks, labels = 0.0, [], []
        for reg in regimes:
            cells = [r for r in mine if regime(r["sites"], r["subjects_per_site"]) == reg]
            chosen = [r for r in cells if r["chosen"]]
            start = x
            for r in chosen:
                same = [
                    p
                    for p in cells
                    if p["method"] == "percentile"
                    and not p["chosen"]
                    and all(
                        p[k] == r[k]
                        for k in ("sites", "subjects_per_site", "sessions", "icc", "prevalence")
                    )
                ]
                ax.errorbar(
                    x, 100 * r["coverage"], yerr=200 * r["mc_se"], fmt="o", color="C0", ms=4
                )
                for p in same:
                    ax.plot(x, 100 * p["coverage"], "o", mfc="none", color="C3", ms=4)
                x += 1
            ticks.append((start + x - 1) / 2)
            labels.append(
                f"{reg[0].replace(' sites', '')} x {reg[1].replace(' subjects per site', '')}\n"
                f"{chosen[0]['method'] if chosen else '-'}"
            )
            x += 1.5
        ax.axhspan(94, 96, color="green", alpha=0.15)
        ax.axhline(95, color="green", lw=0.8)
        ax.set_xticks(ticks, labels, fontsize=7)
        ax.set_ylim(min(75, 100 * min(r["coverage"] for r in mine) - 2), 100)
        ax.set_ylabel(f"{metric}\ncoverage (%)", fontsize=8)
    axes[0, 0].set_title(
        "Confirmation: chosen interval (filled, +-2 MC SE) and percentile (open) per design; "
        "band 94-96%; ticks: sites x subjects per site, chosen method",
        fontsize=9,
    )
    fig.savefig(a.out, dpi=110)


if __name__ == "__main__":
    main()
