"""brainbench.stats: metrics, hierarchy-aware confidence intervals, paired model comparisons,
rankings across tasks and power.

The public surface (everything else is private and may change):

Reading
    :func:`read_predictions` (Parquet/TSV/CSV -> checked DataFrame), :func:`check_predictions`
    (the same checks on a DataFrame), :func:`infer_task`, :func:`model_data` (one model's
    predictions at the unit of analysis, with runs and unit ids).
Metrics
    :data:`METRICS` (the registry), :func:`get_metric`, :func:`compute_metric`,
    :func:`metric_names`, :func:`metric_info` (direction, kind, units and range: the one
    source every wording, ranking and limit reads), :class:`MetricInfo`.
Intervals
    :func:`evaluate_predictions` (every model x metric, with ``groupby`` breakdowns),
    :func:`confidence_interval` (one model), :class:`MetricResult`.
Comparisons
    :func:`compare_models` (paired, corrected, with Holm/BH and margin decisions),
    :data:`COMPARISONS`, :func:`adjust_p_values`, :func:`decide`, :class:`ComparisonResult`,
    :func:`delong_test`.
Rankings
    :func:`rank_models` (Friedman, Iman-Davenport, Nemenyi, Holm, Wilcoxon, rank stability
    over tasks), :func:`bootstrap_ranks` (rank stability of the models of one predictions
    table under the hierarchical bootstrap), :class:`RankResult`.
Power
    :func:`ci_half_width`, :func:`minimal_detectable_difference`.
Simulation
    :func:`simulate_predictions`, :func:`run_calibration`.

Every result is a frozen dataclass (estimate, ci_low, ci_high, statistic, p_value, method,
n_units, n_clusters, warnings, ``to_dict()``); the typed warnings of :mod:`brainbench.errors`
are both emitted and listed in ``warnings``.

Examples
--------
>>> from brainbench.stats import (compare_models, evaluate_predictions, read_predictions,
...                               simulate_predictions)
>>> df = simulate_predictions(n_sites=8, subjects_per_site=15, mu={"A": (1, 1), "B": (2, 2)})
>>> res = evaluate_predictions(df, ["balanced_accuracy"], positive="AD", unit="subject",
...                            clusters=["site", "subject"], resamples=500, groupby=None)
>>> [(r.model, r.method, r.n_clusters) for r in res]
[('A', 'hierarchical-bootstrap', 8), ('B', 'hierarchical-bootstrap', 8)]
>>> (cmp,) = compare_models(df, "balanced_accuracy", "bootstrap", positive="AD",
...                         clusters=["site", "subject"], resamples=500)
>>> cmp.a, cmp.b, cmp.estimate < 0
('A', 'B', True)
"""

import importlib
from typing import Any

# Public name -> the private module that defines it. Imported on first use (PEP 562), so that
# `from brainbench.stats import metric_info` (validate's data rules) does not pay for scipy.stats
# and the comparison machinery (0.6 s of `validate --data`).
_PUBLIC: dict[str, str] = {
    "COMPARISONS": "_compare",
    "adjust_p_values": "_compare",
    "compare_models": "_compare",
    "decide": "_compare",
    "ModelData": "_data",
    "model_data": "_data",
    "delong_ci": "_delong",
    "delong_test": "_delong",
    "compute_metric": "_evaluate",
    "confidence_interval": "_evaluate",
    "evaluate_predictions": "_evaluate",
    "LIMITS": "_io",
    "Task": "_io",
    "check_predictions": "_io",
    "infer_task": "_io",
    "read_predictions": "_io",
    "read_table": "_io",
    "METRICS": "_metrics",
    "MetricInfo": "_metrics",
    "get_metric": "_metrics",
    "metric_info": "_metrics",
    "metric_names": "_metrics",
    "ci_half_width": "_power",
    "minimal_detectable_difference": "_power",
    "bootstrap_ranks": "_rank",
    "rank_models": "_rank",
    "ComparisonResult": "_results",
    "MetricResult": "_results",
    "RankResult": "_results",
    "TestResult": "_results",
    "simulate_predictions": "_simulate",
    "true_balanced_accuracy": "_simulate",
    "run_calibration": "_calibrate",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'brainbench.stats' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"brainbench.stats.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
