"""Statistics on the case-metrics table: intervals, paired comparisons, ranking stability.

The input is the long table of the runner (``case_metrics.parquet``; docs/design.md): one row
per (model, repeat, fold, seed, partition, image, label, metric) with the hierarchy ids
(``site``, ``subject``, ``image``; ``dataset``, ``session`` optional), ``value``, ``status``
and ``tolerance_mm`` (NaN unless nsd). Rows of another partition than ``partition`` (default
``test``) are ignored when the column exists. A case is an image (``dataset`` + ``image``); a
model's value for a case is the mean of its defined values over its runs (repeats, seeds)
when it was scored more than once.

Signatures (stable; the evidence sheet calls them)::

    summarise(table, *, statistic="mean", levels=("site", "subject"), by=(),
              level=0.95, n_resamples=2000, seed=0, partition="test") -> list[SegSummary]
        One result per (model, label, metric, tolerance_mm[, by values]): the mean or median
        of the per-case values with a hierarchical bootstrap percentile interval.

    compare(table, model_a, model_b, *, statistic="mean", levels=("site", "subject"),
            level=0.95, n_resamples=2000, seed=0, correction="holm", alpha=0.05,
            partition="test") -> list[SegComparison]
        One result per (label, metric, tolerance_mm): difference a - b of the statistic over
        the cases both models scored, a paired hierarchical bootstrap interval and p-value,
        p-values adjusted across the rows (Holm by default).

    rank_stability(table, *, metric, label, tolerance_mm=None, statistic="mean",
                   levels=("site", "subject"), n_resamples=1000, seed=0,
                   partition="test") -> RankStability
        challengeR-style bootstrap ranking of every model of the table on one (label, metric).

Each result is a frozen dataclass with ``to_dict()`` and a ``warnings`` list.

Resampling. The hierarchical bootstrap is the engine of :mod:`brainbench.stats`
(:class:`brainbench.stats._resample.ClusterDesign`: sites with replacement, then subjects
within each drawn site; Davison & Hinkley 1997, section 3.8; Field & Welsh 2007): a resample
is a vector of subject multiplicities, and a case (image) weighs as much as its subject, so
the several sessions of one subject move together. The statistic of a resample is the
weighted mean of the case values, or the median of the resampled cases (the weighted median
with integer multiplicities). Intervals are percentile intervals
(:func:`brainbench.stats._bootstrap.percentile_interval`); with fewer than
:data:`~brainbench.stats._evaluate.MIN_ESTIMABLE_CLUSTERS` sites the sites are held fixed and
the subjects resampled within each (the interval is conditional on those sites, as
``confidence_interval`` does; ``conditional_on`` says so), and fewer than
:data:`~brainbench.stats._evaluate.MIN_CLUSTERS` sites or
:data:`~brainbench.stats._evaluate.MIN_UNITS` subjects add a warning: these are the limits
the rest of the engine reports.

Empty masks (Metrics Reloaded; see :mod:`brainbench.segmentation.metrics`). Cases with an
empty reference and/or prediction enter every statistic with the values Metrics Reloaded
prescribes (best values when both are empty; 0 overlap and the image diagonal as distance
otherwise); the only undefined value is the relative volume error of an empty reference
(NaN), and such cases are excluded from that metric's statistic and counted. Every result
carries ``status_counts`` (cases per status), ``n_undefined`` and ``empty_handling`` (one
sentence saying how those cases entered).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.stats as sps

from brainbench.errors import FewClustersWarning, SmallSampleWarning, UserError
from brainbench.segmentation.metrics import SEGMENTATION_METRICS, STATUSES
from brainbench.stats._bootstrap import bootstrap_p_value, percentile_interval
from brainbench.stats._compare import adjust_p_values
from brainbench.stats._evaluate import (
    MIN_CLUSTERS,
    MIN_ESTIMABLE_CLUSTERS,
    MIN_UNITS,
    _check_choice,
    _warn,
)
from brainbench.stats._metrics import metric_info
from brainbench.stats._rank import kendall_tau
from brainbench.stats._resample import ClusterDesign
from brainbench.stats._results import _clean

STATISTICS = ("mean", "median")
REQUIRED = ("model", "label", "metric", "value", "status", "site", "subject", "image")
_CASE = ("dataset", "image")


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SegSummary:
    """The mean or median of one model's per-case metric, with its interval.

    Attributes
    ----------
    model, label, metric, tolerance_mm, statistic
        What was summarised (``tolerance_mm`` NaN unless nsd).
    estimate, ci_low, ci_high, level
        The statistic over the cases and its hierarchical bootstrap percentile interval.
    n_cases, n_subjects, n_sites
        Cases (images) with a defined value, and their subjects and sites.
    clusters, conditional_on
        Clusters per resampled level; levels held fixed (too few to resample) with counts.
    n_resamples, n_degenerate
        Resamples drawn, and how many left the statistic undefined.
    status_counts, n_undefined, empty_handling
        Cases per status (``ok``, ``empty-reference``...), cases excluded as undefined, and
        how the empty cases entered the estimate.
    group
        The breakdown group (``{"site": "A"}``) of this row, empty for the whole table.
    """

    model: str
    label: str
    metric: str
    tolerance_mm: float
    statistic: str
    estimate: float
    ci_low: float
    ci_high: float
    level: float
    n_cases: int
    n_subjects: int
    n_sites: int
    clusters: dict[str, int]
    conditional_on: dict[str, int]
    n_resamples: int
    n_degenerate: int
    status_counts: dict[str, int]
    n_undefined: int
    empty_handling: str
    direction: str
    group: dict[str, str] = field(default_factory=dict)
    seed: int | None = None
    method: str = "hierarchical-bootstrap"
    interval: str = "percentile"
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return _clean(asdict(self))


@dataclass(frozen=True)
class SegComparison:
    """Paired comparison of models ``a`` and ``b`` on one (label, metric).

    ``estimate = statistic(a) - statistic(b)`` over the cases both scored, with a paired
    hierarchical bootstrap interval (one set of subject multiplicities for both models) and
    the bootstrap p-value of ``H0: difference = 0`` (:func:`bootstrap_p_value`); ``p_adjusted``
    across the rows of one call (``correction``). ``favours`` names the better model when the
    adjusted p-value is below ``alpha``, else ``None``. For a signed error best at 0
    (``volume-error``, ``relative-volume-error``) the difference of signed means compares the
    biases; which model is closer to 0 is then judged on ``|statistic(a)| - |statistic(b)|``
    (``abs_difference`` with its own interval ``abs_ci_low``/``abs_ci_high``), and ``favours``
    is set when that interval excludes 0.
    """

    a: str
    b: str
    label: str
    metric: str
    tolerance_mm: float
    statistic: str
    estimate_a: float
    estimate_b: float
    estimate: float
    ci_low: float
    ci_high: float
    level: float
    p_value: float
    p_adjusted: float
    correction: str
    favours: str | None
    n_cases: int
    n_subjects: int
    n_sites: int
    clusters: dict[str, int]
    conditional_on: dict[str, int]
    n_resamples: int
    status_counts: dict[str, dict[str, int]]
    n_unpaired: int
    n_undefined: int
    empty_handling: str
    direction: str
    abs_difference: float | None = None
    abs_ci_low: float | None = None
    abs_ci_high: float | None = None
    seed: int | None = None
    method: str = "paired-hierarchical-bootstrap"
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return _clean(asdict(self))


@dataclass(frozen=True)
class RankStability:
    """challengeR-style bootstrap ranking of the models on one (label, metric).

    Aggregate-then-rank (Wiesenfarth et al. 2021, Sci. Rep. 11:2369,
    doi:10.1038/s41598-021-82017-6): each model's ``statistic`` over the cases, ranked with
    ties at the lowest rank (R's ``ties.method = "min"``, challengeR's default); the same in
    every bootstrap resample of the cases (all models share the resample), and Kendall's tau-b
    between each resample's ranking and the full-data ranking.

    Attributes
    ----------
    models
        The models, in the order of the full-data ranking.
    estimates, ranks
        Full-data statistic and rank (1 = best) per model.
    rank_frequencies
        ``{model: [share of resamples at rank 1, 2, ..., k]}``.
    rank_quantiles
        ``{model: [2.5%, 50%, 97.5%]}`` quantiles of the bootstrap rank.
    mean_rank, p_first
        Mean bootstrap rank and the share of resamples ranking the model first.
    kendall_tau
        Summary of Kendall's tau over resamples: ``mean``, ``median``, ``q025``, ``q975``.
    """

    label: str
    metric: str
    tolerance_mm: float
    statistic: str
    models: list[str]
    estimates: dict[str, float]
    ranks: dict[str, int]
    rank_frequencies: dict[str, list[float]]
    rank_quantiles: dict[str, list[float]]
    mean_rank: dict[str, float]
    p_first: dict[str, float]
    kendall_tau: dict[str, float]
    n_cases: int
    n_subjects: int
    n_sites: int
    clusters: dict[str, int]
    conditional_on: dict[str, int]
    n_resamples: int
    status_counts: dict[str, dict[str, int]]
    n_incomplete: int
    n_undefined: int
    empty_handling: str
    direction: str
    seed: int | None = None
    method: str = "aggregate-then-rank bootstrap"
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return _clean(asdict(self))


# --------------------------------------------------------------------------------------------
# Table preparation
# --------------------------------------------------------------------------------------------
def _prepare(table: pd.DataFrame, partition: str | None) -> pd.DataFrame:
    """Checked rows of ``partition``, one per (model, label, metric, tolerance, case): runs
    averaged, the statuses of all runs kept for the counts."""
    if not isinstance(table, pd.DataFrame):
        raise UserError("The case-metrics table must be a pandas DataFrame (case_metrics.parquet).")
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise UserError(
            f"The case-metrics table lacks the column(s) {', '.join(missing)}. It needs "
            f"{', '.join(REQUIRED)} (one row per model x image x label x metric, as the runner "
            "writes case_metrics.parquet; docs/design.md)."
        )
    f = table
    if partition is not None and "partition" in f.columns:
        f = f[f["partition"] == partition]
        if f.empty:
            raise UserError(
                f"The case-metrics table has no row of partition '{partition}' "
                f"(partitions: {', '.join(map(str, pd.unique(table['partition'])))})."
            )
    unknown = sorted(set(f["metric"]) - set(SEGMENTATION_METRICS))
    if unknown:
        raise UserError(
            f"Unknown segmentation metric(s) {', '.join(map(str, unknown))} in the table; "
            f"known: {', '.join(SEGMENTATION_METRICS)}."
        )
    bad = sorted(set(f["status"]) - set(STATUSES))
    if bad:
        raise UserError(
            f"Unknown status(es) {', '.join(map(str, bad))} in the table; a row's status is "
            f"one of {', '.join(STATUSES)}."
        )
    for c in ("site", "subject", "image"):
        if f[c].isna().any():
            row = int(np.flatnonzero(f[c].isna().to_numpy())[0])
            raise UserError(
                f"The case-metrics table has no {c} on row {row}: every case needs its site, "
                "subject and image ids (the hierarchy the bootstrap resamples)."
            )
    f = f.copy()
    f["tolerance_mm"] = (
        pd.to_numeric(f["tolerance_mm"], errors="coerce") if "tolerance_mm" in f else np.nan
    )
    # NaN tolerances would vanish from a groupby key: -1 stands for "no tolerance".
    f["_tol"] = f["tolerance_mm"].fillna(-1.0)
    f["value"] = pd.to_numeric(f["value"], errors="coerce")
    case_cols = [c for c in _CASE if c in f.columns]
    f["_case"] = f[case_cols].astype(str).agg("/".join, axis=1)
    keys = ["model", "label", "metric", "_tol", "_case"]
    extra = [c for c in ("site", "subject", "session", "scanner", "dataset") if c in f.columns]
    agg = f.groupby(keys, sort=False, dropna=False).agg(
        value=("value", "mean"),
        status=("status", _status_of_runs),
        **{c: (c, "first") for c in extra},
    )
    return agg.reset_index()


def _status_of_runs(s: pd.Series) -> str:
    """A case's status over its runs: the single one, or the most frequent non-ok one."""
    u = pd.unique(s)
    if len(u) == 1:
        return str(u[0])
    not_ok = s[s != "ok"]
    return str(not_ok.mode().iloc[0])


