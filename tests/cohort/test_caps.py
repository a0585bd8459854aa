"""CAPS folders: ClinicaDL's file names, sessions without images, label sources, covariates."""

from __future__ import annotations

from pathlib import Path

import pytest

from brainbench.cohort import CapsLayout, read_cohort
from brainbench.validate.engine import validate_path

MNI = "space-MNI152NLin2009cSym"


def touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")


def labels(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    lines = ["participant_id\tsession_id\tdiagnosis\tage\tsex"]
    lines += [f"{s}\t{t}\t{d}\t70\tF" for s, t, d in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def caps(tmp_path):
    root = tmp_path / "caps"
    t1 = root / "subjects/{s}/{t}/t1_linear"
    # Clinica < 0.8 names (with _T1w before the space entity) and >= 0.8 names.
    touch(Path(str(t1).format(s="sub-01", t="ses-M000")) /
          f"sub-01_ses-M000_T1w_{MNI}_desc-Crop_res-1x1x1_T1w.nii.gz")  # fmt: skip
    touch(Path(str(t1).format(s="sub-02", t="ses-M000")) /
          f"sub-02_ses-M000_{MNI}_desc-Crop_res-1x1x1_T1w.nii.gz")  # fmt: skip
    # Only the uncropped image for sub-03.
    touch(Path(str(t1).format(s="sub-03", t="ses-M000")) /
          f"sub-03_ses-M000_T1w_{MNI}_res-1x1x1_T1w.nii.gz")  # fmt: skip
    pet = root / "subjects/sub-01/ses-M000/pet_linear"
    touch(pet / f"sub-01_ses-M000_trc-18FFDG_pet_{MNI}_desc-Crop_res-1x1x1_suvr-pons2_pet.nii.gz")
    touch(pet / f"sub-01_ses-M000_trc-18FAV45_{MNI}_desc-Crop_res-1x1x1_suvr-pons2_pet.nii.gz")
    return root


def test_t1_linear_names_of_both_clinica_generations(caps, tmp_path):
    tsv = labels(tmp_path / "l.tsv", [("sub-01", "ses-M000", "CN"), ("sub-02", "ses-M000", "AD")])
    ct = read_cohort(tsv, images=CapsLayout(caps))
    assert ct.table["image"].tolist() == [
        f"subjects/sub-01/ses-M000/t1_linear/sub-01_ses-M000_T1w_{MNI}_desc-Crop_res-1x1x1_T1w.nii.gz",
        f"subjects/sub-02/ses-M000/t1_linear/sub-02_ses-M000_{MNI}_desc-Crop_res-1x1x1_T1w.nii.gz",
    ]
    assert ct.table["image_path"].map(lambda p: Path(p).is_file()).all()
    assert not [f for f in ct.findings if f.severity.value == "error"]


def test_a_session_without_its_image_is_a_finding_with_the_path_looked_for(caps, tmp_path):
    tsv = labels(
        tmp_path / "l.tsv",
        [("sub-01", "ses-M000", "CN"), ("sub-03", "ses-M000", "AD"), ("sub-04", "ses-M012", "AD")],
    )
    ct = read_cohort(tsv, images=CapsLayout(caps))
    assert ct.table["subject"].tolist() == ["sub-01"]  # the others are left out
    (missing,) = [f for f in ct.findings if f.rule == "cohort/missing-image"]
    assert missing.severity.value == "error" and missing.file == str(tsv) and missing.line == 3
    assert "2 session(s)" in missing.message and "lines 3, 4" in missing.message
    looked = (
        caps
        / "subjects/sub-03/ses-M000/t1_linear"
        / (f"sub-03_ses-M000_{MNI}_desc-Crop_res-1x1x1_T1w.nii.gz")
    )
    assert str(looked) in missing.message
    # crop: false reads sub-03's uncropped image
    ct = read_cohort(tsv, images=CapsLayout(caps, crop=False))
    assert ct.table["subject"].tolist() == ["sub-03"]


def test_pet_linear_tracer_and_suvr_region(caps, tmp_path):
    tsv = labels(tmp_path / "l.tsv", [("sub-01", "ses-M000", "CN")])
    for tracer in ("18FFDG", "18FAV45"):
        layout = CapsLayout(caps, "pet-linear", tracer=tracer, suvr_region="pons2")
        ct = read_cohort(tsv, images=layout)
        assert f"trc-{tracer}" in ct.table["image"].iloc[0]
    layout = CapsLayout(caps, "pet-linear", tracer="18FFDG", suvr_region="cerebellumPons2")
    ct = read_cohort(tsv, images=layout)
    assert ct.table.empty and any(f.rule == "cohort/missing-image" for f in ct.findings)


def test_several_matching_images_say_which_one_was_taken(caps, tmp_path):
    folder = caps / "subjects/sub-02/ses-M000/t1_linear"
    touch(folder / f"sub-02_ses-M000_T1w_{MNI}_desc-Crop_res-1x1x1_T1w.nii.gz")
    tsv = labels(tmp_path / "l.tsv", [("sub-02", "ses-M000", "AD")])
    ct = read_cohort(tsv, images=CapsLayout(caps))
    (several,) = [f for f in ct.findings if f.rule == "cohort/several-images"]
    assert several.severity.value == "warning" and "took sub-02_ses-M000_T1w_" in several.message


SPEC = """\
brainbench: 1
id: caps-test
version: 1.0.0
title: t
task: {{type: classification, target: diagnosis, classes: [CN, AD]}}
covariates: [{{name: mmse, type: numeric}}]
cohorts:
  - id: c
    role: development
    source: {{format: caps, path: caps, preprocessing: t1-linear, {source}}}
splits: {{group: subject, test: {{method: holdout, size: 0.5}}, seed: 1,
  validation: {{method: holdout, size: 0.5}}}}
protocol: {{primary_metric: balanced_accuracy, confidence: {{method: bootstrap}}}}
"""


def test_validate_data_reports_missing_images_and_covariates(caps, tmp_path):
    labels(tmp_path / "l.tsv", [("sub-01", "ses-M000", "CN"), ("sub-09", "ses-M000", "AD")])
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(source="labels: l.tsv"))
    result, unreadable = validate_path(spec, data=True)
    assert not unreadable and not result.valid
    messages = [f.message for f in result.findings if f.rule == "D300"]
    assert any("cohort/missing-image" in m and "sub-09/ses-M000" in m for m in messages)
    assert any("covariate 'mmse' is not a column of cohort 'c'" in m for m in messages)


def test_companion_bids_gives_the_sessions_and_covariates(caps, tmp_path, bids):
    root = bids(
        {
            "sub-01": {"diagnosis": "CN", "mmse": 29, "sessions": ["ses-M000"]},
            "sub-02": {"diagnosis": "AD", "mmse": 21, "sessions": ["ses-M000"]},
        }
    )
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(source=f"bids: {root}"))
    result, unreadable = validate_path(spec, data=True)
    errors = [f.message for f in result.findings if f.severity.value == "error"]
    assert not unreadable and not [m for m in errors if m.startswith("cohort/")], errors
    ct = read_cohort(root, format="bids", images=CapsLayout(caps), suffixes=("T1w",))
    assert ct.table["mmse"].tolist() == [29, 21]
    assert ct.table["image"].str.startswith("subjects/").all()


