"""The shipped CAPS benchmarks on synthetic stand-ins with ClinicaDL's layout (CAPS + get-labels
TSV written by ``brainbench synth --layout caps``): validate --data, dry-run, run."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import pandas as pd
import pytest

from brainbench.cli import main
from brainbench.runner._api import run_benchmark
from brainbench.synth import SynthConfig, generate_cohort
from brainbench.synth._caps import CAPS_DIR, LABELS_FILE
from brainbench.validate.engine import validate_path

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "spec" / "benchmarks"
STAND_INS = {
    # cohort: (disease, subjects, sessions, seed, class proportions)
    "ADNI": ("mci", 40, 4, 0, (0.25, 0.5, 0.25)),
    "AIBL": ("mci", 20, 4, 1, (0.25, 0.5, 0.25)),
    "OASIS": ("ad", 12, 1, 2, None),
    "PPMI": ("pd", 20, 1, 3, None),
}


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory) -> dict[str, str]:
    """One CAPS stand-in per cohort; the environment variables the shipped specs read."""
    root = tmp_path_factory.mktemp("caps")
    env = {}
    for name, (disease, subjects, sessions, seed, props) in STAND_INS.items():
        config = SynthConfig.preset(
            "tiny",
            disease=disease,
            subjects=subjects,
            sessions=sessions,
            seed=seed,
            resolution=8.0,
            class_proportions=props,
            mci_conversion=0.6,
        )
        generate_cohort(root / name, config, layout="caps")
        env[f"{name}_CAPS"] = str(root / name / CAPS_DIR)
        env[f"{name}_LABELS"] = str(root / name / CAPS_DIR / LABELS_FILE)
    return env


@pytest.mark.parametrize("name", ["smci-vs-pmci-caps", "ad-vs-cn-caps", "pd-vs-hc-caps"])
def test_shipped_caps_benchmarks_validate_on_stand_ins(name, stand_ins, monkeypatch):
    for key, value in stand_ins.items():
        monkeypatch.setenv(key, value)
    result, unreadable = validate_path(BENCHMARKS / f"{name}.yaml", data=True)
    assert not unreadable and result.valid, [f.message for f in result.findings]


def test_smci_vs_pmci_runs_end_to_end(stand_ins, monkeypatch, tmp_path, capsys):
    for key, value in stand_ins.items():
        monkeypatch.setenv(key, value)
    spec = BENCHMARKS / "smci-vs-pmci-caps.yaml"
    with pytest.raises(SystemExit) as info:
        main(["run", str(spec), "-m", "demographics-logreg", "--dry-run"])
    dry = capsys.readouterr().out
    assert info.value.code == 0, dry
    # The header shape of the CAPS images (8 mm stand-ins), not the default 45 x 54 x 45.
    image = next(Path(stand_ins["ADNI_CAPS"]).glob("subjects/*/ses-M000/t1_linear/*.nii.gz"))
    shape = list(nib.load(image).shape)
    assert shape != [45, 54, 45] and f"on images {shape}" in dry, dry

    run = run_benchmark(
        spec, ["demographics-logreg"], out=tmp_path / "run", seeds=1, device="cpu", quiet=True
    )
    assert not run.failed
    validation = json.loads((tmp_path / "run" / "validation.json").read_text())
    derived = [f["message"] for f in validation["findings"] if "derived-label" in f["message"]]
    assert any("within 36 months" in m and "excluded" in m for m in derived), derived
    plan = json.loads((tmp_path / "run" / "plan.json").read_text())
    assert [c["name"] for c in plan["task"]["covariates"]] == ["education", "apoe4"]
    predictions = pd.read_parquet(tmp_path / "run" / "predictions.parquet")
    assert set(predictions["y_true"].dropna()) <= {"sMCI", "pMCI"}
    assert set(predictions["partition"]) >= {"test", "aibl"} or "aibl" in set(predictions["cohort"])
    # One baseline session per subject, the labels those of the synthetic conversion months.
    cohort = pd.read_parquet(tmp_path / "run" / "cohort.parquet")
    assert (cohort.groupby(["cohort", "subject"]).size() == 1).all()
    assert set(cohort["session"]) == {"ses-M000"}
    truth = pd.read_csv(
        Path(stand_ins["ADNI_CAPS"]).parents[1] / "derivatives/brainbench-truth/truth.tsv", sep="\t"
    )
    at36 = truth[truth["session_id"] == "ses-M036"].set_index("participant_id")["diagnosis"]
    adni = cohort[cohort["cohort"] == "adni"].set_index("subject")["mci_36"]
    assert ((adni == "pMCI") == (at36.loc[adni.index] == "AD")).all()


def test_smci_vs_pmci_slice_input_runs_end_to_end(stand_ins, unit_registry, monkeypatch, tmp_path):
    """sMCI vs pMCI (36 months) from a CAPS + get-labels cohort with slice input: one
    prediction per baseline image, the slices' probabilities averaged, then per subject."""
    for key, value in stand_ins.items():
        monkeypatch.setenv(key, value)
    spec = tmp_path / "smci-slices.yaml"
    spec.write_text(
        f"extends: {BENCHMARKS / 'smci-vs-pmci-caps.yaml'}\nbrainbench: 1\n"
        "task:\n  input: {modality: T1w, unit: slice, slices: {direction: axial, mode: single}}\n"
    )
    run = run_benchmark(
        spec, ["unit-logreg"], out=tmp_path / "run", seeds=1, device="cpu", quiet=True,
        registry_root=unit_registry,
    )  # fmt: skip
    assert not run.failed
    plan = json.loads((tmp_path / "run" / "plan.json").read_text())
    assert plan["input_units"]["count"] == plan["task"]["spatial_shape"][2]
    preds = pd.read_parquet(tmp_path / "run" / "predictions.parquet")
    assert set(preds["y_true"]) == {"sMCI", "pMCI"}
    assert not preds.duplicated(["partition", "image"]).any()  # images, not slices
    assert set(preds["session"]) == {"ses-M000"}  # the baseline image of each subject
