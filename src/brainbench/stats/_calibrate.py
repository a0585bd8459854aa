"""Calibration study: CI coverage and type-I error of each method, by simulation.

Three experiments, each with a known truth (see :mod:`brainbench.stats._simulate`):

1. **Coverage** of 95% intervals of the balanced accuracy on hierarchical data (sites, subjects,
   sessions, images with random effects): the hierarchical bootstrap (site -> subject,
   percentile and BCa), a subject-level cluster bootstrap that ignores sites, and the naive
   image-level bootstrap. The truth is the super-population balanced accuracy (Gauss-Hermite).
2. **Type-I error on one test set**: two models with equal true metrics, correlated errors and
   model-by-site / model-by-subject effects. Paired hierarchical bootstrap, subject-level and
   image-level bootstraps, McNemar and DeLong on images (naive), DeLong on subject means, and the
   mixed model (REML, t test with Satterthwaite df, :mod:`brainbench.stats._mixed`).
3. **Type-I error over cross-validation folds**: two nearest-centroid learners on exchangeable
   feature sets (equal expected accuracy over data sets, the null of Nadeau & Bengio 2003),
   r x k-fold cross-validation: the naive paired t-test, corrected-t (= corrected repeated
   k-fold t here), Wilcoxon over folds, the sign test behind P(A>B), and the Bayesian
   correlated t-test (rate of P(left) or P(right) > 0.95 with a zero-width ROPE).

Every method is the code users run (the same functions), on arrays for speed.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from brainbench.stats._bootstrap import (
    Block,
    Statistic,
    bca_interval,
    bootstrap_p_value,
    percentile_interval,
)
from brainbench.stats._compare import bayes_correlated, mcnemar_counts, t_over_splits
from brainbench.stats._delong import delong_test
from brainbench.stats._metrics import METRICS, Columns
from brainbench.stats._mixed import fit_mixed
from brainbench.stats._resample import ClusterDesign
from brainbench.stats._simulate import simulate_arrays, true_balanced_accuracy

PRESETS: dict[str, dict[str, Any]] = {
    # Well under a minute on two cores.
    "ci": {
        "replicates": 150,
        "resamples": 400,
        "sites": [8],
        "cv_replicates": 150,
        "mixed_replicates": 0,
        "cv_repeats": 10,
        "cv_folds": 10,
    },
    # The study of benchmarks/stats/README.md.
    "full": {
        "replicates": 1000,
        "resamples": 1000,
        "sites": [4, 8, 16],
        "cv_replicates": 1000,
        "mixed_replicates": 200,
        "cv_repeats": 10,
        "cv_folds": 10,
    },
}
SUBJECTS = 128
COVERAGE_SIM = {
    "sessions_per_subject": 2,
    "images_per_session": 2,
    "sd_site": 0.5,
    "sd_subject": 0.8,
    "sd_session": 0.3,
}
MU = (1.2, 0.8)
NULL_SIM = {
    "n_sites": 10,
    "subjects_per_site": 12,
    "sessions_per_subject": 2,
    "images_per_session": 2,
    "sd_site": 0.5,
    "sd_subject": 0.8,
    "sd_session": 0.3,
    "model_sd_site": 0.3,
    "model_sd_subject": 0.6,
}
CV_SIM = {"n": 80, "features": 5, "delta": 0.5}


def _cols(y: np.ndarray, score: np.ndarray) -> Columns:
    return Columns(y=y, pred=(score >= 0.5).astype(np.int64), score=score)


def _designs(arr: dict) -> dict[str, ClusterDesign]:
    y = arr["y"]
    return {
        "hierarchical": ClusterDesign([arr["site"], arr["subject"]], strata=y),
        "site": ClusterDesign([arr["site"]]),  # outer level only (Davison & Hinkley, 3.8)
        "subject": ClusterDesign([arr["subject"]], strata=y),
        "image": ClusterDesign([np.arange(len(y))], strata=y),
    }


def _coverage(rng, n_sites: int, reps: int, B: int, level: float = 0.95) -> list[dict]:
    metric = METRICS.get("balanced_accuracy")
    truth = true_balanced_accuracy(
        MU[0],
        MU[1],
        COVERAGE_SIM["sd_site"],
        COVERAGE_SIM["sd_subject"],
        COVERAGE_SIM["sd_session"],
    )
    names = [
        "hierarchical-bootstrap percentile [site, subject]",
        "hierarchical-bootstrap bca [site, subject]",
        "cluster bootstrap [site] (outer level only)",
        "cluster bootstrap [subject] (ignores sites)",
        "bootstrap [image] (naive)",
    ]
    hits = {n: [] for n in names}
    widths = {n: [] for n in names}
    for _ in range(reps):
        arr = simulate_arrays(
            rng,
            n_sites=n_sites,
            subjects_per_site=SUBJECTS // n_sites,
            mu={"A": MU},
            **COVERAGE_SIM,
        )
        cols = _cols(arr["y"], arr["score_A"])
        d = _designs(arr)
        out = {}
        for key, design in d.items():
            stat = Statistic(design, [Block(metric, cols, design.row_atom)])
            theta = stat.resample(B, rng)
            theta = theta[np.isfinite(theta)]
            if key == "hierarchical":
                out[names[0]] = percentile_interval(theta, level)
                out[names[1]] = bca_interval(theta, stat.point(), stat.jackknife(), level)[:2]
            elif key == "site":
                out[names[2]] = percentile_interval(theta, level)
            elif key == "subject":
                out[names[3]] = percentile_interval(theta, level)
            else:
                out[names[4]] = percentile_interval(theta, level)
        for n, (lo, hi) in out.items():
            hits[n].append(lo <= truth <= hi)
            widths[n].append(hi - lo)
    rows = []
    for n in names:
        c = float(np.mean(hits[n]))
        rows.append(
            {
                "method": n,
                "sites": n_sites,
                "subjects": SUBJECTS,
                "coverage": c,
                "mc_se": float(np.sqrt(c * (1 - c) / reps)),
                "mean_width": float(np.mean(widths[n])),
                "replicates": reps,
                "truth": truth,
            }
        )
    return rows


def _null_test_set(rng, reps: int, B: int, mixed_reps: int) -> list[dict]:
    metric = METRICS.get("balanced_accuracy")
    rej: dict[str, list[bool]] = {}

    def add(name, p):
        rej.setdefault(name, []).append(bool(p < 0.05))

    for r in range(reps):
        arr = simulate_arrays(rng, mu={"A": MU, "B": MU}, **NULL_SIM)
        y = arr["y"]
        ca, cb = _cols(y, arr["score_A"]), _cols(y, arr["score_B"])
        for key, design in _designs(arr).items():
            stat = Statistic(
                design,
                [Block(metric, ca, design.row_atom, 1.0), Block(metric, cb, design.row_atom, -1.0)],
            )
            theta = stat.resample(B, rng)
            label = {
                "hierarchical": "bootstrap [site, subject]",
                "site": "bootstrap [site] (outer level only)",
                "subject": "bootstrap [subject] (ignores sites)",
                "image": "bootstrap [image] (naive)",
            }[key]
            add(label, bootstrap_p_value(theta[np.isfinite(theta)]))
        ok_a, ok_b = ca.pred == y, cb.pred == y
        b, c = int((ok_a & ~ok_b).sum()), int((~ok_a & ok_b).sum())
        add("mcnemar [image] (naive)", mcnemar_counts(b, c, len(y))["p"])
        add("delong [image] (naive)", delong_test(y == 1, ca.score, cb.score)[3])
        subj = arr["subject"]
        n_s = subj.max() + 1
        sa = np.bincount(subj, ca.score, n_s) / np.bincount(subj, None, n_s)
        sb = np.bincount(subj, cb.score, n_s) / np.bincount(subj, None, n_s)
        ys = np.zeros(n_s, int)
        ys[subj] = y
        add("delong [subject means] (ignores sites)", delong_test(ys == 1, sa, sb)[3])
        if r < mixed_reps:
            d = (
                (ok_a.astype(float) - ok_b.astype(float))
                * len(y)
                / (2 * np.bincount(y, minlength=2)[y])
            )
            try:
                fit = fit_mixed(d, [arr["site"], subj], ["site", "subject"])
                add("mixed [site, subject]", fit.beta.p_value)
            except ValueError:  # constant differences
                pass
    return [_rate(k, v) for k, v in rej.items()]


def _rate(name: str, rejections: list[bool]) -> dict:
    r = float(np.mean(rejections))
    n = len(rejections)
    return {
        "method": name,
        "rate": r,
        "mc_se": float(np.sqrt(max(r * (1 - r), 1e-12) / n)),
        "replicates": n,
    }


def _nearest_centroid_acc(Xtr, ytr, Xte, yte) -> float:
    m0, m1 = Xtr[ytr == 0].mean(0), Xtr[ytr == 1].mean(0)
    pred = (((Xte - m1) ** 2).sum(1) < ((Xte - m0) ** 2).sum(1)).astype(int)
    return float((pred == yte).mean())


def _null_cv(rng, reps: int, repeats: int, k: int) -> list[dict]:
    n, f, delta = CV_SIM["n"], CV_SIM["features"], CV_SIM["delta"]
    rej: dict[str, list[bool]] = {}

    def add(name, reject):
        rej.setdefault(name, []).append(bool(reject))

    ratio = 1.0 / (k - 1)
    for _ in range(reps):
        y = np.r_[np.zeros(n // 2, int), np.ones(n - n // 2, int)]
        X = rng.normal(size=(n, 2 * f)) + delta * y[:, None]
        d = []
        for _r in range(repeats):
            folds = rng.permutation(np.arange(n) % k)
            for j in range(k):
                te = folds == j
                acc_a = _nearest_centroid_acc(X[~te, :f], y[~te], X[te, :f], y[te])
                acc_b = _nearest_centroid_acc(X[~te, f:], y[~te], X[te, f:], y[te])
                d.append(acc_a - acc_b)
        d = np.asarray(d)
        J = len(d)
        add("paired-t over folds (naive)", t_over_splits(d, 1 / J)["p"] < 0.05)
        add(
            "corrected-t (Nadeau-Bengio) = corrected-repeated-kfold-t",
            t_over_splits(d, 1 / J + ratio)["p"] < 0.05,
        )
        nz = d[d != 0]
        add("wilcoxon over folds (naive)", len(nz) > 0 and sps.wilcoxon(nz).pvalue < 0.05)
        plus, minus = int((d > 0).sum()), int((d < 0).sum())
        add(
            "probability: sign test over runs (naive)",
            plus + minus > 0 and sps.binomtest(plus, plus + minus).pvalue < 0.05,
        )
        post = bayes_correlated(d, ratio / (1 + ratio), 0.0)
        add(
            "bayes correlated t (P > 0.95 either side)",
            max(post["p_left"], post["p_right"]) > 0.975,
        )
    return [_rate(k_, v) for k_, v in rej.items()]


def run_calibration(
    preset: str = "ci", *, replicates: int | None = None, seed: int = 2024
) -> dict[str, Any]:
    """Run the calibration study; returns tables (lists of dicts) and the settings.

    Parameters
    ----------
    preset
        ``ci`` (well under a minute) or ``full`` (the README study).
    replicates
        Override the number of simulated data sets per cell (all three experiments).
    seed
        Seed of the whole study (each experiment gets its own spawned stream).
    """
    cfg = dict(PRESETS[preset])
    if replicates is not None:
        cfg["replicates"] = cfg["cv_replicates"] = replicates
        cfg["mixed_replicates"] = min(cfg["mixed_replicates"], replicates)
    seqs = np.random.SeedSequence(seed).spawn(3)
    t0 = time.perf_counter()
    cov_rng = np.random.default_rng(seqs[0])
    coverage = []
    for s in cfg["sites"]:
        coverage += _coverage(cov_rng, s, cfg["replicates"], cfg["resamples"])
    t1 = time.perf_counter()
    type1 = _null_test_set(
        np.random.default_rng(seqs[1]), cfg["replicates"], cfg["resamples"], cfg["mixed_replicates"]
    )
    t2 = time.perf_counter()
    cv = _null_cv(
        np.random.default_rng(seqs[2]), cfg["cv_replicates"], cfg["cv_repeats"], cfg["cv_folds"]
    )
    t3 = time.perf_counter()
    command = f"brainbench calibrate --preset {preset} --seed {seed}"
    if replicates is not None:
        command += f" --replicates {replicates}"
    return {
        "preset": preset,
        "seed": seed,
        "command": command,
        "config": cfg,
        "simulation": {
            "coverage": {**COVERAGE_SIM, "mu": MU, "subjects": SUBJECTS},
            "null_test_set": {**NULL_SIM, "mu": MU},
            "null_cv": CV_SIM,
        },
        "coverage": coverage,
        "type1_test_set": type1,
        "type1_cv": cv,
        "elapsed_s": {"coverage": t1 - t0, "type1_test_set": t2 - t1, "type1_cv": t3 - t2},
    }


def render_text(res: dict[str, Any]) -> str:
    lines = [
        f"calibration ({res['command']})",
        "",
        "Coverage of 95% intervals, balanced accuracy (target 94-96%):",
    ]
    lines.append(f"  {'method':<52} {'sites':>5} {'coverage':>9} {'+-':>6} {'width':>7}")
    for r in res["coverage"]:
        lines.append(
            f"  {r['method']:<52} {r['sites']:>5} {100 * r['coverage']:>8.1f}% "
            f"{100 * r['mc_se']:>5.1f} {r['mean_width']:>7.3f}"
        )
    for key, title in (
        ("type1_test_set", "Type-I error at alpha = 0.05, one test set"),
        ("type1_cv", "Type-I error at alpha = 0.05, over CV folds"),
    ):
        lines += ["", f"{title} (target <= 6% for corrected methods):"]
        for r in res[key]:
            lines.append(
                f"  {r['method']:<60} {100 * r['rate']:>6.1f}% "
                f"(+-{100 * r['mc_se']:.1f}, n={r['replicates']})"
            )
    el = res["elapsed_s"]
    lines += ["", f"elapsed: {sum(el.values()):.1f} s"]
    return "\n".join(lines)


def plot_calibration(res: dict[str, Any], path: str) -> None:
    """Coverage and type-I error bars with Monte Carlo error and the targets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 5.5), constrained_layout=True)
    cov = pd.DataFrame(res["coverage"])
    ax = axes[0]
    methods = list(dict.fromkeys(cov["method"]))
    sites = sorted(cov["sites"].unique())
    width = 0.8 / len(sites)
    for i, s in enumerate(sites):
        sub = cov[cov["sites"] == s].set_index("method").loc[methods]
        ax.barh(
            np.arange(len(methods)) + i * width,
            100 * sub["coverage"],
            height=width,
            xerr=196 * sub["mc_se"],
            label=f"{s} sites",
        )
    ax.axvspan(94, 96, color="green", alpha=0.15, label="target 94-96%")
    ax.axvline(95, color="green")
    ax.set_yticks(
        np.arange(len(methods)) + 0.4 - width / 2,
        [m.replace(" [", "\n[") for m in methods],
        fontsize=8,
    )
    ax.set_xlim(40, 100)
    ax.set_xlabel("coverage of 95% CI (%)")
    ax.set_title("CI coverage, balanced accuracy")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(0.0, -0.1), ncol=4)
    for ax, key, title in (
        (axes[1], "type1_test_set", "Type-I error, one test set"),
        (axes[2], "type1_cv", "Type-I error, over CV folds"),
    ):
        t = pd.DataFrame(res[key])
        ax.barh(
            np.arange(len(t)),
            100 * t["rate"],
            xerr=196 * t["mc_se"],
            color=["tab:red" if r > 0.06 else "tab:blue" for r in t["rate"]],
        )
        ax.axvline(5, color="black", lw=1)
        ax.axvline(6, color="green", ls="--", lw=1, label="6% target")
        ax.set_yticks(np.arange(len(t)), [m.replace(" (", "\n(") for m in t["method"]], fontsize=8)
        ax.set_xlabel("rejection rate at alpha = 0.05 (%)")
        ax.set_title(title)
        ax.legend(fontsize=8)
    fig.suptitle(res["command"], fontsize=9)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render_markdown(res: dict[str, Any]) -> str:
    """The tables of benchmarks/stats/README.md."""
    out = [
        f"Command: `{res['command']}`",
        "",
        "| CI method (balanced accuracy) | sites | subjects | coverage of 95% CI | MC s.e. "
        "| mean width |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in res["coverage"]:
        out.append(
            f"| {r['method']} | {r['sites']} | {r['subjects']} | "
            f"{100 * r['coverage']:.1f}% | {100 * r['mc_se']:.1f} | "
            f"{r['mean_width']:.3f} |"
        )
    for key, title in (
        ("type1_test_set", "Comparison on one test set"),
        ("type1_cv", "Comparison over CV folds (10 x 10-fold)"),
    ):
        out += [
            "",
            f"| {title} | type-I error at alpha = 0.05 | MC s.e. | replicates |",
            "| --- | ---: | ---: | ---: |",
        ]
        for r in res[key]:
            out.append(
                f"| {r['method']} | {100 * r['rate']:.1f}% | {100 * r['mc_se']:.1f} | "
                f"{r['replicates']} |"
            )
    return "\n".join(out)
