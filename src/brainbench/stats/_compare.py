"""Paired comparisons of models evaluated on the same splits and units.

Every method is registered in :data:`COMPARISONS` under its spec name and returns a
:class:`~brainbench.stats.ComparisonResult` whose ``estimate`` is ``metric(a) - metric(b)``.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import stats as sps

from brainbench.errors import (
    BrainbenchWarning,
    ConvergenceWarning,
    DegenerateResampleWarning,
    FewClustersWarning,
    SmallSampleWarning,
    TiesWarning,
    UserError,
)
from brainbench.registry_base import Registry
from brainbench.stats._bootstrap import (
    Block,
    Statistic,
    bca_interval,
    bootstrap_p_value,
    percentile_interval,
)
from brainbench.stats._data import (
    ModelData,
    check_metric,
    check_outer_first,
    iter_groups,
    model_data,
)
from brainbench.stats._delong import delong_test
from brainbench.stats._evaluate import MIN_CLUSTERS, _check_choice
from brainbench.stats._intervals import MEAN_METRICS, MEAN_ONLY, STUDENTISED
from brainbench.stats._io import RUN_COLUMNS, Task, check_predictions, infer_task
from brainbench.stats._metrics import Metric, get_metric
from brainbench.stats._results import ComparisonResult

CORRECTIONS = ("holm", "bh", "none")
#: The metric whose paired differences ``calibrate --paired-grid`` simulates: the paired table's
#: recommendations and flags are about it alone (stats/_calibrate_paired.py).
PAIRED_CALIBRATED_METRIC = "balanced_accuracy"
HYPOTHESES = ("superiority", "non-inferiority", "equivalence")


@dataclass
class Options:
    """Settings shared by the comparison methods."""

    level: float = 0.95
    clusters: tuple[str, ...] = ()
    resamples: int = 10_000
    seed: int = 0
    interval: str = "percentile"
    rope: float = 0.01
    test_train_ratio: float | None = None
    stratify: bool = True
    alpha: float = 0.05


@dataclass
class Pair:
    """Two models' predictions aligned on (run, unit)."""

    a: ModelData
    b: ModelData
    metric: Metric


ComparisonMethod = Callable[[Pair, Options], ComparisonResult]
COMPARISONS: Registry[ComparisonMethod] = Registry("comparison method")


def _result(pair: Pair, method: str, **kw) -> ComparisonResult:
    base = dict(
        a=pair.a.model,
        b=pair.b.model,
        metric=pair.metric.name,
        method=method,
        higher_is_better=pair.metric.higher_is_better,
        n_units=pair.a.n_units,
        n_runs=len(pair.a.runs),
    )
    base.update(kw)
    base.setdefault("n_clusters", base["n_units"])
    return ComparisonResult(**base)


def _warn(notes: list[str], category, message: str) -> None:
    notes.append(message)
    warnings.warn(message, category, stacklevel=3)


def pair_models(a: ModelData, b: ModelData, metric: Metric) -> Pair:
    """Align two models on (run, unit); UserError when they are not paired."""
    ka = set(zip(a.frame["run"], a.frame["unit_id"], strict=True))
    kb = set(zip(b.frame["run"], b.frame["unit_id"], strict=True))
    if a.run_cols != b.run_cols or ka != kb:
        only_a, only_b = ka - kb, kb - ka
        example = next(iter(only_a or only_b), None)
        raise UserError(
            f"Models '{a.model}' and '{b.model}' are not paired: {len(only_a)} (run, unit) "
            f"pair(s) only in '{a.model}' and {len(only_b)} only in '{b.model}'"
            + (f" (e.g. run {example[0]}, unit {example[1]!r})" if example else "")
            + ". Paired comparisons need both models evaluated on the same splits, seeds and "
            "units."
        )
    order_b = b.frame.set_index(["run", "unit_id"]).index.get_indexer(
        pd.MultiIndex.from_arrays([a.frame["run"], a.frame["unit_id"]])
    )
    fb = b.frame.iloc[order_b].reset_index(drop=True)
    if a.task.type == "classification" and not np.array_equal(
        a.frame["y"].to_numpy(), fb["y"].to_numpy()
    ):
        raise UserError(
            f"Models '{a.model}' and '{b.model}' disagree on the true label of some units."
        )
    return Pair(a, replace(b, frame=fb), metric)


# --------------------------------------------------------------------------------------------
# Per-split differences (the tests over folds)
# --------------------------------------------------------------------------------------------
def _split_values(md: ModelData, metric: Metric, by: list[str]) -> pd.Series:
    """The metric per group of ``by`` run columns."""
    f = md.frame
    out = {}
    for key, idx in f.groupby(by, sort=True).indices.items():
        out[key] = metric(md.columns(np.asarray(idx)))
    return pd.Series(out)


def split_differences(pair: Pair, *, average_seeds: bool = True) -> pd.Series:
    """Differences a - b per (repeat, fold) split (seeds averaged) or per (repeat, fold, seed)."""
    ma = _split_values(pair.a, pair.metric, list(RUN_COLUMNS))
    mb = _split_values(pair.b, pair.metric, list(RUN_COLUMNS))
    d = (ma - mb).rename("d")
    if d.isna().any():
        raise UserError(
            f"'{pair.metric.name}' is undefined in {int(d.isna().sum())} fold(s) (a class absent "
            "from a fold's test set?): the tests over folds need it in every fold."
        )
    if average_seeds:
        d = d.groupby(level=[0, 1]).mean()
    return d


def kfold_structure(md: ModelData) -> tuple[int, int] | None:
    """``(k, repeats)`` when, in every (repeat, seed), the folds partition the same units."""
    f = md.frame
    all_units = set(f["unit_id"])
    ks = set()
    for _, g in f.groupby(["repeat", "seed"]):
        per_unit = g.groupby("unit_id")["fold"].nunique()
        if (per_unit != 1).any() or set(g["unit_id"]) != all_units:
            return None
        ks.add(g["fold"].nunique())
    if len(ks) != 1 or min(ks) < 2:
        return None
    return ks.pop(), f["repeat"].nunique()


