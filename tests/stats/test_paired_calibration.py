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
    paired_verdicts,
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


def _rate(sites, method, effect, rate, se=0.01):
    return {
        "sites": sites,
        "subjects_per_site": 20,
        "effect": effect,
        "method": method,
        "rate": rate,
        "mc_se": se,
        "n": 200,
    }


def test_verdicts_recommend_the_most_powerful_calibrated_method_or_flag():
    rates = [
        # 8 sites: the bootstrap is conservative (1%), the wild bootstrap holds 5% and is more
        # powerful than the mixed model: recommended, goal met.
        _rate(8, "paired-bootstrap", 0.0, 0.01),
        _rate(8, "paired-bootstrap", 0.5, 0.30),
        _rate(8, "wild-cluster-webb", 0.0, 0.05),
        _rate(8, "wild-cluster-webb", 0.5, 0.50),
        _rate(8, "mixed", 0.0, 0.05),
        _rate(8, "mixed", 0.5, 0.45),
        # 4 sites: nothing holds 4-6%: flagged.
        _rate(4, "paired-bootstrap", 0.0, 0.01),
        _rate(4, "paired-bootstrap", 0.5, 0.10),
        _rate(4, "wild-cluster-webb", 0.0, 0.12),
        _rate(4, "wild-cluster-webb", 0.5, 0.40),
        # 16 sites: the mixed model holds 5% and is the most powerful: it is recommended.
        _rate(16, "wild-cluster-webb", 0.0, 0.05),
        _rate(16, "wild-cluster-webb", 0.5, 0.50),
        _rate(16, "mixed", 0.0, 0.05),
        _rate(16, "mixed", 0.5, 0.60),
        # 6 sites: the mixed model is more powerful but over its level: flagged.
        _rate(6, "cr2", 0.0, 0.05),
        _rate(6, "cr2", 0.5, 0.40),
        _rate(6, "mixed", 0.0, 0.10),
        _rate(6, "mixed", 0.5, 0.60),
    ]
    four, six, eight, sixteen = paired_verdicts({"rates": rates})
    assert eight["recommended"] == "wild-cluster-webb" and eight["meets_goal"]
    assert four["recommended"] is None and not four["meets_goal"]
    assert "no method's type-I error is within 4-6%" in four["why"]
    assert sixteen["recommended"] == "mixed" and sixteen["meets_goal"]
    assert six["recommended"] == "cr2" and not six["meets_goal"]
    assert "less powerful than the mixed model" in six["why"]


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
        assert 0 <= x["rate"] <= 1 and x["n"] == 40
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
