"""Candidate interval methods (issue 15) checked against statsmodels and hand implementations."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.datasets import grunfeld

from brainbench.errors import UserError
from brainbench.stats._bootstrap import Block, Statistic
from brainbench.stats._intervals import (
    INTERVAL_METHODS,
    WEBB_POINTS,
    cluster_bootstrap_t,
    cluster_scores,
    cr1_se,
    jackknife_se,
    mean_form,
    webb,
    wild_cluster_interval,
    wild_t_star,
)
from brainbench.stats._metrics import METRICS, Columns
from brainbench.stats._resample import ClusterDesign


@pytest.fixture(scope="module")
def grun():
    """Grunfeld's investment data (statsmodels' copy): 220 firm-years, 11 firms."""
    d = grunfeld.load_pandas().data
    return d["invest"].to_numpy(float), d["firm"].to_numpy()


def test_every_method_has_references():
    assert set(INTERVAL_METHODS) >= {"cluster-bootstrap-t", "wild-cluster-webb"}
    assert all(m.references for m in INTERVAL_METHODS.values())


def test_cr1_standard_error_matches_statsmodels(grun):
    u, firm = grun
    fit = sm.OLS(u, np.ones(len(u))).fit(cov_type="cluster", cov_kwds={"groups": firm})
    theta, scores, _ = cluster_scores(u, np.ones(len(u)), firm)
    assert theta == pytest.approx(fit.params[0], rel=1e-12)
    assert cr1_se(scores) == pytest.approx(fit.bse[0], rel=1e-10)
    w = np.random.default_rng(0).uniform(0.5, 2, len(u))  # weighted (balanced accuracy)
    fit = sm.WLS(u, np.ones(len(u)), weights=w).fit(cov_type="cluster", cov_kwds={"groups": firm})
    theta, scores, _ = cluster_scores(u, w, firm)
    assert theta == pytest.approx(fit.params[0], rel=1e-12)
    assert cr1_se(scores) == pytest.approx(fit.bse[0], rel=1e-10)


def test_wild_t_statistics_match_a_hand_loop(grun):
    """Every Rademacher sign vector of the first 6 firms: rebuild u* = theta + v_g e_i,
    refit with statsmodels (cluster SE), and compare t* with the vectorised formula."""
    u, firm = grun
    keep = np.isin(firm, np.unique(firm)[:6])
    u, firm = u[keep], firm[keep]
    w = np.ones(len(u))
    theta, scores, shares = cluster_scores(u, w, firm)
    V = np.array(list(itertools.product([-1.0, 1.0], repeat=6)))
    fast = wild_t_star(scores, shares, V)
    codes = pd.factorize(firm)[0]  # clusters in order of first appearance, as V
    for v, t in zip(V, fast, strict=True):
        u_star = theta + v[codes] * (u - theta)
        fit = sm.OLS(u_star, np.ones(len(u))).fit(cov_type="cluster", cov_kwds={"groups": firm})
        assert t == pytest.approx((fit.params[0] - theta) / fit.bse[0], rel=1e-9, abs=1e-12)


def test_webb_weights_have_mean_zero_and_variance_one():
    pts = np.r_[-WEBB_POINTS, WEBB_POINTS]
    assert pts.mean() == pytest.approx(0) and (pts**2).mean() == pytest.approx(1)
    draws = webb(np.random.default_rng(0), (20_000, 3))
    assert set(np.round(np.unique(draws), 12)) == set(np.round(pts, 12))
    assert abs(draws.mean()) < 0.02 and (draws**2).mean() == pytest.approx(1, abs=0.02)


def test_wild_interval_is_seeded_and_covers_the_mean(grun):
    u, firm = grun
    a = wild_cluster_interval(u, np.ones(len(u)), firm, rng=np.random.default_rng(1))
    b = wild_cluster_interval(u, np.ones(len(u)), firm, rng=np.random.default_rng(1))
    assert a == b and a[0] < u.mean() < a[1]


def test_jackknife_se_of_a_mean_of_cluster_means_is_the_classical_se():
    """For equal clusters the delete-one-cluster jackknife SE of the mean is s_G / sqrt(G),
    s_G the SD of the cluster means (Efron & Tibshirani 1993, eq. 11.5)."""
    rng = np.random.default_rng(2)
    G, m = 7, 10
    site = np.repeat(np.arange(G), m)
    y = rng.integers(0, 2, G * m)
    pred = np.where(rng.random(G * m) < 0.75, y, 1 - y)
    cols = Columns(y=y, pred=pred)
    design = ClusterDesign([site])
    stat = Statistic(design, [Block(METRICS.get("accuracy"), cols, design.row_atom)])
    means = np.bincount(site, (y == pred).astype(float)) / m
    se = jackknife_se(stat, np.ones((1, G)))[0]
    assert se == pytest.approx(means.std(ddof=1) / np.sqrt(G), rel=1e-10)
    lo, hi = cluster_bootstrap_t(stat, resamples=300, rng=np.random.default_rng(0))
    assert lo < stat.point() < hi


def test_mean_form_reproduces_the_metrics():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 50)
    pred = np.where(rng.random(50) < 0.7, y, 1 - y)
    score = rng.random(50)
    cols = Columns(y=y, pred=pred, score=score)
    for name in ("accuracy", "balanced_accuracy", "sensitivity", "specificity", "brier"):
        u, w = mean_form(name, cols)
        assert (w * u).sum() / w.sum() == pytest.approx(METRICS.get(name)(cols), rel=1e-12)
    with pytest.raises(UserError, match="cluster bootstrap-t instead"):
        mean_form("auroc", cols)


def test_two_clusters_give_no_interval():
    u = np.arange(20, dtype=float)
    site = np.repeat([0, 1], 10)
    rng = np.random.default_rng(0)
    lo, hi = wild_cluster_interval(u, np.ones(20), site, rng=rng)
    assert np.isnan(lo) and np.isnan(hi)
    design = ClusterDesign([site])
    cols = Columns(y=u, pred=u + rng.normal(size=20))
    stat = Statistic(design, [Block(METRICS.get("mae"), cols, design.row_atom)])
    assert np.isnan(cluster_bootstrap_t(stat, rng=rng)).all()


def _cr2_by_matrices(blocks, G):
    """CR2 and Bell-McCaffrey df from the matrices themselves: WLS as OLS on sqrt(w)-scaled
    rows with block-indicator columns, A_g = (I - H_gg)^(-1/2) by scipy's sqrtm, and
    df = (tr M)^2 / tr(M^2), M = [a_g' a_h], a_g = (I - H) X_g A_g ... (Bell & McCaffrey 2002)."""
    from scipy.linalg import sqrtm

    n_b = len(blocks)
    r = np.concatenate([np.sqrt(w) for _, w, _, _ in blocks])
    y = np.concatenate([np.sqrt(w) * u for u, w, _, _ in blocks])
    codes = np.concatenate([c for _, _, c, _ in blocks])
    col = np.repeat(np.arange(n_b), [len(u) for u, _, _, _ in blocks])
    X = np.zeros((len(y), n_b))
    X[np.arange(len(y)), col] = r
    c = np.array([b[3] for b in blocks])
    bread = np.linalg.inv(X.T @ X)
    beta = bread @ X.T @ y
    H = X @ bread @ X.T
    e = y - X @ beta
    V, A = 0.0, []
    for g in range(G):
        rows = np.flatnonzero(codes == g)
        Ag = np.real(sqrtm(np.linalg.inv(np.eye(len(rows)) - H[np.ix_(rows, rows)])))
        pg = c @ bread @ X[rows].T @ Ag  # the cluster's row of the CR2 contrast
        V += float(pg @ e[rows]) ** 2
        v = np.zeros(len(y))
        v[rows] = pg
        A.append((np.eye(len(y)) - H) @ v)
    A = np.array(A).T
    M = A.T @ A
    return float(c @ beta), float(np.sqrt(V)), float(np.trace(M) ** 2 / np.trace(M @ M))


def test_cr2_and_bell_mccaffrey_df_match_the_matrix_computation():
    from brainbench.stats._intervals import cr2_t

    rng = np.random.default_rng(4)
    G = 5
    codes = np.r_[np.arange(G), rng.integers(0, G, 25)]  # unequal clusters
    u1, u2 = rng.normal(size=30), rng.normal(size=30) + 0.2
    w1 = rng.uniform(0.3, 2.0, 30)
    for blocks in (
        [(u1, w1, codes, 1.0)],
        [(u1, w1, codes, 1.0), (u2, np.ones(30), codes, -1.0)],  # a paired difference
        [(u1, w1, codes, 0.5), (u2, np.ones(30), codes, 0.5)],  # a mean over two runs
    ):
        fast = cr2_t(blocks, G)
        slow = _cr2_by_matrices(blocks, G)
        assert fast == pytest.approx(slow, rel=1e-9)


def test_cr2_with_equal_clusters_is_cr1_with_g_minus_1_df():
    """Balanced clusters and equal weights: CR2 equals CR1 and the Bell-McCaffrey df are
    G - 1 (Imbens & Kolesar 2016, section IV; Pustejovsky & Tipton 2018, section 3)."""
    from brainbench.stats._intervals import cr2_t

    rng = np.random.default_rng(1)
    G, m = 6, 7
    codes = np.repeat(np.arange(G), m)
    u = rng.normal(size=G * m)
    _, se, df = cr2_t([(u, np.ones(G * m), codes, 1.0)], G)
    _, scores, _ = cluster_scores(u, np.ones(G * m), codes)
    assert se == pytest.approx(cr1_se(scores), rel=1e-12)
    assert df == pytest.approx(G - 1, rel=1e-12)
    # ... and the t interval is the classical one of the G cluster means.
    from brainbench.stats._intervals import cr2_interval

    lo, hi, p = cr2_interval([(u, np.ones(G * m), codes, 1.0)], G)
    means = np.bincount(codes, u) / m
    from scipy import stats as sps

    ref = sps.ttest_1samp(means, 0.0)
    assert p == pytest.approx(ref.pvalue, rel=1e-10)
    ci = ref.confidence_interval(0.95)
    assert (lo, hi) == (pytest.approx(ci.low, rel=1e-10), pytest.approx(ci.high, rel=1e-10))
