"""Benchmark: hierarchical bootstrap of 100,000 predictions (10,000 subjects, 20 sites).

Side by side, in one run:

1. brainbench's vectorised two-stage bootstrap (site -> subject), 10,000 resamples, balanced
   accuracy at the image level (the public ``confidence_interval``), timed end to end and for
   the resampling core alone;
2. a straightforward per-resample pandas implementation (draw sites, draw subjects within each
   drawn site, concatenate their rows, compute the metric), timed on ``--naive`` resamples and
   extrapolated per resample;
3. the flat (image-level) case: ``scipy.stats.bootstrap`` against brainbench's flat bootstrap
   with the scipy-compatible index draws (identical resamples) and with type draws, on
   ``--flat`` resamples.

Usage::

    python benchmarks/stats/bench_bootstrap.py            # the figures of README.md
    python benchmarks/stats/bench_bootstrap.py --quick    # a smoke run (seconds)
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time

import numpy as np
import pandas as pd
from scipy import stats as sps

from brainbench.stats import Task, confidence_interval, model_data, simulate_predictions
from brainbench.stats._bootstrap import Statistic
from brainbench.stats._data import design_for
from brainbench.stats._evaluate import run_blocks
from brainbench.stats._metrics import METRICS


def _ba(y: np.ndarray, pred: np.ndarray) -> float:
    pos = y == 1
    return 0.5 * ((pred[pos] == 1).mean() + (pred[~pos] == 0).mean())


def naive_pandas(df: pd.DataFrame, n: int, seed: int) -> np.ndarray:
    """The loop most people write: one resampled DataFrame per resample."""
    rng = np.random.default_rng(seed)
    sites = df["site"].unique()
    subjects_of = {s: g["subject"].unique() for s, g in df.groupby("site")}
    rows_of = df.groupby("subject").indices
    y = (df["y_true"] == "AD").to_numpy().astype(int)
    pred = (df["y_pred"] == "AD").to_numpy().astype(int)
    out = np.empty(n)
    for b in range(n):
        parts = []
        for s in rng.choice(sites, len(sites)):
            subs = subjects_of[s]
            for subj in rng.choice(subs, len(subs)):
                parts.append(rows_of[subj])
        idx = np.concatenate(parts)
        resampled = pd.DataFrame({"y": y[idx], "pred": pred[idx]})
        out[b] = _ba(resampled["y"].to_numpy(), resampled["pred"].to_numpy())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sites", type=int, default=20)
    ap.add_argument("--subjects-per-site", type=int, default=500)
    ap.add_argument("--images", type=int, default=10, help="images per subject")
    ap.add_argument("--resamples", type=int, default=10_000)
    ap.add_argument("--naive", type=int, default=20, help="resamples of the pandas loop")
    ap.add_argument("--flat", type=int, default=1_000, help="resamples of the flat comparison")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    ap.add_argument("--json", action="store_true", help="print JSON only")
    a = ap.parse_args()
    if a.quick:
        a.subjects_per_site, a.resamples, a.naive, a.flat = 50, 1000, 5, 200

    df = simulate_predictions(
        n_sites=a.sites,
        subjects_per_site=a.subjects_per_site,
        images_per_session=a.images,
        seed=a.seed,
    )
    task = Task("classification", ("CN", "AD"))
    n_pred = len(df)
    res: dict = {
        "predictions": n_pred,
        "subjects": a.sites * a.subjects_per_site,
        "sites": a.sites,
        "resamples": a.resamples,
        "machine": platform.machine(),
        "cpus": __import__("os").cpu_count(),
    }

    t0 = time.perf_counter()
    md = model_data(df, "A", task, "image")
    t1 = time.perf_counter()
    ci = confidence_interval(
        md, "balanced_accuracy", clusters=["site", "subject"], resamples=a.resamples, seed=a.seed
    )
    t2 = time.perf_counter()
    design, _ = design_for(md, ["site", "subject"], stratify=True)
    stat = Statistic(design, run_blocks(md, METRICS.get("balanced_accuracy"), design))
    t3 = time.perf_counter()
    stat.resample(a.resamples, np.random.default_rng(a.seed))
    t4 = time.perf_counter()
    res["brainbench"] = {
        "prepare_s": t1 - t0,
        "confidence_interval_s": t2 - t1,
        "resample_core_s": t4 - t3,
        "ci": [ci.ci_low, ci.ci_high],
        "estimate": ci.estimate,
    }

    # AUROC (rank metric: index draws and sorted cumulative sums) at the subject level.
    md_s = model_data(df, "A", task, "subject")
    t0 = time.perf_counter()
    auc = confidence_interval(
        md_s, "auroc", clusters=["site", "subject"], resamples=a.resamples, seed=a.seed
    )
    res["brainbench_auroc_subject"] = {
        "confidence_interval_s": time.perf_counter() - t0,
        "units": md_s.n_units,
        "ci": [auc.ci_low, auc.ci_high],
    }

    t0 = time.perf_counter()
    naive = naive_pandas(df, a.naive, a.seed)
    per = (time.perf_counter() - t0) / a.naive
    res["naive_pandas"] = {
        "resamples_timed": a.naive,
        "per_resample_s": per,
        "extrapolated_s": per * a.resamples,
        "mean_of_timed": float(naive.mean()),
    }
    res["ratio_naive_over_brainbench"] = (
        per * a.resamples / res["brainbench"]["confidence_interval_s"]
    )

    # Flat case: images resampled independently (no clusters, no strata).
    y = (df["y_true"] == "AD").to_numpy().astype(int)
    pred = (df["y_pred"] == "AD").to_numpy().astype(int)

    def statistic(idx, axis=-1):
        yy, pp = y[idx], pred[idx]
        pos = yy == 1
        sens = (pos & (pp == 1)).sum(axis) / pos.sum(axis)
        spec = (~pos & (pp == 0)).sum(axis) / (~pos).sum(axis)
        return 0.5 * (sens + spec)

    batch = max(1, 4_000_000 // n_pred)
    t0 = time.perf_counter()
    ref = sps.bootstrap(
        (np.arange(n_pred),),
        statistic,
        vectorized=True,
        n_resamples=a.flat,
        batch=batch,
        method="percentile",
        rng=np.random.default_rng(a.seed),
    )
    t_scipy = time.perf_counter() - t0
    flat_md = model_data(
        df.drop(columns=["site", "subject", "session", "image"]), "A", task, "image"
    )
    fdesign, _ = design_for(flat_md, [], stratify=False)
    fstat = Statistic(fdesign, run_blocks(flat_md, METRICS.get("balanced_accuracy"), fdesign))
    t0 = time.perf_counter()
    theta_idx = fstat.from_sums(
        fdesign.sums(fstat._X, a.flat, np.random.default_rng(a.seed), chunk=batch, engine="index")
    )
    t_idx = time.perf_counter() - t0
    t0 = time.perf_counter()
    fdesign.sums(fstat._X, a.flat, np.random.default_rng(a.seed), engine="types")
    t_types = time.perf_counter() - t0
    lo, hi = np.quantile(theta_idx, [0.025, 0.975])
    res["flat"] = {
        "resamples": a.flat,
        "scipy_s": t_scipy,
        "brainbench_index_s": t_idx,
        "brainbench_types_s": t_types,
        "same_interval_as_scipy": bool(
            np.allclose(
                [lo, hi], [ref.confidence_interval.low, ref.confidence_interval.high], rtol=1e-10
            )
        ),
        "ratio_scipy_over_index": t_scipy / t_idx,
        "ratio_scipy_over_types": t_scipy / t_types,
    }
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if a.json:
        print(json.dumps(res, indent=2))
        return
    b = res["brainbench"]
    print(
        f"{n_pred:,} predictions, {res['subjects']:,} subjects, {a.sites} sites, "
        f"{a.resamples:,} resamples ({res['cpus']} CPUs)"
    )
    print(
        f"  brainbench  confidence_interval {b['confidence_interval_s']:.2f} s "
        f"(resampling core {b['resample_core_s']:.2f} s; table preparation "
        f"{b['prepare_s']:.2f} s)"
    )
    au = res["brainbench_auroc_subject"]
    print(
        f"  brainbench  AUROC at the subject level ({au['units']:,} subjects): "
        f"{au['confidence_interval_s']:.2f} s"
    )
    nv = res["naive_pandas"]
    print(
        f"  pandas loop {nv['per_resample_s'] * 1e3:.1f} ms per resample -> "
        f"{nv['extrapolated_s']:.0f} s for {a.resamples:,} "
        f"(x{res['ratio_naive_over_brainbench']:.0f} slower)"
    )
    f = res["flat"]
    print(
        f"  flat, {a.flat:,} resamples: scipy.stats.bootstrap {f['scipy_s']:.2f} s, brainbench "
        f"index draws {f['brainbench_index_s']:.2f} s (x{f['ratio_scipy_over_index']:.1f}, "
        f"same interval: {f['same_interval_as_scipy']}), type draws "
        f"{f['brainbench_types_s']:.3f} s (x{f['ratio_scipy_over_types']:.0f})"
    )
    print(f"  peak RSS {res['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
