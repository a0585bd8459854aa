"""Segmentation specs under validation: the metric-set rule (S208) and L101 on a longitudinal
segmentation cohort."""

from __future__ import annotations

from pathlib import Path

import pytest

from brainbench.validate.engine import validate_path
from brainbench.validate.findings import Severity
from tests.runner.seg_cohort import write_seg_cohort, write_seg_spec

ROOT = Path(__file__).resolve().parents[2]
WMH = ROOT / "spec" / "benchmarks" / "wmh-segmentation.yaml"
SOUND = "metrics: [hd95, {name: nsd, tolerance_mm: 1.0}, abs-volume-error, lesion-f1]"


def _with_metrics(tmp_path: Path, metrics: str, *, lesion: bool = True) -> Path:
    text = WMH.read_text().replace(SOUND, f"metrics: {metrics}")
    if not lesion:
        text = text.replace("4: {name: wmh, kind: lesion}", "4: wmh")
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


def _s208(path: Path) -> list:
    result, unreadable = validate_path(path)
    assert not unreadable
    return [f for f in result.findings if f.rule == "S208"]


def test_sound_metric_set_passes():
    assert _s208(WMH) == []


@pytest.mark.parametrize(
    ("metrics", "lesion", "severity", "needle"),
    [
        (
            "[lesion-f1]",
            True,
            Severity.ERROR,
            "without a boundary metric and label(s) wmh",
        ),
        (
            "[iou]",
            False,
            Severity.WARNING,
            "overlap metrics (dice, iou) without a boundary",
        ),
        ("[hd, lesion-f1]", True, Severity.WARNING, "use hd95"),
        ("[hd95, nsd, lesion-f1]", True, Severity.ERROR, "nsd without a tolerance"),
        ("[hd95, abs-volume-error]", True, Severity.WARNING, "no detection metric"),
    ],
)
def test_unfit_metric_sets_are_flagged(tmp_path, metrics, lesion, severity, needle):
    path = _with_metrics(tmp_path, metrics, lesion=lesion)
    flagged = [f for f in _s208(path) if needle in f.message]
    assert len(flagged) == 1, _s208(path)
    finding = flagged[0]
    assert finding.severity == severity
    assert finding.file == str(path)
    text = path.read_text().splitlines()
    assert "metrics" in text[finding.line - 1]  # the metrics line, where the fix goes
    assert finding.path.startswith("protocol.")
    assert "Maier-Hein et al. 2024" in (finding.reference or "")


def test_nsd_as_primary_without_tolerance_points_at_the_primary_metric(tmp_path):
    path = _with_metrics(tmp_path, "[hd95, lesion-f1]")
    path.write_text(path.read_text().replace("primary_metric: dice", "primary_metric: nsd"))
    (finding,) = _s208(path)
    assert (
        finding.path == "protocol.primary_metric" and "nsd without a tolerance" in finding.message
    )


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return write_seg_cohort(tmp_path_factory.mktemp("seg") / "data", subjects=8, sessions=3)


def test_leaky_image_level_split_of_longitudinal_segmentation_is_rejected(tmp_path, cohort):
    spec = write_seg_spec(tmp_path, cohort, group="image")
    result, unreadable = validate_path(spec, data=True)
    assert not unreadable and not result.valid
    l101 = [f for f in result.findings if f.rule == "L101"]
    assert len(l101) == 1 and l101[0].severity == Severity.ERROR
    assert "finer than subject" in l101[0].message


def test_subject_level_split_of_the_same_cohort_passes(tmp_path, cohort):
    spec = write_seg_spec(tmp_path, cohort, group="subject")
    result, unreadable = validate_path(spec, data=True)
    assert not unreadable
    assert result.valid, [f.message for f in result.findings]
    assert not [f for f in result.findings if f.rule in ("L101", "D301")]