def fixed_test_set(md: ModelData) -> bool:
    """True when every (repeat, fold) split tests the same units (a holdout test set)."""
    sets = {frozenset(g) for _, g in md.frame.groupby(["repeat", "fold"], sort=False)["unit_id"]}
    return md.frame.groupby(["repeat", "fold"]).ngroups > 1 and len(sets) == 1


def _ratio(pair: Pair, opts: Options, method: str) -> float:
    if fixed_test_set(pair.a):
        raise UserError(
            f"{method} corrects for train/test splits that resample the data, but every split "
            "here tests the same units (a holdout test set, with several training folds or "
            "seeds): the variation across splits ignores the test set's sampling variance. Use "
            "bootstrap (paired, hierarchical; runs are averaged) or mixed."
        )
    if opts.test_train_ratio is not None:
        return float(opts.test_train_ratio)
    kr = kfold_structure(pair.a)
    if kr is None:
        raise UserError(
            f"{method} needs n_test/n_train: the folds of the predictions table do not partition "
            "the units (not k-fold cross-validation), so give --test-train-ratio (e.g. 0.25 for "
            "an 80/20 split)."
        )
    return 1.0 / (kr[0] - 1)


def t_over_splits(d: np.ndarray, var_factor: float, level: float = 0.95) -> dict:
    """t = mean(d) / sqrt(var_factor var(d)) with len(d) - 1 df, two-sided p and interval.

    ``var_factor`` is 1/J for the naive paired t-test and 1/J + n_test/n_train for the
    corrected tests (Nadeau & Bengio 2003; Bouckaert & Frank 2004).
    """
    d = np.asarray(d, dtype=float)
    J = len(d)
    mean = float(d.mean())
    var = float(d.var(ddof=1)) if J > 1 else float("nan")
    se = float(np.sqrt(var_factor * var))
    df_ = J - 1
    if se == 0 or not np.isfinite(se):
        t = 0.0 if mean == 0 else float(np.sign(mean) * np.inf)
        p = 1.0 if mean == 0 else 0.0
    else:
        t = mean / se
        p = float(2 * sps.t.sf(abs(t), df_))
    q = float(sps.t.ppf(0.5 + level / 2, df_)) if df_ > 0 else float("nan")
    return {
        "mean": mean,
        "se": se,
        "t": t,
        "p": p,
        "df": df_,
        "lo": mean - q * se,
        "hi": mean + q * se,
    }


def _t_result(pair, method, d, var_factor, opts, notes):
    r = t_over_splits(d.to_numpy(), var_factor, opts.level)
    if r["se"] == 0:
        _warn(notes, SmallSampleWarning, "The differences over splits have no variance.")
    return _result(
        pair,
        method,
        estimate=r["mean"],
        ci_low=r["lo"],
        ci_high=r["hi"],
        statistic=r["t"],
        p_value=r["p"],
        df=float(r["df"]),
        level=opts.level,
        warnings=notes,
        extra={"n_splits": len(d), "variance_factor": var_factor},
    )


def bayes_correlated(d: np.ndarray, rho: float, rope: float, level: float = 0.95) -> dict:
    """Posterior of the Bayesian correlated t-test (see :func:`bayes`)."""
    d = np.asarray(d, dtype=float)
    n = len(d)
    mean, var = float(d.mean()), float(d.var(ddof=1))
    scale = float(np.sqrt((1 / n + rho / (1 - rho)) * var))
    if scale == 0:
        p_left, p_right = float(mean < -rope), float(mean > rope)
        lo = hi = mean
    else:
        post = sps.t(n - 1, loc=mean, scale=scale)
        p_left, p_right = float(post.cdf(-rope)), float(post.sf(rope))
        lo, hi = (float(x) for x in post.interval(level))
    return {
        "mean": mean,
        "scale": scale,
        "p_left": p_left,
        "p_right": p_right,
        "p_rope": max(0.0, 1.0 - p_left - p_right),
        "lo": lo,
        "hi": hi,
        "df": n - 1,
    }


def mcnemar_counts(b: int, c: int, n: int, level: float = 0.95) -> dict:
    """McNemar's test from the discordant counts (see :func:`mcnemar`)."""
    if b + c < 25:
        stat = float(min(b, c))
        p = float(sps.binomtest(b, b + c, 0.5).pvalue) if b + c else 1.0
        how = "exact"
    else:
        stat = (abs(b - c) - 1) ** 2 / (b + c)
        p = float(sps.chi2.sf(stat, 1))
        how = "chi2-cc"
    est = (b - c) / n
    z = float(sps.norm.ppf(0.5 + level / 2))
    se = np.sqrt(max(b + c - (b - c) ** 2 / n, 0.0)) / n
    return {
        "estimate": est,
        "statistic": float(stat),
        "p": p,
        "test": how,
        "lo": est - z * se,
        "hi": est + z * se,
    }


def _need_splits(d: pd.Series, method: str, minimum: int = 2) -> None:
    if len(d) < minimum:
        raise UserError(
            f"{method} compares models over splits (folds/repeats) and needs at least {minimum}; "
            f"the predictions have {len(d)}. For one test set use bootstrap, delong, mcnemar or "
            "mixed."
        )


