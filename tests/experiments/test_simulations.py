"""The quick preset of the simulation experiments (4-6): outputs and direction of the findings.

One module-scoped run of each experiment (about 30 s of CPU together); the tests then read its
results. Directions checked are the ones the literature predicts: the naive image-level
bootstrap covers less than the hierarchical one; the naive paired t-test over folds rejects a
true null more often than the corrected t-test; CI half-width shrinks as 1/sqrt(n) and is about
+-0.1 at n = 100.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from brainbench.experiments import comparison, coverage, run_experiments
from brainbench.stats._intervals import INTERVAL_METHODS


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("experiments")
    results = run_experiments([4, 5, 6], "quick", out)
    return out, {r.number: r for r in results}


def test_outputs_written(quick):
    out, results = quick
    for r in results.values():
        folder = out / r.folder
        assert (folder / "README.md").is_file()
        assert (folder / "table.tsv").is_file()
        for fig in r.figures:
            assert (folder / fig).stat().st_size > 1000
        data = json.loads((folder / "results.json").read_text())
        assert data["preset"] == "quick"
        assert data["conclusion"] == r.conclusion
        assert data["findings"]
    summary = (out / "README.md").read_text()
    assert "| [4](04-ci-coverage/README.md)" in summary
    assert "quick" in summary


def test_coverage_naive_below_hierarchical(quick):
    t = quick[1][4].table
    cov = t.groupby("method")["coverage"].mean()
    assert cov["naive (images)"] < cov["subject cluster"] < cov["site + subject"]
    assert cov["naive (images)"] < 0.9
    assert cov["site + subject"] > 0.88
    assert quick[1][4].expected


def test_naive_t_over_folds_inflated(quick):
    t = quick[1][5].table
    null = t[t["scenario"] == "null"].set_index("method")["rejection_rate"]
    naive = null["naive paired t over folds"]
    corrected = null["corrected resampled t (Nadeau-Bengio)"]
    assert naive > corrected
    assert naive > 0.1
    assert corrected <= 0.1
    power = t[t["scenario"] == "alternative"].set_index("method")["rejection_rate"]
    assert power["corrected resampled t (Nadeau-Bengio)"] > corrected
    assert quick[1][5].expected


def test_ci_width_shrinks_with_n(quick):
    t = quick[1][6].table
    ba = t[(t["metric"] == "balanced_accuracy") & (t["method"] == "bootstrap")]
    widths = ba.sort_values("subjects")["mean_half_width"].to_numpy()
    assert (widths[1:] < widths[:-1]).all()
    hw100 = quick[1][6].findings[0].value
    assert 0.07 < hw100 < 0.13
    assert quick[1][6].expected


def test_conclusions_quote_the_numbers(quick):
    for r in quick[1].values():
        for f in r.findings[:2]:
            assert f.text.lstrip("+-") in r.conclusion or f.text in r.conclusion


def test_coverage_site_level_columns_name_their_method(quick):
    r = quick[1][4]
    t = r.table
    cal = t[t["method"] == "calibrated"]
    assert len(cal) == t[["sites", "subjects"]].drop_duplicates().shape[0]
    # calibrated names the interval the table chose for each design, and its regime
    assert set(cal["interval"]) <= set(INTERVAL_METHODS)
    assert cal["chosen_for"].str.contains("sites").all()
    for label, name in coverage.SITE_LEVEL.items():
        rows = t[t["method"] == label]
        assert rows["coverage"].between(0, 1).all()
        if name != "calibrated":
            assert set(rows["interval"]) == {name}
    assert "calibrated uses" in r.sections["Coverage by design"]
    assert "coverage-site-level.png" in r.figures


def test_comparison_studentised_rows_name_their_interval(quick):
    t = quick[1][5].table
    for label, name in comparison.STUDENTISED.items():
        rows = t[t["method"] == label]
        assert len(rows) == 2 and rows["rejection_rate"].between(0, 1).all()
        assert (rows["failed"] == 0).all()
        chosen = rows["interval"].iloc[0]
        assert chosen.split(" ")[0] in INTERVAL_METHODS
        if name != "calibrated":
            assert chosen == name
    assert "corrected resampled t" in quick[1][5].conclusion


def _old_rows(table: pd.DataFrame, methods) -> pd.DataFrame:
    old = table[table["method"].isin(list(methods))]
    return old.drop(columns="interval").reset_index(drop=True)


def test_additions_leave_the_old_methods_numbers_unchanged(monkeypatch):
    """The site-level intervals and studentised comparisons draw from their own streams: the
    old methods give the same numbers for a seed with or without them."""
    cov_params = {"sites": [4], "subjects": [24], "replications": 3, "resamples": 40}
    cmp_params = {"datasets": 2, "mixed_datasets": 1, "repeats": 2, "folds": 3, "resamples": 40}
    with_cov = coverage.simulate(cov_params, 5)
    with_cmp, _ = comparison.simulate(cmp_params, 5)
    monkeypatch.setattr(coverage, "SITE_LEVEL", {})
    monkeypatch.setattr(comparison, "STUDENTISED", {})
    pd.testing.assert_frame_equal(
        _old_rows(with_cov, coverage.METHODS),
        _old_rows(coverage.simulate(cov_params, 5), coverage.METHODS),
    )
    pd.testing.assert_frame_equal(
        _old_rows(with_cmp, comparison.METHODS),
        _old_rows(comparison.simulate(cmp_params, 5)[0], comparison.METHODS),
    )
