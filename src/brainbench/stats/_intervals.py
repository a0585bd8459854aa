"""Candidate interval methods for few clusters, registered with their references.

Issue 15 compares these with the hierarchical bootstrap's percentile and BCa intervals in one
calibration study (:func:`brainbench.stats._calibrate_grid.run_interval_grid`). Each is
selectable (``protocol.confidence.interval``, ``evaluate --interval``), and ``calibrated``
picks one per metric and design regime from that study
(:mod:`brainbench.stats._interval_defaults`).

* **Cluster bootstrap-t** (:func:`cluster_bootstrap_t`): clusters (sites) resampled with
  replacement; each resample's statistic is studentised by its own delete-one-cluster
  jackknife standard error, and the interval is
  ``[theta - q_(1-a/2)(t*) se, theta - q_(a/2)(t*) se]`` with
  ``t* = (theta* - theta) / se*`` (Efron & Tibshirani 1993, *An Introduction to the Bootstrap*,
  ch. 12 and section 12.5, doi:10.1201/9780429246593; for clusters, Cameron, Gelbach & Miller
  2008, Rev. Econ. Stat. 90:414-427, doi:10.1162/rest.90.3.414). The jackknife of a resample
  with cluster multiplicities ``k_g`` deletes one drawn copy at a time:
  ``se^2 = (G-1)/G sum_g k_g (theta_(g) - mean)^2``, ``mean = sum_g k_g theta_(g) / G``. Any
  metric.
* **Wild cluster bootstrap-t** (:func:`wild_cluster_interval`), for a metric that is a
  weighted mean ``theta = sum_i w_i u_i / sum_i w_i`` of per-unit values (:func:`mean_form`:
  accuracy, balanced accuracy, sensitivity, specificity, MAE, Brier), i.e. the intercept of a
  weighted regression of ``u`` on 1. Unrestricted (WCU) form: ``u* = theta + v_g e_i`` with
  residuals ``e_i = u_i - theta`` and one weight ``v_g`` per cluster, Rademacher (+-1) or
  Webb's six-point (+-sqrt(1/2), +-1, +-sqrt(3/2), each 1/6; Webb 2023, Can. J. Econ.
  56:839-858, doi:10.1111/caje.12661), which has 6^G distinct draws where Rademacher has 2^G
  (16 with 4 clusters). Studentised by the CR1 cluster-robust standard error
  ``se^2 = G/(G-1) sum_g (sum_(i in g) w_i e_i)^2 / (sum_i w_i)^2`` (Liang & Zeger 1986; the
  ``statsmodels`` ``cov_type="cluster"`` default); interval as for the bootstrap-t
  (Cameron, Gelbach & Miller 2008; MacKinnon, Nielsen & Webb 2023, J. Econom. 232:272-299,
  doi:10.1016/j.jeconom.2022.04.001, section 6).

Limits: both need at least 3 clusters (:data:`MIN_CLUSTERS`): with 2, every cluster-bootstrap
resample is one cluster (no jackknife SE) or the sample itself (t* = 0), and the wild
bootstrap's residual scores sum to zero, so the mixed-sign draws of two equal clusters have a
zero standard error. Both treat the clusters (sites) as the only level resampled or perturbed (units
within a site are not resampled: their dependence is absorbed, as in any cluster-robust
method). With Rademacher weights and G clusters the interval's ends can only take 2^G values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from brainbench.errors import UserError
from brainbench.spec.models import MEAN_FORM_INTERVALS, MEAN_FORM_METRICS, STUDENTISED_INTERVALS
from brainbench.stats._bootstrap import Statistic
from brainbench.stats._metrics import Columns

WEBB_POINTS = np.sqrt(np.array([0.5, 1.0, 1.5]))
#: Fewest clusters for which the bootstrap-t and the wild bootstrap give an interval.
MIN_CLUSTERS = 3


@dataclass(frozen=True)
class IntervalMethod:
    """A registered interval method: what it is, which metrics it applies to, and sources."""

    name: str
    summary: str
    metrics: str
    references: tuple[str, ...]


CGM_2008 = (
    "Cameron, Gelbach & Miller 2008, Bootstrap-based improvements for inference with "
    "clustered errors, Rev. Econ. Stat. 90:414-427, doi:10.1162/rest.90.3.414"
)
WEBB_2023 = (
    "Webb 2023, Reworking wild bootstrap-based inference for clustered errors, Can. J. Econ. "
    "56:839-858, doi:10.1111/caje.12661"
)
EFRON_TIBSHIRANI_1993 = (
    "Efron & Tibshirani 1993, An Introduction to the Bootstrap, Chapman & Hall, ch. 12-14, "
    "doi:10.1201/9780429246593"
)
MNW_2023 = (
    "MacKinnon, Nielsen & Webb 2023, Cluster-robust inference: a guide to empirical practice, "
    "J. Econom. 232:272-299, doi:10.1016/j.jeconom.2022.04.001"
)
FIELD_WELSH_2007 = (
    "Field & Welsh 2007, Bootstrapping clustered data, JRSS B 69:369-390, "
    "doi:10.1111/j.1467-9868.2007.00593.x"
)
EFRON_1987 = (
    "Efron 1987, Better bootstrap confidence intervals, JASA 82:171-185, "
    "doi:10.1080/01621459.1987.10478410"
)

#: The studentised site-level methods (``evaluate`` resamples or perturbs the outer level only)
#: and those that need a weighted-mean metric (:func:`mean_form`): named once, in the spec.
STUDENTISED = STUDENTISED_INTERVALS
MEAN_ONLY = MEAN_FORM_INTERVALS

BELL_MCCAFFREY_2002 = (
    "Bell & McCaffrey 2002, Bias reduction in standard errors for linear regression with "
    "multi-stage samples, Surv. Methodol. 28:169-181"
)
PUSTEJOVSKY_TIPTON_2018 = (
    "Pustejovsky & Tipton 2018, Small-sample methods for cluster-robust variance estimation "
    "and hypothesis testing in fixed effects models, J. Bus. Econ. Stat. 36:672-683, "
    "doi:10.1080/07350015.2016.1247004"
)
SATTERTHWAITE_1946 = (
    "Satterthwaite 1946, An approximate distribution of estimates of variance components, "
    "Biometrics Bull. 2:110-114, doi:10.2307/3002019"
)
KUZNETSOVA_2017 = (
    "Kuznetsova, Brockhoff & Christensen 2017, lmerTest package: tests in linear mixed effects "
    "models, J. Stat. Softw. 82(13):1-26, doi:10.18637/jss.v082.i13"
)
PATTERSON_THOMPSON_1971 = (
    "Patterson & Thompson 1971, Recovery of inter-block information when block sizes are "
    "unequal, Biometrika 58:545-554, doi:10.1093/biomet/58.3.545"
)
IMBENS_KOLESAR_2016 = (
    "Imbens & Kolesar 2016, Robust standard errors in small samples: some practical advice, "
    "Rev. Econ. Stat. 98:701-712, doi:10.1162/REST_a_00552"
)

#: Metrics that are weighted means of per-unit values (see :func:`mean_form`).
MEAN_METRICS = MEAN_FORM_METRICS

INTERVAL_METHODS: dict[str, IntervalMethod] = {
    m.name: m
    for m in (
        IntervalMethod(
            "percentile",
            "hierarchical bootstrap (site -> subject), percentile interval (the default)",
            "any",
            (FIELD_WELSH_2007, EFRON_TIBSHIRANI_1993),
        ),
        IntervalMethod(
            "bca",
            "hierarchical bootstrap, bias-corrected and accelerated (cluster jackknife)",
            "any",
            (EFRON_1987, FIELD_WELSH_2007),
        ),
        IntervalMethod(
            "cluster-bootstrap-t",
            "cluster bootstrap over sites, studentised by each resample's cluster jackknife",
            "any",
            (EFRON_TIBSHIRANI_1993, CGM_2008),
        ),
        IntervalMethod(
            "wild-cluster-rademacher",
            "wild cluster bootstrap-t (WCU), Rademacher weights, CR1 standard errors",
            "weighted means: " + ", ".join(MEAN_METRICS),
            (CGM_2008, MNW_2023),
        ),
        IntervalMethod(
            "cr2",
            "cluster-robust CR2 (bias-reduced linearization) t interval, Bell-McCaffrey df",
            "weighted means: " + ", ".join(MEAN_METRICS),
            (BELL_MCCAFFREY_2002, PUSTEJOVSKY_TIPTON_2018, IMBENS_KOLESAR_2016),
        ),
        IntervalMethod(
            "wild-cluster-webb",
            "wild cluster bootstrap-t (WCU), Webb six-point weights, CR1 standard errors",
            "weighted means: " + ", ".join(MEAN_METRICS),
            (CGM_2008, WEBB_2023, MNW_2023),
        ),
        IntervalMethod(
            "mixed-satterthwaite",
            "mixed model of the per-unit contributions (random intercepts per cluster level, "
            "REML): the metric with its model-based variance, t interval, Satterthwaite df",
            "weighted means: " + ", ".join(MEAN_METRICS),
            (PATTERSON_THOMPSON_1971, SATTERTHWAITE_1946, KUZNETSOVA_2017),
        ),
    )
}


def mean_form(metric: str, cols: Columns) -> tuple[np.ndarray, np.ndarray]:
    """Per-unit values ``u`` and weights ``w`` with ``metric = sum(w u) / sum(w)``.

    accuracy: ``u`` = correct, ``w = 1``; sensitivity (specificity): ``w`` = 1 on the
    positive (negative) class; balanced accuracy: ``w = 1 / (K n_c)`` for a unit of class c
    (the mean of the K recalls, class counts held fixed); MAE: ``u = |y - pred|``; Brier:
    ``u = (score - 1[y = positive])^2``.
    """
    if metric not in MEAN_METRICS:
        raise UserError(
            f"'{metric}' is not a weighted mean of per-unit values: the wild cluster bootstrap "
            f"applies to {', '.join(MEAN_METRICS)}. Use the cluster bootstrap-t instead."
        )
    if metric == "mae":
        return np.abs(cols.y - cols.pred).astype(float), np.ones(len(cols.y))
    if metric == "brier":
        hit = (cols.y == cols.positive).astype(float)
        return (cols.score - hit) ** 2, np.ones(len(cols.y))
    u = (cols.pred == cols.y).astype(float)
    if metric == "accuracy":
        return u, np.ones(len(u))
    if metric == "sensitivity":
        return u, (cols.y == cols.positive).astype(float)
    if metric == "specificity":
        return u, (cols.y != cols.positive).astype(float)
    counts = np.bincount(cols.y, minlength=cols.n_classes).astype(float)
    present = counts > 0
    with np.errstate(divide="ignore"):
        w = np.where(present, 1.0 / (present.sum() * counts), 0.0)[cols.y]
    return u, w


def rademacher(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """Rademacher weights: +1 or -1 with probability 1/2."""
    return rng.choice(np.array([-1.0, 1.0]), size=size)


def webb(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """Webb's six-point weights: +-sqrt(1/2), +-1, +-sqrt(3/2), each with probability 1/6
    (mean 0, variance 1; Webb 2023)."""
    return rng.choice(np.r_[-WEBB_POINTS, WEBB_POINTS], size=size)


WILD_WEIGHTS: dict[str, Callable[[np.random.Generator, tuple[int, int]], np.ndarray]] = {
    "rademacher": rademacher,
    "webb": webb,
}


def t_interval(theta: float, se: float, t_star: np.ndarray, level: float) -> tuple[float, float]:
    t_star = t_star[np.isfinite(t_star)]
    if len(t_star) < 2 or not np.isfinite(se) or se <= 0:
        return float("nan"), float("nan")
    alpha = (1 - level) / 2
    q_lo, q_hi = np.quantile(t_star, [alpha, 1 - alpha])
    return float(theta - q_hi * se), float(theta - q_lo * se)


def cluster_scores(
    u: np.ndarray, w: np.ndarray, cluster: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """``theta``, the per-cluster scores ``S_g = sum_(i in g) w_i e_i / sum w`` and the
    per-cluster weight shares ``W_g = sum_(i in g) w_i / sum w``."""
    codes = pd.factorize(cluster)[0]
    total = w.sum()
    theta = float((w * u).sum() / total)
    G = int(codes.max()) + 1
    scores = np.bincount(codes, w * (u - theta), G) / total
    shares = np.bincount(codes, w, G) / total
    return theta, scores, shares


#: One weighted mean of a linear combination: per-unit values, weights, cluster codes
#: (``0..G-1``, shared by every block) and the mean's coefficient.
MeanBlock = tuple[np.ndarray, np.ndarray, np.ndarray, float]


def block_scores(
    blocks: list[MeanBlock], n_clusters: int
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """``theta = sum_b c_b theta_b`` of weighted means, with the per-cluster scores and
    weight shares of each block (``G x n_blocks``) and the coefficients ``c``.

    A statistic that is a linear combination of weighted means (the mean of a metric over R
    runs: ``c_b = 1/R``; a paired difference: ``+-1/R``) is the linear combination of the
    intercepts of one regression per block, each with its own residuals ``u - theta_b``."""
    G = n_clusters
    scores = np.zeros((G, len(blocks)))
    shares = np.zeros((G, len(blocks)))
    coef = np.array([b[3] for b in blocks], dtype=float)
    theta = 0.0
    for j, (u, w, codes, c) in enumerate(blocks):
        total = w.sum()
        theta_b = float((w * u).sum() / total)
        theta += c * theta_b
        scores[:, j] = np.bincount(codes, w * (u - theta_b), G) / total
        shares[:, j] = np.bincount(codes, w, G) / total
    return theta, scores, shares, coef


def cr1_se(scores: np.ndarray) -> float:
    """CR1 cluster-robust standard error of a weighted mean from its cluster scores."""
    G = len(scores)
    return float(np.sqrt(G / (G - 1) * (scores**2).sum()))


def wild_t_star(
    scores: np.ndarray, shares: np.ndarray, V: np.ndarray, coef: np.ndarray | None = None
) -> np.ndarray:
    """Studentised wild-bootstrap statistics for the weight draws ``V`` (``B x G``).

    One block (``scores``, ``shares`` of length G): ``theta* - theta = V @ S``; the bootstrap
    residuals' cluster scores are ``v_g S_g - (theta* - theta) W_g``, whose CR1 norm is
    ``se*``. Several blocks (``G x n_blocks`` and their coefficients ``coef``): each block
    is refitted, ``d_b = V @ S_b``, and the statistic's cluster scores are
    ``sum_b c_b (v_g S_gb - d_b W_gb)``."""
    if scores.ndim == 1:
        scores, shares, coef = scores[:, None], shares[:, None], np.ones(1)
    assert coef is not None
    d = V @ scores
    delta = d @ coef
    s_star = V * (scores @ coef)[None, :] - (d * coef[None, :]) @ shares.T
    G = scores.shape[0]
    se_star = np.sqrt(G / (G - 1) * (s_star**2).sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return delta / se_star


def wild_cluster_interval(
    u: np.ndarray,
    w: np.ndarray,
    cluster: np.ndarray,
    *,
    level: float = 0.95,
    resamples: int = 999,
    weights: str = "webb",
    rng: np.random.Generator,
) -> tuple[float, float]:
    """Wild cluster bootstrap-t interval (WCU) of the weighted mean ``sum(w u) / sum(w)``.

    See the module docstring for the formulas and references; ``weights`` is ``rademacher``
    or ``webb``. NaN when fewer than :data:`MIN_CLUSTERS` clusters carry weight.
    """
    codes, uniques = pd.factorize(cluster)
    return wild_cluster_blocks(
        [(u, w, codes, 1.0)],
        len(uniques),
        level=level,
        resamples=resamples,
        weights=weights,
        rng=rng,
    )


def wild_cluster_blocks(
    blocks: list[MeanBlock],
    n_clusters: int,
    *,
    level: float = 0.95,
    resamples: int = 999,
    weights: str = "webb",
    rng: np.random.Generator,
) -> tuple[float, float]:
    """Wild cluster bootstrap-t interval of a linear combination of weighted means
    (:func:`block_scores`), one weight per cluster shared by every block."""
    got = wild_cluster_t(blocks, n_clusters, resamples=resamples, weights=weights, rng=rng)
    return (float("nan"), float("nan")) if got is None else t_interval(*got, level)


def wild_cluster_t(
    blocks: list[MeanBlock],
    n_clusters: int,
    *,
    resamples: int,
    weights: str,
    rng: np.random.Generator,
) -> tuple[float, float, np.ndarray] | None:
    """``(theta, se, t*)`` of the wild cluster bootstrap (None with too few clusters)."""
    if weights not in WILD_WEIGHTS:
        raise UserError(f"Wild bootstrap weights must be rademacher or webb; got '{weights}'.")
    theta, scores, shares, coef = block_scores(blocks, n_clusters)
    keep = shares.sum(axis=1) > 0
    scores, shares = scores[keep], shares[keep]
    if len(scores) < MIN_CLUSTERS:
        return None
    V = WILD_WEIGHTS[weights](rng, (resamples, len(scores)))
    return theta, cr1_se(scores @ coef), wild_t_star(scores, shares, V, coef)


def cr2_t(blocks: list[MeanBlock], n_clusters: int) -> tuple[float, float, float] | None:
    """``(theta, se, df)``: CR2 standard error and Bell-McCaffrey degrees of freedom of a
    linear combination of weighted means (None with fewer than :data:`MIN_CLUSTERS`).

    The weighted means are the intercepts of a weighted regression on block indicators,
    written as OLS on rows scaled by ``sqrt(w)`` (the usual WLS form; working model: errors
    independent with variance ``sigma^2 / w``). Its hat matrix restricted to cluster g is,
    within each block b, the rank-one projection ``q q' / W_b`` (``q = sqrt(w)`` over the rows
    of g in b), with eigenvalue ``s_gb = W_gb / W_b`` (the cluster's weight share), so the CR2
    adjustment ``(I - H_gg)^(-1/2)`` multiplies each block's cluster score by
    ``k_gb = (1 - s_gb)^(-1/2)`` and

        V_CR2 = sum_g (sum_b c_b k_gb S_gb)^2,   S_gb = sum_(i in g, b) w_i e_i / W_b

    (Bell & McCaffrey 2002, Surv. Methodol. 28:169-181; Pustejovsky & Tipton 2018, J. Bus. Econ.
    Stat. 36:672-683, doi:10.1080/07350015.2016.1247004, eq. 5). Bell-McCaffrey degrees of
    freedom: ``V = y' (sum_g a_g a_g') y`` with ``a_g = (I - H) v_g``; under the working
    model, ``df = (tr M)^2 / tr(M^2)`` with ``M = [a_g' a_h]``, here
    ``M = sum_b c_b^2 / W_b (diag(k_b^2 s_b) - (k_b s_b)(k_b s_b)')`` (Bell & McCaffrey 2002,
    section 3; Imbens & Kolesar 2016, Rev. Econ. Stat. 98:701-712,
    doi:10.1162/REST_a_00552, eq. 9). With equal clusters and weights, V_CR2 is the CR1
    variance and df = G - 1. A cluster holding all of a block's weight (s = 1) leaves the
    adjustment undefined: None.
    """
    theta, scores, shares, coef = block_scores(blocks, n_clusters)
    keep = shares.sum(axis=1) > 0
    scores, shares = scores[keep], shares[keep]
    if len(scores) < MIN_CLUSTERS or np.any(shares >= 1):
        return None
    totals = np.array([b[1].sum() for b in blocks], dtype=float)
    k = 1.0 / np.sqrt(1.0 - shares)
    var = float((((k * scores) @ coef) ** 2).sum())
    ks = k * shares
    M = np.zeros((len(scores), len(scores)))
    for j, (c, total) in enumerate(zip(coef, totals, strict=True)):
        M += c**2 / total * (np.diag(k[:, j] * ks[:, j]) - np.outer(ks[:, j], ks[:, j]))
    df = float(np.trace(M) ** 2 / np.trace(M @ M))
    return theta, float(np.sqrt(var)), df


def cr2_interval(
    blocks: list[MeanBlock], n_clusters: int, *, level: float = 0.95
) -> tuple[float, float, float]:
    """CR2 interval ``theta +- t_(df, 1 - a/2) se`` with Bell-McCaffrey df (:func:`cr2_t`)
    and the two-sided p-value of ``H0: 0``: ``(low, high, p)``."""
    from scipy import stats as sps

    got = cr2_t(blocks, n_clusters)
    if got is None or got[1] <= 0:
        return float("nan"), float("nan"), float("nan")
    theta, se, df = got
    q = float(sps.t.ppf(0.5 + level / 2, df))
    return theta - q * se, theta + q * se, float(2 * sps.t.sf(abs(theta) / se, df))


def mixed_interval(
    blocks: list[MeanBlock], levels: list[np.ndarray], names: list[str], *, level: float = 0.95
) -> tuple[float, float, float]:
    """Mixed-model interval of a linear combination of weighted means, ``(low, high, p)``.

    Here each block's third element is the row index of its units in a common row space (the
    predictions frame, runs stacked; a paired difference's blocks share rows) and ``levels``
    the cluster ids of those rows, outer first. The statistic ``theta = sum_b c_b sum_i w_i
    u_i / W_b`` is the mean of the per-row contributions ``y_i = n sum_b c_b w_i u_i / W_b``
    over the ``n`` rows with weight (a row of weight 0 in every block, e.g. a negative for
    sensitivity, does not enter). ``y`` is fitted by REML with a random intercept per cluster
    level (:func:`brainbench.stats._mixed.fit_mixed`), and the interval is ``theta +- t_(df)
    se`` with ``se^2 = 1'V 1 / n^2`` at the REML variances and Satterthwaite's df for that
    linear combination of variance components (Satterthwaite 1946; Kuznetsova, Brockhoff &
    Christensen 2017): in a balanced design the t interval of the outer clusters' means.
    Constant contributions give a zero-width interval; a fit without finite df gives NaN.
    """
    from brainbench.stats._mixed import fit_mixed

    z = np.zeros(len(levels[0]))
    entered = np.zeros(len(z), dtype=bool)
    for u, w, rows, coef in blocks:
        z[rows] += coef * w * u / w.sum()
        entered[rows] |= w > 0
    theta = float(z.sum())
    y = entered.sum() * z[entered]
    try:
        fit = fit_mixed(y, [np.asarray(lv)[entered] for lv in levels], names)
    except ValueError:  # constant contributions: no variance to estimate
        return theta, theta, 1.0 if theta == 0 else 0.0
    if not np.isfinite(fit.mean.df):
        return float("nan"), float("nan"), float("nan")
    return (*fit.mean.interval(level), fit.mean.p_value)


def t_p_value(theta: float, se: float, t_star: np.ndarray, null: float = 0.0) -> float:
    """Symmetric bootstrap-t p-value of ``H0: theta = null``:
    ``(1 + #{|t*| >= |t|}) / (B + 1)`` with ``t = (theta - null) / se`` (Davison & Hinkley
    1997, section 4.4.1, eq. 4.11 for the +1; MacKinnon, Nielsen & Webb 2023, section 6, for
    the wild cluster bootstrap). NaN without a standard error or defined t*."""
    t_star = t_star[np.isfinite(t_star)]
    if not len(t_star) or not np.isfinite(se) or se <= 0:
        return float("nan")
    t = abs(theta - null) / se
    return float((1 + np.count_nonzero(np.abs(t_star) >= t)) / (len(t_star) + 1))


def jackknife_se(stat: Statistic, W: np.ndarray) -> np.ndarray:
    """Delete-one-cluster jackknife standard error of ``stat`` at each row of cluster
    multiplicities ``W`` (``B x G``; ``stat`` over a one-level design whose atoms are the
    clusters). A cluster drawn ``k`` times contributes ``k`` identical deletions. NaN for a
    row with a single distinct cluster."""
    G = W.shape[1]
    n = W.sum(axis=1)
    vals = np.empty_like(W, dtype=float)
    for g in range(G):
        Wg = W.copy()
        Wg[:, g] -= 1
        vals[:, g] = np.where(W[:, g] > 0, stat.from_weights(np.maximum(Wg, 0)), 0.0)
    mean = (W * vals).sum(axis=1) / n
    var = (n - 1) / n * (W * (vals - mean[:, None]) ** 2).sum(axis=1)
    # One distinct cluster: every deletion gives the same value, the SE is 0 (floating-point
    # noise would studentise to +-1e15); undefined rather than zero.
    var[(W > 0).sum(axis=1) < 2] = np.nan
    return np.sqrt(var)


def cluster_bootstrap_t(
    stat: Statistic,
    *,
    level: float = 0.95,
    resamples: int = 999,
    rng: np.random.Generator,
) -> tuple[float, float]:
    """Cluster bootstrap-t interval, each resample studentised by its cluster jackknife.

    ``stat`` must be over a one-level :class:`ClusterDesign` of the clusters (sites): its
    atoms are the clusters. See the module docstring.
    """
    got = cluster_t(stat, resamples=resamples, rng=rng)
    return (float("nan"), float("nan")) if got is None else t_interval(*got, level)


def cluster_t(
    stat: Statistic, *, resamples: int, rng: np.random.Generator
) -> tuple[float, float, np.ndarray] | None:
    """``(theta, se, t*)`` of the cluster bootstrap-t (None with too few clusters)."""
    design = stat.design
    if len(design.levels) != 1 or design.stratified:
        raise ValueError("cluster_bootstrap_t needs a one-level, unstratified design")
    G = design.n_atoms
    if G < MIN_CLUSTERS:
        return None
    theta = stat.point()
    se = float(jackknife_se(stat, np.ones((1, G)))[0])
    W = design.weights(resamples, rng).astype(float)
    theta_star = stat.from_weights(W)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_star = (theta_star - theta) / jackknife_se(stat, W)
    return theta, se, t_star


__all__ = [
    "INTERVAL_METHODS",
    "MEAN_METRICS",
    "MEAN_ONLY",
    "STUDENTISED",
    "IntervalMethod",
    "cluster_bootstrap_t",
    "cluster_t",
    "cr2_interval",
    "cr2_t",
    "jackknife_se",
    "mean_form",
    "mixed_interval",
    "t_interval",
    "t_p_value",
    "wild_cluster_blocks",
    "wild_cluster_interval",
    "wild_cluster_t",
]