@COMPARISONS.register("paired-t")
def paired_t(pair: Pair, opts: Options) -> ComparisonResult:
    """Naive paired t-test over the splits: t = mean(d) / sqrt(var(d) / J), df = J - 1.

    Kept for calibration studies: folds overlap, so it is anti-conservative (Dietterich 1998,
    Neural Comput. 10:1895-1923, doi:10.1162/089976698300017197; rule S201).
    """
    d = split_differences(pair)
    _need_splits(d, "paired-t")
    notes: list[str] = []
    _warn(
        notes,
        BrainbenchWarning,
        "The naive paired t-test over overlapping folds is "
        "anti-conservative (S201); prefer corrected-t.",
    )
    return _t_result(pair, "paired-t", d, 1.0 / len(d), opts, notes)


@COMPARISONS.register("corrected-t")
def corrected_t(pair: Pair, opts: Options) -> ComparisonResult:
    """Corrected resampled t-test (Nadeau & Bengio 2003, Mach. Learn. 52:239-281,
    doi:10.1023/A:1024068626366).

    Over J train/test splits with differences d_j: t = mean(d) / sqrt((1/J + n_test/n_train)
    var(d)), Student t with J - 1 df. Seeds of one split are averaged first. n_test/n_train is
    1/(k-1) for k-fold cross-validation, else given.
    """
    d = split_differences(pair)
    _need_splits(d, "corrected-t")
    ratio = _ratio(pair, opts, "corrected-t")
    res = _t_result(pair, "corrected-t", d, 1.0 / len(d) + ratio, opts, [])
    return replace(res, extra={**res.extra, "test_train_ratio": ratio})


@COMPARISONS.register("corrected-repeated-kfold-t")
def corrected_repeated_kfold_t(pair: Pair, opts: Options) -> ComparisonResult:
    """Corrected repeated k-fold cross-validation t-test (Bouckaert & Frank 2004, PAKDD,
    LNCS 3056:3-12, doi:10.1007/978-3-540-24775-3_3).

    With r repeats of k folds (differences d_ij): t = mean(d) / sqrt((1/(k r) + n2/n1)
    var(d)), n2/n1 = 1/(k-1), Student t with k r - 1 df. Needs the k-fold structure.
    """
    kr = kfold_structure(pair.a)
    if kr is None:
        raise UserError(
            "corrected-repeated-kfold-t needs repeated k-fold predictions: in every repeat the "
            "folds must partition the same units. Use corrected-t with --test-train-ratio."
        )
    k, r = kr
    d = split_differences(pair)
    ratio = 1.0 / (k - 1)
    res = _t_result(pair, "corrected-repeated-kfold-t", d, 1.0 / (k * r) + ratio, opts, [])
    return replace(res, extra={**res.extra, "k": k, "repeats": r, "test_train_ratio": ratio})


@COMPARISONS.register("bayes")
def bayes(pair: Pair, opts: Options) -> ComparisonResult:
    """Bayesian correlated t-test (Corani & Benavoli 2015, Mach. Learn. 100:285-304,
    doi:10.1007/s10994-015-5486-z; Benavoli et al. 2017, JMLR 18(77):1-36).

    The posterior of the mean difference is Student t with n - 1 df, location mean(d) and
    scale sqrt((1/n + rho/(1 - rho)) var(d)), rho = n_test / (n_test + n_train). Reports
    P(left), P(rope), P(right) for the region of practical equivalence [-rope, rope]
    (``right``: a's metric is larger).
    """
    d = split_differences(pair)
    _need_splits(d, "bayes")
    ratio = _ratio(pair, opts, "bayes")
    rho = ratio / (1 + ratio)
    n = len(d)
    post = bayes_correlated(d.to_numpy(), rho, opts.rope, opts.level)
    notes: list[str] = []
    if post["scale"] == 0:
        _warn(notes, SmallSampleWarning, "The differences have no variance.")
    mean, lo, hi = post["mean"], post["lo"], post["hi"]
    p_left, p_rope, p_right = post["p_left"], post["p_rope"], post["p_right"]
    return _result(
        pair,
        "bayes",
        estimate=mean,
        ci_low=lo,
        ci_high=hi,
        statistic=None,
        p_value=None,
        df=float(n - 1),
        level=opts.level,
        warnings=notes,
        extra={
            "p_left": p_left,
            "p_rope": p_rope,
            "p_right": p_right,
            "rope": opts.rope,
            "rho": rho,
            "n_splits": n,
        },
    )


@COMPARISONS.register("wilcoxon")
def wilcoxon(pair: Pair, opts: Options) -> ComparisonResult:
    """Wilcoxon signed-rank test of the per-split differences (Wilcoxon 1945, Biometrics
    Bull. 1:80-83, doi:10.2307/3001968; Demsar 2006, JMLR 7:1-30, section 3.1.3).

    Zero differences are dropped (Wilcoxon's convention). Like the naive t-test, it treats
    overlapping folds as independent (use it across data sets, not folds); the interval given
    is the naive t interval of the mean difference."""
    d = split_differences(pair)
    _need_splits(d, "wilcoxon", 5)
    notes: list[str] = []
    if kfold_structure(pair.a) is not None:
        _warn(
            notes,
            BrainbenchWarning,
            "Wilcoxon over overlapping cross-validation folds is "
            "anti-conservative (it ignores the folds' correlation); use corrected-t.",
        )
    if (d == 0).any() or d.duplicated().any():
        _warn(
            notes,
            TiesWarning,
            "Zero or tied differences between splits: the normal "
            "approximation with tie correction is used.",
        )
    res = sps.wilcoxon(d.to_numpy(), zero_method="wilcox", alternative="two-sided")
    tres = _t_result(pair, "wilcoxon", d, 1.0 / len(d), opts, notes)
    return replace(tres, statistic=float(res.statistic), p_value=float(res.pvalue), df=None)


