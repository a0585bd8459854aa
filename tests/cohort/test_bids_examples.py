"""Reading the real BIDS layouts of bids-standard/bids-examples (image files are empty)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from brainbench.cohort import read_cohort, summarize_cohort

# Five folders of bids-standard/bids-examples (commit ca54a02e), vendored in tests/data/
# (see its README); BRAINBENCH_BIDS_EXAMPLES points the tests at another checkout.
VENDORED = Path(__file__).resolve().parents[1] / "data" / "bids-examples"
EXAMPLES = Path(os.environ.get("BRAINBENCH_BIDS_EXAMPLES", VENDORED)).resolve()
pytestmark = pytest.mark.skipif(not EXAMPLES.is_dir(), reason="bids-examples not available")


def test_7t_trt_has_22_subjects_with_2_sessions_each():
    ct = read_cohort(EXAMPLES / "7t_trt")
    t = ct.table
    per_subject = t.groupby("subject")["session"].nunique()
    assert len(per_subject) == 22
    assert (per_subject == 2).all()
    assert set(t["session"]) == {"ses-1", "ses-2"}
    first = t.drop_duplicates(["subject", "session"]).set_index(["subject", "session"])
    assert (first.xs("ses-1", level="session")["session_index"] == 0).all()
    assert (first.xs("ses-2", level="session")["session_index"] == 1).all()
    summary = summarize_cohort(t)
    assert (summary["subjects"], summary["sessions"]) == (22, 44)
    # participants.tsv and sessions.tsv columns are joined
    assert {"sex", "age_at_first_scan_years", "CCPT_avg_succ_RT"} <= set(t.columns)
    assert t["cohort_file"].str.endswith("participants.tsv").all()
    assert t["cohort_row"].min() == 2


def test_7t_trt_t1w_only():
    ct = read_cohort(EXAMPLES / "7t_trt", suffixes=["T1w"])
    assert len(ct.table) == 22
    assert (ct.table["image"].str.endswith("_T1w.nii.gz")).all()


def test_pet002_per_image_scanner_sidecars_differ_between_subjects():
    ct = read_cohort(EXAMPLES / "pet002", suffixes=["T1w"])
    t = ct.table.set_index(["subject", "session"])
    assert t.loc[("sub-01", "ses-baseline"), "scanner"] == "Siemens|Trio|3"
    assert t.loc[("sub-02", "ses-baseline"), "scanner"] == "Siemens|Verio|3"
    assert t.loc[("sub-02", "ses-rescan"), "DeviceSerialNumber"] == "40493"
    assert set(ct.table["site"]) == {"DRCMR_HVIDOVRE"}
    assert not [f for f in ct.findings if f.severity.value == "error"]


def test_genetics_ukbb_group_column_without_sessions():
    ct = read_cohort(EXAMPLES / "genetics_ukbb")
    t = ct.table
    assert t["session"].isna().all()
    assert (t["session_index"] == 0).all()
    summary = summarize_cohort(t, target="group")
    assert summary["subjects"] == 14
    assert summary["classes"] == {"control": 7, "patient": 7}
    # "89+" keeps the age column textual instead of failing the read
    assert "89+" in set(t["age"].astype(str))
    # top-level acq-MPRAGE_T1w.json applies to every T1w image by inheritance
    t1 = t[t["suffix"] == "T1w"]
    assert (t1["ManufacturersModelName"] == "Skyra Singo").all()


def test_ds114_test_is_baseline_before_retest():
    ct = read_cohort(EXAMPLES / "ds114")
    t = ct.table.drop_duplicates(["subject", "session"])
    assert len(t) == 20
    assert (t[t["session"] == "ses-test"]["session_index"] == 0).all()
    assert (t[t["session"] == "ses-retest"]["session_index"] == 1).all()


def test_synthetic_reads_and_flags_session_dates():
    ct = read_cohort(EXAMPLES / "synthetic")
    assert ct.table["subject"].nunique() == 5
    # its scans.tsv dates put ses-02 before ses-01: a session-order warning, not an exception
    rules = {f.rule for f in ct.findings}
    assert "cohort/session-order" in rules
