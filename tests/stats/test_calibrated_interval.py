"""The interval methods are selectable, and `calibrated` follows the committed table that
`brainbench calibrate --write-defaults` generates from the grid runs (issue 15)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from brainbench.cli import cli
from brainbench.errors import UserError
from brainbench.stats import evaluate_predictions, model_data, simulate_predictions
from brainbench.stats._bootstrap import Statistic
from brainbench.stats._data import design_for
from brainbench.stats._evaluate import run_blocks
from brainbench.stats._interval_defaults import (
    calibrated_choice,
    choose_defaults,
    load_table,
    regime,
)
from brainbench.stats._intervals import (
    block_scores,
    cluster_bootstrap_t,
    wild_cluster_blocks,
    wild_cluster_interval,
    wild_t_star,
)
from brainbench.stats._io import infer_task
from brainbench.stats._metrics import METRICS

RESULTS = Path(__file__).parents[2] / "benchmarks" / "stats" / "results"


@pytest.fixture(scope="module")
def five_sites():
    """5 sites x 15 subjects x 2 sessions, two models."""
    return simulate_predictions(
        n_sites=5,
        subjects_per_site=15,
        sessions_per_subject=2,
        mu={"A": (1.0, 1.2), "B": (0.8, 0.9)},
        seed=3,
    )


def test_regimes():
    assert regime(4, 5) == ("4-7 sites", "1-9 subjects per site")
    assert regime(7, 9.9) == ("4-7 sites", "1-9 subjects per site")
    assert regime(8, 10) == (">= 8 sites", "10-39 subjects per site")
    assert regime(3, 40) == ("2-3 sites", ">= 40 subjects per site")
    assert regime(120, 39.5) == (">= 8 sites", "10-39 subjects per site")


def _row(method, sites, subj, cov, icc=0.05):
    return {
        "metric": "mae",
        "sites": sites,
        "subjects_per_site": subj,
        "sessions": 1,
        "icc": icc,
        "prevalence": 0.5,
        "method": method,
        "coverage": cov,
        "mc_se": 0.01,
    }


def test_choice_rule_minimax_then_mean_distance():
    rows = [
        # 4-7 sites: bca's worst cell is 0.93 (distance 0.02), percentile's 0.99 (0.04);
        # cluster-bootstrap-t ties bca's worst distance but is closer on average.
        _row("percentile", 4, 20, 0.99),
        _row("percentile", 6, 20, 0.95),
        _row("bca", 4, 20, 0.93),
        _row("bca", 6, 20, 0.955),
        _row("cluster-bootstrap-t", 4, 20, 0.968),
        _row("cluster-bootstrap-t", 6, 20, 0.95),
        # The wild bootstrap has one cell only: not eligible, however good.
        _row("wild-cluster-webb", 4, 20, 0.95),
        # 3 sites: never estimable, whatever covers best.
        _row("percentile", 3, 20, 0.95),
    ]
    run = {"command": "test", "grid": {"replicates": 100}, "coverage": rows}
    table = choose_defaults([run])
    by = {(e["sites"], e["subjects_per_site"]): e for e in table["choices"]}
    e = by[("4-7 sites", "10-39 subjects per site")]
    assert e["method"] == "cluster-bootstrap-t" and e["cells"] == 2
    assert not e["meets_goal"] and e["consistent_with_goal"]  # 0.968 <= 0.96 + 2 x 0.01
    assert e["coverage"]["percentile"]["worst_distance"] == pytest.approx(0.04)
    f = by[("2-3 sites", "10-39 subjects per site")]
    assert f["method"] == "conditional" and not f["estimable"] and not f["meets_goal"]


def test_committed_table_is_generated_from_the_committed_grid_runs():
    runs = [
        json.loads((RESULTS / f"interval-grid-{n}.json").read_text())
        for n in ("partial", "extended", "extended-specificity", "large-sites")
    ]
    # The re-selection of the regimes the first confirmation flagged (`--grid reselect`).
    runs += [
        json.loads((RESULTS / f"interval-reselect-{n}.json").read_text())
        for n in ("classification", "mae")
    ]
    runs += [
        json.loads((RESULTS / f"paired-grid-{n}-seed2026.json").read_text())
        for n in ("partial", "unbalanced", "unbalanced-small", "edge")
    ]
    # The confirmation runs (`--grid confirm --seed 2025 --metric M`), one per metric, then
    # the fresh confirmation of the re-selected regimes (`--grid confirm-fresh --seed 2027`).
    metrics = ("auroc", "balanced_accuracy", "mae", "sensitivity", "specificity")
    confirms = [RESULTS / f"interval-confirm-{m}.json" for m in metrics]
    confirms += [RESULTS / f"interval-confirm-fresh-{n}.json" for n in ("classification", "mae")]
    runs += [json.loads(f.read_text()) for f in confirms]
    assert load_table() == json.loads(json.dumps(choose_defaults(runs)))


def test_lookup_follows_the_table():
    table = load_table()
    c = calibrated_choice("balanced_accuracy", 5, 15.0, "site")
    (entry,) = [
        e
        for e in table["choices"]
        if (e["metric"], e["sites"], e["subjects_per_site"])
        == ("balanced_accuracy", "4-7 sites", "10-39 subjects per site")
    ]
    assert (c.method, c.chosen_for) == (entry["method"], "4-7 sites, 10-39 subjects per site")
    assert calibrated_choice("balanced_accuracy", 5, 15.0, "subject").method == "percentile"
    assert "not in the calibration table" in calibrated_choice("r2", 5, 15.0, "site").chosen_for


def test_calibrated_evaluate_names_method_and_regime(five_sites):
    res = evaluate_predictions(
        five_sites,
        ["balanced_accuracy", "sensitivity"],
        positive="AD",
        models=["A"],
        unit="session",
        clusters=["site", "subject"],
        interval="calibrated",
        resamples=500,
        seed=4,
    )
    for r in res:
        c = calibrated_choice(r.metric, 5, 15.0, "site")
        assert (r.interval, r.chosen_for) == (c.method, "4-7 sites, 10-39 subjects per site")
        assert r.calibration == c.calibration and r.calibration["designs"] > 0
        assert r.ci_low < r.estimate < r.ci_high
    # The same interval as asked for by name.
    ba = res[0]
    (named,) = evaluate_predictions(
        five_sites,
        ["balanced_accuracy"],
        positive="AD",
        models=["A"],
        unit="session",
        clusters=["site", "subject"],
        interval=ba.interval,
        resamples=500,
        seed=4,
    )
    assert (named.ci_low, named.ci_high) == (ba.ci_low, ba.ci_high) and named.chosen_for == ""


def test_bootstrap_t_in_evaluate_is_the_registered_method(five_sites):
    (r,) = evaluate_predictions(
        five_sites,
        ["auroc"],
        positive="AD",
        models=["B"],
        unit="subject",
        clusters=["site", "subject"],
        interval="cluster-bootstrap-t",
        resamples=300,
        seed=9,
    )
    md = model_data(
        five_sites[five_sites.model == "B"], "B", infer_task(five_sites, positive="AD"), "subject"
    )
    design, _ = design_for(md, ["site"], stratify=False)
    stat = Statistic(design, run_blocks(md, METRICS.get("auroc"), design))
    lo, hi = cluster_bootstrap_t(stat, resamples=300, rng=np.random.default_rng(9))
    assert (r.ci_low, r.ci_high) == (pytest.approx(lo), pytest.approx(hi))
    assert r.clusters == {"site": 5}


def test_calibrated_flags_a_regime_below_the_goal():
    df = simulate_predictions(n_sites=5, subjects_per_site=6, seed=2)
    c = calibrated_choice("sensitivity", 5, 6.0, "site")
    assert not c.entry["consistent_with_goal"]  # 4-7 sites x 1-9 subjects: no method did
    (r,) = evaluate_predictions(
        df,
        ["sensitivity"],
        positive="AD",
        unit="subject",
        clusters=["site", "subject"],
        interval="calibrated",
        resamples=200,
    )
    assert r.interval == c.method
    assert any("no interval method covered 94%-96%" in w for w in r.warnings)


def test_three_sites_stay_conditional_whatever_the_interval(hier):
    few = hier[hier.site.isin(["site00", "site01", "site02"])]
    for interval in ("calibrated", "wild-cluster-webb"):
        (r,) = evaluate_predictions(
            few,
            ["accuracy"],
            positive="AD",
            models=["A"],
            clusters=["site", "subject"],
            interval=interval,
            resamples=100,
        )
        assert r.conditional_on == {"site": 3} and r.interval == "percentile"
    assert r.chosen_for == "" and any("needs at least 4 sites" in w for w in r.warnings)
    (c,) = evaluate_predictions(
        few,
        ["accuracy"],
        positive="AD",
        models=["A"],
        clusters=["site", "subject"],
        interval="calibrated",
        resamples=100,
    )
    assert c.chosen_for == "3 sites: a site-level interval is not estimable"


def test_bad_choices_say_what_to_do(five_sites):
    kw = dict(positive="AD", models=["A"], resamples=50)
    with pytest.raises(UserError, match="applies to metrics"):
        evaluate_predictions(
            five_sites, ["auroc"], clusters=["site"], interval="wild-cluster-webb", **kw
        )
    with pytest.raises(UserError, match="studentises over clusters"):
        evaluate_predictions(five_sites, ["accuracy"], interval="cluster-bootstrap-t", **kw)


def test_wild_blocks_match_a_hand_refit_of_each_block():
    """A difference of two weighted means (coefficients +1, -1): every Rademacher draw of 5
    clusters, each block refitted by hand, studentised by the CR1 norm of the combined
    cluster scores."""
    rng = np.random.default_rng(0)
    G, n = 5, 40
    codes = rng.integers(0, G, n)
    codes[:G] = np.arange(G)
    u1, u2 = rng.normal(size=n), rng.normal(size=n) + 0.3
    w1, w2 = rng.uniform(0.5, 2, n), np.ones(n)
    blocks = [(u1, w1, codes, 1.0), (u2, w2, codes, -1.0)]
    theta, scores, shares, coef = block_scores(blocks, G)
    V = np.array(list(itertools.product([-1.0, 1.0], repeat=G)))
    fast = wild_t_star(scores, shares, V, coef)
    for v, t in zip(V, fast, strict=True):
        delta, s = 0.0, np.zeros(G)
        for u, w, _, c in blocks:
            th = (w * u).sum() / w.sum()
            star = th + v[codes] * (u - th)
            th_star = (w * star).sum() / w.sum()
            delta += c * (th_star - th)
            s += c * np.bincount(codes, w * (star - th_star), G) / w.sum()
        se = np.sqrt(G / (G - 1) * (s**2).sum())
        assert t == pytest.approx(delta / se, rel=1e-10) if se > 1e-12 else True
    assert theta == pytest.approx((w1 * u1).sum() / w1.sum() - u2.mean())
    # One block is the single-mean interval.
    one = wild_cluster_blocks([blocks[0]], G, rng=np.random.default_rng(3), weights="webb")
    ref = wild_cluster_interval(u1, w1, codes, rng=np.random.default_rng(3), weights="webb")
    assert one == ref


def test_cli_evaluate_and_write_defaults(tmp_path, five_sites):
    pred = tmp_path / "pred.csv"
    five_sites.to_csv(pred, index=False)
    r = CliRunner().invoke(
        cli,
        [
            "evaluate",
            str(pred),
            "--positive",
            "AD",
            "--clusters",
            "site,subject",
            "--metric",
            "balanced_accuracy",
            "--interval",
            "calibrated",
            "--resamples",
            "200",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "(chosen for 4-7 sites, 1" in r.output
    out = tmp_path / "defaults.json"
    r = CliRunner().invoke(
        cli,
        [
            "calibrate",
            "--from-json",
            str(RESULTS / "interval-grid-quick.json"),
            "--write-defaults",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    table = json.loads(out.read_text())
    assert table["generated_by"] == ["brainbench calibrate --grid quick --seed 2024"]
    assert "| balanced_accuracy | 4-7 sites |" in r.output
    r = CliRunner().invoke(cli, ["calibrate", "--write-defaults", str(out)])
    assert r.exit_code != 0 and "either --grid NAME" in str(r.exception)


def test_cr2_in_evaluate_is_the_registered_method(five_sites):
    from brainbench.stats._intervals import cr2_interval, mean_form

    (r,) = evaluate_predictions(
        five_sites,
        ["sensitivity"],
        positive="AD",
        models=["A"],
        unit="subject",
        clusters=["site", "subject"],
        interval="cr2",
    )
    md = model_data(
        five_sites[five_sites.model == "A"], "A", infer_task(five_sites, positive="AD"), "subject"
    )
    design, _ = design_for(md, ["site"], stratify=False)
    u, w = mean_form("sensitivity", md.columns())
    lo, hi, _ = cr2_interval([(u, w, design.row_atom, 1.0)], 5)
    # Truncated to the metric's range, with a note.
    assert (r.ci_low, r.ci_high) == (pytest.approx(max(lo, 0)), pytest.approx(min(hi, 1)))
    assert hi < 1 or any("truncated" in n for n in r.warnings)
    assert r.interval == "cr2" and r.clusters == {"site": 5}


def _one(df, metric, interval="calibrated", **kw):
    """The one result of ``metric`` (AD positive, clusters site > subject, 100 resamples)."""
    kw = {"positive": "AD", "clusters": ["site", "subject"], "resamples": 100} | kw
    (r,) = evaluate_predictions(df, [metric], interval=interval, **kw)
    return r


@pytest.fixture(scope="module")
def two_patient_sites():
    """6 sites x 20 subjects whose patients (AD) come from two sites only: sensitivity has
    units at 2 of the 6 sites (a recruitment design common in multi-site studies)."""
    df = simulate_predictions(n_sites=6, subjects_per_site=20, seed=5)
    df["y_true"] = np.where(df.site.isin(["site00", "site01"]), df.y_true, "CN")
    df["y_pred"] = np.where(df.score >= 0.5, "AD", "CN")
    return df


def test_an_undefined_studentised_interval_says_why(two_patient_sites):
    """cr2 needs 3 sites holding the metric's units: asked for by name it gives no interval
    and a warning says why; never a silent NaN."""
    kw = dict(positive="AD", unit="subject", clusters=["site", "subject"], resamples=200)
    (r,) = evaluate_predictions(two_patient_sites, ["sensitivity"], interval="cr2", **kw)
    assert r.interval == "cr2" and np.isnan(r.ci_low) and np.isnan(r.ci_high)
    assert any(
        "only 2 of the 6 sites hold units that 'sensitivity' is computed on" in w
        for w in r.warnings
    )


def test_calibrated_falls_back_where_its_choice_is_undefined(two_patient_sites):
    """The calibrated choice (cr2 at 4-7 sites x 10-39 subjects) is undefined here: the
    percentile interval of the hierarchical bootstrap is reported, and the result says so
    (no coverage of cr2 attached to it)."""
    kw = dict(positive="AD", unit="subject", clusters=["site", "subject"], resamples=200)
    c = calibrated_choice("sensitivity", 6, 20.0, "site")
    assert c.method == "cr2"
    (r,) = evaluate_predictions(two_patient_sites, ["sensitivity"], interval="calibrated", **kw)
    (p,) = evaluate_predictions(two_patient_sites, ["sensitivity"], interval="percentile", **kw)
    assert r.interval == "percentile" and (r.ci_low, r.ci_high) == (p.ci_low, p.ci_high)
    assert np.isfinite(r.ci_low) and r.calibration == {}
    assert r.chosen_for.startswith("4-7 sites, 10-39 subjects per site") and "cr2" in r.chosen_for
    assert any("cr2" in w and "percentile interval" in w for w in r.warnings)


def test_undefined_bootstrap_t_resamples_are_counted(two_patient_sites):
    """Resamples of sites without a patient leave sensitivity undefined: the bootstrap-t
    excludes them and says how many, as the percentile interval does."""
    r = _one(two_patient_sites, "sensitivity", "cluster-bootstrap-t", unit="subject", resamples=200)
    assert 0 < r.n_degenerate < 200
    assert any(f"{r.n_degenerate} of 200 bootstrap-t resamples" in w for w in r.warnings)


def test_calibrated_percentile_outside_the_table_keeps_its_few_sites_warning(five_sites):
    """A metric the grid never simulated (accuracy) gets the percentile interval under
    `calibrated`: it is not calibrated, so it keeps the warning the same interval gets when
    asked for by name (too narrow with fewer than 8 sites)."""
    kw = dict(positive="AD", models=["A"], clusters=["site", "subject"], resamples=100)
    (named,) = evaluate_predictions(five_sites, ["accuracy"], interval="percentile", **kw)
    (cal,) = evaluate_predictions(five_sites, ["accuracy"], interval="calibrated", **kw)
    assert cal.interval == "percentile" and cal.calibration == {}
    assert "not in the calibration table for 'accuracy'" in cal.chosen_for
    few = [w for w in named.warnings if w.startswith("Only 5 site clusters")]
    assert few and set(few) <= set(cal.warnings)


def test_units_without_a_site_id_are_named_with_the_regime_they_move_to():
    """Units without a site id are sites of their own (as in the bootstrap): 5 named sites
    and 4 such units are 9 site clusters, so `calibrated` reads the >= 8-site regime. The
    result says so, and the subjects per site are counted over the same 9 clusters."""
    df = simulate_predictions(n_sites=5, subjects_per_site=[40, 40, 40, 40, 44], seed=4)
    df.loc[df.subject.isin(df.subject.unique()[-4:]), "site"] = np.nan
    r = _one(df, "balanced_accuracy")
    assert r.clusters["site"] == 9
    # 204 subjects over 9 clusters: 22.7 per site (the 5 named sites alone hold 40 each).
    assert r.chosen_for.startswith(">= 8 sites, 10-39 subjects per site")
    assert any(
        "4 images have no site id" in w and "9 site clusters (5 with an id)" in w
        for w in r.warnings
    ), r.warnings


def test_a_class_confined_to_few_sites_is_named(two_patient_sites):
    """Patients at 2 of 6 sites: a metric resting on them has a between-site variance from 2
    sites, whatever the interval; one resting on the controls alone (specificity) does not."""
    kw = dict(positive="AD", unit="subject", clusters=["site", "subject"], resamples=100)
    for metric in ("balanced_accuracy", "sensitivity", "auroc"):
        (r,) = evaluate_predictions(two_patient_sites, [metric], interval="calibrated", **kw)
        assert any("Class AD occurs at only 2 of the 6 sites" in w for w in r.warnings), metric
    (s,) = evaluate_predictions(two_patient_sites, ["specificity"], interval="calibrated", **kw)
    assert not any("occurs at only" in w for w in s.warnings)


def test_calibrated_says_its_grid_had_two_classes():
    """The grid simulated two-class tasks: for a 3-class task the table's choice is used,
    and the result says its coverage there is an extrapolation."""
    df = simulate_predictions(n_sites=6, subjects_per_site=15, seed=2).drop(columns="score")
    rng = np.random.default_rng(0)
    labels = np.array(["CN", "MCI", "AD"])
    y = rng.integers(0, 3, len(df))
    df["y_true"] = labels[y]
    df["y_pred"] = labels[np.where(rng.random(len(df)) < 0.7, y, rng.integers(0, 3, len(df)))]
    r = _one(df, "balanced_accuracy")
    assert r.interval == calibrated_choice("balanced_accuracy", 6, 15.0, "site").method
    assert any("two-class tasks" in w and "3 classes" in w for w in r.warnings), r.warnings


def test_a_scanner_level_regime_names_its_scanners():
    """With scanners as the outer level, the grid's sites stand for them: the regime says so
    (it read '4-7 sites' for 6 scanners)."""
    df = simulate_predictions(n_sites=6, subjects_per_site=15, seed=8)
    df = df.assign(scanner=df.site.str.replace("site", "scan")).drop(columns="site")
    r = _one(df, "balanced_accuracy", clusters=["scanner", "subject"])
    assert r.chosen_for == "4-7 sites, 10-39 subjects per site (here: 6 scanners)"
    assert r.calibration == calibrated_choice("balanced_accuracy", 6, 15.0, "site").calibration


def test_calibrated_at_another_level_says_the_grid_judged_95_percent(five_sites):
    kw = dict(positive="AD", models=["A"], clusters=["site", "subject"], resamples=100)
    (r,) = evaluate_predictions(five_sites, ["accuracy"], interval="calibrated", **kw)
    assert not any("nominal 95% intervals only" in w for w in r.warnings)
    (r,) = evaluate_predictions(
        five_sites, ["balanced_accuracy"], interval="calibrated", level=0.9, **kw
    )
    assert r.chosen_for and any(
        "nominal 95% intervals only" in w and "90%" in w for w in r.warnings
    ), r.warnings
