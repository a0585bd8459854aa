"""The claims table: when an interval is not estimable, and a missing baseline comparison."""

from __future__ import annotations

from types import SimpleNamespace

from brainbench.report._claims import NOT_ESTIMABLE, ClaimBuilder, distinct_resamples, not_estimable


def _r(est=0.7, lo=0.6, hi=0.8, n=40, g=8, level=0.95):
    return SimpleNamespace(
        estimate=est, ci_low=lo, ci_high=hi, n_units=n, n_clusters=g, level=level
    )


def test_not_estimable_cases():
    assert not_estimable(_r(), "subject") is None
    assert "zero-width" in not_estimable(_r(0.5, 0.5, 0.5, n=2, g=2), "subject")
    # float rounding between two equal percentiles is still a degenerate interval, both sheets
    assert "zero-width" in not_estimable(_r(0.7, 0.7, 0.7 + 1e-13), "subject")
    assert not_estimable(_r(0.7, 0.7, 0.7 + 1e-6), "subject") is None
    assert "no interval" in not_estimable(_r(lo=float("nan")), "subject")
    # 4 units: C(7, 4) = 35 distinct resamples < 2 / 0.05 = 40; 5 units: 126.
    assert distinct_resamples(4) == 35 and distinct_resamples(5) == 126
    assert "distinct bootstrap resamples" in not_estimable(_r(n=4, g=4), "subject")
    assert not_estimable(_r(n=5, g=5), "subject") is None
    assert not_estimable(_r(n=4, g=4, level=0.9), "subject") is None  # 35 >= 20
    assert "2 top-level clusters" in not_estimable(_r(g=2), "subject")
    assert "3 top-level clusters" in not_estimable(_r(g=3), "subject")
    assert not_estimable(_r(g=4), "subject") is None
    assert not_estimable(_r(g=1), "subject") is None  # one cluster: an interval for that cluster


def test_a_baseline_comparison_that_failed_is_still_a_key_claim():
    an = SimpleNamespace(
        primary="balanced_accuracy",
        level=0.95,
        unit="subject",
        baseline="demographics-logreg",
        models=["cnn", "demographics-logreg"],
        partitions=["test"],
        endpoints=["test"],
        external=[],
        deviations=[],
        result=lambda m, metric, part=None: _r(),
        baseline_comparisons=SimpleNamespace(results=[], errors=["units differ between models"]),
    )
    b = ClaimBuilder(an)
    b._baseline_missing(an.baseline_comparisons)
    (c,) = b.claims
    assert c.status == NOT_ESTIMABLE and c.key
    assert "units differ between models" in c.evidence


def test_a_claim_on_an_interval_conditional_on_its_sites_says_so():
    """An external cohort of 2 sites: its interval is conditional on them (the engine's
    ``conditional_on``); the claim 'performs above chance on ext' says so where it quotes
    the interval, as the comparisons' claims do."""
    r = _r(0.73, 0.58, 0.89, n=26, g=26)
    r.conditional_on, r.warnings = {"site": 2}, []
    an = SimpleNamespace(
        primary="balanced_accuracy",
        level=0.95,
        unit="subject",
        baseline=None,
        models=["cnn"],
        partitions=["ext"],
        endpoints=[],
        external=["ext"],
        deviations=[],
        task=SimpleNamespace(classes=("CN", "AD")),
        is_classification=True,
        result=lambda m, metric, part=None: r,
    )
    b = ClaimBuilder(an)
    b._chance("ext", key=True)
    (c,) = b.claims
    assert "(95% CI, 26 subjects, conditional on these 2 sites)" in c.evidence
