"""The report's only door to the statistics engine (:mod:`brainbench.stats`).

Every number with an interval or a p-value comes from :mod:`brainbench.stats`. This module maps
the report's questions onto the engine's public functions and collects the engine's typed
warnings, so that the report can state them. The few descriptive summaries the engine does not
offer (standardised mean differences of Table 1, the spread of per-run metrics, reliability
bins) live in :mod:`brainbench.report._descriptive`, documented as such.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from brainbench import stats as _engine
from brainbench.errors import BrainbenchWarning, UserError


def _get(name: str) -> Any:
    """A public name of :mod:`brainbench.stats`, or None when this build lacks it."""
    return getattr(_engine, name, None)


def _api(name: str) -> Any:
    fn = _get(name)
    if fn is None:
        raise UserError(
            f"This build of brainbench.stats has no '{name}': the report cannot compute it."
        )
    return fn


def read_predictions(path: Any) -> pd.DataFrame:
    """The engine's predictions reader: the same limits and checks as ``evaluate``."""
    return _api("read_predictions")(path)


def infer_task(df: pd.DataFrame, **kwargs: Any) -> Any:
    return _api("infer_task")(df, **kwargs)


def make_task(task_type: str, classes: Sequence[str] = ()) -> Any:
    return _api("Task")(task_type, tuple(str(c) for c in classes))


def get_metric(name: str) -> Any:
    return _api("get_metric")(name)


def min_estimable_clusters() -> int:
    """Fewest outer clusters from which the engine estimates a between-cluster variance (below
    it, metric intervals are made conditional on those clusters)."""
    from brainbench.stats._evaluate import MIN_ESTIMABLE_CLUSTERS

    return int(MIN_ESTIMABLE_CLUSTERS)


def metric_info(name: str) -> Any:
    """Direction, kind, units and chance of a metric (:func:`brainbench.stats.metric_info`)."""
    return _api("metric_info")(name)


def adjust_p_values(p: Sequence[float | None], method: str) -> np.ndarray:
    return _api("adjust_p_values")(p, method)


def decide(res: Any, *, alpha: float, margin: float, hypothesis: str) -> str:
    return _api("decide")(res, alpha=alpha, margin=margin, hypothesis=hypothesis)


def positive_score(df: pd.DataFrame, task: Any) -> np.ndarray | None:
    """The positive class's score column as docs/design.md names it (``score_<positive>``, else
    ``score``, else one minus the negative class's score for two classes), or None."""
    if task.type != "classification":
        return None
    if f"score_{task.positive}" in df.columns:
        return df[f"score_{task.positive}"].to_numpy(dtype=float)
    if "score" in df.columns:
        return df["score"].to_numpy(dtype=float)
    if len(task.classes) == 2 and f"score_{task.classes[0]}" in df.columns:
        return 1.0 - df[f"score_{task.classes[0]}"].to_numpy(dtype=float)
    return None


def unit_frame(df: pd.DataFrame, task: Any, unit: str) -> pd.DataFrame:
    """One model's predictions at the unit of analysis (``y`` class code, ``score``), per run:
    the frame of :func:`brainbench.stats.model_data`."""
    model = str(df["model"].iloc[0])
    return _api("model_data")(df, model, task, unit).frame


@dataclass
class Collected:
    """Results and the warnings the engine raised while computing them."""

    results: list[Any] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _record(fn, *args: Any, **kwargs: Any) -> tuple[Any, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BrainbenchWarning)
        out = fn(*args, **kwargs)
    return out, [str(w.message) for w in caught if issubclass(w.category, BrainbenchWarning)]


def evaluate(df: pd.DataFrame, metrics: Sequence[str], **kwargs: Any) -> Collected:
    """:func:`brainbench.stats.evaluate_predictions`, one metric at a time.

    A metric the predictions cannot give (no probabilities for the Brier score, say) becomes an
    entry of ``errors`` instead of stopping the report.
    """
    fn = _api("evaluate_predictions")
    out = Collected()
    for metric in metrics:
        try:
            res, notes = _record(fn, df, [metric], **kwargs)
        except UserError as exc:
            out.errors.append(f"{metric}: {exc.message}")
            continue
        out.results.extend(res)
        out.warnings.extend(notes)
    return out


def per_run(
    df: pd.DataFrame,
    metric: str,
    *,
    task: Any,
    unit: str,
    partitions: Sequence[str],
    models: Sequence[str],
) -> pd.DataFrame:
    """The metric of every run (no interval), per model and partition.

    A run is what the engine averages over (:func:`brainbench.stats.model_data`): one
    (repeat, fold, seed), or one (repeat, seed) when the folds partition the units (k-fold
    cross-validation, folds pooled; ``fold`` is then -1).
    """
    m = get_metric(metric)
    model_data = _api("model_data")
    rows = []
    for part in partitions:
        sub = df[df["partition"] == part]
        for name in models:
            mine = sub[sub["model"] == name]
            if mine.empty:
                continue
            try:
                md, _ = _record(model_data, mine, name, task, unit)
            except UserError:
                continue
            f = md.frame
            for key, idx in f.groupby(md.run_cols, sort=True).indices.items():
                key = key if isinstance(key, tuple) else (key,)
                ids = dict(zip(md.run_cols, key, strict=True))
                with np.errstate(divide="ignore", invalid="ignore"):
                    value = float(m(md.columns(np.asarray(idx))))
                rows.append(
                    {
                        "model": name,
                        "partition": part,
                        "repeat": int(ids.get("repeat", 0)),
                        "fold": int(ids.get("fold", -1)),
                        "seed": int(ids.get("seed", 0)),
                        "estimate": value,
                    }
                )
    return pd.DataFrame(rows, columns=["model", "partition", "repeat", "fold", "seed", "estimate"])