def _tol_out(tol: float) -> float:
    return float("nan") if tol < 0 else float(tol)


def _select(f: pd.DataFrame, label: str, metric: str, tol: float | None) -> pd.DataFrame:
    sel = f[(f["label"] == label) & (f["metric"] == metric)]
    if tol is not None:
        sel = sel[np.isclose(sel["_tol"], tol)]
    return sel


# --------------------------------------------------------------------------------------------
# Empty cases
# --------------------------------------------------------------------------------------------
def _counts(status: pd.Series) -> dict[str, int]:
    vc = status.value_counts()
    return {s: int(vc.get(s, 0)) for s in STATUSES}


def _empty_handling(metric: str, counts: dict[str, int], n_undefined: int) -> str:
    """One sentence: how the empty cases of ``counts`` entered a statistic of ``metric``."""
    both, ref, pred = (
        counts["both-empty"],
        counts["empty-reference"],
        counts["empty-prediction"],
    )
    if both + ref + pred == 0:
        return "No empty reference or prediction."
    best = {"dice": "1", "iou": "1", "nsd": "1", "lesion-f1": "1"}.get(metric, "0")
    worst = {"hd95": "the image diagonal", "hd": "the image diagonal", "assd": "the image diagonal"}
    worst_v = worst.get(metric, "0")
    parts = []
    if both:
        parts.append(f"{both} case(s) with both masks empty entered with {metric} = {best}")
    one = ref + pred
    if metric in ("volume-error", "abs-volume-error"):
        if one:
            parts.append(f"{one} case(s) with one empty mask entered with their volume error")
    elif metric == "relative-volume-error":
        if ref:
            parts.append(f"{ref} empty-reference case(s) are undefined (0 volume) and excluded")
        if pred:
            parts.append(f"{pred} empty-prediction case(s) entered with -1")
    elif one:
        parts.append(
            f"{one} case(s) with one empty mask ({ref} empty reference, {pred} empty "
            f"prediction) entered with {metric} = {worst_v}"
        )
    text = "; ".join(parts) + " (Metrics Reloaded, Maier-Hein et al. 2024)."
    if n_undefined and metric != "relative-volume-error":
        text += f" {n_undefined} undefined value(s) excluded."
    return text[0].upper() + text[1:]


