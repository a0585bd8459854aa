"""Experiment 6: how wide is the confidence interval of a test set of n subjects?

Varoquaux (2018, NeuroImage 180:68-77, doi:10.1016/j.neuroimage.2017.06.061) showed that the
error bars of a cross-validated accuracy are about +-10% at n = 100. Here independent subjects
(one image each) are simulated with a known true balanced accuracy and AUROC
(:func:`brainbench.stats.simulate_predictions`); for each test-set size the statistics engine
computes 95% intervals: the bootstrap for balanced accuracy and AUROC, DeLong's for AUROC. The
experiment reports the mean half-width, the spread of the estimates around the truth, and the
number of subjects a claim of +-5% or +-10% needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from brainbench.experiments._common import ExperimentResult, Finding, markdown_table, num, pct
from brainbench.experiments._stats import (
    CLASSES,
    interval,
    prepare,
    simulate_predictions,
    true_metric,
)
from brainbench.stats import ci_half_width

NUMBER = 6
SLUG = "ci-width-vs-test-size"
TITLE = "How many test subjects a claim needs"
QUESTION = (
    "How wide is the 95% interval of balanced accuracy and AUROC as the test set grows "
    "(the Varoquaux 2018 curve)?"
)
PRESETS: dict[str, dict[str, Any]] = {
    "quick": {"sizes": [50, 200, 800], "replications": 40, "resamples": 300},
    "full": {
        "sizes": [25, 50, 100, 200, 400, 800, 1600],
        "replications": 300,
        "resamples": 1000,
    },
}
# Independent subjects, one image each: the width comes from the sample size alone.
DESIGN: dict[str, Any] = {"mu": {"model": (1.6, 1.6)}, "sd_site": 0.0, "sd_subject": 1.0}
TARGETS = (0.10, 0.05)
METHODS = (("balanced_accuracy", "bootstrap"), ("auroc", "bootstrap"), ("auroc", "delong"))


def simulate(params: dict[str, Any], seed: int) -> pd.DataFrame:
    rows = []
    sizes = params["sizes"]
    truth = {m: true_metric(m, **DESIGN) for m in ("balanced_accuracy", "auroc")}
    for n, child in zip(sizes, np.random.SeedSequence(seed).spawn(len(sizes)), strict=True):
        rng = np.random.default_rng(child)
        out: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
        for _ in range(params["replications"]):
            df = simulate_predictions(
                n_sites=1, subjects_per_site=n, seed=rng, classes=CLASSES, **DESIGN
            )
            md = prepare(df)
            boot_seed = int(rng.integers(2**31))
            for metric, method in METHODS:
                res = interval(
                    md, metric, method=method, resamples=params["resamples"], seed=boot_seed
                )
                out.setdefault((metric, method), []).append(res)
        for (metric, method), values in out.items():
            arr = np.array(values, dtype=float)
            arr = arr[np.isfinite(arr).all(axis=1)]
            err = arr[:, 0] - truth[metric]
            lo_err, hi_err = np.quantile(err, [0.025, 0.975])
            rows.append(
                {
                    "subjects": n,
                    "metric": metric,
                    "method": method,
                    "truth": truth[metric],
                    "mean_half_width": float(np.mean(arr[:, 2] - arr[:, 1]) / 2),
                    "planned_half_width": ci_half_width(metric, n, value=truth[metric]),
                    "error_95_half_range": float((hi_err - lo_err) / 2),
                    "coverage": float(
                        np.mean((arr[:, 1] <= truth[metric]) & (truth[metric] <= arr[:, 2]))
                    ),
                    "replications": len(arr),
                }
            )
    return pd.DataFrame(rows)


def subjects_needed(table: pd.DataFrame, metric: str, method: str, target: float) -> float:
    """Subjects for a mean half-width of ``target``: fit ``w = c / sqrt(n)`` on the curve."""
    sub = table[(table["metric"] == metric) & (table["method"] == method)]
    c = float(np.exp(np.mean(np.log(sub["mean_half_width"]) + 0.5 * np.log(sub["subjects"]))))
    return (c / target) ** 2


def plot(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    styles = {
        ("balanced_accuracy", "bootstrap"): ("C0", "o", "balanced accuracy, bootstrap CI"),
        ("auroc", "bootstrap"): ("C1", "s", "AUROC, bootstrap CI"),
        ("auroc", "delong"): ("C2", "^", "AUROC, DeLong CI"),
    }
    for (metric, method), (color, marker, label) in styles.items():
        m = table[(table["metric"] == metric) & (table["method"] == method)]
        ax.plot(m["subjects"], m["mean_half_width"], marker=marker, color=color, label=label)
        if method == "bootstrap":
            ax.plot(
                m["subjects"],
                m["error_95_half_range"],
                ls=":",
                color=color,
                label=f"{label.split(',')[0]}: spread of the estimates (95% range / 2)",
            )
    for metric, color in (("balanced_accuracy", "C0"), ("auroc", "C1")):
        m = table[(table["metric"] == metric) & (table["method"] == "bootstrap")]
        ax.plot(
            m["subjects"],
            m["planned_half_width"],
            ls="--",
            lw=0.9,
            color=color,
            label=f"{metric.replace('_', ' ')}: planning formula (stats.ci_half_width)",
        )
    for t in TARGETS:
        ax.axhline(t, color="grey", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_yscale("log")
    from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

    sizes = sorted(table["subjects"].unique())
    ax.xaxis.set_major_locator(FixedLocator(sizes))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_locator(FixedLocator([0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3]))
    ax.yaxis.set_minor_locator(NullLocator())
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(ScalarFormatter())
    ax.set_xlabel("test subjects")
    ax.set_ylabel("95% CI half-width")
    ax.set_title("CI half-width vs test-set size", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def conclude(table: pd.DataFrame) -> tuple[str, list[Finding], bool]:
    ba = table[(table["metric"] == "balanced_accuracy") & (table["method"] == "bootstrap")]
    auc = table[(table["metric"] == "auroc") & (table["method"] == "bootstrap")]
    n10 = subjects_needed(table, "balanced_accuracy", "bootstrap", 0.10)
    n05 = subjects_needed(table, "balanced_accuracy", "bootstrap", 0.05)
    a05 = subjects_needed(table, "auroc", "bootstrap", 0.05)
    # The fit w = c / sqrt(n) gives the half-width at n = 100: c / 10 = 0.10 * sqrt(n10) / 10.
    hw100 = 0.10 * np.sqrt(n10) / 10
    findings = [
        Finding("BA half-width at n=100 (fit)", hw100, f"+-{num(hw100, 3)}"),
        Finding("subjects for BA +-0.05", n05, f"{n05:.0f}"),
        Finding("subjects for AUROC +-0.05", a05, f"{a05:.0f}"),
    ]
    big, small = ba.iloc[-1], ba.iloc[0]
    agrees = 0.07 <= hw100 <= 0.13
    text = (
        f"With a true balanced accuracy of {num(ba['truth'].iloc[0], 2)}, the 95% interval of a "
        f"test set of n independent subjects spans +-{num(small['mean_half_width'], 3)} at "
        f"n = {int(small['subjects'])} and +-{num(big['mean_half_width'], 3)} at "
        f"n = {int(big['subjects'])}; the fit c/sqrt(n) gives +-{num(hw100, 3)} at n = 100, "
        + ("in line with" if agrees else "to compare with")
        + f" Varoquaux's +-10% at n = 100. The bootstrap intervals covered the truth "
        f"{pct(float(ba['coverage'].mean()))} of the time; at "
        f"n = {int(small['subjects'])} the estimates themselves fell within "
        f"+-{num(small['error_95_half_range'], 3)} of the truth 95% of the time, and the "
        "statistics engine's planning formula (`ci_half_width`) predicted "
        f"+-{num(small['planned_half_width'], 3)}. A claim of "
        f"+-0.10 needs about {n10:.0f} test subjects, a claim of +-0.05 about {n05:.0f} (AUROC of "
        f"{num(auc['truth'].iloc[0], 2)}: about {a05:.0f}). Subjects, not images: sessions of the "
        "same subject add far less (experiment 4)."
    )
    ratio = small["mean_half_width"] / big["mean_half_width"]
    expected_ratio = np.sqrt(big["subjects"] / small["subjects"])
    expected = bool(agrees and abs(ratio / expected_ratio - 1) < 0.35)
    return text, findings, expected


def run(params: dict[str, Any], out_dir: Path, seed: int) -> ExperimentResult:
    table = simulate(params, seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    plot(table, out_dir / "ci_width.png")
    text, findings, expected = conclude(table)
    needed = pd.DataFrame(
        [
            {
                "metric": metric,
                "method": method,
                **{
                    f"subjects for +-{t:.2f}": round(subjects_needed(table, metric, method, t))
                    for t in TARGETS
                },
            }
            for metric, method in table[["metric", "method"]].drop_duplicates().itertuples(False)
        ]
    )
    return ExperimentResult(
        number=NUMBER,
        slug=SLUG,
        title=TITLE,
        question=QUESTION,
        preset="",
        seed=seed,
        params={**params, "design": DESIGN, "level": 0.95},
        table=table,
        findings=findings,
        expected=expected,
        conclusion=text,
        figures=["ci_width.png"],
        sections={
            "Subjects needed (fit of half-width = c / sqrt(n))": markdown_table(needed, "{:.0f}"),
        },
    )
