"""What ``brainbench.synth`` writes reads back as a cohort, and splits by subject."""

from __future__ import annotations

import pytest

from brainbench.cohort import read_cohort, summarize_cohort
from brainbench.split import SplitPlan, split_table

synth = pytest.importorskip("brainbench.synth")


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth") / "cohort"
    config = synth.SynthConfig.preset("tiny", resolution=8.0, seed=3)
    synth.generate_cohort(root, config)
    return root


def test_reads_synth_output(synth_root):
    ct = read_cohort(synth_root, suffixes=["T1w"])
    t = ct.table
    assert not [f for f in ct.findings if f.severity.value == "error"], ct.findings
    assert t["subject"].nunique() == 8
    assert t["site"].notna().all() and t["scanner"].notna().all()
    assert {"age", "sex", "diagnosis"} <= set(t.columns)
    # sessions.tsv's per-session age overrides the participant's baseline age
    per_subject = t.groupby("subject")["age"].nunique()
    assert (per_subject[t.groupby("subject")["session"].nunique() > 1] > 1).all()
    # the ground truth under derivatives/ is not an image of the cohort
    assert not t["image"].str.startswith("derivatives").any()
    summary = summarize_cohort(t, target="diagnosis")
    assert summary["subjects"] == 8 and summary["sites"] >= 1


def test_synth_cohort_splits_by_subject(synth_root):
    t = read_cohort(synth_root, suffixes=["T1w"]).table
    s = split_table(t, SplitPlan(test_method="kfold", test_folds=2, validation_method="none"))
    sides = s.groupby(["fold", "subject"], observed=True)["partition"].nunique()
    assert (sides == 1).all()
