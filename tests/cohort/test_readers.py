"""BIDS inheritance, TSV/CSV manifests, hierarchy mapping and checks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from brainbench.cohort import Hierarchy, natural_key, read_cohort
from brainbench.cohort._io import read_delimited
from brainbench.errors import UserError


def test_sidecar_inheritance_nearest_level_wins(bids):
    root = bids(
        {"sub-01": {"sessions": ["ses-1"]}, "sub-02": {"sessions": ["ses-1"]}},
        sidecars={
            "T1w.json": {
                "Manufacturer": "GE",
                "MagneticFieldStrength": 1.5,
                "InstitutionName": "A",
            },
            "sub-02/sub-02_T1w.json": {"Manufacturer": "Siemens", "MagneticFieldStrength": 3.0},
            "sub-02/ses-1/anat/sub-02_ses-1_T1w.json": {"ManufacturersModelName": "Prisma"},
            "sub-01/sub-01_bold.json": {"Manufacturer": "ignored: other suffix"},
            "acq-other_T1w.json": {"Manufacturer": "ignored: entity not in the name"},
        },
    )
    t = read_cohort(root).table.set_index("subject")
    assert t.loc["sub-01", "Manufacturer"] == "GE"
    assert t.loc["sub-01", "scanner"] == "GE|n/a|1.5"
    assert t.loc["sub-02", "scanner"] == "Siemens|Prisma|3"
    assert t.loc["sub-02", "site"] == "A"


def test_hierarchy_from_sidecar_fields_and_columns(bids):
    root = bids(
        {"sub-01": {"centre": "X", "sessions": ["ses-1"]}},
        sidecars={"T1w.json": {"StationName": "S1", "DeviceSerialNumber": 42}},
    )
    h = Hierarchy(site="centre", scanner=["StationName", "DeviceSerialNumber"])
    t = read_cohort(root, hierarchy=h).table
    assert t["site"].tolist() == ["X"]
    assert t["scanner"].tolist() == ["S1|42"]


def test_manifest_tsv_with_image_column(tmp_path):
    path = tmp_path / "m.tsv"
    path.write_text(
        "participant_id\tsession_id\tdiagnosis\tage\tsex\tsite\tt1\n"
        "sub-001\tses-M00\tCN\t70\tF\tS1\timgs/a.nii.gz\n"
        "sub-001\tses-M12\tCN\t71\tF\tS1\timgs/b.nii.gz\n"
        "sub-002\tses-M00\tAD\t75\tM\tS2\t/abs/c.nii.gz\n"
    )
    ct = read_cohort(path, image_column="t1", cohort_id="m", role="external-test")
    t = ct.table
    assert t["subject"].tolist() == ["sub-001", "sub-001", "sub-002"]
    assert t["image"].tolist() == ["imgs/a.nii.gz", "imgs/b.nii.gz", "/abs/c.nii.gz"]
    assert t["image_path"].iloc[0].endswith("/imgs/a.nii.gz")
    assert t["image_path"].iloc[2] == "/abs/c.nii.gz"
    assert t["session_index"].tolist() == [0, 1, 0]
    assert t["cohort_row"].tolist() == [2, 3, 4]
    assert set(t["role"]) == {"external-test"}
    assert t["age"].dtype.kind in "if"
    assert ct.findings == []


def test_clinicadl_tsv_without_images_and_csv(tmp_path):
    path = tmp_path / "split.csv"
    path.write_text("participant_id,session_id,diagnosis\nsub-01,ses-M000,AD\nsub-02,ses-M000,CN\n")
    t = read_cohort(path).table
    assert t["image"].isna().all()
    assert t["session"].tolist() == ["ses-M000", "ses-M000"]
    assert t["cohort"].tolist() == ["split", "split"]


def test_ids_keep_leading_zeros(tmp_path):
    path = tmp_path / "m.tsv"
    path.write_text("subject\tsession\tsite\n007\t01\t01\n")
    t = read_cohort(path).table
    assert (t["subject"].iloc[0], t["session"].iloc[0], t["site"].iloc[0]) == ("007", "01", "01")


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (["ses-M12", "ses-M06", "ses-M00"], ["ses-M00", "ses-M06", "ses-M12"]),
        (["ses-rescan", "ses-baseline"], ["ses-baseline", "ses-rescan"]),
        (["ses-retest", "ses-test"], ["ses-test", "ses-retest"]),
        (["ses-10", "ses-2", "ses-1"], ["ses-1", "ses-2", "ses-10"]),
    ],
)
def test_natural_session_order(labels, expected):
    assert sorted(labels, key=natural_key) == expected


def test_include_filter(tmp_path):
    path = tmp_path / "m.tsv"
    path.write_text(
        "participant_id\tdiagnosis\tage\nsub-1\tCN\t60\nsub-2\tMCI\t70\nsub-3\tAD\t50\n"
    )
    t = read_cohort(path, include="diagnosis in ['CN', 'AD'] and age >= 55").table
    assert t["subject"].tolist() == ["sub-1"]


def test_missing_hierarchy_field_is_a_finding(tmp_path):
    path = tmp_path / "m.tsv"
    path.write_text("participant_id\tdiagnosis\nsub-1\tCN\n")
    ct = read_cohort(path, hierarchy=Hierarchy(site="centre"))
    (f,) = [f for f in ct.findings if f.rule == "cohort/missing-column"]
    assert "centre" in f.message and f.file == str(path) and f.line == 1
    assert ct.table["site"].isna().all()


def test_unknown_format_or_missing_path(tmp_path):
    with pytest.raises(UserError, match="not found"):
        read_cohort(tmp_path / "nope")
    (tmp_path / "x.parquet").write_text("")
    with pytest.raises(UserError, match="cannot tell the cohort format"):
        read_cohort(tmp_path / "x.parquet")


def test_participant_ids_without_prefix(bids):
    root = bids({"sub-01": {"sex": "F", "sessions": ["ses-1"]}})
    (root / "participants.tsv").write_text("participant_id\tsex\n01\tF\n")
    ct = read_cohort(root)
    assert ct.table["sex"].tolist() == ["F"]
    (f,) = [f for f in ct.findings if f.rule == "cohort/participant-id-without-prefix"]
    assert f.line == 2


@pytest.mark.parametrize("header_tab", [True, False])
def test_participants_tsv_with_trailing_tabs(bids, header_tab):
    # pandas and pybids read a participants.tsv whose lines end with a tab; so does brainbench
    root = bids({"sub-01": {"sex": "F", "age": 70}, "sub-02": {"sex": "M", "age": ""}})
    path = root / "participants.tsv"
    lines = path.read_text().splitlines()
    lines = [line + "\t" if i or header_tab else line for i, line in enumerate(lines)]
    path.write_text("\n".join(lines) + "\n")
    table = read_cohort(root).table
    assert {"participant_id", "sex", "age"} <= set(table.columns)
    assert not any(str(c).startswith("Unnamed") or c == "" for c in table.columns)
    assert table.set_index("subject")["sex"].to_dict() == {"sub-01": "F", "sub-02": "M"}
    assert table.set_index("subject")["age"].isna().tolist() == [False, True]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_special_files_are_refused_before_reading(tmp_path):
    fifo = tmp_path / "participants.tsv"
    os.mkfifo(fifo)  # reading it would block for ever
    with pytest.raises(UserError, match=r"is a named pipe \(FIFO\), not a regular file"):
        read_delimited(fifo)
    with pytest.raises(UserError, match="is a directory; give a table file"):
        read_delimited(tmp_path)
    if Path("/dev/zero").exists():
        with pytest.raises(UserError, match="is a device, not a regular file"):
            read_delimited(Path("/dev/zero"))