# --------------------------------------------------------------------------------------------
# Resampling
# --------------------------------------------------------------------------------------------
@dataclass
class _Design:
    design: ClusterDesign
    conditional_on: dict[str, int]
    notes: list[str]


def _design(cases: pd.DataFrame, levels: Sequence[str]) -> _Design:
    """The engine's cluster design over the cases (one row per case), with its limits."""
    notes: list[str] = []
    levels = list(levels)
    for lv in levels:
        if lv not in cases.columns:
            raise UserError(
                f"Cannot resample by '{lv}': the case-metrics table has no '{lv}' column. "
                "Levels are hierarchy columns, outer first (e.g. site, subject)."
            )
    if not levels:
        # challengeR's bootstrap: every case its own cluster.
        ids = [np.arange(len(cases))]
        return _Design(ClusterDesign(ids, names=["case"]), {}, notes)
    ids = [cases[lv].astype(str).to_numpy() for lv in levels]
    design = ClusterDesign(ids, names=levels)
    conditional_on: dict[str, int] = {}
    top = levels[0]
    if len(levels) > 1 and design.n_top < MIN_ESTIMABLE_CLUSTERS:
        g = design.n_top
        fixed_key = pd.factorize(pd.Series(list(zip(*ids[:-1], strict=True))))[0]
        # The inner ids read within their outer clusters, as in the nested design (a subject
        # seen at two sites is two clusters), so that each lies in one stratum.
        inner = pd.factorize(pd.Series(list(zip(*ids, strict=True))))[0]
        conditional_on = {lv: int(design.n_clusters[lv]) for lv in levels[:-1]}
        design = ClusterDesign([inner], strata=fixed_key, names=levels[-1:])
        _warn(
            notes,
            FewClustersWarning,
            f"A {top}-level interval is not estimable from {g} {top}(s): the cluster "
            f"bootstrap needs at least {MIN_ESTIMABLE_CLUSTERS} to estimate the between-{top} "
            f"variance. Reported instead: the interval over {levels[-1]}s resampled within "
            f"each {top}, conditional on these {g} {top}(s): it describes them, not a new {top}.",
        )
    elif len(levels) > 1 and design.n_top < MIN_CLUSTERS:
        _warn(
            notes,
            FewClustersWarning,
            f"Only {design.n_top} {top} clusters: cluster bootstrap intervals tend to be too "
            f"narrow with fewer than {MIN_CLUSTERS}.",
        )
    inner = levels[-1]
    n_inner = cases[inner].astype(str).nunique()
    if n_inner < MIN_UNITS:
        _warn(
            notes,
            SmallSampleWarning,
            f"Only {n_inner} {inner}s: the interval may be miscalibrated.",
        )
    return _Design(design, conditional_on, notes)


