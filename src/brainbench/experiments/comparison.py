"""Experiment 5: type-I error and power of model comparisons over cross-validation folds.

Each simulated data set is a multi-site longitudinal cohort of image features: a subject's
disease severity moves every feature (so both models err on the same subjects), and site,
subject and session effects add structured noise. Two learners (a diagonal linear discriminant,
fitted on the training folds) see disjoint feature sets: with equal signal they are exchangeable,
so their expected balanced accuracies are equal (the null); with more signal for model A it is
truly better by a margin measured on a large independent population.

Each data set goes through ``repeats`` x ``folds`` subject-grouped, stratified cross-validation;
the resulting predictions table is compared by the statistics engine with the naive paired
t-test over folds, the corrected resampled t-test (Nadeau & Bengio 2003), the corrected repeated
k-fold t-test (Bouckaert & Frank 2004), the paired bootstrap (naive over images, and
hierarchical over sites then subjects) and the linear mixed model with site and subject random
effects (REML, t test with Satterthwaite degrees of freedom). The rejection rate at alpha =
0.05 under the null is the type-I error; under the alternative, the power.

Beside these, the studentised paired comparisons of issue 15, by compare's own code path
(``compare --method bootstrap --clusters site,subject --interval X``): the cluster bootstrap-t,
the wild cluster bootstrap with Webb weights and CR2 with Bell-McCaffrey degrees of freedom of
the difference over sites, the difference with its mixed-model variance and Satterthwaite
degrees of freedom (``mixed-satterthwaite``, on every repeat), and ``calibrated`` (the one the
committed paired calibration recommends for the design's regime, named in the table). They
draw their resamples from a random stream of their own, so the other methods give the same
numbers with or without them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit

from brainbench.experiments._common import (
    ExperimentResult,
    Finding,
    binomial_se,
    markdown_table,
    num,
    pct,
)
from brainbench.experiments._stats import CLASSES, compare_prepared, compare_result, prepare

NUMBER = 5
SLUG = "comparison-type-i-error"
TITLE = "Comparing two models over cross-validation folds"
QUESTION = (
    "How often does each comparison method declare a difference between two equally good "
    "models (type-I error at alpha = 0.05), and how often does it detect a model that is truly "
    "better (power)?"
)
ALPHA = 0.05

#: label -> (engine method, options)
METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    "naive paired t over folds": ("paired-t", {}),
    "corrected resampled t (Nadeau-Bengio)": ("corrected-t", {}),
    "corrected repeated k-fold t (Bouckaert-Frank)": ("corrected-repeated-kfold-t", {}),
    "naive paired bootstrap (images)": ("bootstrap", {"clusters": ()}),
    "paired hierarchical bootstrap (site, subject)": (
        "bootstrap",
        {"clusters": ("site", "subject")},
    ),
    "mixed model (site, subject)": ("mixed", {"clusters": ("site", "subject")}),
}
NAIVE = ("naive paired t over folds", "naive paired bootstrap (images)")
#: The studentised paired comparisons of issue 15: label -> ``compare --interval`` of the
#: paired bootstrap over site then subject (the interval and p-value of the difference over
#: sites).
STUDENTISED: dict[str, str] = {
    "paired calibrated (site)": "calibrated",
    "paired cluster bootstrap-t (site)": "cluster-bootstrap-t",
    "paired wild cluster bootstrap, Webb (site)": "wild-cluster-webb",
    "paired CR2, Bell-McCaffrey df (site)": "cr2",
    "paired mixed-satterthwaite (site, subject)": "mixed-satterthwaite",
}
#: The corrected t-tests over folds (training variance) the pooled-prediction tests are read
#: beside.
CORRECTED = (
    "corrected resampled t (Nadeau-Bengio)",
    "corrected repeated k-fold t (Bouckaert-Frank)",
)

PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "datasets": 30,
        "mixed_datasets": 8,
        "repeats": 3,
        "folds": 5,
        "resamples": 300,
    },
    "full": {
        "datasets": 400,
        "mixed_datasets": 200,
        "repeats": 5,
        "folds": 5,
        "resamples": 1000,
    },
}

#: The cohort and the signal of each model's features (per-feature class separation).
COHORT: dict[str, Any] = {
    "sites": 8,
    "subjects": 120,
    "sessions": 2,
    "features": 6,
    "sd_severity": 0.6,
    "sd_site": 0.5,
    "sd_subject": 0.8,
    "sd_session": 0.6,
}
SIGNAL = {"null": (0.55, 0.55), "alternative": (0.9, 0.55)}


# ---------------------------------------------------------------------------------------------
# Data and learners
# ---------------------------------------------------------------------------------------------
def simulate_cohort(
    rng: np.random.Generator, signal: tuple[float, float], subjects: int | None = None
) -> dict[str, np.ndarray]:
    """Features of both models' inputs: arrays per image (site, subject, session, y, X_a, X_b)."""
    c = COHORT
    n = subjects or c["subjects"]
    p, t = c["features"], c["sessions"]
    site_of = rng.integers(0, c["sites"], n)
    y = np.zeros(n, dtype=int)
    y[rng.permutation(n)[: n // 2]] = 1
    severity = (y - 0.5) + rng.normal(0, c["sd_severity"], n)
    subj = np.repeat(np.arange(n), t)
    d = np.r_[np.full(p, signal[0]), np.full(p, signal[1])]
    site_shift = rng.normal(0, c["sd_site"], (c["sites"], 2 * p))
    subj_shift = rng.normal(0, c["sd_subject"], (n, 2 * p))
    X = (
        severity[subj, None] * d[None, :]
        + site_shift[site_of[subj]]
        + subj_shift[subj]
        + rng.normal(0, c["sd_session"], (n * t, 2 * p))
    )
    return {
        "site": site_of[subj],
        "subject": subj,
        "session": np.tile(np.arange(t), n),
        "y": y[subj],
        "X_a": X[:, :p],
        "X_b": X[:, p:],
    }


def fit_predict(X_train, y_train, X_test) -> np.ndarray:
    """Diagonal linear discriminant: the probability of the positive class."""
    m0, m1 = X_train[y_train == 0].mean(axis=0), X_train[y_train == 1].mean(axis=0)
    r0, r1 = X_train[y_train == 0] - m0, X_train[y_train == 1] - m1
    var = (np.square(r0).sum(axis=0) + np.square(r1).sum(axis=0)) / (len(X_train) - 2)
    w = (m1 - m0) / var
    b = -w @ (m0 + m1) / 2
    return expit(X_test @ w + b)


def grouped_folds(subject_y: np.ndarray, folds: int, rng: np.random.Generator) -> np.ndarray:
    """A fold per subject: subjects shuffled within class and dealt round-robin."""
    fold = np.empty(len(subject_y), dtype=int)
    for cls in (0, 1):
        idx = np.flatnonzero(subject_y == cls)
        fold[rng.permutation(idx)] = np.arange(len(idx)) % folds
    return fold


def cross_validate(
    data: dict[str, np.ndarray], repeats: int, folds: int, rng: np.random.Generator
) -> pd.DataFrame:
    """The predictions table of both models over ``repeats`` x ``folds`` grouped CV."""
    subj = data["subject"]
    n_subj = int(subj.max()) + 1
    subject_y = np.zeros(n_subj, dtype=int)
    subject_y[subj] = data["y"]
    frames = []
    for r in range(repeats):
        fold_of_subject = grouped_folds(subject_y, folds, rng)
        fold = fold_of_subject[subj]
        for k in range(folds):
            test, train = fold == k, fold != k
            for model, X in (("A", data["X_a"]), ("B", data["X_b"])):
                score = fit_predict(X[train], data["y"][train], X[test])
                frames.append(
                    pd.DataFrame(
                        {
                            "model": model,
                            "repeat": r,
                            "fold": k,
                            "seed": 0,
                            "partition": "test",
                            "site": data["site"][test],
                            "subject": subj[test],
                            "session": data["session"][test],
                            "image": np.flatnonzero(test),
                            "y_true": np.asarray(CLASSES)[data["y"][test]],
                            "y_pred": np.asarray(CLASSES)[(score >= 0.5).astype(int)],
                            "score": score,
                        }
                    )
                )
    return pd.concat(frames, ignore_index=True)


def true_balanced_accuracy(signal: float, rng: np.random.Generator, train: int = 0) -> float:
    """Expected balanced accuracy of the learner trained on a CV training set of the cohort.

    Averaged over 20 training sets, each tested on 20,000 new subjects (new sites too).
    """
    values = []
    train = train or COHORT["subjects"]
    for _ in range(20):
        tr = simulate_cohort(rng, (signal, signal), subjects=train)
        te = simulate_cohort(rng, (signal, signal), subjects=20_000)
        pred = fit_predict(tr["X_a"], tr["y"], te["X_a"]) >= 0.5
        y = te["y"]
        values.append(0.5 * (pred[y == 1].mean() + (~pred[y == 0]).mean()))
    return float(np.mean(values))


# ---------------------------------------------------------------------------------------------
# The study
# ---------------------------------------------------------------------------------------------
def simulate(params: dict[str, Any], seed: int) -> tuple[pd.DataFrame, dict[str, float]]:
    rows = []
    truth = {}
    seeds = np.random.SeedSequence(seed).spawn(len(SIGNAL) + 1)
    # The studentised comparisons' own stream: the other methods' draws stay as they were.
    own = np.random.SeedSequence([seed, NUMBER]).spawn(len(SIGNAL))
    truth_rng = np.random.default_rng(seeds[-1])
    n_train = round(COHORT["subjects"] * (params["folds"] - 1) / params["folds"])
    for scenario, child, own_child in zip(SIGNAL, seeds, own, strict=False):
        sa, sb = SIGNAL[scenario]
        ba_a = true_balanced_accuracy(sa, truth_rng, n_train)
        ba_b = ba_a if sa == sb else true_balanced_accuracy(sb, truth_rng, n_train)
        truth[scenario] = ba_a - ba_b
        rng = np.random.default_rng(child)
        own_rng = np.random.default_rng(own_child)
        pvals: dict[str, list[float]] = {m: [] for m in [*METHODS, *STUDENTISED]}
        used: dict[str, set[str]] = {m: set() for m in STUDENTISED}
        for i in range(params["datasets"]):
            data = simulate_cohort(rng, (sa, sb))
            df = cross_validate(data, params["repeats"], params["folds"], rng)
            a, b = prepare(df[df["model"] == "A"]), prepare(df[df["model"] == "B"])
            a1 = b1 = None
            boot_seed = int(rng.integers(2**31))
            for label, (method, opts) in METHODS.items():
                if method == "mixed":
                    if i >= params["mixed_datasets"]:
                        continue
                    if a1 is None:  # one pass of k-fold: one prediction per image
                        first = df[df["repeat"] == 0]
                        a1 = prepare(first[first["model"] == "A"])
                        b1 = prepare(first[first["model"] == "B"])
                    p = compare_prepared(a1, b1, "balanced_accuracy", method, **opts)
                else:
                    p = compare_prepared(
                        a,
                        b,
                        "balanced_accuracy",
                        method,
                        resamples=params["resamples"],
                        seed=boot_seed,
                        **opts,
                    )
                pvals[label].append(p)
            own_seed = int(own_rng.integers(2**31))
            for label, interval in STUDENTISED.items():
                res = compare_result(
                    a,
                    b,
                    "balanced_accuracy",
                    "bootstrap",
                    clusters=("site", "subject"),
                    interval=interval,
                    resamples=params["resamples"],
                    seed=own_seed,
                )
                ok = res is not None and res.p_value is not None
                pvals[label].append(float(res.p_value) if ok else float("nan"))
                if res is not None:
                    chosen = res.extra.get("chosen_for")
                    used[label].add(res.extra["interval"] + (f" ({chosen})" if chosen else ""))
        for label, ps in pvals.items():
            arr = np.asarray(ps, dtype=float)
            ok = arr[np.isfinite(arr)]
            rate = float(np.mean(ok < ALPHA)) if len(ok) else float("nan")
            rows.append(
                {
                    "scenario": scenario,
                    "true_difference": truth[scenario],
                    "method": label,
                    "interval": " / ".join(sorted(used.get(label, ()))),
                    "rejection_rate": rate,
                    "mc_se": binomial_se(rate, len(ok)),
                    "datasets": len(ok),
                    "failed": int(len(arr) - len(ok)),
                }
            )
    return pd.DataFrame(rows), truth


def plot(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 5.0), sharey=True)
    labels = [*METHODS, *STUDENTISED]
    ypos = np.arange(len(labels))[::-1]
    for ax, scenario in zip(axes, ("null", "alternative"), strict=True):
        sub = table[table["scenario"] == scenario].set_index("method").loc[labels]
        # red: naive; blue: the methods before issue 15; green: its studentised comparisons.
        colors = ["C3" if m in NAIVE else "C2" if m in STUDENTISED else "C0" for m in labels]
        ax.barh(ypos, sub["rejection_rate"], xerr=1.96 * sub["mc_se"], color=colors)
        if scenario == "null":
            ax.axvline(ALPHA, color="k", ls="--", lw=1)
            ax.set_title("type-I error (equal models)", fontsize=10)
        else:
            diff = sub["true_difference"].iloc[0]
            ax.set_title(f"power (A better by {diff:.3f} balanced accuracy)", fontsize=10)
        ax.set_xlim(0, 1)
        ax.set_xlabel("rejection rate at alpha = 0.05")
        ax.grid(alpha=0.3, axis="x")
    axes[0].set_yticks(ypos)
    used = table.drop_duplicates("method").set_index("method")["interval"]
    axes[0].set_yticklabels(
        [f"{m}: {used[m]}" if STUDENTISED.get(m) == "calibrated" else m for m in labels],
        fontsize=8,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def conclude(table: pd.DataFrame, truth: dict[str, float]) -> tuple[str, list[Finding], bool]:
    null = table[table["scenario"] == "null"].set_index("method")["rejection_rate"]
    power = table[table["scenario"] == "alternative"].set_index("method")["rejection_rate"]
    naive_t = null["naive paired t over folds"]
    corr = null["corrected resampled t (Nadeau-Bengio)"]
    bf = null["corrected repeated k-fold t (Bouckaert-Frank)"]
    hb = null["paired hierarchical bootstrap (site, subject)"]
    nb = null["naive paired bootstrap (images)"]
    mx = null["mixed model (site, subject)"]
    findings = [
        Finding("type-I error, naive paired t over folds", naive_t, pct(naive_t)),
        Finding("corrected resampled t", corr, pct(corr)),
        Finding("paired hierarchical bootstrap", hb, pct(hb)),
        Finding(
            "power of corrected t",
            power["corrected resampled t (Nadeau-Bengio)"],
            pct(power["corrected resampled t (Nadeau-Bengio)"]),
        ),
    ]
    calibrated = [m for m in METHODS if null[m] <= 0.075]
    inflated = [m for m in METHODS if null[m] > 0.075]
    text = (
        f"Under a true null (two exchangeable learners), the naive paired t-test over the folds "
        f"of repeated cross-validation rejected in {pct(naive_t)} of data sets at a nominal 5%, "
        f"against {pct(corr)} for the corrected resampled t-test and {pct(bf)} for the "
        f"corrected repeated k-fold t-test. Tests on the pooled predictions rejected in "
        f"{pct(nb)} (bootstrap over images), {pct(hb)} (hierarchical bootstrap over sites and "
        f"subjects) and {pct(mx)} (mixed model). "
    )
    if inflated:
        text += f"Above 7.5%: {', '.join(inflated)}. "
    if calibrated:
        text += f"At or below 7.5%: {', '.join(calibrated)}. "
    text += (
        f"When model A was truly better by {num(truth['alternative'], 3)} balanced accuracy, the "
        "calibrated methods detected it in "
        + ", ".join(f"{pct(power[m])} ({m})" for m in calibrated)
        + "."
    )
    expected = bool(naive_t > max(corr, 0.075) and naive_t > 2 * ALPHA and corr <= 0.09)
    new_text, new_findings = _conclude_studentised(table)
    return text + " " + new_text, findings + new_findings, expected


def _conclude_studentised(table: pd.DataFrame) -> tuple[str, list[Finding]]:
    """The studentised paired comparisons of issue 15, read beside the corrected t-tests."""
    by = table.set_index(["scenario", "method"])
    null, power = by.loc["null"], by.loc["alternative"]

    def rates(m: str) -> str:
        return f"{pct(null.loc[m, 'rejection_rate'])} / {pct(power.loc[m, 'rejection_rate'])}"

    cal = "paired calibrated (site)"
    chosen = null.loc[cal, "interval"] or "n/a"
    corr = CORRECTED[0]
    text = (
        "Type-I error / power of the studentised paired comparisons of issue 15 (`compare "
        "--method bootstrap --clusters site,subject --interval ...`, the difference "
        "studentised over sites): "
        + ", ".join(f"{m} {rates(m)}" for m in STUDENTISED)
        + f"; `calibrated` used {chosen}. Beside them the corrected t-tests over folds: "
        + ", ".join(f"{m} {rates(m)}" for m in CORRECTED)
        + ", and the paired hierarchical bootstrap "
        + rates("paired hierarchical bootstrap (site, subject)")
        + ". The two families answer different questions: a test on the pooled predictions "
        "(bootstrap, studentised or mixed model) compares the models trained in these folds on "
        "new subjects of new sites, conditional on the trained models; the corrected t-tests "
        "compare the learning algorithms, their variance including the variance due to the "
        "training set (Nadeau & Bengio 2003; Bouckaert & Frank 2004). Report the corrected "
        "t-test when the claim is about the method, a pooled-prediction test when it is about "
        "the trained models."
    )
    findings = [
        Finding(
            "type-I error / power, calibrated paired comparison",
            float(null.loc[cal, "rejection_rate"]),
            rates(cal),
        ),
        Finding(
            "type-I error / power, corrected resampled t",
            float(null.loc[corr, "rejection_rate"]),
            rates(corr),
        ),
    ]
    return text, findings


def run(params: dict[str, Any], out_dir: Path, seed: int) -> ExperimentResult:
    table, truth = simulate(params, seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    plot(table, out_dir / "type_i_error_power.png")
    text, findings, expected = conclude(table, truth)
    wide = table.pivot_table(
        index="method", columns="scenario", values="rejection_rate", sort=False
    ).reset_index()
    wide = wide.rename(columns={"null": "type-I error", "alternative": "power"})
    return ExperimentResult(
        number=NUMBER,
        slug=SLUG,
        title=TITLE,
        question=QUESTION,
        preset="",
        seed=seed,
        params={
            **params,
            "cohort": COHORT,
            "signal": SIGNAL,
            "alpha": ALPHA,
            "metric": "balanced_accuracy",
            "true_difference": truth,
        },
        table=table,
        findings=findings,
        expected=expected,
        conclusion=text,
        figures=["type_i_error_power.png"],
        sections={
            "Rejection rates": markdown_table(wide[["method", "type-I error", "power"]]),
            "Design": (
                f"{COHORT['subjects']} subjects over {COHORT['sites']} sites, "
                f"{COHORT['sessions']} sessions each; {params['repeats']} x {params['folds']}-fold "
                "cross-validation grouped by subject and stratified by class. The mixed model "
                f"(`compare --method mixed`) is fitted on the first {params['mixed_datasets']} "
                "data sets and on the first repeat only (one prediction per image). The "
                "studentised comparisons are `compare --method bootstrap --clusters "
                "site,subject --interval ...` on every repeat; `interval` in the full table "
                "names the one computed (for `calibrated`, with the regime it was chosen for)."
            ),
        },
    )
