"""Power and design: expected CI half-width and minimal detectable difference.

Large-sample approximations for planning (rule D306), not replacements for the bootstrap:

* proportions (accuracy, sensitivity, specificity, PPV, NPV): Var = theta (1 - theta) / n, with
  n the units the proportion is computed on (positives for sensitivity...);
* balanced accuracy: Var = [se (1 - se) / n_pos + sp (1 - sp) / n_neg] / 4 at se = sp = theta;
* AUROC: Hanley & McNeil 1982, Radiology 143:29-36, doi:10.1148/radiology.143.1.7063747:
  Var = [A (1 - A) + (n_pos - 1)(Q1 - A^2) + (n_neg - 1)(Q2 - A^2)] / (n_pos n_neg),
  Q1 = A / (2 - A), Q2 = 2 A^2 / (1 + A);
* any other metric: Var = sd^2 / n with the per-unit standard deviation ``sd`` given.

Clustering inflates variances by the design effect DE = 1 + (m - 1) ICC, m the mean number of
units per cluster (Kish 1965, *Survey Sampling*, Wiley; Donner & Klar 2000, *Design and
Analysis of Cluster Randomization Trials*, Arnold, ch. 5). The half-width is
z_{(1+level)/2} sqrt(DE Var). For a paired difference of two models with correlation r between
their per-unit outcomes (Hanley & McNeil 1983, Radiology 148:839-843,
doi:10.1148/radiology.148.3.6878708), Var(diff) = 2 (1 - r) Var and the minimal detectable
difference at two-sided alpha and the given power is (z_{1-alpha/2} + z_power) sqrt(DE Var(diff)).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from brainbench.errors import UserError
from brainbench.stats._metrics import get_metric

_PROPORTION_ON = {
    "accuracy": "all",
    "sensitivity": "pos",
    "specificity": "neg",
    "ppv": "pos",
    "npv": "neg",
}


def _variance(metric: str, n: float, value: float, prevalence: float, sd: float | None) -> float:
    get_metric(metric)
    if n <= 1:
        raise UserError(f"Power calculations need more than one unit; got n={n}.")
    n_pos, n_neg = n * prevalence, n * (1 - prevalence)
    if metric in _PROPORTION_ON:
        m = {"all": n, "pos": n_pos, "neg": n_neg}[_PROPORTION_ON[metric]]
        return value * (1 - value) / m
    if metric == "balanced_accuracy":
        return (value * (1 - value) / n_pos + value * (1 - value) / n_neg) / 4
    if metric == "auroc":
        a = value
        q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
        return (a * (1 - a) + (n_pos - 1) * (q1 - a * a) + (n_neg - 1) * (q2 - a * a)) / (
            n_pos * n_neg
        )
    if sd is None:
        raise UserError(
            f"For '{metric}' give the per-unit standard deviation (sd): there is no closed form."
        )
    return sd * sd / n


def design_effect(n_units: float, n_clusters: int | None, icc: float) -> float:
    """Kish's design effect 1 + (m - 1) ICC with m = n_units / n_clusters."""
    if not n_clusters or icc == 0:
        return 1.0
    if not 0 <= icc <= 1:
        raise UserError(f"The intra-cluster correlation must lie in [0, 1]; got {icc}.")
    return 1.0 + (n_units / n_clusters - 1) * icc


def ci_half_width(
    metric: str,
    n_units: int,
    *,
    value: float = 0.8,
    prevalence: float = 0.5,
    n_clusters: int | None = None,
    icc: float = 0.0,
    level: float = 0.95,
    sd: float | None = None,
) -> float:
    """Expected half-width of the ``level`` interval of ``metric`` at its true ``value``.

    Parameters
    ----------
    n_units
        Units of analysis in the test set (e.g. subjects).
    prevalence
        Fraction of positive units.
    n_clusters, icc
        Clusters (e.g. sites) and the intra-cluster correlation of the per-unit outcome.
    sd
        Per-unit standard deviation, for metrics without a closed form (mae, brier...).

    Examples
    --------
    >>> round(ci_half_width("accuracy", 100, value=0.8), 3)
    0.078
    """
    var = _variance(metric, n_units, value, prevalence, sd)
    z = norm.ppf(0.5 + level / 2)
    return float(z * np.sqrt(var * design_effect(n_units, n_clusters, icc)))


def minimal_detectable_difference(
    metric: str,
    n_units: int,
    *,
    value: float = 0.8,
    prevalence: float = 0.5,
    correlation: float = 0.5,
    n_clusters: int | None = None,
    icc: float = 0.0,
    alpha: float = 0.05,
    power: float = 0.8,
    sd: float | None = None,
) -> float:
    """Smallest true difference between two paired models detected with ``power``.

    ``correlation`` is the correlation between the two models' per-unit outcomes (paired
    designs gain from it); see the module docstring for the formula.
    """
    if not -1 < correlation < 1:
        raise UserError(f"The correlation must lie in (-1, 1); got {correlation}.")
    var = 2 * (1 - correlation) * _variance(metric, n_units, value, prevalence, sd)
    z = norm.ppf(1 - alpha / 2) + norm.ppf(power)
    return float(z * np.sqrt(var * design_effect(n_units, n_clusters, icc)))