def _aggregate(values: np.ndarray, W: np.ndarray, statistic: str) -> np.ndarray:
    """``statistic`` of the columns of ``values`` (cases x k) under case weights ``W``
    (B x cases): the weighted mean, or the median of the resampled cases."""
    values = values.reshape(len(values), -1)
    if statistic == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            return (W @ values) / W.sum(axis=1, keepdims=True)
    out = np.empty((W.shape[0], values.shape[1]))
    for j in range(values.shape[1]):
        order = np.argsort(values[:, j], kind="stable")
        v = values[order, j]
        cum = np.cumsum(W[:, order], axis=1)  # (B, cases)
        n = cum[:, -1]
        # The resampled sample's median: the mean of its order statistics (n-1)//2 and n//2
        # (0-based), found where the cumulative multiplicity first exceeds them.
        lo = (cum <= ((n - 1) // 2)[:, None]).sum(axis=1)
        hi = (cum <= (n // 2)[:, None]).sum(axis=1)
        out[:, j] = np.where(
            n > 0, 0.5 * (v[np.minimum(lo, len(v) - 1)] + v[np.minimum(hi, len(v) - 1)]), np.nan
        )
    return out


def _resampled(
    d: _Design, values: np.ndarray, statistic: str, n_resamples: int, seed: int
) -> np.ndarray:
    """``statistic`` of each column of ``values`` in ``n_resamples`` resamples (B x k)."""
    rng = np.random.default_rng(seed)
    atoms = d.design.row_atom
    parts = [
        _aggregate(values, W[:, atoms].astype(float), statistic)
        for W in d.design.iter_weights(n_resamples, rng)
    ]
    return np.vstack(parts) if parts else np.empty((0, values.reshape(len(values), -1).shape[1]))


def _point(values: np.ndarray, statistic: str) -> np.ndarray:
    return _aggregate(values, np.ones((1, len(values))), statistic)[0]


def _check(statistic: str, level: float, n_resamples: int) -> None:
    _check_choice("statistic", statistic, STATISTICS)
    if not 0.5 < level < 1:
        raise UserError(f"The confidence level must lie in (0.5, 1). Got {level}.")
    if n_resamples < 0:
        raise UserError(f"n_resamples must be >= 0. Got {n_resamples}.")


# --------------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------------
def summarise(
    table: pd.DataFrame,
    *,
    statistic: str = "mean",
    levels: Sequence[str] = ("site", "subject"),
    by: Sequence[str] = (),
    level: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
    partition: str | None = "test",
) -> list[SegSummary]:
    """Mean or median of every (model, label, metric) with a hierarchical bootstrap interval.

    Parameters
    ----------
    table
        The case-metrics table (see the module docstring).
    statistic
        ``mean`` or ``median`` of the per-case values.
    levels
        Hierarchy columns resampled, outer first; ``()`` resamples cases independently.
    by
        Breakdown columns (e.g. ``("site",)``, ``("session",)``): one result per value.
    level, n_resamples, seed
        Interval level, bootstrap resamples and the seed of the resampling.
    partition
        Rows of this partition only (``None``: all rows).
    """
    _check(statistic, level, n_resamples)
    f = _prepare(table, partition)
    for c in by:
        if c not in f.columns:
            raise UserError(f"Cannot break down by '{c}': the table has no '{c}' column.")
    out: list[SegSummary] = []
    group_keys = ["model", "label", "metric", "_tol", *by]
    for key, rows in f.groupby(group_keys, sort=False):
        model, label, metric, tol = key[:4]
        group = {c: str(v) for c, v in zip(by, key[4:], strict=True)}
        ok = rows["value"].notna().to_numpy()
        cases = rows[ok]
        counts = _counts(rows["status"])
        n_undef = int((~ok).sum())
        info = metric_info(str(metric))
        base = dict(
            model=str(model),
            label=str(label),
            metric=str(metric),
            tolerance_mm=_tol_out(tol),
            statistic=statistic,
            level=level,
            status_counts=counts,
            n_undefined=n_undef,
            empty_handling=_empty_handling(str(metric), counts, n_undef),
            direction=info.direction,
            group=group,
            seed=seed,
            n_cases=len(cases),
            n_subjects=int(cases["subject"].astype(str).nunique()),
            n_sites=int(cases["site"].astype(str).nunique()),
        )
        if cases.empty:
            out.append(
                SegSummary(
                    estimate=float("nan"),
                    ci_low=float("nan"),
                    ci_high=float("nan"),
                    clusters={},
                    conditional_on={},
                    n_resamples=0,
                    n_degenerate=0,
                    warnings=[f"No defined {metric} value for {model}/{label}."],
                    **base,
                )
            )
            continue
        d = _design(cases, [lv for lv in levels if lv not in by])
        v = cases["value"].to_numpy(float)
        est = float(_point(v, statistic)[0])
        theta = _resampled(d, v, statistic, n_resamples, seed)[:, 0]
        good = theta[np.isfinite(theta)]
        lo, hi = percentile_interval(good, level) if n_resamples else (np.nan, np.nan)
        out.append(
            SegSummary(
                estimate=est,
                ci_low=lo,
                ci_high=hi,
                clusters=d.design.n_clusters,
                conditional_on=d.conditional_on,
                n_resamples=n_resamples,
                n_degenerate=int(len(theta) - len(good)),
                warnings=d.notes,
                **base,
            )
        )
    return out


def _paired(
    f: pd.DataFrame, models: Sequence[str], label: str, metric: str, tol: float
) -> tuple[pd.DataFrame, np.ndarray, int, int, dict[str, dict[str, int]]]:
    """Cases scored by every model: (case rows, values cases x models, cases missing for some
    model, cases undefined for some model, status counts per model)."""
    sel = f[(f["label"] == label) & (f["metric"] == metric) & np.isclose(f["_tol"], tol)]
    counts = {m: _counts(sel.loc[sel["model"] == m, "status"]) for m in models}
    wide = sel.pivot_table(
        index="_case", columns="model", values="value", aggfunc="first", dropna=False
    )
    present = sel.groupby("_case")["model"].nunique()
    complete = present[present == len(models)].index
    n_unpaired = int(len(present) - len(complete))
    wide = wide.reindex(index=complete, columns=list(models))
    ok = wide.notna().all(axis=1)
    n_undefined = int((~ok).sum())
    wide = wide[ok]
    ids = sel.drop_duplicates("_case").set_index("_case").loc[wide.index]
    return ids.reset_index(), wide.to_numpy(float), n_unpaired, n_undefined, counts


def compare(
    table: pd.DataFrame,
    model_a: str,
    model_b: str,
    *,
    statistic: str = "mean",
    levels: Sequence[str] = ("site", "subject"),
    level: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
    correction: str = "holm",
    alpha: float = 0.05,
    partition: str | None = "test",
) -> list[SegComparison]:
    """Paired comparison of two models on every (label, metric) they share.

    The difference ``statistic(a) - statistic(b)`` over the cases both models scored (with a
    defined value), its paired hierarchical bootstrap percentile interval (the same subject
    multiplicities for both models in each resample) and the bootstrap p-value of a zero
    difference (Davison & Hinkley 1997, section 4.4); p-values adjusted across the rows with
    ``correction`` (Holm 1979 by default, :func:`brainbench.stats.adjust_p_values`).
    """
    _check(statistic, level, n_resamples)
    if model_a == model_b:
        raise UserError("compare() needs two different models.")
    f = _prepare(table, partition)
    for m in (model_a, model_b):
        if m not in set(f["model"]):
            raise UserError(
                f"Model '{m}' is not in the case-metrics table "
                f"(models: {', '.join(map(str, pd.unique(f['model'])))})."
            )
    f = f[f["model"].isin([model_a, model_b])]
    keys = f[["label", "metric", "_tol"]].drop_duplicates().itertuples(index=False)
    pending: list[dict[str, Any]] = []
    for label, metric, tol in keys:
        cases, V, n_unpaired, n_undef, counts = _paired(f, [model_a, model_b], label, metric, tol)
        info = metric_info(str(metric))
        both = {s: counts[model_a][s] + counts[model_b][s] for s in STATUSES}
        row: dict[str, Any] = dict(
            a=model_a,
            b=model_b,
            label=str(label),
            metric=str(metric),
            tolerance_mm=_tol_out(tol),
            statistic=statistic,
            level=level,
            correction=correction,
            status_counts=counts,
            n_unpaired=n_unpaired,
            n_undefined=n_undef,
            empty_handling=_empty_handling(str(metric), both, n_undef),
            direction=info.direction,
            seed=seed,
            n_cases=len(cases),
            n_subjects=int(cases["subject"].astype(str).nunique()) if len(cases) else 0,
            n_sites=int(cases["site"].astype(str).nunique()) if len(cases) else 0,
        )
        notes: list[str] = []
        if n_unpaired:
            notes.append(
                f"{n_unpaired} case(s) scored by one model only were left out of the pairing."
            )
        if len(cases) < 2:
            notes.append(f"Fewer than 2 paired cases for {label}/{metric}: no comparison.")
            row.update(
                estimate_a=float("nan"),
                estimate_b=float("nan"),
                estimate=float("nan"),
                ci_low=float("nan"),
                ci_high=float("nan"),
                p_value=float("nan"),
                clusters={},
                conditional_on={},
                n_resamples=0,
                warnings=notes,
            )
            pending.append(row)
            continue
        d = _design(cases, levels)
        pa, pb = _point(V, statistic)
        theta = _resampled(d, V, statistic, n_resamples, seed)
        ok = np.all(np.isfinite(theta), axis=1)
        diff = theta[ok, 0] - theta[ok, 1]
        lo, hi = percentile_interval(diff, level) if n_resamples else (np.nan, np.nan)
        p = bootstrap_p_value(diff) if n_resamples else float("nan")
        row.update(
            estimate_a=float(pa),
            estimate_b=float(pb),
            estimate=float(pa - pb),
            ci_low=lo,
            ci_high=hi,
            p_value=p,
            clusters=d.design.n_clusters,
            conditional_on=d.conditional_on,
            n_resamples=n_resamples,
            warnings=d.notes + notes,
        )
        if info.closest_to is not None:
            t = info.closest_to
            absd = np.abs(theta[ok, 0] - t) - np.abs(theta[ok, 1] - t)
            alo, ahi = percentile_interval(absd, level) if n_resamples else (np.nan, np.nan)
            row.update(
                abs_difference=float(abs(pa - t) - abs(pb - t)), abs_ci_low=alo, abs_ci_high=ahi
            )
        pending.append(row)
    adjusted = adjust_p_values([r["p_value"] for r in pending], correction)
    out = []
    for r, padj in zip(pending, adjusted, strict=True):
        info = metric_info(r["metric"])
        favours = None
        if info.closest_to is not None:
            lo_, hi_ = r.get("abs_ci_low"), r.get("abs_ci_high")
            if lo_ is not None and np.isfinite(lo_) and (lo_ > 0 or hi_ < 0):
                favours = r["b"] if lo_ > 0 else r["a"]
        elif np.isfinite(padj) and padj < alpha:
            favours = r["a"] if info.gain(r["estimate"]) > 0 else r["b"]
        out.append(SegComparison(p_adjusted=float(padj), favours=favours, **r))
    return out


def _rank(aggregates: np.ndarray, info) -> np.ndarray:
    """Ranks (1 = best) of the models' aggregates along the last axis, ties at the lowest
    rank (R's ``rank(ties.method = "min")``, as challengeR's aggregateThenRank)."""
    return sps.rankdata(-info.order_key(aggregates), method="min", axis=-1).astype(int)


def rank_stability(
    table: pd.DataFrame,
    *,
    metric: str,
    label: str,
    tolerance_mm: float | None = None,
    statistic: str = "mean",
    levels: Sequence[str] = ("site", "subject"),
    n_resamples: int = 1000,
    seed: int = 0,
    partition: str | None = "test",
) -> RankStability:
    """challengeR's bootstrap ranking of every model of ``table`` on one (label, metric).

    The cases every model scored with a defined value are resampled (hierarchically by
    ``levels``; ``levels=()`` draws cases independently, as challengeR's ``bootstrap()``
    does); in each resample every model's ``statistic`` is ranked (aggregate-then-rank, ties
    at the minimum rank, the metric's direction from ``metric_info``: a signed error best at 0
    ranks by its absolute value), and Kendall's tau-b compares each resample's ranking with
    the full-data ranking (Wiesenfarth et al. 2021, Sci. Rep. 11:2369,
    doi:10.1038/s41598-021-82017-6).
    """
    _check(statistic, 0.95, n_resamples)
    f = _prepare(table, partition)
    sel = _select(f, label, metric, tolerance_mm)
    if sel.empty:
        raise UserError(
            f"No row for label '{label}' and metric '{metric}'"
            + (f" at tolerance {tolerance_mm} mm" if tolerance_mm is not None else "")
            + " in the case-metrics table."
        )
    tols = pd.unique(sel["_tol"])
    if len(tols) > 1:
        raise UserError(
            f"Metric '{metric}' has several tolerances ({', '.join(map(str, tols))} mm): "
            "choose one with tolerance_mm."
        )
    models = [str(m) for m in pd.unique(sel["model"])]
    if len(models) < 2:
        raise UserError("Rank stability needs at least two models in the table.")
    cases, V, n_incomplete, n_undef, counts = _paired(f, models, label, metric, float(tols[0]))
    if len(cases) < 2:
        raise UserError(
            f"Rank stability needs at least 2 cases scored by every model; {label}/{metric} "
            f"has {len(cases)}."
        )
    info = metric_info(metric)
    d = _design(cases, levels)
    notes = list(d.notes)
    if n_incomplete:
        notes.append(f"{n_incomplete} case(s) not scored by every model were left out.")
    if n_undef:
        notes.append(f"{n_undef} case(s) undefined for some model were left out.")

    point = _point(V, statistic)
    full = _rank(point, info)
    theta = _resampled(d, V, statistic, n_resamples, seed)
    R = _rank(theta, info)
    k = len(models)
    taus = np.array([kendall_tau(full, r) for r in R])
    taus_ok = taus[np.isfinite(taus)]
    order = np.argsort(full, kind="stable")
    total = {s: sum(c[s] for c in counts.values()) for s in STATUSES}
    q = np.quantile(R, [0.025, 0.5, 0.975], axis=0) if len(R) else np.full((3, k), np.nan)
    return RankStability(
        label=label,
        metric=metric,
        tolerance_mm=_tol_out(float(tols[0])),
        statistic=statistic,
        models=[models[j] for j in order],
        estimates={m: float(point[j]) for j, m in enumerate(models)},
        ranks={m: int(full[j]) for j, m in enumerate(models)},
        rank_frequencies={
            m: [float(np.mean(R[:, j] == r)) for r in range(1, k + 1)] for j, m in enumerate(models)
        },
        rank_quantiles={m: [float(x) for x in q[:, j]] for j, m in enumerate(models)},
        mean_rank={m: float(R[:, j].mean()) for j, m in enumerate(models)},
        p_first={m: float(np.mean(R[:, j] == 1)) for j, m in enumerate(models)},
        kendall_tau={
            "mean": float(taus_ok.mean()) if len(taus_ok) else float("nan"),
            "median": float(np.median(taus_ok)) if len(taus_ok) else float("nan"),
            "q025": float(np.quantile(taus_ok, 0.025)) if len(taus_ok) else float("nan"),
            "q975": float(np.quantile(taus_ok, 0.975)) if len(taus_ok) else float("nan"),
        },
        n_cases=len(cases),
        n_subjects=int(cases["subject"].astype(str).nunique()),
        n_sites=int(cases["site"].astype(str).nunique()),
        clusters=d.design.n_clusters,
        conditional_on=d.conditional_on,
        n_resamples=n_resamples,
        status_counts=counts,
        n_incomplete=n_incomplete,
        n_undefined=n_undef,
        empty_handling=_empty_handling(metric, total, n_undef),
        direction=info.direction,
        seed=seed,
        warnings=notes,
    )


__all__ = [
    "STATISTICS",
    "RankStability",
    "SegComparison",
    "SegSummary",
    "compare",
    "rank_stability",
    "summarise",
]