@COMPARISONS.register("probability")
def probability(pair: Pair, opts: Options) -> ComparisonResult:
    """P(A > B) across seeds and splits (Bouthillier et al. 2021, "Accounting for variance in
    machine learning benchmarks", MLSys 3, arXiv:2103.03098).

    ``extra["p_a_better"]`` is the fraction of runs (repeat, fold, seed) in which a's metric
    beats b's (ties count 1/2), with a percentile bootstrap interval over runs; the p-value is
    the two-sided exact sign test of P = 1/2 (ties dropped). ``estimate`` is the mean
    difference over runs; ``ci_low``/``ci_high`` give the central ``level`` range of the per-run
    differences (their spread across seeds and splits, not an interval of the mean).

    The sign test treats runs as independent: over cross-validation folds, whose training sets
    overlap, it is anti-conservative (see the calibration study), and a warning says so. Use
    P(A>B) to describe variability; base decisions on corrected-t, bayes or the bootstrap.
    """
    d = split_differences(pair, average_seeds=False).to_numpy()
    if len(d) < 2:
        _need_splits(pd.Series(d), "probability")
    sign = d if pair.metric.higher_is_better else -d
    wins = (sign > 0) + 0.5 * (sign == 0)
    p_ab = float(wins.mean())
    rng = np.random.default_rng(opts.seed)
    boot = wins[rng.integers(0, len(wins), (opts.resamples or 2000, len(wins)))].mean(axis=1)
    lo_p, hi_p = percentile_interval(boot, opts.level)
    n_plus, n_minus = int((sign > 0).sum()), int((sign < 0).sum())
    p = 1.0 if n_plus + n_minus == 0 else float(sps.binomtest(n_plus, n_plus + n_minus, 0.5).pvalue)
    notes: list[str] = []
    if len(d) < 10:
        _warn(notes, SmallSampleWarning, f"P(A>B) from only {len(d)} runs.")
    if kfold_structure(pair.a) is not None:
        _warn(
            notes,
            BrainbenchWarning,
            "The runs are cross-validation folds with overlapping "
            "training sets: the sign test's p-value is anti-conservative; decide with "
            "corrected-t or bayes.",
        )
    return _result(
        pair,
        "probability",
        estimate=float(d.mean()),
        ci_low=float(np.quantile(d, 0.5 - opts.level / 2)),
        ci_high=float(np.quantile(d, 0.5 + opts.level / 2)),
        statistic=p_ab,
        p_value=p,
        level=opts.level,
        warnings=notes,
        extra={"p_a_better": p_ab, "p_a_better_ci": [lo_p, hi_p], "n_runs": len(d)},
    )


# --------------------------------------------------------------------------------------------
# One test set: DeLong, McNemar
# --------------------------------------------------------------------------------------------
def _single_run(pair: Pair, method: str) -> None:
    if len(pair.a.runs) > 1:
        raise UserError(
            f"{method} compares two models on one test set, but the predictions hold "
            f"{len(pair.a.runs)} runs (seeds/repeats). Use bootstrap or mixed (which use every "
            "run), or filter the table to one run."
        )


@COMPARISONS.register("delong")
def delong(pair: Pair, opts: Options) -> ComparisonResult:
    """Paired DeLong test of two AUROCs on the same units (DeLong et al. 1988, Biometrics
    44:837-845, doi:10.2307/2531595); see :mod:`brainbench.stats._delong`."""
    if pair.metric.name != "auroc":
        raise UserError(f"delong compares AUROCs; the metric is '{pair.metric.name}'.")
    _single_run(pair, "delong")
    ca, cb = pair.a.columns(), pair.b.columns()
    y = ca.y == ca.positive
    if y.all() or (~y).all():
        raise UserError("delong needs positive and negative units in the test set.")
    _, _, z, p, lo, hi = delong_test(y, ca.score, cb.score, opts.level)
    notes: list[str] = []
    if (
        "subject" in pair.a.frame.columns
        and pair.a.unit == "image"
        and (pair.a.frame.groupby("subject").size().max() > 1)
    ):
        _warn(
            notes,
            BrainbenchWarning,
            "DeLong assumes independent units, but subjects "
            "contribute several images: use --unit subject or the bootstrap.",
        )
    est = float(pair.metric(ca) - pair.metric(cb))
    return _result(
        pair,
        "delong",
        estimate=est,
        ci_low=lo,
        ci_high=hi,
        statistic=z,
        p_value=p,
        level=opts.level,
        warnings=notes,
    )


@COMPARISONS.register("mcnemar")
def mcnemar(pair: Pair, opts: Options) -> ComparisonResult:
    """McNemar's test of paired correctness (McNemar 1947, Psychometrika 12:153-157,
    doi:10.1007/BF02295996).

    With b units right by a only and c by b only: exact binomial test of b ~ Bin(b + c, 1/2)
    when b + c < 25, else chi2 = (|b - c| - 1)^2 / (b + c) (Edwards 1948 continuity
    correction). The interval is the Wald interval of the difference of paired proportions,
    (b - c)/n -+ z sqrt(b + c - (b - c)^2 / n) / n (Agresti 2013, Categorical Data Analysis,
    3rd ed., section 11.1.3). Accuracy, sensitivity and specificity only.
    """
    if not pair.metric.binary_outcome:
        raise UserError(
            f"mcnemar tests paired correctness: use accuracy, sensitivity or specificity, not "
            f"'{pair.metric.name}'."
        )
    _single_run(pair, "mcnemar")
    ca, cb = pair.a.columns(), pair.b.columns()
    ra, mask = pair.metric.per_unit(ca)
    rb, _ = pair.metric.per_unit(cb)
    ra, rb = ra[mask].astype(bool), rb[mask].astype(bool)
    n = len(ra)
    b = int((ra & ~rb).sum())
    c = int((~ra & rb).sum())
    r = mcnemar_counts(b, c, n, opts.level)
    return _result(
        pair,
        "mcnemar",
        estimate=r["estimate"],
        ci_low=r["lo"],
        ci_high=r["hi"],
        statistic=r["statistic"],
        p_value=r["p"],
        level=opts.level,
        n_units=n,
        n_clusters=n,
        extra={"b": b, "c": c, "test": r["test"]},
    )


