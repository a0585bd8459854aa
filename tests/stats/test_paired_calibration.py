"""Paired comparisons with the calibration treatment (issue 15, item 3): the studentised
cluster methods applied to differences, and the type-I error / power grid."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from click.testing import CliRunner

from brainbench.cli import cli
from brainbench.stats import compare_models, simulate_predictions
from brainbench.stats._bootstrap import Statistic
from brainbench.stats._calibrate_paired import (
    METHODS,
    MIN_DATA_SETS,
    TOO_FEW,
    paired_verdicts,
    rate_difference,
    render_paired_markdown,
    replicate_p_values,
    site_sizes,
)
from brainbench.stats._compare import pair_models
from brainbench.stats._data import design_for, model_data
from brainbench.stats._evaluate import run_blocks
from brainbench.stats._intervals import cluster_t, t_interval, t_p_value
from brainbench.stats._io import infer_task
from brainbench.stats._metrics import METRICS


@pytest.fixture(scope="module")
def six_sites():
    return simulate_predictions(
        n_sites=6,
        subjects_per_site=12,
        sessions_per_subject=2,
        mu={"A": (1.0, 1.2), "B": (0.8, 0.9)},
        model_sd_site=0.3,
        model_sd_subject=0.5,
        seed=3,
    )


def _compare(df, interval, metric="balanced_accuracy"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (r,) = compare_models(
            df,
            metric,
            "bootstrap",
            positive="AD",
            clusters=["site", "subject"],
            interval=interval,
            resamples=400,
            seed=2,
        )
    return r


def test_compare_bootstrap_t_of_the_difference_is_the_registered_method(six_sites):
    r = _compare(six_sites, "cluster-bootstrap-t")
    task = infer_task(six_sites, positive="AD")
    m = METRICS.get("balanced_accuracy")
    a, b = (model_data(six_sites[six_sites.model == x], x, task, "image") for x in "AB")
    pair = pair_models(a, b, m)
    design, _ = design_for(pair.a, ["site"], stratify=False)
    stat = Statistic(
        design, run_blocks(pair.a, m, design, 1.0) + run_blocks(pair.b, m, design, -1.0)
    )
    got = cluster_t(stat, resamples=400, rng=np.random.default_rng(2))
    assert (r.ci_low, r.ci_high) == pytest.approx(t_interval(*got, 0.95))
    assert r.p_value == pytest.approx(t_p_value(*got))
    assert r.extra["interval"] == "cluster-bootstrap-t" and r.extra["clusters"] == {"site": 6}
    w = _compare(six_sites, "wild-cluster-webb")
    assert w.ci_low < w.estimate < w.ci_high and 0 < w.p_value <= 1
    assert w.estimate == pytest.approx(r.estimate)
    with pytest.raises(Exception, match="applies to metrics"):
        _compare(six_sites, "wild-cluster-webb", metric="auroc")


def test_replicates_are_seeded_and_give_every_method():
    a = replicate_p_values(np.random.default_rng([1, 2]), 6, 5, 0.0, 99)
    b = replicate_p_values(np.random.default_rng([1, 2]), 6, 5, 0.0, 99)
    assert a == b and set(a) == set(METHODS)
    assert all(0 < p <= 1 for p in a.values())
    # the mixed model from 5 sites (as compare); its Satterthwaite interval from 4
    assert set(replicate_p_values(np.random.default_rng(3), 4, 5, 0.0, 99)) == set(METHODS) - {
        "mixed"
    }


def test_unbalanced_sites_grow_geometrically():
    sizes = site_sizes(6, 20, 8.0)
    assert list(sizes) == sorted(sizes) and 7 <= sizes[-1] / sizes[0] <= 9
    assert abs(sizes.mean() - 20) < 1 and list(site_sizes(4, 5)) == [5] * 4


def _rate(sites, method, effect, rate, n=2000, vs_mixed=None, per_site=20):
    """A cell of a paired run; ``vs_mixed``: (difference from the mixed model's rate, its SE)."""
    row = {
        "sites": sites,
        "subjects_per_site": per_site,
        "effect": effect,
        "method": method,
        "rate": rate,
        "mc_se": float(np.sqrt(rate * (1 - rate) / n)),
        "n": n,
    }
    if vs_mixed is not None:
        row["vs_mixed"] = {"diff": vs_mixed[0], "mc_se": vs_mixed[1]}
    return row


def test_verdicts_recommend_the_most_powerful_calibrated_method_or_flag():
    rates = [
        # 8 sites: the bootstrap is conservative (1%), the wild bootstrap holds 5% and is more
        # powerful than the mixed model: recommended, goal met.
        _rate(8, "paired-bootstrap", 0.0, 0.01),
        _rate(8, "paired-bootstrap", 0.5, 0.30),
        _rate(8, "wild-cluster-webb", 0.0, 0.05),
        _rate(8, "wild-cluster-webb", 0.5, 0.50, vs_mixed=(0.05, 0.01)),
        _rate(8, "mixed", 0.0, 0.05),
        _rate(8, "mixed", 0.5, 0.45, vs_mixed=(0.0, 0.0)),
        # 4 sites: nothing holds 4-6%: flagged.
        _rate(4, "paired-bootstrap", 0.0, 0.01),
        _rate(4, "paired-bootstrap", 0.5, 0.10),
        _rate(4, "wild-cluster-webb", 0.0, 0.12),
        _rate(4, "wild-cluster-webb", 0.5, 0.40),
        # 16 sites: the mixed model holds 5% and is the most powerful: it is recommended.
        _rate(16, "wild-cluster-webb", 0.0, 0.05),
        _rate(16, "wild-cluster-webb", 0.5, 0.50, vs_mixed=(-0.10, 0.01)),
        _rate(16, "mixed", 0.0, 0.05),
        _rate(16, "mixed", 0.5, 0.60, vs_mixed=(0.0, 0.0)),
        # 6 sites: the mixed model is more powerful but over its level: flagged.
        _rate(6, "cr2", 0.0, 0.05),
        _rate(6, "cr2", 0.5, 0.40, vs_mixed=(-0.20, 0.01)),
        _rate(6, "mixed", 0.0, 0.10),
        _rate(6, "mixed", 0.5, 0.60, vs_mixed=(0.0, 0.0)),
    ]
    four, six, eight, sixteen = paired_verdicts({"rates": rates})
    assert eight["recommended"] == "wild-cluster-webb" and eight["meets_goal"]
    assert four["recommended"] is None and not four["meets_goal"]
    assert "no method's type-I error is within 4-6%" in four["why"]
    assert sixteen["recommended"] == "mixed" and sixteen["meets_goal"]
    assert six["recommended"] == "cr2" and not six["meets_goal"]
    assert "less powerful than the mixed model" in six["why"]


def _design(rate, n, power=0.30, vs_mixed=(0.0, 0.01), sites=6, per_site=20, mixed=0.10):
    """One design: cr2 at type-I error ``rate`` and the mixed model (at ``mixed``) beside it."""
    return [
        _rate(sites, "cr2", 0.0, rate, n, per_site=per_site),
        _rate(sites, "cr2", 0.5, power, n, vs_mixed, per_site=per_site),
        _rate(sites, "mixed", 0.0, mixed, n, per_site=per_site),
        _rate(sites, "mixed", 0.5, 0.30, n, (0.0, 0.0), per_site=per_site),
    ]


def test_the_goal_is_judged_only_from_enough_data_sets():
    """At 2,000 data sets two MC SEs at 5% are under one point: 5.0% holds, 7.5% does not
    (7.5 > 6 + 2 x 0.59); at 200 data sets no rate can meet the goal, a 5.0% one included."""
    (few,) = paired_verdicts({"rates": _design(0.05, 200)})
    assert few["calibrated"] == [] and few["recommended"] is None and not few["meets_goal"]
    assert few["why"].startswith(TOO_FEW) and not few["judged"]
    (ok,) = paired_verdicts({"rates": _design(0.05, 2000)})
    assert ok["calibrated"] == ["cr2"] and ok["recommended"] == "cr2" and ok["meets_goal"]
    (high,) = paired_verdicts({"rates": _design(0.075, 2000)})
    assert high["recommended"] is None and "within 4-6%" in high["why"]
    assert MIN_DATA_SETS == 1900 and 2 * np.sqrt(0.05 * 0.95 / MIN_DATA_SETS) <= 0.01
    assert 2 * np.sqrt(0.05 * 0.95 / (MIN_DATA_SETS - 1)) > 0.01
    # Power: 1.5 points below the mixed model's with an SE of 0.8 is "at least" (within two
    # SEs); 2.0 points below is not.
    (near,) = paired_verdicts({"rates": _design(0.05, 2000, 0.285, (-0.015, 0.008))})
    assert near["meets_goal"]
    (below,) = paired_verdicts({"rates": _design(0.05, 2000, 0.28, (-0.02, 0.008))})
    assert not below["meets_goal"] and "less powerful than the mixed model" in below["why"]
    assert "difference -2.0 points, MC SE 0.8" in below["why"]


def test_regimes_use_the_judged_designs_and_flag_the_rest():
    """A regime with only 200-data-set designs is flagged as too few; where a judged run
    covers the regime, a pooled run with too few data sets does not change the verdict."""
    from brainbench.stats._interval_defaults import paired_regimes

    few = {"command": "run at 200", "rates": _design(0.05, 200, sites=8)}
    good = {"command": "run at 2000", "rates": _design(0.05, 2000)}
    bad = {"command": "bad run at 200", "rates": _design(0.2, 200)}
    (eight,) = paired_regimes([few])
    assert eight["recommended"] is None and not eight["meets_goal"]
    assert eight["why"].startswith(f"{TOO_FEW}: 8 sites x 20: 200 data sets")
    (six,) = paired_regimes([good, bad])
    assert six["recommended"] == "cr2" and six["meets_goal"] and six["source"] == "run at 2000"
    # The mixed model holds its level and is more powerful: the design's own verdict names
    # it; the regime's (an interval for `compare --method bootstrap`) is flagged, saying so.
    weak = {"command": "weak", "rates": _design(0.05, 2000, 0.27, (-0.03, 0.008), mixed=0.05)}
    assert paired_verdicts(weak)[0]["recommended"] == "mixed"
    (six,) = paired_regimes([weak])
    assert six["recommended"] == "cr2" and not six["meets_goal"]
    assert "less powerful than the mixed model" in six["why"]
    assert "`compare --method mixed` held its level there" in six["why"]


def test_rate_difference_is_the_paired_mean_and_its_se():
    rng = np.random.default_rng(0)
    p, q = rng.uniform(0, 0.1, 500), rng.uniform(0, 0.1, 500)
    q[:7] = np.nan  # a method without a p-value on some data sets: they are left out
    got = rate_difference(p, q)
    d = (p[7:] < 0.05).astype(float) - (q[7:] < 0.05)
    assert got["n"] == 493 and got["diff"] == pytest.approx(d.mean())
    assert got["mc_se"] == pytest.approx(d.std() / np.sqrt(len(d)))


def test_unbalanced_small_sites_are_the_lowest_subject_regime():
    from brainbench.stats._calibrate_paired import PAIRED_PRESETS
    from brainbench.stats._interval_defaults import paired_regimes, regime

    grid = PAIRED_PRESETS["unbalanced-small"]
    assert list(site_sizes(6, 5, grid["size_ratio"])) == [2, 2, 3, 5, 7, 11]
    assert list(site_sizes(8, 5, grid["size_ratio"])) == [2, 2, 3, 3, 5, 6, 8, 11]
    for sites in grid["sites"]:
        sizes = site_sizes(sites, 5, grid["size_ratio"])
        assert sizes.mean() == 5 and sizes.min() >= 2
        assert regime(sites, sizes.mean())[1] == "1-9 subjects per site"
    run = {"command": "small", "grid": grid, "rates": _design(0.05, 2000, per_site=5)}
    (entry,) = paired_regimes([run])
    assert (entry["sites"], entry["subjects_per_site"]) == ("4-7 sites", "1-9 subjects per site")
    assert entry["designs"][0]["site_sizes"] == [2, 2, 3, 5, 7, 11]
    got = replicate_p_values(np.random.default_rng(4), 6, 5, 0.0, 49, grid["size_ratio"])
    assert set(got) == set(METHODS) and all(0 < p <= 1 for p in got.values())


def test_unbalanced_small_from_the_cli_shows_rates_but_cannot_judge_ten_data_sets(tmp_path):
    out = tmp_path / "small.json"
    args = ["calibrate", "--paired-grid", "unbalanced-small", "--replicates", "10"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = CliRunner().invoke(cli, [*args, "--format", "json", "-o", str(out)])
    assert r.exit_code == 0, r.output
    res = json.loads(out.read_text())
    assert res["grid"]["size_ratio"] == 8.0 and {x["n"] for x in res["rates"]} == {10}
    table = render_paired_markdown(res)
    assert "| 6 | 5 (2-11) | 10 |" in table and "| 8 | 5 (2-11) | 10 |" in table
    assert table.count(f"no: {TOO_FEW} (10 data sets; 1,900 needed)") == 2


def test_quick_paired_grid_from_the_cli(tmp_path):
    out = tmp_path / "paired.json"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = CliRunner().invoke(
            cli,
            ["calibrate", "--paired-grid", "quick", "--format", "json", "-o", str(out)],
        )
    assert r.exit_code == 0, r.output
    res = json.loads(out.read_text())
    assert res["command"] == "brainbench calibrate --paired-grid quick --seed 2024"
    cells = {(x["effect"], x["method"]) for x in res["rates"]}
    assert cells == {(e, m) for e in (0.0, 0.5) for m in METHODS}
    for x in res["rates"]:
        assert 0 <= x["rate"] <= 1 and x["n"] == 40 and x["vs_mixed"]["n"] == 40
    # The alternative (logits + 0.5 for model A) is rejected more often than the null.
    null = {x["method"]: x["rate"] for x in res["rates"] if x["effect"] == 0}
    alt = {x["method"]: x["rate"] for x in res["rates"] if x["effect"] > 0}
    assert all(alt[m] >= null[m] for m in ("paired-bootstrap", "wild-cluster-webb"))


def test_compare_follows_the_paired_table(six_sites, monkeypatch):
    """`calibrated` takes the regime's recommended method; a regime where none met the goal
    is flagged whatever the interval (fake paired runs, 6 sites x 20 subjects)."""
    from brainbench.stats import _interval_defaults as defaults

    def table(rates):
        run = {"command": "fake paired run", "grid": {"replicates": 200}, "rates": rates}
        return defaults.choose_defaults([run]) | {"choices": []}

    good = table(
        [
            _rate(6, "paired-bootstrap", 0.0, 0.01),
            _rate(6, "paired-bootstrap", 0.5, 0.3),
            _rate(6, "wild-cluster-webb", 0.0, 0.05),
            _rate(6, "wild-cluster-webb", 0.5, 0.5),
        ]
    )
    monkeypatch.setattr(defaults, "load_table", lambda path=None: good)
    r = _compare(six_sites, "calibrated")
    assert r.extra["interval"] == "wild-cluster-webb"
    assert r.extra["chosen_for"] == "4-7 sites, 10-39 subjects per site"
    bad = table([_rate(6, "paired-bootstrap", 0.0, 0.01), _rate(6, "paired-bootstrap", 0.5, 0.3)])
    monkeypatch.setattr(defaults, "load_table", lambda path=None: bad)
    for interval in ("calibrated", "percentile"):
        r = _compare(six_sites, interval)
        assert r.extra["interval"] == "percentile"
        (flag,) = [w for w in r.warnings if w.startswith("Calibration of paired comparisons")]
        assert "no bootstrap method held its type-I error within 4-6%" in flag


def test_calibrated_comparison_of_another_metric_is_the_paired_bootstrap(six_sites, monkeypatch):
    """The paired table is about differences of balanced accuracies: its recommendation (here
    the wild bootstrap, which needs a weighted mean) is not applied to AUROC, which gets the
    paired bootstrap and says it is not calibrated, instead of an error."""
    from brainbench.stats import _interval_defaults as defaults

    run = {
        "command": "fake paired run",
        "grid": {"replicates": 200},
        "rates": [
            _rate(6, "wild-cluster-webb", 0.0, 0.05),
            _rate(6, "wild-cluster-webb", 0.5, 0.5),
        ],
    }
    table = defaults.choose_defaults([run]) | {"choices": []}
    monkeypatch.setattr(defaults, "load_table", lambda path=None: table)
    assert _compare(six_sites, "calibrated").extra["interval"] == "wild-cluster-webb"
    r = _compare(six_sites, "calibrated", metric="auroc")
    assert r.extra["interval"] == "percentile" and "chosen_for" not in r.extra
    assert any("simulated differences of balanced_accuracy only" in w for w in r.warnings)
    assert np.isfinite(r.p_value) and r.ci_low < r.ci_high


def test_a_regime_flagged_on_power_alone_says_the_level_holds(six_sites, monkeypatch):
    """cr2 holds 5% but the mixed model is 10 points more powerful: the flag says the level
    holds for the recommended method, and calls an interval the table did not judge
    approximate."""
    from brainbench.stats import _interval_defaults as defaults

    run = {
        "command": "fake paired run",
        "grid": {"replicates": 2000},
        "rates": [
            _rate(6, "cr2", 0.0, 0.05),
            _rate(6, "cr2", 0.5, 0.30, vs_mixed=(-0.10, 0.01)),
            _rate(6, "mixed", 0.0, 0.05),
            _rate(6, "mixed", 0.5, 0.40),
        ],
    }
    table = defaults.choose_defaults([run]) | {"choices": []}
    (entry,) = table["paired"]
    assert entry["recommended"] == "cr2" and not entry["meets_goal"]
    monkeypatch.setattr(defaults, "load_table", lambda path=None: table)
    for interval, says in (
        ("calibrated", "cr2's type-I error is within 4-6% here"),
        ("cr2", "cr2's type-I error is within 4-6% here"),
        ("percentile", "Treat this comparison's p-value and interval as approximate"),
    ):
        r = _compare(six_sites, interval)
        (flag,) = [w for w in r.warnings if w.startswith("Calibration of paired comparisons")]
        assert "less powerful than the mixed model" in flag and says in flag


def test_edge_preset_is_the_top_of_the_smallest_subject_regime():
    from brainbench.stats._calibrate_paired import PAIRED_PRESETS
    from brainbench.stats._interval_defaults import regime

    edge = PAIRED_PRESETS["edge"]
    assert edge["replicates"] >= 1900  # judged at the strict criterion's precision
    assert {regime(s, p)[1] for s in edge["sites"] for p in edge["subjects_per_site"]} == {
        "1-9 subjects per site"
    }
    assert {regime(s, 9)[0] for s in edge["sites"]} == {"4-7 sites", ">= 8 sites"}
