"""--disease mci: MCI participants convert to AD at a known month (plan only, no images)."""

from __future__ import annotations

from brainbench.cohort._labels import conversion_outcome
from brainbench.spec.models import ConversionLabel
from brainbench.synth import SynthConfig
from brainbench.synth._plan import build_plan


def test_session_diagnoses_follow_the_conversion_month():
    plan = build_plan(SynthConfig(subjects=200, sites=2, sessions=5, disease="mci", seed=3))
    mci = [s for s in plan.subjects if s.diagnosis == "MCI"]
    converters = [s for s in mci if s.conversion_month is not None]
    assert 0.3 < len(converters) / len(mci) < 0.7  # mci_conversion = 0.5
    for s in mci:
        for x in s.sessions:
            converted = s.conversion_month is not None and x.months_nominal >= s.conversion_month
            assert x.diagnosis == ("AD" if converted else "MCI")
    # Without dropout, the label follows from the conversion month alone.
    rule = ConversionLabel(name="mci_36", horizon_months=36)
    for s in mci:
        months = [x.months_nominal for x in s.sessions]
        outcome = conversion_outcome(months, [x.diagnosis for x in s.sessions], rule)
        month = s.conversion_month
        if month is not None and month <= 36:
            assert outcome == "progressive"
        elif month is None or month > 48:
            assert outcome == "stable"
        else:
            assert outcome == "later-change"  # AD seen at 48, after the horizon


def test_other_diseases_have_no_session_diagnosis():
    plan = build_plan(SynthConfig.preset("tiny"))
    assert all(x.diagnosis == "" for s in plan.subjects for x in s.sessions)
    assert all(s.conversion_month is None for s in plan.subjects)