# ---------------------------------------------------------------------------------------------
# Comparisons and rank stability
# ---------------------------------------------------------------------------------------------
def compare(
    df: pd.DataFrame,
    metric: str,
    pairs: Sequence[tuple[str, str]],
    **kwargs: Any,
) -> Collected:
    """Paired comparisons ``a - b`` of each pair, with the protocol's method and correction.

    Uses :func:`brainbench.stats.compare_models`. Paired methods need both models on the same
    runs: the rows are first restricted to the (repeat, fold, seed) runs that every compared
    model has, and ``warnings`` says so when runs were dropped.
    """
    fn = _get("compare_models")
    out = Collected()
    if fn is None:
        out.errors.append("this build of brainbench.stats has no compare_models")
        return out
    models = sorted({m for p in pairs for m in p})
    df, dropped = common_runs(df, models)
    if dropped:
        out.warnings.append(
            f"{dropped} run(s) (repeat, fold, seed) lacking for some model were left out so "
            "that every comparison is paired on the same runs."
        )
    try:
        res, notes = _record(fn, df, metric, pairs=list(pairs), **kwargs)
    except UserError as exc:
        out.errors.append(exc.message)
        return out
    out.results.extend(res)
    out.warnings.extend(notes)
    return out


def common_runs(df: pd.DataFrame, models: Sequence[str]) -> tuple[pd.DataFrame, int]:
    """Rows of ``models`` restricted to the runs all of them have; and how many runs were cut."""
    cols = ["partition", "repeat", "fold", "seed"]
    df = df[df["model"].isin(models)]
    runs = df[["model", *cols]].drop_duplicates()
    counts = runs.groupby(cols).size()
    keep = counts[counts == len(models)].index
    all_runs = len(counts)
    if len(keep) == all_runs:
        return df, 0
    key = pd.MultiIndex.from_frame(df[cols])
    return df[key.isin(keep)], all_runs - len(keep)


def rank_stability(
    df: pd.DataFrame,
    metric: str,
    *,
    models: Sequence[str],
    task: Any,
    unit: str,
    clusters: Sequence[str],
    resamples: int,
    seed: int,
    level: float = 0.95,
) -> tuple[dict | None, list[str]]:
    """Bootstrap rank distribution of the models on one test set.

    :func:`brainbench.stats.bootstrap_ranks` (every model on the same hierarchical bootstrap
    resamples; Wiesenfarth et al. 2021), on the runs every model has, reshaped for the report:
    models in ``models`` order, the rank distribution as ``{rank: probability}``, the mean
    bootstrap rank, P(first), rank intervals and Kendall's tau.
    """
    fn = _api("bootstrap_ranks")
    notes: list[str] = []
    df, dropped = common_runs(df[df["model"].isin(models)], models)
    if dropped:
        notes.append(f"{dropped} run(s) lacking for some model were left out of the ranking.")
    try:
        res, caught = _record(
            fn,
            df,
            metric,
            task=task,
            unit=unit,
            clusters=tuple(clusters),
            resamples=resamples,
            seed=seed,
        )
    except UserError as exc:
        return None, [*notes, exc.message]
    notes.extend(caught)
    used = int(res["resamples"]) - int(res.get("n_degenerate", 0))
    if res.get("n_degenerate"):
        notes.append(
            f"{res['n_degenerate']} of {res['resamples']} resamples left a model's "
            "metric undefined and were excluded from the ranking."
        )
    dist = {m: {float(r): float(p) for r, p in res["rank_distribution"][m].items()} for m in models}
    return {
        "models": list(models),
        "metric": metric,
        "full_rank": {m: float(res["full_ranks"][m]) for m in models},
        "mean_rank": {m: float(sum(r * p for r, p in dist[m].items())) for m in models},
        "rank_distribution": {m: {f"{r:g}": p for r, p in sorted(dist[m].items())} for m in models},
        "rank_ci": {m: list(res["rank_ci"][m]) for m in models},
        "p_first": {m: float(res["p_best"][m]) for m in models},
        "p_better": res.get("p_better"),
        "kendall_tau_mean": res.get("kendall_tau_mean"),
        "resamples": int(res["resamples"]),
        "resamples_used": used,
        "seed": int(res["seed"]),
        "clusters": res.get("clusters"),
        "method": "brainbench.stats.bootstrap_ranks",
    }, notes


def all_pairs(models: Sequence[str]) -> list[tuple[str, str]]:
    return list(itertools.combinations(models, 2))


def finite(x: Any) -> bool:
    return x is not None and isinstance(x, (int, float, np.floating)) and bool(np.isfinite(x))
