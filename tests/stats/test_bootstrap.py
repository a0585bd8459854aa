"""The resampling engine: scipy agreement in the flat case, exactness of the multiplicities,
degenerate resamples, reproducibility."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy import stats as sps

from brainbench.stats import evaluate_predictions, model_data
from brainbench.stats._bootstrap import Block, Statistic, bca_interval, percentile_interval
from brainbench.stats._io import Task
from brainbench.stats._metrics import METRICS, Columns
from brainbench.stats._resample import ClusterDesign


def _flat_table(n=150, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = np.clip(0.25 * y + 0.75 * rng.random(n), 0, 1)
    return pd.DataFrame({"model": "m", "y_true": y, "score": score})


@pytest.mark.parametrize("method", ["percentile", "bca"])
@pytest.mark.parametrize("metric", ["accuracy", "brier", "auroc"])
def test_flat_bootstrap_equals_scipy(method, metric):
    """Same seed, same batch: identical resamples, so identical intervals."""
    df = _flat_table()
    B, batch = 2000, 500
    res = evaluate_predictions(
        df, [metric], method="bootstrap", interval=method, resamples=B, seed=11, stratify=False
    )[0]
    # The same batching as our engine (its chunk for 150 atoms exceeds 2000: one batch).
    m = METRICS.get(metric)
    y = df["y_true"].to_numpy()
    s = df["score"].to_numpy()

    def statistic(idx, axis=-1):
        idx = np.atleast_2d(idx)
        out = np.array(
            [m(Columns(y=y[i], pred=(s[i] >= 0.5).astype(int), score=s[i])) for i in idx]
        )
        return out if out.shape[0] > 1 else out[0]

    ref = sps.bootstrap(
        (np.arange(len(df)),),
        statistic,
        vectorized=True,
        n_resamples=B,
        batch=B,
        method=method,
        rng=np.random.default_rng(11),
    )
    assert_allclose(res.ci_low, ref.confidence_interval.low, rtol=1e-10)
    assert_allclose(res.ci_high, ref.confidence_interval.high, rtol=1e-10)
    del batch


def test_chunking_does_not_change_the_distribution_law():
    """Different chunk sizes: same law (means and sds agree within Monte Carlo error)."""
    rng = np.random.default_rng(0)
    site = np.repeat(np.arange(12), 30)
    subj = np.arange(360)
    design = ClusterDesign([site, subj], names=["site", "subject"])
    X = rng.random((360, 2))
    a = design.sums(X, 4000, np.random.default_rng(1), chunk=4000, engine="index")
    b = design.sums(X, 4000, np.random.default_rng(2), chunk=7, engine="index")
    assert_allclose(a.mean(0), b.mean(0), rtol=0.01)
    assert_allclose(a.std(0), b.std(0), rtol=0.06)


def test_type_engine_matches_index_engine_in_law():
    rng = np.random.default_rng(3)
    site = np.repeat(np.arange(8), 50)
    subj = np.arange(400)
    y = np.arange(400) % 2
    X = np.column_stack([y, rng.integers(0, 3, 400), np.ones(400)]).astype(float)
    design = ClusterDesign([site, subj], strata=y)
    t = design.sums(X, 6000, np.random.default_rng(4), engine="types")
    i = design.sums(X, 6000, np.random.default_rng(5), engine="index")
    assert len(design.types(design.atom_sums(X))[2]) < 100
    assert_allclose(t.mean(0), i.mean(0), rtol=0.01)
    assert_allclose(t.std(0), i.std(0), rtol=0.06)
    # Stratified: every resample keeps 200 atoms of each class.
    assert np.all(t[:, 0] == 200) and np.all(i[:, 0] == 200)


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 6), min_size=1, max_size=6),
    seed=st.integers(0, 1000),
    stratify=st.booleans(),
)
def test_multiplicities_are_a_two_stage_resample(sizes, seed, stratify):
    """Each resample: site counts sum to S; within a site drawn k times, its subjects' counts
    sum to k * n_site; unstratified totals over atoms equal the atoms drawn."""
    site = np.repeat(np.arange(len(sizes)), sizes)
    subj = np.arange(len(site))
    strata = (subj % 2) if stratify else None
    design = ClusterDesign([site, subj], strata=strata)
    W = design.weights(50, np.random.default_rng(seed))
    assert W.shape == (50, len(site)) and (W >= 0).all()
    per_site = np.stack([W[:, site == s].sum(1) for s in range(len(sizes))], axis=1)
    k = per_site / np.asarray(sizes)[None, :]
    assert_allclose(k, np.round(k))
    assert_allclose(k.sum(1), len(sizes))


def test_seeded_and_reproducible(hier):
    kw = dict(positive="AD", clusters=["site", "subject"], resamples=300, seed=5)
    a = evaluate_predictions(hier, ["balanced_accuracy"], **kw)
    b = evaluate_predictions(hier, ["balanced_accuracy"], **kw)
    c = evaluate_predictions(hier, ["balanced_accuracy"], **{**kw, "seed": 6})
    assert [r.ci_low for r in a] == [r.ci_low for r in b]
    assert [r.ci_low for r in a] != [r.ci_low for r in c]


def test_hierarchical_interval_is_wider_than_naive(hier):
    kw = dict(positive="AD", resamples=1000, seed=1, models=["A"])
    h = evaluate_predictions(hier, ["balanced_accuracy"], clusters=["site", "subject"], **kw)[0]
    n = evaluate_predictions(hier, ["balanced_accuracy"], method="bootstrap", **kw)[0]
    assert h.estimate == n.estimate
    assert (h.ci_high - h.ci_low) > 1.3 * (n.ci_high - n.ci_low)
    assert h.n_clusters == 10 and h.clusters == {"site": 10, "subject": 120}
    assert n.n_clusters == h.n_units == 480


def test_degenerate_resamples_are_counted_and_reported():
    # Four sites, three with one class only: resampling sites can drop a class (with fewer
    # than 4 sites the sites are held fixed and no resample is degenerate).
    df = pd.DataFrame(
        {
            "model": "m",
            "site": ["a"] * 10 + ["b"] * 10 + ["c"] * 10 + ["d"] * 10,
            "subject": [f"s{i}" for i in range(40)],
            "y_true": [0] * 10 + [1] * 10 + [0] * 10 + [1] * 5 + [0] * 5,
            "score": np.linspace(0.05, 0.95, 40),
        }
    )
    with pytest.warns(Warning, match="undefined"):
        import warnings

        warnings.simplefilter("always")
        r = evaluate_predictions(df, ["auroc"], clusters=["site"], resamples=500, seed=0)[0]
    assert 0 < r.n_degenerate < 500
    assert any("undefined" in w for w in r.warnings)
    assert np.isfinite(r.ci_low) and np.isfinite(r.ci_high)


def test_bca_formula_against_scipy_internals():
    rng = np.random.default_rng(0)
    theta_b = rng.normal(0.3, 0.05, 5000)
    jack = rng.normal(0.3, 0.01, 40)
    lo, hi, z0, a = bca_interval(theta_b, 0.31, jack, 0.95)
    z0_ref = sps.norm.ppf(sps.percentileofscore(theta_b, 0.31, kind="mean") / 100)
    assert_allclose(z0, z0_ref)
    d = jack.mean() - jack
    assert_allclose(a, (d**3).sum() / (6 * ((d**2).sum()) ** 1.5))
    assert lo < hi


def test_statistic_runs_are_averaged(hier):
    df = pd.concat([hier.assign(seed=0), hier.assign(seed=1)])
    md = model_data(df[df.model == "A"], "A", Task("classification", ("CN", "AD")), "image")
    assert md.run_cols == ["repeat", "seed"] and len(md.runs) == 2
    from brainbench.stats._data import design_for
    from brainbench.stats._evaluate import run_blocks

    design, _ = design_for(md, ["site", "subject"], stratify=True)
    stat = Statistic(design, run_blocks(md, METRICS.get("balanced_accuracy"), design))
    assert isinstance(stat.blocks[0], Block) and len(stat.blocks) == 2
    theta = stat.resample(200, np.random.default_rng(0))
    one = evaluate_predictions(
        hier, ["balanced_accuracy"], positive="AD", models=["A"], resamples=0
    )[0]
    assert_allclose(stat.point(), one.estimate)
    assert percentile_interval(theta, 0.9)[0] < stat.point()


def test_warnings_for_ties_and_ignored_subjects(asah_predictions, hier):
    res = evaluate_predictions(asah_predictions, ["auroc"], positive="Poor", resamples=50)
    by = {r.model: r for r in res}
    assert any("distinct scores" in w for w in by["wfns"].warnings)  # 5-level ordinal score
    assert not any("distinct scores" in w for w in by["s100b"].warnings)
    (naive,) = evaluate_predictions(
        hier, ["accuracy"], positive="AD", models=["A"], method="bootstrap", resamples=50
    )
    assert any("S204" in w for w in naive.warnings)
    (few,) = evaluate_predictions(
        hier[hier.site.isin(["site00", "site01", "site02", "site03"])],
        ["accuracy"],
        positive="AD",
        models=["A"],
        clusters=["site", "subject"],
        resamples=50,
    )
    assert any("Only 4 site clusters" in w for w in few.warnings)