# --------------------------------------------------------------------------------------------
# Hierarchy-aware: paired bootstrap, mixed model
# --------------------------------------------------------------------------------------------
@COMPARISONS.register("bootstrap")
def paired_bootstrap(pair: Pair, opts: Options) -> ComparisonResult:
    """Paired hierarchical bootstrap of the difference metric(a) - metric(b).

    Both models share each resample's cluster multiplicities (Davison & Hinkley 1997, ch. 3.8
    and 4.4, doi:10.1017/CBO9780511802843; Saravanan et al. 2020, PMC7906290). Percentile or
    BCa interval; p-value from :func:`~brainbench.stats._bootstrap.bootstrap_p_value`;
    ``statistic`` is the estimate over its bootstrap standard error (a z-like score).
    """
    from brainbench.stats._evaluate import estimable_design, outer_level_notes, run_blocks

    design, names, conditional_on, why = estimable_design(
        pair.a, opts.clusters, stratify=opts.stratify
    )
    blocks: list[Block] = run_blocks(pair.a, pair.metric, design, 1.0)
    blocks += run_blocks(pair.b, pair.metric, design, -1.0)
    stat = Statistic(design, blocks)
    est = stat.point()
    notes: list[str] = []
    if why:
        _warn(notes, FewClustersWarning, why.replace("interval", "comparison", 1))
    elif opts.clusters:
        for note in outer_level_notes(pair.a, pair.metric.name, names[0], design.n_top):
            _warn(notes, FewClustersWarning, note)
    interval, chosen_for = _paired_calibration(pair, opts, design, names[0], conditional_on, notes)
    if interval in STUDENTISED and opts.clusters and not conditional_on:
        res = _studentised_difference(pair, opts, interval, names[0], est, notes, chosen_for)
        if res is not None:
            return res
        # The calibrated choice is undefined for these data (a warning says why).
        chosen_for = f"{chosen_for} ({interval} undefined for these data)"
        interval = "percentile"
    if interval not in ("percentile", "bca"):
        notes.append(
            f"The paired bootstrap's difference uses the percentile interval: '{interval}' "
            "needs a cluster level with at least 4 clusters."
        )
        interval = "percentile"
    if opts.clusters and not conditional_on and not chosen_for and design.n_top < MIN_CLUSTERS:
        _warn(
            notes,
            FewClustersWarning,
            f"Only {design.n_top} {names[0]} clusters: cluster "
            f"bootstrap intervals tend to be too narrow with fewer than {MIN_CLUSTERS}.",
        )
    theta = stat.resample(opts.resamples, np.random.default_rng(opts.seed))
    ok = np.isfinite(theta)
    n_bad = int((~ok).sum())
    if n_bad:
        _warn(
            notes,
            BrainbenchWarning,
            f"{n_bad} of {opts.resamples} resamples left the "
            "difference undefined and were excluded.",
        )
    good = theta[ok]
    if len(good) < 2:  # every resample undefined (e.g. a class absent): no interval, no test
        _warn(
            notes,
            DegenerateResampleWarning,
            "The difference is not estimable: fewer than two resamples define it (one class "
            "only in the test set?). No interval or p-value.",
        )
        lo = hi = float("nan")
    elif interval == "bca":
        lo, hi, _, _ = bca_interval(good, est, stat.jackknife(), opts.level)
    else:
        lo, hi = percentile_interval(good, opts.level)
    sd = float(good.std(ddof=1)) if len(good) > 1 else float("nan")
    z = est / sd if sd > 0 else float("nan")
    return _result(
        pair,
        "bootstrap",
        estimate=est,
        ci_low=lo,
        ci_high=hi,
        statistic=z,
        p_value=bootstrap_p_value(good),
        level=opts.level,
        n_clusters=design.n_top,
        warnings=notes,
        extra={
            "n_resamples": opts.resamples,
            "n_degenerate": n_bad,
            "clusters": design.n_clusters,
            "interval": interval,
            "seed": opts.seed,
        }
        | ({"conditional_on": conditional_on} if conditional_on else {})
        | ({"chosen_for": chosen_for} if chosen_for else {}),
    )


