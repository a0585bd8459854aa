"""Result objects in the statsmodels / scipy style: frozen, JSON-ready, never printing."""

from __future__ import annotations

import contextlib
import math
from dataclasses import asdict, dataclass, field
from typing import Any


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become None, numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        with contextlib.suppress(ValueError, AttributeError):
            value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass(frozen=True)
class MetricResult:
    """A metric of one model with its confidence interval.

    Attributes
    ----------
    model, metric
        What was measured.
    estimate
        The metric on the data (mean over runs when there are several).
    ci_low, ci_high, level
        The confidence interval and its level.
    method
        ``hierarchical-bootstrap``, ``bootstrap``, ``delong`` or ``none``.
    interval
        ``percentile`` or ``bca`` (bootstrap methods), ``cluster-bootstrap-t``,
        ``wild-cluster-rademacher``, ``wild-cluster-webb`` (studentised over the outer
        clusters), ``wald`` (DeLong).
    n_units
        Units of analysis (images, sessions or subjects).
    n_clusters
        Clusters at the outermost resampled level (the effective sample size of the CI).
    clusters
        Clusters per resampled level, outer first.
    n_runs
        (repeat, fold, seed) runs averaged (folds pooled when they partition the units).
    n_resamples, n_degenerate
        Bootstrap resamples drawn, and how many left the metric undefined (excluded).
    partition, group
        The partition and the breakdown group (``{"site": "A"}``) of this row.
    warnings
        Messages of the warnings that apply (few clusters, degenerate resamples, ...).
    conditional_on
        Levels held fixed, with their cluster counts (e.g. ``{"site": 3}``): too few clusters
        to estimate their variance, so the interval is conditional on these clusters (it
        describes them, not new ones); empty when every declared level was resampled.
    chosen_for
        For ``interval: calibrated``: the design regime the interval method was chosen for
        (e.g. ``4-7 sites, 10-39 subjects per site``), or why the percentile interval was used.
    calibration
        For a calibrated choice from the table: the chosen method's coverage range over the
        regime's simulated designs (``coverage_min``, ``coverage_max``; the confirmation
        run's, with ``data_sets_per_design``, when the regime was confirmed), ``designs``,
        ``consistent_with_goal`` and the grid ``source`` command.
    """

    model: str
    metric: str
    estimate: float
    ci_low: float
    ci_high: float
    level: float
    method: str
    interval: str
    n_units: int
    n_clusters: int
    clusters: dict[str, int] = field(default_factory=dict)
    n_runs: int = 1
    n_resamples: int = 0
    n_degenerate: int = 0
    partition: str = "test"
    group: dict[str, str] = field(default_factory=dict)
    unit: str = "image"
    seed: int | None = None
    warnings: list[str] = field(default_factory=list)
    conditional_on: dict[str, int] = field(default_factory=dict)
    chosen_for: str = ""
    calibration: dict[str, Any] = field(default_factory=dict)

    def conf_int(self) -> tuple[float, float]:
        return self.ci_low, self.ci_high

    def to_dict(self) -> dict[str, Any]:
        out = _clean(asdict(self))
        # Only a calibrated choice adds these keys (earlier JSON output stays the same).
        for key in ("chosen_for", "calibration"):
            if not out[key]:
                out.pop(key)
        return out


@dataclass(frozen=True)
class ComparisonResult:
    """A paired comparison of model ``a`` with model ``b`` (``estimate = metric(a) - metric(b)``).

    Unpacks to ``(statistic, p_value)`` like scipy's test results.

    Attributes
    ----------
    a, b, metric, method
        What was compared, and how.
    estimate, ci_low, ci_high, level
        The difference and its interval (a credible interval for ``bayes``).
    statistic, df, p_value
        The test statistic, its degrees of freedom (when it has some) and the two-sided
        p-value (``None`` for ``bayes``).
    p_adjusted, correction
        The p-value after the multiplicity correction across the comparisons of one call.
    decision
        Against the margin: ``superior``, ``non-inferior``, ``equivalent``, ``inferior``,
        ``not-superior``, ``inconclusive``... (see :func:`brainbench.stats.decide`).
    extra
        Method-specific values, e.g. ``p_left``, ``p_rope``, ``p_right`` for ``bayes``.
    """

    a: str
    b: str
    metric: str
    method: str
    estimate: float
    ci_low: float
    ci_high: float
    statistic: float | None
    p_value: float | None
    level: float = 0.95
    df: float | None = None
    p_adjusted: float | None = None
    correction: str = "none"
    alpha: float = 0.05
    margin: float = 0.0
    hypothesis: str = "superiority"
    decision: str | None = None
    higher_is_better: bool = True
    n_units: int = 0
    n_clusters: int = 0
    n_runs: int = 1
    partition: str = "test"
    group: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def __iter__(self):
        return iter((self.statistic, self.p_value))

    def conf_int(self) -> tuple[float, float]:
        return self.ci_low, self.ci_high

    def to_dict(self) -> dict[str, Any]:
        return _clean(asdict(self))


@dataclass(frozen=True)
class TestResult:
    """A test statistic with its p-value (Friedman, Iman-Davenport, Wilcoxon...)."""

    __test__ = False  # not a pytest test class

    statistic: float
    p_value: float
    method: str
    df: tuple[float, ...] | float | None = None
    warnings: list[str] = field(default_factory=list)

    def __iter__(self):
        return iter((self.statistic, self.p_value))

    def to_dict(self) -> dict[str, Any]:
        return _clean(asdict(self))


@dataclass(frozen=True)
class RankResult:
    """Ranks of k models over N tasks (Demsar 2006) and their stability.

    Attributes
    ----------
    mean_ranks
        Average rank per model (1 = best; ties averaged).
    friedman, iman_davenport
        Omnibus tests of equal mean ranks.
    nemenyi
        ``{"cd": critical difference, "alpha": alpha, "q_alpha": ...}``.
    pairwise
        Pairwise comparisons: Nemenyi-significant differences, Holm against the best, and the
        Wilcoxon signed-rank test with Holm correction.
    stability
        Bootstrap rank stability over tasks: rank distribution per model and Kendall's tau to
        the full ranking (``None`` when not requested).
    """

    models: list[str]
    n_tasks: int
    mean_ranks: dict[str, float]
    friedman: TestResult
    iman_davenport: TestResult
    nemenyi: dict[str, float]
    pairwise: list[dict[str, Any]]
    holm_vs_best: list[dict[str, Any]]
    stability: dict[str, Any] | None = None
    lower_is_better: bool = False
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return _clean(asdict(self))
