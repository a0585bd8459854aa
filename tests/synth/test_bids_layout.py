"""The tiny preset writes a BIDS folder that a BIDS reader (and brainbench.cohort) can use."""

import hashlib
import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from brainbench.synth import TRUTH_DIR, load_truth

SCANNER_FIELDS = (
    "Manufacturer",
    "ManufacturersModelName",
    "MagneticFieldStrength",
    "InstitutionName",
    "DeviceSerialNumber",
    "StationName",
)


def test_dataset_files(tiny):
    root = tiny.path
    desc = json.loads((root / "dataset_description.json").read_text())
    assert desc["BIDSVersion"].startswith("1.")
    assert desc["DatasetType"] == "raw"
    assert desc["Name"]
    assert desc["GeneratedBy"][0]["Name"] == "brainbench.synth"
    assert (root / "README").read_text().strip()
    deriv = json.loads((root / TRUTH_DIR / "dataset_description.json").read_text())
    assert deriv["DatasetType"] == "derivative"
    assert json.loads((root / "participants.json").read_text())["age"]["Units"] == "year"


def test_participants_tsv(tiny):
    df = pd.read_csv(tiny.path / "participants.tsv", sep="\t")
    assert list(df.columns) == ["participant_id", "age", "sex", "diagnosis", "site"]
    assert len(df) == 8
    assert df["participant_id"].is_unique
    assert df["participant_id"].str.fullmatch(r"sub-[0-9A-Za-z]+").all()
    assert set(df["sex"]) <= {"M", "F"}
    assert set(df["diagnosis"]) == {"CN", "AD"}  # tiny still holds both classes
    assert df["site"].nunique() == 2
    assert df["age"].between(55, 90).all()
    assert sorted(p.name for p in tiny.path.glob("sub-*")) == sorted(df["participant_id"])


def test_sessions_and_images(tiny):
    root = tiny.path
    participants = pd.read_csv(root / "participants.tsv", sep="\t").set_index("participant_id")
    site_of_serial: dict[str, str] = {}
    n_images = 0
    for sub, row in participants.iterrows():
        sessions = pd.read_csv(root / sub / f"{sub}_sessions.tsv", sep="\t")
        assert list(sessions.columns) == [
            "session_id",
            "acq_order",
            "age",
            "months_since_baseline",
        ]
        assert list(sessions["session_id"]) == ["ses-M000", "ses-M012"]
        assert list(sessions["acq_order"]) == [1, 2]
        assert sessions["age"].iloc[0] == row["age"]
        assert sessions["age"].is_monotonic_increasing
        assert sorted(p.name for p in (root / sub).glob("ses-*")) == list(sessions["session_id"])
        for ses in sessions["session_id"]:
            anat = root / sub / ses / "anat"
            image = anat / f"{sub}_{ses}_T1w.nii.gz"
            sidecar = json.loads((anat / f"{sub}_{ses}_T1w.json").read_text())
            for key in SCANNER_FIELDS:
                assert key in sidecar, key
            assert sidecar["InstitutionName"] == row["site"]
            assert sidecar["MagneticFieldStrength"] in (1.5, 3.0)
            # a scanner (serial number) belongs to one site
            assert (
                site_of_serial.setdefault(sidecar["DeviceSerialNumber"], row["site"]) == row["site"]
            )
            img = nib.load(image)
            assert img.shape == (50, 59, 48)
            assert img.get_data_dtype() == np.int16
            np.testing.assert_allclose(img.affine[:3, :3], np.diag([4.0, 4.0, 4.0]))
            np.testing.assert_allclose(img.affine[:3, 3], [-98.0, -134.0, -72.0])
            assert img.header.get_xyzt_units()[0] == "mm"
            data = np.asarray(img.dataobj)
            assert data.min() >= 0 and data.max() > 300
            assert 0.1 < (data > 0).mean() < 0.5  # a skull-stripped brain, not noise or empty
            n_images += 1
    assert n_images == tiny.n_images == 16
    # the first site has `scanners_per_site` (2) scanners
    assert len(site_of_serial) >= 3


def test_truth_files(tiny):
    truth, table = load_truth(tiny.path)
    assert truth["generator"]["name"] == "brainbench.synth"
    assert truth["seed"] == tiny.config.seed
    assert truth["config"] == tiny.config.to_dict()
    assert truth["counts"]["images"] == len(table) == 16
    assert truth["effects"]["ad"]["cohens_d_baseline_mta_gm_ml"] < 0
    assert {r["name"] for r in truth["effects"]["ad"]["regions"]} >= {
        "hippocampus_left",
        "hippocampus_right",
    }
    # the table agrees with the files it describes
    for row in table.itertuples():
        digest = hashlib.sha256((tiny.path / row.image).read_bytes()).hexdigest()
        assert digest == row.sha256
    assert (table["affected"] == (table["diagnosis"] != "CN")).all()
    assert sorted(truth["affected"]) == sorted(
        table.loc[table["affected"], "participant_id"].unique()
    )
    subjects = {s["participant_id"]: s for s in truth["subjects"]}
    for row in table.itertuples():
        sessions = {x["session_id"]: x for x in subjects[row.participant_id]["sessions"]}
        assert sessions[row.session_id]["ad_atrophy"] == pytest.approx(row.ad_atrophy)
    scanner_ids = {s["scanner_id"] for s in truth["scanners"]}
    assert set(table["scanner_id"]) <= scanner_ids
    for scanner in truth["scanners"]:
        assert scanner["scanner_id"].startswith(scanner["site"])


def test_result_object(tiny):
    assert tiny.n_subjects == 8
    assert list(tiny.participants.columns) == ["participant_id", "age", "sex", "diagnosis", "site"]
    assert tiny.truth_dir == tiny.path / TRUTH_DIR
    assert "SynthResult(" in repr(tiny)


def test_load_truth_refuses_other_folders(tmp_path):
    from brainbench.errors import UserError

    with pytest.raises(UserError, match="not a cohort written by brainbench synth"):
        load_truth(tmp_path)