def _paired_calibration(
    pair: Pair,
    opts: Options,
    design,
    outer: str,
    conditional_on: dict[str, int],
    notes: list[str],
) -> tuple[str, str]:
    """The interval of the paired difference and the regime it was chosen for: with
    ``calibrated``, the method the paired calibration recommends for the design's regime
    (the percentile interval where it recommends none); and, whatever the interval, a
    warning flagging a regime where no method met the goal (type-I error 4-6%, power at least
    the mixed model's) in the paired grid."""
    from brainbench.stats._evaluate import subjects_per_cluster
    from brainbench.stats._interval_defaults import SITE_LIKE, paired_choice
    from brainbench.stats._interval_defaults import regime as design_regime

    interval = opts.interval
    if not opts.clusters or conditional_on or outer not in SITE_LIKE:
        return ("percentile" if interval == "calibrated" else interval), ""
    if pair.metric.name != PAIRED_CALIBRATED_METRIC:
        # A recommendation for differences of balanced accuracies may not even apply to
        # another metric (the wild bootstrap needs a weighted mean; AUROC is not one).
        if interval != "calibrated":
            return interval, ""
        notes.append(
            f"Interval of the difference: percentile (the paired bootstrap). The paired "
            f"calibration simulated differences of {PAIRED_CALIBRATED_METRIC} only, so for "
            f"'{pair.metric.name}' this comparison's type-I error and coverage at "
            f"{design.n_top} sites are not calibrated."
        )
        return "percentile", ""
    per_site = subjects_per_cluster(pair.a, outer)
    entry = paired_choice(design.n_top, per_site)
    if entry is None:
        if interval == "calibrated":
            sites, subjects = design_regime(design.n_top, per_site)
            notes.append(
                f"Interval of the difference: percentile (the paired bootstrap). The paired "
                f"calibration has no design in {sites}, {subjects}, so this comparison's "
                "type-I error and coverage there are not calibrated."
            )
        return ("percentile" if interval == "calibrated" else interval), ""
    regime = f"{entry['sites']}, {entry['subjects_per_site']}"
    rec = entry["recommended"]
    if not entry["meets_goal"]:
        # Flagged on power alone, the recommended method still holds its level: its p-value
        # is calibrated, only a more powerful test exists.
        level_held = rec is not None and interval in ("calibrated", rec)
        _warn(
            notes,
            FewClustersWarning,
            f"Calibration of paired comparisons for {regime}: {entry['why']} "
            f"(`{entry['source']}`). "
            + (
                f"{rec}'s type-I error is within 4-6% here; it is the power that falls short."
                if level_held
                else "Treat this comparison's p-value and interval as approximate."
            ),
        )
    if interval != "calibrated":
        return interval, ""
    interval = rec if rec in STUDENTISED else "percentile"
    if abs(opts.level - 0.95) > 1e-9 or abs(opts.alpha - 0.05) > 1e-9:
        _warn(
            notes,
            BrainbenchWarning,
            f"The paired calibration judged 95% intervals and tests at alpha 0.05 only; this "
            f"comparison uses a {100 * opts.level:g}% interval and alpha {opts.alpha:g}, so the "
            f"choice of {interval} for {regime} is an extrapolation there.",
        )
    notes.append(
        f"Interval of the difference chosen for {regime}: {interval}"
        + (f" (recommended: {rec})" if rec and rec not in STUDENTISED else "")
        + "."
    )
    return interval, regime


def _studentised_difference(
    pair: Pair,
    opts: Options,
    interval: str,
    outer: str,
    est: float,
    notes: list[str],
    chosen_for: str,
) -> ComparisonResult | None:
    """The paired difference's studentised interval over the outer clusters (cluster
    bootstrap-t, wild cluster bootstrap, CR2 or the mixed model,
    :func:`brainbench.stats._evaluate.studentised`), with its p-value (symmetric bootstrap-t,
    or the t test of CR2 and the mixed model). Where the interval is undefined (e.g. two
    models with the same predictions: their difference has no variance) a warning says why:
    asked for by name, the result has no interval; chosen by ``calibrated`` (``chosen_for``),
    None, and the paired bootstrap's percentile interval is used instead."""
    from brainbench.stats._evaluate import studentised

    if interval in MEAN_ONLY and pair.metric.name not in MEAN_METRICS:
        raise UserError(
            f"The {interval} interval applies to metrics that are weighted means "
            f"({', '.join(MEAN_METRICS)}); '{pair.metric.name}' is not one. Use "
            "cluster-bootstrap-t or the percentile interval."
        )
    st = studentised(
        [(pair.a, 1.0), (pair.b, -1.0)],
        pair.metric,
        interval,
        outer,
        opts.level,
        opts.resamples,
        np.random.default_rng(opts.seed),
        opts.clusters,
    )
    lo, hi, p, design = st.low, st.high, st.p_value, st.design
    if st.n_undefined:
        _warn(
            notes,
            DegenerateResampleWarning,
            f"{st.n_undefined} of {opts.resamples} bootstrap-t resamples left the difference "
            "or its standard error undefined and were excluded.",
        )
    if not (np.isfinite(lo) and np.isfinite(hi)):
        if chosen_for:
            _warn(
                notes,
                DegenerateResampleWarning,
                f"The calibrated choice for {chosen_for}, {interval}, gives no interval of the "
                f"difference for these data: {st.why}. Reported instead: the percentile "
                "interval of the paired bootstrap, which the calibration did not choose for "
                "this design (approximate).",
            )
            return None
        _warn(
            notes,
            DegenerateResampleWarning,
            f"No {interval} interval of the difference: {st.why}. Use the percentile "
            "interval, or calibrated.",
        )
    return _result(
        pair,
        "bootstrap",
        estimate=est,
        ci_low=lo,
        ci_high=hi,
        statistic=None,
        p_value=p if np.isfinite(p) else None,
        level=opts.level,
        n_clusters=design.n_top,
        warnings=notes,
        extra={
            "n_resamples": opts.resamples,
            "n_degenerate": st.n_undefined,
            "clusters": design.n_clusters,
            "interval": interval,
            "seed": opts.seed,
        }
        | ({"chosen_for": chosen_for} if chosen_for else {}),
    )


def mixed_frame(pair: Pair, clusters: Sequence[str]) -> pd.DataFrame:
    """Per-(run, unit) differences of the metric's per-unit contributions, with cluster ids
    (a unit without an id at a level is its own group there, as in the bootstrap)."""
    rows = []
    for run in pair.a.runs:
        idx = np.flatnonzero(pair.a.frame["run"].to_numpy() == run)
        ca, cb = pair.a.columns(idx), pair.b.columns(idx)
        va, mask = pair.metric.per_unit(ca)
        vb, _ = pair.metric.per_unit(cb)
        f = pair.a.frame.iloc[idx][mask]
        unit = f["unit_id"].astype(str).to_numpy()
        part = pd.DataFrame({"d": (va - vb)[mask], "run": run, "unit_id": f["unit_id"].to_numpy()})
        for c in clusters:
            ids = f[c]
            part[c] = np.where(ids.isna(), "unit " + unit, ids.astype(str).to_numpy())
        rows.append(part)
    return pd.concat(rows, ignore_index=True)