def test_a_label_tsv_with_a_bids_root(tmp_path, bids):
    root = bids({"sub-01": {"sessions": ["ses-M000", "ses-M012"]}, "sub-02": {"sessions": []}})
    labels(
        tmp_path / "l.tsv",
        [("sub-01", "ses-M000", "CN"), ("sub-01", "ses-M012", "CN"), ("sub-02", "ses-M000", "AD")],
    )
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(source="").replace(
        "format: caps, path: caps, preprocessing: t1-linear, ",
        f"format: bids, path: {root}, labels: l.tsv",
    ).replace("covariates: [{name: mmse, type: numeric}]\n", ""))  # fmt: skip
    from brainbench.cohort import load_cohorts
    from brainbench.spec import load_spec

    ct = load_cohorts(load_spec(spec))
    assert ct.table["image"].tolist() == [
        "sub-01/ses-M000/anat/sub-01_ses-M000_T1w.nii.gz",
        "sub-01/ses-M012/anat/sub-01_ses-M012_T1w.nii.gz",
    ]
    (missing,) = [f for f in ct.findings if f.rule == "cohort/missing-image"]
    assert str(root / "sub-02/ses-M000/anat/sub-02_ses-M000_T1w.nii.gz") in missing.message


def test_a_label_tsv_read_as_a_manifest_is_refused(tmp_path):
    labels(tmp_path / "l.tsv", [("sub-01", "ses-M000", "CN"), ("sub-02", "ses-M000", "AD")])
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(source="").replace(
        "format: caps, path: caps, preprocessing: t1-linear, ", "format: tsv, path: l.tsv"
    ).replace("covariates: [{name: mmse, type: numeric}]\n", ""))  # fmt: skip
    result, _ = validate_path(spec, data=True)
    (f,) = [f for f in result.findings if "cohort/no-images" in f.message]
    assert f.severity.value == "error" and f.line == 9 and "format: caps" in f.hint
