"""The statistics of the segmentation sheet, on per-case metrics.

Every number is computed on one value per case (image): a case scored in several runs
(repeats, seeds) takes the mean of its defined values. Cases whose value is undefined (NaN:
the status column says why, e.g. an empty reference for HD95) are counted and left out of the
estimate, as Metrics Reloaded prescribes reporting them rather than dropping them silently
(Maier-Hein et al. 2024, Nat. Methods 21:195-212, doi:10.1038/s41592-023-02151-z); cases whose
value is defined by convention (Dice of an empty reference and a non-empty prediction is 0)
enter as that value.

Intervals: the hierarchical (cluster) bootstrap of :class:`brainbench.stats._resample.ClusterDesign`
(Davison & Hinkley 1997, section 3.8; Field & Welsh 2007): sites, then subjects within each
drawn site, all of a subject's sessions kept together; percentile intervals (Efron &
Tibshirani 1993, ch. 13). With fewer than the engine's minimum number of sites (4), sites are
not resampled: the interval is conditional on the sites of the test set and says so. The mean
and the median of the cases are both bootstrapped with the same resamples.

Paired comparisons: the difference of the two models' means on the cases both scored, with
the same hierarchical resamples, a percentile interval, the bootstrap p-value of
:func:`brainbench.stats._bootstrap.bootstrap_p_value` and Holm's correction over all pairs
(Holm 1979, Scand. J. Stat. 6:65-70).

Ranking stability: challengeR's bootstrap ranking (Wiesenfarth et al. 2021, Sci. Rep.
11:2369, doi:10.1038/s41598-021-82017-6), "aggregate then rank": in each resample of the cases
(shared by every model) the models are ranked by their mean; the rank distribution per model
and Kendall's tau (tau-b) between each resample's ranking and the full-data ranking.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.stats as sps

from brainbench.stats._bootstrap import bootstrap_p_value, percentile_interval
from brainbench.stats._compare import adjust_p_values
from brainbench.stats._rank import kendall_tau
from brainbench.stats._resample import ClusterDesign

#: Fewest sites whose between-site variance the bootstrap resamples (as the engine's
#: ``MIN_ESTIMABLE_CLUSTERS``).
MIN_SITES = 4
STATISTICS = ("mean", "median")


@dataclass(frozen=True)
class Summary:
    """A statistic of one model's per-case values, with its interval and counts."""

    statistic: str
    estimate: float
    ci_low: float
    ci_high: float
    level: float
    n_cases: int
    n_subjects: int
    n_sites: int
    #: Cases of the group whose value is undefined (NaN), by status; not in the estimate.
    excluded: dict[str, int] = field(default_factory=dict)
    clusters: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    # The attributes the classification sheet's ``not_estimable`` reads.
    @property
    def n_units(self) -> int:
        return self.n_subjects

    @property
    def n_clusters(self) -> int:
        return self.n_sites if "site" in self.clusters else self.n_subjects


@dataclass(frozen=True)
class Comparison:
    """Paired difference ``mean(a) - mean(b)`` on the cases both models scored."""

    a: str
    b: str
    estimate: float
    ci_low: float
    ci_high: float
    level: float
    p_value: float
    p_adjusted: float
    n_cases: int
    n_subjects: int
    n_sites: int
    clusters: tuple[str, ...] = ()

    @property
    def n_units(self) -> int:
        return self.n_subjects

    @property
    def n_clusters(self) -> int:
        return self.n_sites if "site" in self.clusters else self.n_subjects


def per_case(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, partition, image, label, metric): the mean of the defined values
    over runs (NaN when none is defined), the status of the first run (runs of one case
    share the reference), and the ids."""
    keys = ["model", "partition", "image", "label", "metric"]
    ids = ["site", "subject", "session"]
    grouped = table.groupby(keys, sort=False, dropna=False)
    out = grouped.agg(
        value=("value", "mean"),
        status=("status", "first"),
        runs=("value", "size"),
        **{c: (c, "first") for c in ids},
    )
    return out.reset_index()


def _design(frame: pd.DataFrame) -> tuple[ClusterDesign, tuple[str, ...], list[str]]:
    """Sites then subjects when there are enough sites; subjects alone otherwise."""
    n_sites = frame["site"].nunique()
    notes = []
    if n_sites >= MIN_SITES:
        levels, names = [frame["site"].to_numpy(), frame["subject"].to_numpy()], ("site", "subject")
    else:
        levels, names = [frame["subject"].to_numpy()], ("subject",)
        if n_sites > 1:
            notes.append(
                f"only {n_sites} sites (fewer than {MIN_SITES}): subjects are resampled within "
                "them, so the interval is conditional on these sites"
            )
    return ClusterDesign(levels, names=list(names)), names, notes


def weighted_median(values: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Median of ``values`` with row multiplicities ``W`` (resamples x rows): the mean of the
    lower and upper weighted medians, so that integer weights give ``np.median`` of the
    values repeated by their weights (the usual median of a bootstrap resample)."""
    order = np.argsort(values, kind="stable")
    v, w = values[order], W[:, order]
    cum = np.cumsum(w, axis=1)
    half = cum[:, -1:] / 2
    last = len(v) - 1
    lo = np.minimum((cum < half).sum(axis=1), last)
    hi = np.minimum((cum <= half).sum(axis=1), last)
    return (v[lo] + v[hi]) / 2


