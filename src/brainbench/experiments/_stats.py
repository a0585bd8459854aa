"""The one place where the simulation experiments call the statistics engine.

Every interval, test and simulated table comes from :mod:`brainbench.stats`; this module only
adapts its calls to the loops of a simulation study.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from brainbench.errors import BrainbenchWarning, UserError
from brainbench.stats import (
    ModelData,
    Task,
    compare_models,
    compute_metric,
    confidence_interval,
    model_data,
    simulate_predictions,
)
from brainbench.stats._data import run_columns
from brainbench.stats._results import ComparisonResult, MetricResult

CLASSES = ("CN", "AD")
TASK = Task("classification", CLASSES)


def prepare(df: pd.DataFrame, unit: str = "image") -> ModelData:
    """One model's predictions shaped for the engine (do it once, then ask several intervals).

    Simulated tables carry every hierarchy id and one row per image, so the unit ids and run
    keys are built with vectorised string operations; the engine's :func:`model_data` builds
    the same frame row by row (about 50 us a row), which dominates a simulation's time.
    """
    if unit != "image" or not {"site", "subject", "session", "image"} <= set(df.columns):
        return model_data(df, str(df["model"].iloc[0]), TASK, unit)
    code = {c: i for i, c in enumerate(CLASSES)}
    frame = pd.DataFrame(
        {
            "repeat": df["repeat"].to_numpy(),
            "fold": df["fold"].to_numpy(),
            "seed": df["seed"].to_numpy(),
            "site": df["site"].to_numpy(),
            "subject": df["subject"].to_numpy(),
            "session": df["session"].to_numpy(),
            "image": df["image"].to_numpy(),
            "y": df["y_true"].map(code).to_numpy(),
            "pred": df["y_pred"].map(code).to_numpy(dtype=float),
            "score": df["score"].to_numpy(dtype=float),
        }
    )
    frame["unit_id"] = (
        frame["site"].astype(str)
        + "|"
        + frame["subject"].astype(str)
        + "|"
        + frame["session"].astype(str)
        + "|"
        + frame["image"].astype(str)
    )
    run_cols = run_columns(frame, frame["unit_id"].to_numpy())
    run = frame[run_cols[0]].astype(str)
    for c in run_cols[1:]:
        run = run + "/" + frame[c].astype(str)
    frame["run"] = run
    return ModelData(str(df["model"].iloc[0]), TASK, unit, frame, run_cols)


def interval(
    md: ModelData,
    metric: str,
    *,
    clusters: Sequence[str] = (),
    method: str | None = None,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """(estimate, low, high) of one model's ``metric``: the engine's :func:`confidence_interval`.

    ``method`` defaults to ``hierarchical-bootstrap`` when ``clusters`` are given, else the
    ``bootstrap`` over units.
    """
    res = interval_result(
        md, metric, clusters=clusters, method=method, resamples=resamples, seed=seed, level=level
    )
    return res.estimate, res.ci_low, res.ci_high


def interval_result(
    md: ModelData,
    metric: str,
    *,
    clusters: Sequence[str] = (),
    method: str | None = None,
    interval: str = "percentile",
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> MetricResult:
    """The engine's :func:`confidence_interval` with its ``interval`` choice (``percentile``,
    a studentised site-level method or ``calibrated``, as ``evaluate --interval`` computes
    it); the result names the interval computed (``interval``) and, for ``calibrated``, the
    regime it was chosen for (``chosen_for``)."""
    if method is None:
        method = "hierarchical-bootstrap" if clusters else "bootstrap"
    with warnings.catch_warnings():
        # Few-cluster warnings are the object of the study, not news: the tables show them.
        warnings.simplefilter("ignore", BrainbenchWarning)
        return confidence_interval(
            md,
            metric,
            method=method,
            interval=interval,
            clusters=list(clusters),
            resamples=resamples,
            seed=seed,
            level=level,
        )


def p_value(df: pd.DataFrame, metric: str, method: str, a: str, b: str, **kwargs) -> float:
    """Two-sided p-value of ``metric(a) = metric(b)`` by the engine's ``method``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BrainbenchWarning)
        (res,) = compare_models(df, metric, method, pairs=[(a, b)], correction="none", **kwargs)
    return float("nan") if res.p_value is None else float(res.p_value)


def true_metric(metric: str, n: int = 200_000, seed: int = 1, **design) -> float:
    """A metric of the simulator's population, by one very large simulated test set."""
    sites = 1 if not design.get("sd_site") and not design.get("model_sd_site") else 2000
    df = simulate_predictions(
        n_sites=sites, subjects_per_site=max(1, n // sites), seed=seed, classes=CLASSES, **design
    )
    return compute_metric(metric, df["y_true"], df["y_pred"], df["score"], classes=CLASSES)


def true_balanced_accuracy(**design) -> float:
    """The simulator's exact population balanced accuracy (Gauss-Hermite quadrature)."""
    from brainbench.stats import true_balanced_accuracy as exact

    (mu_neg, mu_pos), *_ = design["mu"].values()
    keys = ("sd_site", "sd_subject", "sd_session", "model_sd_site", "model_sd_subject")
    return exact(mu_neg, mu_pos, **{k: design[k] for k in keys if k in design})


__all__ = [
    "CLASSES",
    "TASK",
    "interval",
    "interval_result",
    "p_value",
    "prepare",
    "simulate_predictions",
    "true_metric",
]


def compare_prepared(a: ModelData, b: ModelData, metric: str, method: str, **options: Any) -> float:
    """Two-sided p-value of ``metric(a) = metric(b)`` by the engine's comparison ``method``
    (NaN when the method fails or gives none); ``options`` as :func:`compare_result`."""
    res = compare_result(a, b, metric, method, **options)
    return float("nan") if res is None or res.p_value is None else float(res.p_value)


def compare_result(
    a: ModelData,
    b: ModelData,
    metric: str,
    method: str,
    *,
    clusters: Sequence[str] = (),
    interval: str = "percentile",
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> ComparisonResult | None:
    """The engine's comparison of ``metric(a)`` and ``metric(b)`` by ``method`` (None when it
    fails to fit).

    The models come prepared by :func:`prepare`; this calls the registered method
    (:data:`brainbench.stats.COMPARISONS`) as :func:`brainbench.stats.compare_models` does,
    without reshaping the tables at every call; ``interval`` is ``compare --interval``
    (the paired bootstrap's percentile, a studentised interval of the difference, or
    ``calibrated``; ``extra["interval"]`` names the one computed).
    """
    from brainbench.stats import COMPARISONS, get_metric
    from brainbench.stats._compare import Options, pair_models

    opts = Options(
        level=level, clusters=tuple(clusters), resamples=resamples, seed=seed, interval=interval
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return COMPARISONS.get(method)(pair_models(a, b, get_metric(metric)), opts)
        except (UserError, np.linalg.LinAlgError, ValueError):
            return None
