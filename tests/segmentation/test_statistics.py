"""Statistics on the case-metrics table: intervals, comparisons, rank stability."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brainbench.errors import FewClustersWarning, UserError
from brainbench.segmentation import compare, rank_stability, summarise
from brainbench.segmentation.statistics import _aggregate

FAST = dict(n_resamples=400, seed=1)


def table(
    n_sites=8,
    subjects=5,
    sessions=2,
    models=(("A", 0.0), ("B", -0.05)),
    metric="dice",
    seed=0,
):
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_sites):
        site_effect = rng.normal(0, 0.03)
        for j in range(subjects):
            subj = rng.normal(0, 0.03)
            for t in range(sessions):
                noise = rng.normal(0, 0.02)
                for model, shift in models:
                    rows.append(
                        dict(
                            model=model,
                            repeat=0,
                            fold=0,
                            seed=0,
                            partition="test",
                            dataset="d",
                            site=f"S{s}",
                            subject=f"{s}-{j}",
                            session=f"ses-{t}",
                            image=f"{s}-{j}-{t}",
                            label="wmh",
                            label_value=4,
                            metric=metric,
                            tolerance_mm=np.nan,
                            value=0.75 + site_effect + subj + noise + shift,
                            status="ok",
                            reference_voxels=100,
                            predicted_voxels=100,
                        )
                    )
    return pd.DataFrame(rows)


def quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


def test_summary_mean_and_interval():
    t = table()
    res = quiet(summarise, t, **FAST)
    assert [(r.model, r.metric) for r in res] == [("A", "dice"), ("B", "dice")]
    a = res[0]
    assert a.estimate == pytest.approx(t[t.model == "A"].value.mean())
    assert a.ci_low < a.estimate < a.ci_high
    assert (a.n_cases, a.n_subjects, a.n_sites) == (80, 40, 8)
    assert a.clusters == {"site": 8, "subject": 40}
    assert a.status_counts["ok"] == 80 and a.empty_handling.startswith("No empty")
    assert a.direction == "higher is better"
    # Same seed, same interval; the flat case bootstrap ignores the clustering and is narrower.
    again = quiet(summarise, t, **FAST)[0]
    assert (again.ci_low, again.ci_high) == (a.ci_low, a.ci_high)
    flat = quiet(summarise, t, levels=(), **FAST)[0]
    assert flat.ci_high - flat.ci_low < a.ci_high - a.ci_low


def test_summary_median_and_breakdown():
    t = table()
    res = quiet(summarise, t, statistic="median", by=("session",), **FAST)
    assert {r.group["session"] for r in res} == {"ses-0", "ses-1"}
    r = next(r for r in res if r.model == "A" and r.group == {"session": "ses-0"})
    sel = t[(t.model == "A") & (t.session == "ses-0")]
    assert r.estimate == pytest.approx(sel.value.median())
    assert r.n_cases == 40


def test_runs_are_averaged_per_case():
    t = table(n_sites=4)
    t2 = t.copy()
    t2["seed"] = 1
    t2["value"] = t2["value"] + 0.1
    res = quiet(summarise, pd.concat([t, t2]), n_resamples=0)
    assert res[0].n_cases == len(t[t.model == "A"])
    assert res[0].estimate == pytest.approx(t[t.model == "A"].value.mean() + 0.05)


def test_few_sites_are_held_fixed_and_reported():
    with pytest.warns(FewClustersWarning, match="not estimable"):
        (r, _) = summarise(table(n_sites=3, subjects=12), **FAST)
    assert r.conditional_on == {"site": 3}
    assert r.clusters == {"subject": 36}
    assert any("conditional on these 3 site" in w for w in r.warnings)
    # A subject scanned at two of the fixed sites is a cluster within each: subject 0-0 now
    # also has an image at site S1 (36 + 1 clusters), and no error.
    moved = table(n_sites=3, subjects=12)
    moved.loc[moved.image == "1-0-1", "subject"] = "0-0"
    (r, _) = quiet(summarise, moved, **FAST)
    assert r.clusters == {"subject": 37}
    with pytest.warns(FewClustersWarning, match="too narrow"):
        (r, _) = summarise(table(n_sites=5, subjects=8), **FAST)
    assert r.conditional_on == {}


def test_empty_cases_are_counted_and_explained():
    t = table(n_sites=4, models=(("A", 0.0),))
    t.loc[0, ["status", "value"]] = ["both-empty", 1.0]
    t.loc[1, ["status", "value"]] = ["empty-prediction", 0.0]
    (r,) = quiet(summarise, t, **FAST)
    assert r.status_counts == {
        "ok": len(t) - 2,
        "empty-reference": 0,
        "empty-prediction": 1,
        "both-empty": 1,
    }
    assert r.n_cases == len(t)  # entered, not dropped
    assert "1 case(s) with both masks empty entered with dice = 1" in r.empty_handling
    assert "1 empty prediction" in r.empty_handling
    # The relative volume error of an empty reference is undefined: excluded and counted.
    v = table(n_sites=4, models=(("A", 0.0),), metric="relative-volume-error")
    v.loc[0, ["status", "value"]] = ["empty-reference", np.nan]
    (r,) = quiet(summarise, v, **FAST)
    assert r.n_undefined == 1 and r.n_cases == len(v) - 1
    assert "undefined (0 volume) and excluded" in r.empty_handling
    assert r.to_dict()["status_counts"]["empty-reference"] == 1


def test_paired_comparison():
    t = pd.concat([table(), table(metric="hd95", seed=3)])
    res = quiet(compare, t, "A", "B", **FAST)
    by = {r.metric: r for r in res}
    dice = by["dice"]
    assert dice.estimate == pytest.approx(0.05)
    # B is A shifted by a constant: every paired resample differs by exactly 0.05.
    assert dice.ci_low == pytest.approx(0.05) and dice.ci_high == pytest.approx(0.05)
    assert dice.favours == "A"  # higher Dice is better
    assert by["hd95"].favours == "B"  # lower distance is better
    assert all(r.p_adjusted >= r.p_value for r in res)
    assert dice.p_adjusted == pytest.approx(min(1.0, 2 * dice.p_value))  # Holm, 2 rows


def test_comparison_of_signed_errors_uses_closeness_to_zero():
    t = table(models=(("A", 0.0), ("B", 0.0)), metric="volume-error")
    t["value"] = np.where(t.model == "A", 0.1, -0.5) + np.random.default_rng(0).normal(
        0, 0.01, len(t)
    )
    (r,) = quiet(compare, t, "A", "B", **FAST)
    assert r.estimate == pytest.approx(0.6, abs=0.01)
    assert r.abs_difference == pytest.approx(-0.4, abs=0.01)
    assert r.abs_ci_high < 0 and r.favours == "A"  # A is closer to 0
    assert r.direction == "closer to 0 is better"


def test_unpaired_cases_are_left_out_and_said():
    t = table()
    t = t.drop(t[(t.model == "B") & (t.image == "0-0-0")].index)
    (r,) = quiet(compare, t, "A", "B", **FAST)
    assert r.n_unpaired == 1 and r.n_cases == 79
    assert any("one model only" in w for w in r.warnings)


def test_rank_stability_clear_and_tied_orders():
    t = table(models=(("A", 0.0), ("B", -0.1), ("C", -0.2)))
    r = quiet(rank_stability, t, metric="dice", label="wmh", **FAST)
    assert r.models == ["A", "B", "C"] and r.ranks == {"A": 1, "B": 2, "C": 3}
    assert r.p_first["A"] == 1.0 and r.kendall_tau["median"] == 1.0
    assert r.rank_frequencies["C"] == [0.0, 0.0, 1.0]
    # Two identical models tie at the lowest rank (challengeR's ties.method = "min").
    t = table(models=(("A", 0.0), ("B", 0.0), ("C", -0.2)))
    r = quiet(rank_stability, t, metric="dice", label="wmh", **FAST)
    assert r.ranks == {"A": 1, "B": 1, "C": 3}


def test_rank_stability_of_a_signed_error_ranks_by_absolute_value():
    t = table(models=(("A", 0.0), ("B", 0.0)), metric="volume-error")
    t["value"] = np.where(t.model == "A", -0.05, 0.5)
    r = quiet(rank_stability, t, metric="volume-error", label="wmh", **FAST)
    assert r.ranks == {"A": 1, "B": 2}


def test_bad_tables_are_user_errors():
    t = table(n_sites=2)
    with pytest.raises(UserError, match="lacks the column"):
        summarise(t.drop(columns=["site"]))
    with pytest.raises(UserError, match="Unknown segmentation metric"):
        summarise(t.assign(metric="dsc"))
    with pytest.raises(UserError, match="status"):
        summarise(t.assign(status="missing"))
    with pytest.raises(UserError, match="not in the case-metrics table"):
        compare(t, "A", "Z")
    with pytest.raises(UserError, match="at least two models"):
        rank_stability(t[t.model == "A"], metric="dice", label="wmh")
    with pytest.raises(UserError, match="statistic"):
        summarise(t, statistic="mode")


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=9),
    data=st.data(),
)
def test_weighted_median_is_the_median_of_the_resample(values, data):
    w = data.draw(st.lists(st.integers(0, 3), min_size=len(values), max_size=len(values)))
    if sum(w) == 0:
        w[0] = 1
    v = np.array(values)
    got = _aggregate(v, np.array([w], dtype=float), "median")[0, 0]
    assert got == pytest.approx(np.median(np.repeat(v, w)))
    assert _aggregate(v, np.array([w], dtype=float), "mean")[0, 0] == pytest.approx(
        np.mean(np.repeat(v, w))
    )
