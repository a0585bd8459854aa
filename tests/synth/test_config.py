"""Configuration checks, presets, and the cohort plan's invariants."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brainbench.errors import UserError
from brainbench.synth import SynthConfig, generate_cohort
from brainbench.synth._plan import build_plan


def test_presets():
    tiny = SynthConfig.preset("tiny")
    assert (tiny.subjects, tiny.sites, tiny.sessions, tiny.resolution) == (8, 2, 2, 4.0)
    assert SynthConfig.preset("demo").subjects >= 60
    assert SynthConfig.preset("full").disease == "both"
    assert SynthConfig.preset("tiny", seed=3).seed == 3
    assert tiny.replace(sites=1).sites == 1
    assert "subjects=8" in repr(tiny)
    assert tiny.classes == ("CN", "AD")


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"subjects": -1}, "'subjects' must be between 1"),
        ({"sessions": 0}, "'sessions' must be between 1"),
        ({"sites": -2}, "'sites' must be between 1"),
        ({"subjects": 3, "sites": 5}, "every site needs at least one participant"),
        ({"resolution": 0.5}, "'resolution' must be between 1 and 8"),
        ({"resolution": 9}, "'resolution' must be between 1 and 8"),
        ({"confound": 1.5}, "'confound' must be between 0 and 1"),
        ({"disease": "ms"}, "'disease' must be one of ad, pd, both"),
        ({"subjects": 2.5}, "'subjects' must be an integer"),
        ({"class_proportions": (1.0,)}, "needs 2 values"),
        ({"class_proportions": (1.0, -1.0)}, "non-negative"),
        ({"age_min": 80, "age_max": 60, "age_mean": 70}, "'age_min' (80) must be below"),
    ],
)
def test_bad_values_are_user_errors(changes, words):
    with pytest.raises(UserError) as info:
        SynthConfig(**changes)
    assert words in info.value.message


def test_unknown_preset_and_field():
    with pytest.raises(UserError, match="Unknown synth preset 'huge'"):
        SynthConfig.preset("huge")
    with pytest.raises(UserError, match="Unknown synth configuration field"):
        SynthConfig().replace(subject=3)


def test_output_folder_rules(tmp_path):
    cfg = SynthConfig(subjects=1, sites=1, sessions=1, resolution=8.0)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="exists and is not empty"):
        generate_cohort(foreign, cfg)
    with pytest.raises(UserError, match="did not write it"):
        generate_cohort(foreign, cfg, overwrite=True)
    assert (foreign / "notes.txt").read_text() == "mine"
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(UserError, match="is a file"):
        generate_cohort(a_file, cfg)
    empty = tmp_path / "empty"
    empty.mkdir()
    generate_cohort(empty, cfg)  # an empty folder is fine
    generate_cohort(empty, cfg.replace(seed=2), overwrite=True)  # our own cohort: replaced
    assert (empty / "participants.tsv").is_file()


def _cramers_v(plan):
    sites = list(plan.sites)
    classes = list(plan.config.classes)
    table = np.zeros((len(sites), len(classes)))
    for s in plan.subjects:
        table[sites.index(s.site), classes.index(s.diagnosis)] += 1
    n = table.sum()
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / n
    chi2 = np.nansum(np.where(expected > 0, (table - expected) ** 2 / expected, 0))
    return np.sqrt(chi2 / (n * (min(table.shape) - 1)))


def test_confound_ties_label_to_site():
    base = SynthConfig(subjects=400, sites=4, sessions=1)
    v = [_cramers_v(build_plan(base.replace(confound=c))) for c in (0.0, 0.5, 1.0)]
    assert v[0] < 0.2 < v[1] < v[2]
    assert v[2] == pytest.approx(1.0)
    full = build_plan(base.replace(confound=1.0))
    assert all(s.diagnosis == full.site_preferred_class[s.site] for s in full.subjects)
    assert all(s.label_from_site for s in full.subjects)
    none = build_plan(base)
    assert not any(s.label_from_site for s in none.subjects)


def test_confound_recorded_in_truth(tmp_path):
    cfg = SynthConfig.preset("tiny", confound=1.0, sessions=1, resolution=8.0)
    truth = generate_cohort(tmp_path / "c", cfg).truth["confounding"]
    assert truth["cramers_v_site_diagnosis"] == pytest.approx(1.0)
    for site, counts in truth["site_by_diagnosis"].items():
        preferred = truth["site_preferred_class"][site]
        assert counts[preferred] == sum(counts.values())


def test_age_gap_makes_patients_older():
    plan = build_plan(SynthConfig(subjects=300, sites=2, sessions=1, age_gap=6.0))
    ages = {c: [s.baseline_age for s in plan.subjects if s.diagnosis == c] for c in ("CN", "AD")}
    assert np.mean(ages["AD"]) - np.mean(ages["CN"]) > 3.0


@settings(max_examples=25, deadline=None)
@given(
    subjects=st.integers(1, 40),
    sites=st.integers(1, 5),
    sessions=st.integers(1, 4),
    scanners=st.integers(1, 3),
    dropout=st.sampled_from([0.0, 0.3]),
    confound=st.floats(0, 1),
    disease=st.sampled_from(["ad", "pd", "both"]),
    seed=st.integers(0, 2**32),
)
def test_plan_invariants(subjects, sites, sessions, scanners, dropout, confound, disease, seed):
    sites = min(sites, subjects)
    cfg = SynthConfig(
        subjects=subjects,
        sites=sites,
        sessions=sessions,
        scanners_per_site=scanners,
        dropout=dropout,
        confound=confound,
        disease=disease,
        seed=seed,
    )
    plan = build_plan(cfg)
    assert plan == build_plan(cfg)  # deterministic
    assert len(plan.subjects) == subjects
    assert {s.site for s in plan.subjects} == set(plan.sites)  # every site used
    site_of = {sc.scanner_id: sc.site for sc in plan.scanners}
    assert len(site_of) == len(plan.scanners)
    for s in plan.subjects:
        assert s.diagnosis in cfg.classes
        assert s.affected == (s.diagnosis != "CN")
        assert 1 <= len(s.sessions) <= sessions
        assert s.sessions[0].session_id == "M000"
        assert [x.acq_order for x in s.sessions] == list(range(1, len(s.sessions) + 1))
        ages = [x.age for x in s.sessions]
        assert ages == sorted(ages)
        for x in s.sessions:
            assert site_of[x.scanner_id] == s.site  # scanner nested in the subject's site
        atrophy = [x.ad_atrophy + x.pd_atrophy for x in s.sessions]
        assert atrophy == sorted(atrophy)
        assert (atrophy[0] > 0) == (s.affected and s.severity > 0)
