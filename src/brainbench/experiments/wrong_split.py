"""Experiment 1: the wrong split. Sessions of one subject on both sides inflate accuracy.

Wen et al. (2020, Med. Image Anal. 63:101694) found that splitting a longitudinal cohort by
session (or slice) rather than by subject inflates the accuracy of Alzheimer's classifiers. The
same synthetic longitudinal cohort (several sessions per subject, a weak disease effect, strong
between-subject anatomy variation) is run through two benchmarks that differ only in
``splits.group``: ``spec/experiments/wrong-split-subject.yaml`` (sound) and
``wrong-split-session.yaml`` (leaky, L101 and D301 waived). The inflation is the difference of
the test balanced accuracies; the truth is that the subject split estimates what a new patient
would get.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from brainbench.experiments._benchmark import (
    ci_text,
    make_cohort,
    run_arms,
    work_folder,
)
from brainbench.experiments._common import ExperimentResult, Finding, markdown_table, num

NUMBER = 1
SLUG = "wrong-split"
TITLE = "Wrong split: sessions of a subject on both sides"
QUESTION = (
    "How much does a session-level split of a longitudinal cohort inflate balanced accuracy "
    "compared with a subject-level split of the same data?"
)
ARMS = {"subject-level split": "wrong-split-subject.yaml",
        "session-level split (leaky)": "wrong-split-session.yaml"}  # fmt: skip
PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "subjects": 60,
        "sites": 3,
        "sessions": 3,
        "models": ["demographics-logreg", "voxel-linear"],
        "resamples": 1000,
    },
    "full": {
        "subjects": 120,
        "sites": 4,
        "sessions": 3,
        "models": ["demographics-logreg", "voxel-linear", "cnn3d-small"],
        "max_epochs": 8,
        "resamples": 2000,
    },
}
#: A modest disease effect; each subject's anatomy (and so each of their sessions) is unique.
COHORT: dict[str, Any] = {
    "resolution": 4.0,
    "ad_effect": 0.5,
    "ad_progression": 0.03,
    "anatomy_variation": 1.0,
}


def cohort_config(params: dict[str, Any], seed: int):
    from brainbench.synth import SynthConfig

    return SynthConfig(
        subjects=params["subjects"],
        sites=params["sites"],
        sessions=params["sessions"],
        seed=seed % 2**31,
        name="brainbench experiment 1: longitudinal cohort",
        **COHORT,
    )


def plot(table: pd.DataFrame, path: Path, metric: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = table[(table["metric"] == metric) & (table["partition"] == "test")]
    models = list(dict.fromkeys(t["model"]))
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    width = 0.38
    for j, arm in enumerate(ARMS):
        sub = t[t["arm"] == arm].set_index("model").reindex(models)
        x = np.arange(len(models)) + (j - 0.5) * width
        err = np.vstack([sub["estimate"] - sub["ci_low"], sub["ci_high"] - sub["estimate"]])
        ax.bar(x, sub["estimate"], width, yerr=err, capsize=3, label=arm,
               color="C0" if j == 0 else "C3")  # fmt: skip
    ax.axhline(0.5, color="k", lw=0.8, ls=":")
    ax.set_xticks(np.arange(len(models)))
    ax.set_xticklabels(models, fontsize=8)
    ax.set_ylim(0, 1.2)
    ax.set_ylabel(f"test {metric.replace('_', ' ')} (95% CI)")
    ax.set_title("Same cohort, same models: subject vs session split", fontsize=10)
    ax.legend(fontsize=8, loc="upper center", ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def inflation_table(table: pd.DataFrame, metric: str, sound: str, leaky: str) -> pd.DataFrame:
    t = table[(table["metric"] == metric) & (table["partition"] == "test")]
    wide = t.pivot_table(index="model", columns="arm", values="estimate", sort=False)
    out = pd.DataFrame(
        {
            "model": wide.index,
            sound: wide[sound].to_numpy(),
            leaky: wide[leaky].to_numpy(),
        }
    )
    out["inflation"] = out[leaky] - out[sound]
    return out


def conclude(table: pd.DataFrame, metric: str) -> tuple[str, list[Finding], bool, pd.DataFrame]:
    sound, leaky = list(ARMS)
    inf = inflation_table(table, metric, sound, leaky)
    image_models = inf[inf["model"] != "demographics-logreg"]
    best = image_models.sort_values("inflation", ascending=False).iloc[0]
    t = table[(table["metric"] == metric) & (table["partition"] == "test")]
    row_s = t[(t["arm"] == sound) & (t["model"] == best["model"])].iloc[0]
    row_l = t[(t["arm"] == leaky) & (t["model"] == best["model"])].iloc[0]
    findings = [
        Finding(f"{best['model']}, subject split", float(best[sound]), num(best[sound])),
        Finding(f"{best['model']}, session split", float(best[leaky]), num(best[leaky])),
        Finding("inflation", float(best["inflation"]), f"+{num(best['inflation'])}"),
    ]
    text = (
        f"On the same longitudinal cohort, {best['model']} reached a test balanced accuracy of "
        f"{ci_text(row_l)} when the split was by session, against {ci_text(row_s)} when it was "
        f"by subject"
        + (
            " (an interval that contains chance)"
            if row_s["ci_low"] <= 0.5 <= row_s["ci_high"]
            else ""
        )
        + f": an inflation of {best['inflation']:+.3f}. "
    )
    others = [f"{r.model} {r.inflation:+.3f}" for r in inf.itertuples() if r.model != best["model"]]
    if others:
        text += "Other models: " + ", ".join(others) + ". "
    text += (
        "The leaky split lets a model recognise a test subject from their other sessions in "
        "training instead of recognising the disease; the validator rejects such a spec (L101) "
        "unless it is waived, as it is here on purpose."
    )
    expected = bool(best["inflation"] > 0.05)
    return text, findings, expected, inf


def run(params: dict[str, Any], out_dir: Path, seed: int) -> ExperimentResult:
    out_dir.mkdir(parents=True, exist_ok=True)
    metric = "balanced_accuracy"
    with work_folder(SLUG) as work:
        data = work / "data"
        make_cohort(data / "longitudinal", cohort_config(params, seed))
        table, notes = run_arms(
            ARMS,
            params["models"],
            data,
            work,
            out_dir,
            resamples=params["resamples"],
            seed=seed,
            max_epochs=params.get("max_epochs"),
        )
    plot(table, out_dir / "wrong_split.png", metric)
    text, findings, expected, inf = conclude(table, metric)
    return ExperimentResult(
        number=NUMBER,
        slug=SLUG,
        title=TITLE,
        question=QUESTION,
        preset="",
        seed=seed,
        params={**params, "cohort": COHORT, "specs": ARMS},
        table=table,
        findings=findings,
        expected=expected,
        conclusion=text,
        figures=["wrong_split.png"],
        sections={
            "Inflation (test balanced accuracy)": markdown_table(inf),
            "Benchmarks": (
                "Specs: "
                + ", ".join(f"`spec/experiments/{s}`" for s in ARMS.values())
                + ". Each arm's predictions, provenance, leakage audit and split table are in "
                "`runs/<spec>/`. Evidence sheet: "
                + notes.get("report", "evidence/")
                + ". Intervals: the spec's hierarchical bootstrap (site, subject), image-level "
                "metrics pooled over the five folds."
            ),
        },
    )