@COMPARISONS.register("mixed")
def mixed(pair: Pair, opts: Options) -> ComparisonResult:
    """Linear mixed-effects model of the paired per-unit differences, t test with
    Satterthwaite degrees of freedom (:func:`brainbench.stats._mixed.fit_mixed`).

    d_{suj} = beta + s_s + u_{su} + e_{suj}: random intercepts for the outer cluster (site) and
    each nested cluster level (subject within site), fitted by REML (Laird & Ware 1982,
    Biometrics 38:963-974, doi:10.2307/2529876; Patterson & Thompson 1971). beta estimates
    metric(a) - metric(b) for metrics that are means of per-unit contributions (accuracy,
    balanced accuracy with class weights, sensitivity, specificity, brier, log loss, mae);
    ``SE = (1'V^-1 1)^-1/2`` and a t test and interval with Satterthwaite's df (Satterthwaite
    1946; Giesbrecht & Burns 1985; Kuznetsova, Brockhoff & Christensen 2017, lmerTest,
    doi:10.18637/jss.v082.i13). A variance component estimated 0 is dropped (a note names it).
    Kenward-Roger's adjustment is not implemented.
    """
    from brainbench.stats._mixed import fit_mixed

    if pair.metric.per_unit is None:
        raise UserError(
            f"mixed models per-unit outcomes; '{pair.metric.name}' is not a mean of per-unit "
            "values. Use accuracy, balanced_accuracy, sensitivity, specificity, brier, log_loss "
            "or mae, or the paired bootstrap."
        )
    clusters = list(opts.clusters)
    check_outer_first(clusters)
    frame = mixed_frame(pair, clusters)
    if not clusters:
        clusters = ["unit_id"]
    notes: list[str] = []
    top = clusters[0]
    n_top = frame[top].nunique()
    if n_top < 5 or frame.groupby(top).size().max() < 2:
        raise UserError(
            f"mixed needs repeated observations within at least 5 '{top}' clusters (found "
            f"{n_top}); declare clusters (e.g. --clusters site,subject) or use the bootstrap."
        )
    if frame["d"].var() == 0:
        est = float(frame["d"].mean())
        return _result(
            pair,
            "mixed",
            estimate=est,
            ci_low=est,
            ci_high=est,
            statistic=None,
            p_value=1.0 if est == 0 else 0.0,
            level=opts.level,
            warnings=["The per-unit differences are constant."],
        )
    fit = fit_mixed(frame["d"].to_numpy(), [frame[c].to_numpy() for c in clusters], clusters)
    if n_top < 10:
        _warn(
            notes,
            FewClustersWarning,
            f"Only {n_top} {top} clusters for a random effect: the {top} variance rests on "
            f"{n_top} groups, and the t test uses {fit.beta.df:.1f} Satterthwaite degrees of "
            "freedom.",
        )
    if fit.at_boundary:
        notes.append(
            f"The {' and '.join(fit.at_boundary)} variance was estimated 0 (boundary); the "
            "model was refitted without it, and the df count only the remaining variances."
        )
    if fit.not_identifiable:
        notes.append(
            f"The {' and '.join(fit.not_identifiable)} level has one observation per group (or "
            "one group per group above), so its variance cannot be told apart and it was left "
            "out of the model."
        )
    if not fit.converged:
        _warn(
            notes,
            ConvergenceWarning,
            "The REML fit did not converge (a variance is near 0 or the residual variance "
            "vanishes); treat the interval as approximate or use the paired bootstrap.",
        )
    if not np.isfinite(fit.beta.df):
        _warn(
            notes,
            ConvergenceWarning,
            "The Satterthwaite df could not be computed (the REML information of the variances "
            "is singular): no interval or p-value; use the paired bootstrap.",
        )
    lo, hi = fit.beta.interval(opts.level)
    return _result(
        pair,
        "mixed",
        estimate=fit.beta.estimate,
        ci_low=lo,
        ci_high=hi,
        statistic=fit.beta.statistic,
        p_value=fit.beta.p_value,
        df=fit.beta.df,
        level=opts.level,
        n_clusters=int(n_top),
        warnings=notes,
        extra={
            "df_method": "satterthwaite",
            "variances": fit.variances,
            "at_boundary": list(fit.at_boundary),
            "converged": fit.converged,
            "n_obs": fit.n_obs,
        },
    )


