"""sMCI vs pMCI from hand-made trajectories, against ClinicaDL's get-labels rules."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brainbench.cohort._labels import conversion_outcome, session_months
from brainbench.errors import UserError
from brainbench.spec.models import ConversionLabel

RULE = ConversionLabel(name="mci", horizon_months=36)


@pytest.mark.parametrize(
    ("months", "diagnoses", "expected"),
    [
        # converts at 24 months, AD at the horizon visit: progressive
        ([0, 12, 24, 36], ["MCI", "MCI", "AD", "AD"], "progressive"),
        # converts exactly at the horizon
        ([0, 12, 24, 36, 48], ["MCI", "MCI", "MCI", "AD", "AD"], "progressive"),
        # MCI at every visit up to and past the horizon: stable
        ([0, 12, 24, 36, 48], ["MCI"] * 5, "stable"),
        # no visit at 36; the last one before (24) already AD: progressive
        ([0, 24, 48], ["MCI", "AD", "AD"], "progressive"),
        # no visit at 36; MCI at 24 and at 48: stable
        ([0, 24, 48], ["MCI", "MCI", "MCI"], "stable"),
        # no visit at 36; MCI at 24, AD at 48: unknown when it changed (ClinicaDL's uMCI)
        ([0, 24, 48], ["MCI", "MCI", "AD"], "between-visits"),
        # followed 24 months only, still MCI: too short (uMCI)
        ([0, 12, 24], ["MCI", "MCI", "MCI"], "too-short"),
        # followed 24 months only but AD at the end: progressive (ClinicaDL case 2)
        ([0, 12, 24], ["MCI", "MCI", "AD"], "progressive"),
        # back to CN by the horizon: reverting (rMCI, excluded)
        ([0, 12, 36], ["MCI", "CN", "CN"], "reverting"),
        # AD then MCI again: two changes, unstable
        ([0, 12, 24, 36], ["MCI", "AD", "MCI", "MCI"], "unstable"),
        # stable at 36 but AD at 72: ClinicaDL's diagnosis_removal drops it from sMCI
        ([0, 36, 48, 72], ["MCI", "MCI", "MCI", "AD"], "later-change"),
        # CN at baseline: outside the population
        ([0, 36], ["CN", "AD"], "not-baseline"),
        # an EMCI baseline counts as MCI
        ([0, 36], ["EMCI", "EMCI"], "stable"),
        # a missing diagnosis between two MCI visits is filled (infer_or_drop_diagnosis)
        ([0, 12, 24, 36], ["MCI", None, "MCI", "MCI"], "stable"),
        # a missing diagnosis at the horizon between MCI and AD is dropped: decided by 24/48
        ([0, 24, 36, 48], ["MCI", "MCI", None, "AD"], "between-visits"),
        # a missing last diagnosis is dropped: follow-up ends at 24
        ([0, 24, 36], ["MCI", "MCI", None], "too-short"),
        # a diagnosis outside the rule (SMC) excludes the subject
        ([0, 36], ["MCI", "SMC"], "other-diagnosis"),
        # months need not start at 0
        ([6, 18, 42], ["MCI", "MCI", "AD"], "progressive"),
    ],
)
def test_trajectories(months, diagnoses, expected):
    assert conversion_outcome(months, diagnoses, RULE) == expected


@settings(max_examples=60, deadline=None)
@given(
    visits=st.lists(st.integers(1, 120), min_size=1, max_size=8, unique=True),
    convert=st.integers(1, 150),
    horizon=st.integers(6, 60),
)
def test_single_conversion_is_decided_by_the_horizon(visits, convert, horizon):
    """One conversion MCI -> AD at month ``convert``: progressive when a visit at or before the
    horizon sees AD, stable only when a visit at or after the horizon still sees MCI."""
    months = [0, *sorted(visits)]
    dx = ["AD" if m >= convert else "MCI" for m in months]
    rule = ConversionLabel(name="x", horizon_months=horizon)
    outcome = conversion_outcome(months, dx, rule)
    ad_seen_by_horizon = any(m <= horizon and d == "AD" for m, d in zip(months, dx, strict=True))
    mci_after = any(m >= horizon and d == "MCI" for m, d in zip(months, dx, strict=True))
    if ad_seen_by_horizon:
        assert outcome == "progressive"
    elif outcome == "stable":
        assert mci_after
    if outcome == "progressive":
        assert "AD" in dx


def test_session_months():
    assert session_months("ses-M036") == 36.0
    assert session_months("ses-M00") == 0.0
    assert session_months("ses-bl") is None


def test_sessions_without_months_are_refused(tmp_path):
    from brainbench.cohort import read_cohort

    tsv = tmp_path / "labels.tsv"
    tsv.write_text(
        "participant_id\tsession_id\tdiagnosis\nsub-01\tses-bl\tMCI\nsub-01\tses-V2\tAD\n"
    )
    with pytest.raises(UserError, match=r"labels.tsv:2: .*ses-M<months>"):
        read_cohort(tsv, labels=[RULE], target="mci")
