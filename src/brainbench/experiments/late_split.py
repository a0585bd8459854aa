"""Experiment 2: the late split. Feature selection fitted before the split inflates accuracy.

Wen et al. (2020) list the "late split" among the leaks of Alzheimer's CNN papers: a
preprocessing step that looks at labels (feature selection) or at the test images
(normalisation statistics) is fitted on all data before it is split. Ambroise & McLachlan
(2002, PNAS 99:6562) showed how far selection bias goes when features far outnumber subjects.

Here the synthetic cohort has **no signal** (no disease effect, no age gap): whatever a model
does, its true balanced accuracy is 0.5. Both arms run the same registered model,
``voxel-select-linear`` (univariate F-test selection of k voxels inside the training folds, then
logistic regression). In the sound arm (``spec/experiments/late-split-train.yaml``) it sees the
images; in the leaky arm (``late-split-all.yaml``, L102 waived) it sees a copy of the cohort whose
images keep only the voxels most associated with the label over all subjects, test subjects
included, which is what a pipeline that selects features before splitting does.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from brainbench.experiments._benchmark import (
    ci_text,
    experiment_registry,
    make_cohort,
    run_arms,
    work_folder,
)
from brainbench.experiments._common import ExperimentResult, Finding, markdown_table, num

NUMBER = 2
SLUG = "late-split"
TITLE = "Late split: feature selection fitted on all data"
QUESTION = (
    "On labels that carry no signal (true balanced accuracy 0.5), how far above chance does a "
    "voxel selection fitted on all data before the split push the estimate?"
)
ARMS = {"selection on training folds": "late-split-train.yaml",
        "selection on all data (leaky)": "late-split-all.yaml"}  # fmt: skip
MODEL = "voxel-select-linear"
PRESETS: dict[str, dict[str, Any]] = {
    "quick": {"subjects": 50, "sites": 2, "preselect": 500, "resamples": 1000},
    "full": {"subjects": 120, "sites": 3, "preselect": 500, "resamples": 2000},
}
#: No disease effect at all: the labels are independent of the images.
COHORT: dict[str, Any] = {
    "resolution": 4.0,
    "sessions": 1,
    "ad_effect": 0.0,
    "ad_progression": 0.0,
    "age_gap": 0.0,
}


def cohort_config(params: dict[str, Any], seed: int):
    from brainbench.synth import SynthConfig

    return SynthConfig(
        subjects=params["subjects"],
        sites=params["sites"],
        seed=seed % 2**31,
        name="brainbench experiment 2: cohort without signal",
        **COHORT,
    )


def preselect(source: Path, dest: Path, keep: int) -> dict[str, Any]:
    """Copy the BIDS cohort ``source`` to ``dest`` keeping, in every image, only the ``keep``
    voxels with the largest ANOVA F statistic between classes computed over *all* subjects
    (the leak); every other voxel is set to 0."""
    import nibabel as nib
    from sklearn.feature_selection import f_classif

    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(source, dest)
    participants = pd.read_csv(dest / "participants.tsv", sep="\t")
    label = dict(zip(participants["participant_id"], participants["diagnosis"], strict=True))
    files = sorted(dest.glob("sub-*/ses-*/anat/*_T1w.nii*"))
    images = [nib.load(f) for f in files]
    data = np.stack([np.asarray(img.dataobj, dtype=np.float32).ravel() for img in images])
    y = np.array([label[f.name.split("_")[0]] for f in files])
    brain = data.mean(axis=0) > 0
    z = data[:, brain]
    z = (z - z.mean(axis=1, keepdims=True)) / z.std(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        f, _ = f_classif(z, y)
    f = np.nan_to_num(f, nan=0.0)
    top = np.argsort(f)[::-1][:keep]
    selected = np.zeros(data.shape[1], dtype=bool)
    selected[np.flatnonzero(brain)[top]] = True
    for path, img, row in zip(files, images, data, strict=True):
        new = np.where(selected, row, 0).reshape(img.shape).astype(img.get_data_dtype())
        nib.save(nib.Nifti1Image(new, img.affine, img.header), path)
    return {"voxels_in_brain": int(brain.sum()), "voxels_kept": int(selected.sum()),
            "images": len(files)}  # fmt: skip


def plot(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = table[table["partition"] == "test"]
    metrics = list(dict.fromkeys(t["metric"]))
    fig, ax = plt.subplots(figsize=(5.6, 3.4))
    width = 0.38
    for j, arm in enumerate(ARMS):
        sub = t[t["arm"] == arm].set_index("metric").reindex(metrics)
        x = np.arange(len(metrics)) + (j - 0.5) * width
        err = np.vstack([sub["estimate"] - sub["ci_low"], sub["ci_high"] - sub["estimate"]])
        ax.bar(
            x,
            sub["estimate"],
            width,
            yerr=err,
            capsize=3,
            label=arm,
            color="C0" if j == 0 else "C3",
        )
    ax.axhline(0.5, color="k", lw=1, ls="--", label="truth (no signal)")
    ax.set_xticks(np.arange(len(metrics)))
    ax.set_xticklabels([m.replace("_", " ") for m in metrics])
    ax.set_ylim(0, 1.2)
    ax.set_ylabel(f"test estimate, {MODEL} (95% CI)")
    ax.legend(fontsize=8, loc="upper center", ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def conclude(table: pd.DataFrame) -> tuple[str, list[Finding], bool]:
    sound, leaky = list(ARMS)
    t = table[(table["partition"] == "test") & (table["metric"] == "balanced_accuracy")]
    s = t[t["arm"] == sound].iloc[0]
    lk = t[t["arm"] == leaky].iloc[0]
    inflation = lk["estimate"] - s["estimate"]
    findings = [
        Finding("selection on training folds", float(s["estimate"]), num(s["estimate"])),
        Finding("selection on all data", float(lk["estimate"]), num(lk["estimate"])),
        Finding("truth", 0.5, "0.500"),
    ]
    covers = s["ci_low"] <= 0.5 <= s["ci_high"]
    excludes = not (lk["ci_low"] <= 0.5 <= lk["ci_high"])
    text = (
        f"The labels carried no signal, so the true balanced accuracy is 0.5. With voxel "
        f"selection fitted inside the training folds, {MODEL} scored {ci_text(s)}"
        + (" (the interval contains the truth)" if covers else " (the interval misses the truth)")
        + f"; with the same selection fitted on all subjects before the split it scored "
        f"{ci_text(lk)}, {inflation:+.3f} above"
        + (
            ", an interval that excludes chance: a publishable-looking result built from noise. "
            if excludes
            else ". "
        )
        + "Any step that looks at labels (or test images) must be fitted inside the training "
        "folds; the validator's L102 rejects specs that declare otherwise."
    )
    expected = bool(inflation > 0.1 and lk["estimate"] > 0.6)
    return text, findings, expected


def run(params: dict[str, Any], out_dir: Path, seed: int) -> ExperimentResult:
    out_dir.mkdir(parents=True, exist_ok=True)
    with work_folder(SLUG) as work:
        data = work / "data"
        make_cohort(data / "null", cohort_config(params, seed))
        selection = preselect(data / "null", data / "null-preselected", params["preselect"])
        table, notes = run_arms(
            ARMS,
            [MODEL],
            data,
            work,
            out_dir,
            resamples=params["resamples"],
            seed=seed,
            registry_root=experiment_registry(),
        )
    plot(table, out_dir / "late_split.png")
    text, findings, expected = conclude(table)
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
            "specs": ARMS,
            "model": MODEL,
            "selection": selection,
        },
        table=table,
        findings=findings,
        expected=expected,
        conclusion=text,
        figures=["late_split.png"],
        sections={
            "Test estimates": markdown_table(
                table[["arm", "metric", "estimate", "ci_low", "ci_high", "n_units"]]
            ),
            "Benchmarks": (
                "Specs: "
                + ", ".join(f"`spec/experiments/{s}`" for s in ARMS.values())
                + f"; model entry `benchmarks/experiments/registry/models/{MODEL}`. The leaky "
                f"copy keeps {selection['voxels_kept']} of {selection['voxels_in_brain']} brain "
                "voxels, chosen by an F test over all subjects. Each arm's predictions, "
                "provenance, leakage audit and split table are in `runs/<spec>/`. Evidence "
                "sheet: " + notes.get("report", "evidence/") + "."
            ),
        },
    )
