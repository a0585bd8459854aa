"""Segmentation units end to end: masks in and out, per-case metrics by the runner, sealed
reference masks (a hostile entry), and outputs that break the mask contract."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from tests.runner.conftest import HERE, REPO
from tests.runner.seg_cohort import write_seg_cohort, write_seg_spec

pytest.importorskip("brainbench.segmentation")

FAULTY = ("float", "label", "shape")
COLUMNS = [
    "model", "repeat", "fold", "seed", "partition", "cohort", "dataset", "site", "scanner",
    "subject", "session", "image", "label", "label_value", "metric", "tolerance_mm", "value",
    "status", "reference_voxels", "predicted_voxels", "mask", "mask_sha256",
]  # fmt: skip


@pytest.fixture(scope="module")
def seg_data(tmp_path_factory) -> Path:
    return write_seg_cohort(tmp_path_factory.mktemp("seg") / "data", subjects=8, sessions=2)


@pytest.fixture(scope="module")
def seg_spec(seg_data) -> Path:
    return write_seg_spec(seg_data.parent, seg_data)


@pytest.fixture(scope="module")
def seg_registry(tmp_path_factory, seg_data) -> Path:
    """threshold-seg (the real entry), seg-hostile and seg-faulty-<mode>."""
    root = tmp_path_factory.mktemp("seg-registry")
    models = root / "models"
    models.mkdir()
    (models / "threshold-seg").symlink_to(REPO / "registry" / "models" / "threshold-seg")
    template = (HERE / "registry" / "entry.yaml.in").read_text()
    template = template.replace("[classification, regression]", "[segmentation]")
    code = (HERE / "registry" / "seg_hostile.py").read_text()
    code = code.replace('GUESS = "/tmp"  # replaced by the tests', f'GUESS = "{seg_data}"')
    entries = {"seg-hostile": code}
    entries.update(
        {f"seg-faulty-{m}": (HERE / "registry" / "seg_faulty.py").read_text() for m in FAULTY}
    )
    for entry_id, text in entries.items():
        folder = models / entry_id
        folder.mkdir()
        (folder / "model.yaml").write_text(
            template.replace("{id}", entry_id).replace("{description}", "Segmentation tests.")
        )
        (folder / "model.py").write_text(text)
    return root


def _run(spec, registry, out, models, *, seal=True):
    from brainbench.runner import run_benchmark

    return run_benchmark(
        spec, models, out=out, seeds=1, device="cpu", registry_root=registry, seal=seal, workers=2
    )


@pytest.fixture(scope="module")
def seg_run(seg_spec, seg_registry, tmp_path_factory):
    out = tmp_path_factory.mktemp("seg-run") / "run"
    models = ["threshold-seg", "seg-hostile", *(f"seg-faulty-{m}" for m in FAULTY)]
    return _run(seg_spec, seg_registry, out, models)


def _log(run, model: str) -> str:
    (unit,) = [u for u in run.units if u["model"] == model]
    return (run.run_dir / unit["log"]).read_text()


def test_case_metrics_table_follows_the_contract(seg_run):
    run_dir = seg_run.run_dir
    ok = {u["model"] for u in seg_run.units if u["status"] == "ok"}
    assert ok == {"threshold-seg", "seg-hostile"}, seg_run.failed
    assert not (run_dir / "predictions.parquet").exists()
    df = pd.read_parquet(run_dir / "case_metrics.parquet")
    assert list(df.columns) == COLUMNS
    for col in ("repeat", "fold", "seed", "label_value", "reference_voxels", "predicted_voxels"):
        assert df[col].dtype == np.int64, col
    assert df["value"].dtype == np.float64 and df["tolerance_mm"].dtype == np.float64
    assert set(df["metric"]) == {"dice", "hd95", "nsd", "abs-volume-error", "lesion-f1"}
    nsd = df["metric"] == "nsd"
    assert (df.loc[nsd, "tolerance_mm"] == 2.0).all() and df.loc[~nsd, "tolerance_mm"].isna().all()
    # lesion-f1 is a detection metric: scored on the lesion label only
    assert set(df.loc[df["metric"] == "lesion-f1", "label"]) == {"wmh"}
    splits = pd.read_csv(run_dir / "splits.tsv", sep="\t", dtype=str)
    scored = splits[splits["partition"] != "train"]
    per_image = 4 * 4 + 1  # dice, hd95, nsd, abs-volume-error on 4 labels; lesion-f1 on wmh
    threshold = df[df["model"] == "threshold-seg"]
    assert len(threshold) == len(scored) * per_image
    assert set(threshold["partition"]) == set(scored["partition"])
    assert set(threshold["subject"]) == set(scored["subject"])
    ok = threshold["status"] == "ok"
    assert threshold.loc[ok, "value"].notna().all()
    dice = threshold[(threshold["metric"] == "dice") & (threshold["label"] != "wmh")]
    assert dice["value"].min() > 0.8  # the tissue classes are separable by intensity
    resolved = json.loads((run_dir / "spec.resolved.json").read_text())
    assert resolved["task"]["type"] == "segmentation"


def test_predicted_masks_are_nifti_with_the_image_affine_hashed_in_provenance(seg_run, seg_data):
    run_dir = seg_run.run_dir
    df = pd.read_parquet(run_dir / "case_metrics.parquet")
    prov = json.loads((run_dir / "provenance.json").read_text())
    assert prov["integrity"]["ok"]
    table = run_dir / "case_metrics.parquet"
    assert prov["case_metrics_sha256"] == hashlib.sha256(table.read_bytes()).hexdigest()
    masks = dict(df[["mask", "mask_sha256"]].drop_duplicates().itertuples(index=False))
    assert prov["masks"] == masks
    row = df[(df["model"] == "threshold-seg") & (df["label"] == "wmh") & (df["metric"] == "dice")]
    row = row[row["status"] == "ok"].iloc[0]
    path = run_dir / row["mask"]
    assert row["mask"].startswith("masks/threshold-seg/r0-f0-s0/")
    assert row["mask"].endswith("_T1w_pred.nii.gz")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == row["mask_sha256"]
    pred = nib.load(path)
    stem = Path(row["mask"]).name.removesuffix("_T1w_pred.nii.gz")
    anat = seg_data / row["subject"] / row["session"] / "anat"
    image = nib.load(anat / f"{stem}_T1w.nii.gz")
    ref = np.asarray(nib.load(
        seg_data / "derivatives/reference" / row["subject"] / row["session"] / "anat"
        / f"{stem}_dseg.nii.gz"
    ).dataobj)  # fmt: skip
    assert pred.get_data_dtype() == np.uint8
    np.testing.assert_allclose(pred.affine, image.affine)
    p, r = np.asarray(pred.dataobj) == 4, ref == 4
    assert row["value"] == pytest.approx(2 * (p & r).sum() / (p.sum() + r.sum()))
    assert row["reference_voxels"] == r.sum() and row["predicted_voxels"] == p.sum()


def test_sealed_hostile_entry_never_obtains_test_masks(seg_run):
    log = _log(seg_run, "seg-hostile")
    assert "ROUTE crawl: 0 mask file(s) read" in log
    assert "ROUTE channel-train: ok" in log  # training masks are the model's to read
    assert "ROUTE channel-test: refused" in log
    assert "asked for a reference mask it may not see" in log
    df = pd.read_parquet(seg_run.run_dir / "case_metrics.parquet")
    # validation masks are the model's (it fits with them); the test masks never reach it
    hostile = df[(df["model"] == "seg-hostile") & (df["partition"] == "test")]
    assert len(hostile) and (hostile["predicted_voxels"] == 0).all()


def test_unsealed_hostile_crawl_reads_masks_positive_control(seg_spec, seg_registry, tmp_path):
    run = _run(seg_spec, seg_registry, tmp_path / "run", ["seg-hostile"], seal=False)
    log = _log(run, "seg-hostile")
    assert "ROUTE crawl: 0 mask" not in log and "ROUTE crawl:" in log
    assert "ROUTE channel-test: refused" in log  # the runner refuses it, sealed or not
    df = pd.read_parquet(run.run_dir / "case_metrics.parquet")
    test = df[df["partition"] == "test"]
    assert (test["predicted_voxels"] > 0).any()  # it predicted what it read from disk


def test_masks_breaking_the_contract_fail_their_unit(seg_run):
    errors = {
        u["model"].removeprefix("seg-faulty-"): u["error"]
        for u in seg_run.units
        if u["model"].startswith("seg-faulty-")
    }
    assert set(errors) == set(FAULTY)
    assert "dtype float32, expected integers" in errors["float"]
    assert "value(s) 9 that are not labels of the task" in errors["label"]
    assert "(0 = background, 1 = csf, 2 = gray-matter" in errors["label"]
    assert re.search(r"shape \((\d+), 3, 3, 3\), expected \(\1, 16, 16, 16\)", errors["shape"])


def test_reference_mask_with_undeclared_label_fails_with_the_file(seg_registry, tmp_path):
    data = write_seg_cohort(tmp_path / "data", subjects=6, sessions=1)
    bad = data / "derivatives/reference/sub-01/ses-1/anat/sub-01_ses-1_dseg.nii.gz"
    img = nib.load(bad)
    arr = np.asarray(img.dataobj).copy()
    arr[0, 0, 0] = 7
    nib.save(nib.Nifti1Image(arr, img.affine), bad)
    spec = write_seg_spec(tmp_path, data)
    run = _run(spec, seg_registry, tmp_path / "run", ["threshold-seg"])
    (unit,) = run.units
    assert unit["status"] == "failed"
    assert str(bad) in unit["error"] and "label value(s) 7" in unit["error"]


def test_a_mask_changed_after_its_unit_voids_the_run(seg_run, tmp_path):
    import shutil

    from brainbench.runner import finalize_run

    run_dir = tmp_path / "run"
    shutil.copytree(seg_run.run_dir, run_dir)
    df = pd.read_parquet(run_dir / "case_metrics.parquet")
    rel = df.loc[df["model"] == "threshold-seg", "mask"].iloc[0]
    img = nib.load(run_dir / rel)
    nib.save(nib.Nifti1Image(np.zeros(img.shape, np.uint8), img.affine), run_dir / rel)
    prov = finalize_run(run_dir)
    assert not prov["integrity"]["ok"]
    assert any(rel in p for p in prov["integrity"]["problems"])
