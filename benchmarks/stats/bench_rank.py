"""Benchmark: AUROC and average-precision resampling, rank kernel against the previous code.

Side by side, in one run, on the same multiplicities (same seed, same chunks):

* the rank kernel of ``brainbench.stats._metrics`` (each positive ranked among the negatives
  once; per chunk of resamples, cumulative sums of the multiplicities and lookups);
* the previous sort-and-group implementation (``tests/stats/rank_reference.py``: weights
  gathered in score order, tie groups summed, cumulative sums over all rows),

for two designs of 100,000 image-level scores (10,000 subjects x 10 images, 20 sites): the
two-stage hierarchical bootstrap site -> subject stratified by class (what ``evaluate`` runs),
and the flat image-level bootstrap. Each timing covers ``Statistic.resample`` end to end
(drawing the multiplicities and the metric); the kernel alone is also timed on pre-drawn
multiplicities. Wall and CPU seconds are both recorded (best of ``--repeats``): on a shared
machine CPU time is the steadier figure. The two implementations must give the same values
(checked and reported).

Usage::

    python benchmarks/stats/bench_rank.py            # the figures of README.md
    python benchmarks/stats/bench_rank.py --quick    # a smoke run (seconds)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from brainbench.stats import Task, model_data, simulate_predictions
from brainbench.stats._bootstrap import Statistic
from brainbench.stats._data import design_for
from brainbench.stats._evaluate import run_blocks
from brainbench.stats._metrics import METRICS

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.stats.rank_reference import (
    auroc_reference,
    average_precision_reference,
)

REFERENCE = {"auroc": auroc_reference, "average_precision": average_precision_reference}


def _time(fn, repeats: int) -> tuple[float, float, object]:
    """Best of ``repeats`` wall times and CPU times (the least disturbed by other processes on
    a shared machine) and the result."""
    wall, cpu, out = float("inf"), float("inf"), None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return wall, cpu, out


def bench(df, metric: str, clusters: list[str], resamples: int, seed: int, repeats: int) -> dict:
    md = model_data(df, "A", Task("classification", ("CN", "AD")), "image")
    design, _ = design_for(md, clusters, stratify=bool(clusters))
    new_m = METRICS.get(metric)
    old_m = dataclasses.replace(new_m, weighted=REFERENCE[metric])
    new = Statistic(design, run_blocks(md, new_m, design))
    old = Statistic(design, run_blocks(md, old_m, design))
    t_new, c_new, v_new = _time(
        lambda: new.resample(resamples, np.random.default_rng(seed)), repeats
    )
    t_old, c_old, v_old = _time(
        lambda: old.resample(resamples, np.random.default_rng(seed)), repeats
    )
    # The kernel alone, on multiplicities drawn beforehand (the drawing is common to both).
    rows = sum(len(b.atoms) for b in new.blocks)
    chunks = list(
        design.iter_weights(
            resamples, np.random.default_rng(seed), design.chunk_size(max(rows, design.n_atoms))
        )
    )
    _, k_new, _ = _time(lambda: [new.from_weights(W) for W in chunks], 1)
    _, k_old, _ = _time(lambda: [old.from_weights(W) for W in chunks], 1)
    diff = np.abs(np.asarray(v_new) - np.asarray(v_old))
    return {
        "metric": metric,
        "design": " -> ".join(clusters) + " (stratified by class)" if clusters else "flat",
        "atoms": design.n_atoms,
        "resamples": resamples,
        "rank_kernel_s": t_new,
        "previous_s": t_old,
        "ratio_previous_over_rank": t_old / t_new,
        "rank_kernel_cpu_s": c_new,
        "previous_cpu_s": c_old,
        "cpu_ratio": c_old / c_new,
        "metric_only_rank_cpu_s": k_new,
        "metric_only_previous_cpu_s": k_old,
        "metric_only_cpu_ratio": k_old / k_new,
        "identical": bool(np.array_equal(v_new, v_old)),
        "max_abs_difference": float(diff.max()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sites", type=int, default=20)
    ap.add_argument("--subjects-per-site", type=int, default=500)
    ap.add_argument("--images", type=int, default=10, help="images per subject")
    ap.add_argument("--resamples", type=int, default=2_000)
    ap.add_argument("--repeats", type=int, default=2, help="best of this many runs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    ap.add_argument("--json", action="store_true", help="print JSON only")
    a = ap.parse_args()
    if a.quick:
        a.subjects_per_site, a.resamples, a.repeats = 50, 200, 1
    df = simulate_predictions(
        n_sites=a.sites, subjects_per_site=a.subjects_per_site, images_per_session=a.images,
        seed=a.seed,
    )  # fmt: skip
    res = {
        "predictions": len(df),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_before": os.getloadavg()[0],
        "runs": [
            bench(df, metric, clusters, a.resamples, a.seed, a.repeats)
            for metric in ("auroc", "average_precision")
            for clusters in (["site", "subject"], [])
        ],
        "load_average_after": os.getloadavg()[0],
    }
    if a.json:
        print(json.dumps(res, indent=2))
        return
    print(
        f"{res['predictions']:,} predictions, {a.resamples:,} resamples, best of {a.repeats} "
        f"({res['cpus']} CPUs, load average {res['load_average_before']:.1f} before, "
        f"{res['load_average_after']:.1f} after)"
    )
    for r in res["runs"]:
        print(
            f"  {r['metric']:<17} {r['design']:<38} rank kernel {r['rank_kernel_s']:.2f} s "
            f"wall / {r['rank_kernel_cpu_s']:.2f} s CPU, previous {r['previous_s']:.2f} / "
            f"{r['previous_cpu_s']:.2f} s (x{r['ratio_previous_over_rank']:.1f} wall, "
            f"x{r['cpu_ratio']:.1f} CPU); metric alone (CPU) {r['metric_only_rank_cpu_s']:.2f} "
            f"vs {r['metric_only_previous_cpu_s']:.2f} s (x{r['metric_only_cpu_ratio']:.1f}); "
            f"identical: {r['identical']} (max |diff| {r['max_abs_difference']:.1e})"
        )


if __name__ == "__main__":
    main()