# --------------------------------------------------------------------------------------------
# Multiplicity and decisions
# --------------------------------------------------------------------------------------------
def adjust_p_values(p: Sequence[float], method: str = "holm") -> np.ndarray:
    """Holm (1979, Scand. J. Stat. 6:65-70, jstor.org/stable/4615733) step-down or
    Benjamini & Hochberg (1995, J. R. Stat. Soc. B 57:289-300,
    doi:10.1111/j.2517-6161.1995.tb02031.x) step-up adjusted p-values. ``None``/NaN stay NaN.
    """
    _check_choice("correction", method, CORRECTIONS)
    p = np.asarray([np.nan if v is None else v for v in p], dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if m == 0 or method == "none":
        out[ok] = p[ok]
        return out
    order = ok[np.argsort(p[ok], kind="mergesort")]
    ps = p[order]
    if method == "holm":
        adj = np.maximum.accumulate((m - np.arange(m)) * ps)
    else:
        adj = np.minimum.accumulate(m / np.arange(m, 0, -1) * ps[::-1])[::-1]
    out[order] = np.minimum(adj, 1.0)
    return out


def decide(res: ComparisonResult, *, alpha: float, margin: float, hypothesis: str) -> str:
    """A decision against ``margin`` from the interval (and the adjusted p for superiority).

    With ``benefit`` = the difference oriented so that positive favours a, and [lo, hi] its
    interval: superiority holds when lo > margin (and p_adjusted < alpha), inferiority when
    hi < -margin; non-inferiority when lo > -margin; equivalence when -margin < lo and
    hi < margin (two one-sided tests at the interval's level; Schuirmann 1987, J. Pharmacokinet.
    Biopharm. 15:657-680, doi:10.1007/BF01068419; Piaggio et al. 2012, JAMA 308:2594-2604,
    doi:10.1001/jama.2012.87802). ``bayes`` decides from posterior probabilities >= 0.95.
    """
    _check_choice("hypothesis", hypothesis, HYPOTHESES)
    sign = 1.0 if res.higher_is_better else -1.0
    lo, hi = sorted((sign * res.ci_low, sign * res.ci_high))
    if res.method == "bayes":
        e = res.extra
        right, left = (e["p_right"], e["p_left"]) if sign > 0 else (e["p_left"], e["p_right"])
        if right >= 0.95:
            return "superior"
        if left >= 0.95:
            return "inferior"
        if e["p_rope"] >= 0.95:
            return "equivalent"
        return "inconclusive"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "inconclusive"
    p = res.p_adjusted if res.p_adjusted is not None else res.p_value
    significant = p is None or (np.isfinite(p) and p < alpha)
    if hypothesis == "superiority":
        if lo > margin and significant:
            return "superior"
        if hi < -margin and significant:
            return "inferior"
        return "not-superior" if hi <= margin else "inconclusive"
    if hypothesis == "non-inferiority":
        if lo > -margin:
            return "non-inferior"
        if hi < -margin:
            return "inferior"
        return "inconclusive"
    if -margin < lo and hi < margin:
        return "equivalent"
    if lo > margin or hi < -margin:
        return "different"
    return "inconclusive"


def compare_models(
    df: pd.DataFrame,
    metric: str,
    method: str = "bootstrap",
    *,
    pairs: Sequence[tuple[str, str]] | None = None,
    reference: str | None = None,
    task: Task | None = None,
    positive: str | None = None,
    unit: str = "image",
    clusters: Sequence[str] = (),
    level: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
    interval: str = "percentile",
    correction: str = "holm",
    alpha: float = 0.05,
    margin: float = 0.0,
    hypothesis: str = "superiority",
    rope: float | None = None,
    test_train_ratio: float | None = None,
    stratify: bool = True,
    groupby: Sequence[str] | None = None,
    partitions: Sequence[str] | None = None,
) -> list[ComparisonResult]:
    """Paired comparisons of models on the same splits and units.

    Parameters
    ----------
    df
        The predictions table.
    metric
        A registered metric name.
    method
        A registered comparison method (:data:`COMPARISONS`): paired-t, corrected-t,
        corrected-repeated-kfold-t, delong, mcnemar, bootstrap, mixed, bayes, wilcoxon,
        probability.
    pairs, reference
        Which pairs: explicit ``(a, b)`` pairs, every model against ``reference``, or (default)
        every pair in the table's order.
    correction
        ``holm``, ``bh`` or ``none``: applied within each (partition, group) family.
    margin, hypothesis
        The spec's margin and what must be shown (superiority, non-inferiority, equivalence);
        the result's ``decision``.
    rope
        Half-width of the region of practical equivalence (``bayes``; default: ``margin`` or
        0.01).
    test_train_ratio
        n_test / n_train for corrected-t and bayes when the folds are not a k-fold partition.
    Other parameters as in :func:`brainbench.stats.evaluate_predictions`.
    """
    df = check_predictions(df, source="the predictions table")
    m = get_metric(metric)
    fn = COMPARISONS.get(method)
    _check_choice("correction", correction, CORRECTIONS)
    _check_choice("hypothesis", hypothesis, HYPOTHESES)
    if task is None:
        task = infer_task(df, positive=positive, metrics=[metric])
    models = list(pd.unique(df["model"]))
    if pairs is None:
        if reference is not None:
            if reference not in models:
                raise UserError(f"No predictions of the reference model '{reference}'.")
            pairs = [(mdl, reference) for mdl in models if mdl != reference]
        else:
            pairs = list(itertools.combinations(models, 2))
    if not pairs:
        raise UserError(
            f"Nothing to compare: the predictions table holds {len(models)} model(s) "
            f"({', '.join(models)}); a comparison needs two."
        )
    for a, b in pairs:
        for mdl in (a, b):
            if mdl not in models:
                raise UserError(f"No predictions of model '{mdl}'. Models: {', '.join(models)}.")
    if rope is None:
        rope = margin if margin > 0 else 0.01
    opts = Options(
        level=level,
        clusters=tuple(clusters),
        resamples=resamples,
        seed=seed,
        interval=interval,
        rope=rope,
        test_train_ratio=test_train_ratio,
        stratify=stratify,
        alpha=alpha,
    )
    out: list[ComparisonResult] = []
    for part, group, rows in iter_groups(df, groupby, partitions):
        family = []
        cache: dict[str, ModelData] = {}
        for a, b in pairs:
            for mdl in (a, b):
                if mdl not in cache:
                    sub = rows[rows["model"] == mdl]
                    if sub.empty:
                        raise UserError(
                            f"No predictions of model '{mdl}' in partition {part}"
                            f"{' ' + str(group) if group else ''}."
                        )
                    cache[mdl] = model_data(sub, mdl, task, unit)
                    check_metric(cache[mdl], m)
            o = replace(opts, clusters=tuple(c for c in opts.clusters if c not in group))
            pair = pair_models(cache[a], cache[b], m)
            res = fn(pair, o)
            family.append(
                replace(
                    res,
                    partition=part,
                    group=dict(group),
                    alpha=alpha,
                    margin=margin,
                    hypothesis=hypothesis,
                    correction=correction,
                )
            )
        adj = adjust_p_values([r.p_value for r in family], correction)
        for r, pa in zip(family, adj, strict=True):
            r = replace(r, p_adjusted=None if not np.isfinite(pa) else float(pa))
            out.append(
                replace(r, decision=decide(r, alpha=alpha, margin=margin, hypothesis=hypothesis))
            )
    return out
