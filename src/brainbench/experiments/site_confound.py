"""Experiment 3: site confounding. A random split rewards learning the scanner, not the disease.

When the label is unevenly spread across sites and scanners differ, a model can reach a high
score by recognising the site. A random (subject-level) split keeps every site on both sides and
rewards it; leave-site-out and an external cohort from other sites do not. The confound
baseline ``site-demographics-logreg`` (site, age and sex; no image) measures what can be learned
without anatomy, next to ``demographics-logreg`` (age and sex) and ``voxel-linear``.

Cohorts: a development cohort where each site prefers one class (``SynthConfig.confound``) with
strong scanner effects and a modest disease effect, and an external-test cohort from other
sites without confounding. Specs: ``spec/experiments/site-confound-random.yaml`` and
``site-confound-leave-site-out.yaml`` (D302 waived in both).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from brainbench.experiments._benchmark import (
    combined_registry,
    make_cohort,
    relabel,
    run_arms,
    work_folder,
)
from brainbench.experiments._common import ExperimentResult, Finding, markdown_table, num

NUMBER = 3
SLUG = "site-confounding"
TITLE = "Site confounding: random split vs leave-site-out and an external site"
QUESTION = (
    "On a cohort whose label follows the site, how much of a random split's score survives "
    "leave-site-out and an external cohort, and how much does a model that never sees an "
    "image (site + demographics) reach?"
)
ARMS = {"random split": "site-confound-random.yaml",
        "leave-site-out": "site-confound-leave-site-out.yaml"}  # fmt: skip
BASELINE = "site-demographics-logreg"
PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "subjects": 60,
        "sites": 4,
        "external_subjects": 30,
        "external_sites": 2,
        "models": [BASELINE, "demographics-logreg", "voxel-linear"],
        "resamples": 1000,
    },
    "full": {
        "subjects": 120,
        "sites": 5,
        "external_subjects": 60,
        "external_sites": 3,
        "models": [BASELINE, "demographics-logreg", "voxel-linear"],
        "resamples": 2000,
    },
}
COHORT: dict[str, Any] = {
    "resolution": 4.0,
    "sessions": 1,
    "confound": 0.9,
    "site_effect": 2.0,
    "ad_effect": 0.2,
}


def cohort_configs(params: dict[str, Any], seed: int):
    from brainbench.synth import SynthConfig

    dev = SynthConfig(
        subjects=params["subjects"],
        sites=params["sites"],
        seed=seed % 2**31,
        name="brainbench experiment 3: site-confounded cohort",
        **COHORT,
    )
    ext = dev.replace(
        subjects=params["external_subjects"],
        sites=params["external_sites"],
        seed=(seed + 1) % 2**31,
        confound=0.0,
        name="brainbench experiment 3: external cohort (other sites)",
    )
    return dev, ext


def plot(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = table[table["metric"] == "balanced_accuracy"]
    models = list(dict.fromkeys(t["model"]))
    order = ["random split (test)", "leave-site-out (test)"]
    conditions = [c for c in order if c in set(t["condition"])]
    conditions += [c for c in dict.fromkeys(t["condition"]) if c not in conditions]
    fig, ax = plt.subplots(figsize=(7.2, 3.8))
    width = 0.8 / len(conditions)
    for j, cond in enumerate(conditions):
        sub = t[t["condition"] == cond].set_index("model").reindex(models)
        x = np.arange(len(models)) + (j - (len(conditions) - 1) / 2) * width
        err = np.vstack([sub["estimate"] - sub["ci_low"], sub["ci_high"] - sub["estimate"]])
        ax.bar(x, sub["estimate"], width, yerr=err, capsize=3, label=cond)
    ax.axhline(0.5, color="k", lw=0.8, ls=":")
    ax.set_xticks(np.arange(len(models)))
    ax.set_xticklabels(models, fontsize=8)
    ax.set_ylim(0, 1.2)
    ax.set_ylabel("balanced accuracy (95% CI)")
    ax.legend(fontsize=7, loc="upper center", ncol=3)
    ax.set_title("Label confounded with site", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _condition(row: pd.Series) -> str:
    if row["partition"] == "test":
        return f"{row['arm']} (test)"
    return f"external sites ({row['arm']} models)"


def conclude(table: pd.DataFrame) -> tuple[str, list[Finding], bool, pd.DataFrame]:
    t = table[table["metric"] == "balanced_accuracy"]
    wide = t.pivot_table(index="model", columns="condition", values="estimate", sort=False)
    rnd, lso = "random split (test)", "leave-site-out (test)"
    ext = "external sites (random split models)"
    summary = pd.DataFrame(
        {
            "model": wide.index,
            "random split": wide[rnd].to_numpy(),
            "leave-site-out": wide[lso].to_numpy(),
            "external sites": wide[ext].to_numpy(),
        }
    )
    summary["drop to external"] = summary["external sites"] - summary["random split"]
    base = summary.set_index("model").loc[BASELINE]
    findings = [
        Finding(
            "site+demographics baseline, random split",
            base["random split"],
            num(base["random split"]),
        ),
        Finding(
            "same baseline, leave-site-out", base["leave-site-out"], num(base["leave-site-out"])
        ),
    ]
    text = (
        f"The label followed the site, so a model that never reads an image "
        f"({BASELINE}: site, age, sex) reached a balanced accuracy of "
        f"{num(base['random split'])} under a random subject-level split, "
        f"{num(base['leave-site-out'])} under leave-site-out and {num(base['external sites'])} "
        "on the external sites. "
    )
    parts = []
    for r in summary.itertuples():
        if r.model == BASELINE:
            continue
        parts.append(
            f"{r.model} went from {num(r._2)} (random split) to {num(r._3)} (leave-site-out) "
            f"and {num(r._4)} on external sites ({r._5:+.3f})"
        )
    if parts:
        text += "; ".join(parts) + ". "
    image = summary[summary["model"] == "voxel-linear"]
    if len(image):
        v = image.iloc[0]
        findings.append(
            Finding("voxel-linear, random split", v["random split"], num(v["random split"]))
        )
        findings.append(
            Finding("voxel-linear, external sites", v["external sites"], num(v["external sites"]))
        )
    text += (
        "A random split measures the confound as much as the disease: leave-site-out and an "
        "external cohort from other sites show what transfers, and the confound baseline says "
        "what a score must beat before it can be credited to anatomy."
    )
    expected = bool(
        base["random split"] > base["leave-site-out"] + 0.1
        and base["random split"] > base["external sites"] + 0.1
    )
    return text, findings, expected, summary


def run(params: dict[str, Any], out_dir: Path, seed: int) -> ExperimentResult:
    out_dir.mkdir(parents=True, exist_ok=True)
    dev, ext = cohort_configs(params, seed)
    with work_folder(SLUG) as work:
        data = work / "data"
        make_cohort(data / "confounded", dev)
        ext_dir = data / "external"
        fresh = not (ext_dir / ".brainbench-experiment-config").is_file()
        make_cohort(ext_dir, ext)
        if fresh or not any(ext_dir.glob("sub-X*")):
            relabel(ext_dir, "X", "X")
        registry = combined_registry(work, [BASELINE])
        table, notes = run_arms(
            ARMS,
            params["models"],
            data,
            work,
            out_dir,
            resamples=params["resamples"],
            seed=seed,
            registry_root=registry,
        )
    table["condition"] = table.apply(_condition, axis=1)
    # The external cohort is predicted by the models of both arms; keep both rows.
    plot_rows = table[
        (table["partition"] == "test") | (table["arm"] == "random split")
    ].reset_index(drop=True)
    plot(plot_rows, out_dir / "site_confounding.png")
    text, findings, expected, summary = conclude(table)
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
        figures=["site_confounding.png"],
        sections={
            "Balanced accuracy by evaluation": markdown_table(summary),
            "Benchmarks": (
                "Specs: "
                + ", ".join(f"`spec/experiments/{s}`" for s in ARMS.values())
                + f"; confound baseline `benchmarks/experiments/registry/models/{BASELINE}`. "
                "Each arm's predictions, provenance, leakage audit (D302 waived) and split "
                "table are in `runs/<spec>/`. Evidence sheet: "
                + notes.get("report", "evidence/")
                + "."
            ),
        },
    )
