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

from brainbench.stats._compare import COMPARISONS, adjust_p_values, compare_models, decide
from brainbench.stats._data import ModelData, model_data
from brainbench.stats._delong import delong_ci, delong_test
from brainbench.stats._evaluate import compute_metric, confidence_interval, evaluate_predictions
from brainbench.stats._io import (
    LIMITS,
    Task,
    check_predictions,
    infer_task,
    read_predictions,
    read_table,
)
from brainbench.stats._metrics import (
    METRICS,
    MetricInfo,
    get_metric,
    metric_info,
    metric_names,
)
from brainbench.stats._power import ci_half_width, minimal_detectable_difference
from brainbench.stats._rank import bootstrap_ranks, rank_models
from brainbench.stats._results import ComparisonResult, MetricResult, RankResult, TestResult
from brainbench.stats._simulate import simulate_predictions, true_balanced_accuracy

__all__ = [
    "COMPARISONS",
    "LIMITS",
    "METRICS",
    "ComparisonResult",
    "MetricInfo",
    "MetricResult",
    "ModelData",
    "RankResult",
    "Task",
    "TestResult",
    "adjust_p_values",
    "bootstrap_ranks",
    "check_predictions",
    "ci_half_width",
    "compare_models",
    "compute_metric",
    "confidence_interval",
    "decide",
    "delong_ci",
    "delong_test",
    "evaluate_predictions",
    "get_metric",
    "infer_task",
    "metric_info",
    "metric_names",
    "minimal_detectable_difference",
    "model_data",
    "rank_models",
    "read_predictions",
    "read_table",
    "run_calibration",
    "simulate_predictions",
    "true_balanced_accuracy",
]


def __getattr__(name: str):
    # The calibration study imports the comparison machinery lazily.
    if name == "run_calibration":
        from brainbench.stats._calibrate import run_calibration

        return run_calibration
    raise AttributeError(name)