def test_missing_reference_mask_is_an_error_naming_the_image(tmp_path):
    data = write_seg_cohort(tmp_path / "data", subjects=4, sessions=1)
    mask = data / "derivatives/reference/sub-02/ses-1/anat/sub-02_ses-1_dseg.nii.gz"
    mask.unlink()
    result, _ = validate_path(write_seg_spec(tmp_path, data), data=True)
    (finding,) = [f for f in result.findings if "reference-mask" in f.message]
    assert finding.severity == Severity.ERROR and not result.valid
    assert "sub-02" in finding.message and str(mask.parent) in finding.message
    assert finding.file == str(data / "participants.tsv") and finding.line == 3


def _reference_paths(spec: Path) -> list[str]:
    from brainbench.cohort import load_cohorts
    from brainbench.spec import load_spec

    table = load_cohorts(load_spec(spec)).table
    return table["reference_path"].tolist()


def test_reference_from_a_caps_like_folder(tmp_path):
    data = write_seg_cohort(tmp_path / "data", subjects=3, sessions=2)
    caps = tmp_path / "caps"
    for mask in (data / "derivatives" / "reference").rglob("*_dseg.nii.gz"):
        sub, ses = mask.name.split("_")[:2]
        target = caps / "subjects" / sub / ses / "segmentation" / mask.name
        target.parent.mkdir(parents=True)
        target.write_bytes(mask.read_bytes())
    spec = write_seg_spec(tmp_path, data)
    spec.write_text(
        spec.read_text().replace(
            "{source: bids-derivative, path: derivatives/reference, suffix: dseg}",
            f"{{source: caps, path: {caps}}}",
        )
    )
    paths = _reference_paths(spec)
    assert len(paths) == 6 and all(p.startswith(str(caps / "subjects")) for p in paths)
    result, _ = validate_path(spec, data=True)
    assert not [f for f in result.findings if "reference" in f.message]


def test_reference_from_a_manifest_column(tmp_path):
    data = write_seg_cohort(tmp_path / "data", subjects=4, sessions=1)
    rows = ["participant_id\tsession_id\tsite\timage\tmask"]
    for sub in sorted(p.name for p in data.glob("sub-*")):
        image = f"data/{sub}/ses-1/anat/{sub}_ses-1_T1w.nii.gz"
        mask = f"data/derivatives/reference/{sub}/ses-1/anat/{sub}_ses-1_dseg.nii.gz"
        rows.append(f"{sub}\tses-1\ts{sub[-1]}\t{image}\t{mask if sub != 'sub-03' else ''}")
    (tmp_path / "manifest.tsv").write_text("\n".join(rows) + "\n")
    spec = write_seg_spec(tmp_path, data)
    text = spec.read_text()
    text = text.replace(
        "{source: bids-derivative, path: derivatives/reference, suffix: dseg}",
        "{source: column, column: mask}",
    ).replace(f"{{format: bids, path: {data}}}", "{format: tsv, path: manifest.tsv}")
    spec.write_text(text.replace("site: InstitutionName", "site: site"))
    paths = _reference_paths(spec)
    assert paths[0] == str(
        data / "derivatives/reference/sub-01/ses-1/anat/sub-01_ses-1_dseg.nii.gz"
    )
    result, _ = validate_path(spec, data=True)
    (finding,) = [f for f in result.findings if "reference-mask" in f.message]
    assert "no reference mask in column 'mask'" in finding.message and finding.line == 4


def test_reference_mask_off_the_image_grid_is_an_error(tmp_path):
    import nibabel as nib
    import numpy as np

    data = write_seg_cohort(tmp_path / "data", subjects=4, sessions=1)
    mask = data / "derivatives/reference/sub-04/ses-1/anat/sub-04_ses-1_dseg.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 8), np.uint8), np.eye(4)), mask)
    result, _ = validate_path(write_seg_spec(tmp_path, data), data=True)
    (finding,) = [f for f in result.findings if "reference-mask" in f.message]
    assert f"{mask} has shape (8, 8, 8), its image (16, 16, 16)" in finding.message
    assert finding.line == 5 and not result.valid


def test_plan_refuses_a_segmentation_benchmark_and_says_why(capsys):
    from brainbench.cli import main

    with pytest.raises(SystemExit) as info:
        main(["plan", str(WMH)])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "a segmentation benchmark is not planned" in err
