"""BIDS derivatives: choosing space/desc/res, and saying which image was taken."""

from __future__ import annotations

import json

from brainbench.cohort import read_cohort


def derivative(root, *, kind="derivative"):
    root.mkdir(parents=True)
    (root / "dataset_description.json").write_text(
        json.dumps({"Name": "fmriprep", "BIDSVersion": "1.9.0", "DatasetType": kind})
    )
    (root / "participants.tsv").write_text("participant_id\tdiagnosis\nsub-01\tCN\nsub-02\tAD\n")
    for sub in ("sub-01", "sub-02"):
        anat = root / sub / "ses-1" / "anat"
        anat.mkdir(parents=True)
        for space in ("MNI152NLin2009cAsym", "T1w"):
            for desc in ("preproc", "brain"):
                (anat / f"{sub}_ses-1_space-{space}_desc-{desc}_T1w.nii.gz").write_bytes(b"")
    return root


def test_a_derivative_with_several_images_per_session_says_which_it_took(tmp_path):
    ct = read_cohort(derivative(tmp_path / "d"), suffixes=("T1w",))
    assert len(ct.table) == 2
    (several,) = [f for f in ct.findings if f.rule == "cohort/several-images"]
    assert "2 session(s)" in several.message and "took sub-01_ses-1_space-MNI" in several.message
    assert "source.space" in several.hint


def test_space_and_desc_choose_the_image(tmp_path):
    ct = read_cohort(
        derivative(tmp_path / "d"), suffixes=("T1w",), entities={"space": "T1w", "desc": "brain"}
    )
    assert ct.table["image"].str.endswith("_space-T1w_desc-brain_T1w.nii.gz").all()
    assert len(ct.table) == 2
    assert not [f for f in ct.findings if f.rule == "cohort/several-images"]


def test_a_raw_dataset_keeps_every_image(tmp_path):
    ct = read_cohort(derivative(tmp_path / "d", kind="raw"), suffixes=("T1w",))
    assert len(ct.table) == 8


SPEC = """\
brainbench: 1
id: two
version: 1.0.0
title: t
task: {{type: classification, target: diagnosis, classes: [CN, AD]}}
cohorts:
  - {{id: a, role: development, source: {{format: tsv, path: a.tsv}}}}
  - {{id: b, role: external-test, source: {{format: tsv, path: b.tsv}}}}
hierarchy: {{site: site{shared}}}
splits: {{group: subject, test: {{method: external}}, seed: 1}}
protocol: {{primary_metric: balanced_accuracy}}
"""


def test_site_ids_are_qualified_by_cohort_unless_shared(tmp_path):
    from brainbench.cohort import load_cohorts
    from brainbench.spec import load_spec

    for name in ("a", "b"):
        (tmp_path / f"{name}.tsv").write_text(
            "participant_id\tsite\tdiagnosis\nsub-1\t1\tCN\nsub-2\tn/a\tAD\n"
        )
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(shared=""))
    sites = load_cohorts(load_spec(spec)).table["site"]
    assert sites.isna().tolist() == [False, True, False, True]  # a missing site stays missing
    assert sites.dropna().tolist() == ["a/1", "b/1"]
    spec.write_text(SPEC.format(shared=", shared_sites: true"))
    assert load_cohorts(load_spec(spec)).table["site"].dropna().tolist() == ["1", "1"]