def summarise(
    cases: pd.DataFrame,
    *,
    level: float,
    resamples: int,
    seed: int,
) -> dict[str, Summary]:
    """Mean and median of one model's per-case values (one label, one metric) with
    hierarchical-bootstrap intervals; ``cases`` are rows of :func:`per_case`."""
    excluded = cases.loc[cases["value"].isna(), "status"].value_counts().to_dict()
    frame = cases[cases["value"].notna()].reset_index(drop=True)
    n_sites, n_subjects = frame["site"].nunique(), frame["subject"].nunique()
    if frame.empty:
        nan = float("nan")
        return {
            s: Summary(s, nan, nan, nan, level, 0, 0, 0, excluded, (), ("no defined value",))
            for s in STATISTICS
        }
    design, names, notes = _design(frame)
    v = frame["value"].to_numpy(float)
    rng = np.random.default_rng(seed)
    means, medians = [], []
    for W_atoms in design.iter_weights(resamples, rng):
        W = W_atoms[:, design.row_atom].astype(float)
        means.append(W @ v / W.sum(axis=1))
        medians.append(weighted_median(v, W))
    out = {}
    for s, point, boot in (
        ("mean", float(v.mean()), np.concatenate(means) if means else np.empty(0)),
        ("median", float(np.median(v)), np.concatenate(medians) if medians else np.empty(0)),
    ):
        lo, hi = percentile_interval(boot, level)
        out[s] = Summary(
            s, point, lo, hi, level, len(frame), n_subjects, n_sites, excluded, names, tuple(notes)
        )
    return out


def compare(
    cases: pd.DataFrame,
    pairs: Sequence[tuple[str, str]],
    *,
    level: float,
    resamples: int,
    seed: int,
) -> list[Comparison]:
    """Paired mean differences of each pair (one label, one metric), Holm-adjusted."""
    wide = cases.pivot_table(
        index=["image", "site", "subject"], columns="model", values="value", aggfunc="first"
    ).reset_index()
    raw = []
    for a, b in pairs:
        both = wide[wide[a].notna() & wide[b].notna()].reset_index(drop=True)
        d = (both[a] - both[b]).to_numpy(float)
        nan = float("nan")
        if len(d) == 0:
            raw.append((a, b, nan, nan, nan, nan, both, ()))
            continue
        design, names, _ = _design(both)
        boot = []
        for W_atoms in design.iter_weights(resamples, np.random.default_rng(seed)):
            W = W_atoms[:, design.row_atom].astype(float)
            boot.append(W @ d / W.sum(axis=1))
        theta = np.concatenate(boot)
        lo, hi = percentile_interval(theta, level)
        raw.append((a, b, float(d.mean()), lo, hi, bootstrap_p_value(theta), both, names))
    p = np.array([r[5] for r in raw], dtype=float)
    adj = np.full(len(p), np.nan)
    ok = np.isfinite(p)
    if ok.any():
        adj[ok] = adjust_p_values(p[ok], "holm")
    return [
        Comparison(
            a,
            b,
            est,
            lo,
            hi,
            level,
            pv,
            float(adj[i]),
            len(both),
            both["subject"].nunique(),
            both["site"].nunique(),
            names,
        )
        for i, (a, b, est, lo, hi, pv, both, names) in enumerate(raw)
    ]


def rank_stability(
    cases: pd.DataFrame,
    models: Sequence[str],
    *,
    order_key: Callable[[np.ndarray], np.ndarray],
    resamples: int,
    seed: int,
) -> dict | None:
    """Bootstrap ranking of ``models`` by their mean on the cases every model scored (one
    label, one metric); ``order_key`` maps a mean to a score where larger is better
    (:meth:`brainbench.stats.MetricInfo.order_key`: HD95 ranks lowest first, the signed
    volume error closest to 0 first). None with fewer than two models or no shared case."""
    wide = cases.pivot_table(
        index=["image", "site", "subject"], columns="model", values="value", aggfunc="first"
    ).reset_index()
    models = [m for m in models if m in wide.columns]
    if len(models) < 2:
        return None
    shared = wide.dropna(subset=models).reset_index(drop=True)
    if shared.empty:
        return None
    X = shared[models].to_numpy(float)
    full = sps.rankdata(-order_key(X.mean(axis=0)))  # rank 1 = best
    design, names, notes = _design(shared)
    ranks, taus = [], []
    for W_atoms in design.iter_weights(resamples, np.random.default_rng(seed)):
        W = W_atoms[:, design.row_atom].astype(float)
        means = (W @ X) / W.sum(axis=1, keepdims=True)
        r = sps.rankdata(-order_key(means), axis=1)
        ranks.append(r)
        taus.extend(kendall_tau(full, row) for row in r)
    R = np.concatenate(ranks)
    t = np.array(taus, dtype=float)
    t = t[np.isfinite(t)]
    return {
        "models": list(models),
        "n_cases": len(shared),
        "resamples": len(R),
        "clusters": list(names),
        "notes": notes,
        "full_rank": {m: float(full[j]) for j, m in enumerate(models)},
        "mean": {m: float(X[:, j].mean()) for j, m in enumerate(models)},
        "mean_rank": {m: float(R[:, j].mean()) for j, m in enumerate(models)},
        "p_first": {m: float(np.mean(R[:, j] <= 1.5)) for j, m in enumerate(models)},
        "rank_distribution": {
            m: {f"{r:g}": float(np.mean(R[:, j] == r)) for r in np.unique(R[:, j])}
            for j, m in enumerate(models)
        },
        "kendall_tau_mean": float(t.mean()) if len(t) else None,
        "kendall_tau_median": float(np.median(t)) if len(t) else None,
    }


__all__ = ["Comparison", "Summary", "compare", "per_case", "rank_stability", "summarise"]
