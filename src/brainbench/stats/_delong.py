"""DeLong's nonparametric variance of the AUROC, and the paired DeLong test.

DeLong, DeLong & Clarke-Pearson 1988, "Comparing the areas under two or more correlated receiver
operating characteristic curves: a nonparametric approach", Biometrics 44:837-845,
doi:10.2307/2531595; computed with midranks as in Sun & Xu 2014, "Fast implementation of
DeLong's algorithm for comparing the areas under correlated receiver operating characteristic
curves", IEEE Signal Process. Lett. 21:1389-1393, doi:10.1109/LSP.2014.2337313.

For m positives X_i and n negatives Y_j, with psi(x, y) = 1 if x > y, 1/2 if x = y, 0 otherwise,
the structural components are V10_i = (1/n) sum_j psi(X_i, Y_j) and
V01_j = (1/m) sum_i psi(X_i, Y_j); the AUC is their mean and, for markers r and s,

    S10_rs = cov(V10_r, V10_s),  S01_rs = cov(V01_r, V01_s)   (denominators m-1 and n-1)
    Cov(AUC_r, AUC_s) = S10_rs / m + S01_rs / n.

The paired test is Z = (AUC_1 - AUC_2) / sqrt(Var_1 + Var_2 - 2 Cov_12), two-sided normal
p-value (pROC's ``roc.test(method = "delong")``). Units must be independent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri
from scipy.stats import rankdata


@dataclass(frozen=True)
class DeLong:
    """AUROCs of k markers on the same units, with their DeLong covariance matrix."""

    auc: np.ndarray  # (k,)
    cov: np.ndarray  # (k, k)
    n_pos: int
    n_neg: int


def delong(y_pos: np.ndarray, scores: np.ndarray) -> DeLong:
    """AUROCs and DeLong covariance of ``scores`` (shape ``(k, n)`` or ``(n,)``).

    Parameters
    ----------
    y_pos
        Boolean (or 0/1) array, True for positive units.
    scores
        Higher scores mean "more positive".
    """
    y_pos = np.asarray(y_pos).astype(bool)
    scores = np.atleast_2d(np.asarray(scores, dtype=float))
    pos, neg = scores[:, y_pos], scores[:, ~y_pos]
    m, n = pos.shape[1], neg.shape[1]
    if m == 0 or n == 0:
        raise ValueError("DeLong needs both positive and negative units")
    k = scores.shape[0]
    tx = np.vstack([rankdata(pos[r]) for r in range(k)])
    ty = np.vstack([rankdata(neg[r]) for r in range(k)])
    tz = np.vstack([rankdata(np.r_[pos[r], neg[r]]) for r in range(k)])
    auc = (tz[:, :m].sum(axis=1) / m - (m + 1) / 2) / n
    v10 = (tz[:, :m] - tx) / n
    v01 = 1.0 - (tz[:, m:] - ty) / m
    s10 = np.atleast_2d(np.cov(v10)) if m > 1 else np.zeros((k, k))
    s01 = np.atleast_2d(np.cov(v01)) if n > 1 else np.zeros((k, k))
    return DeLong(auc=auc, cov=s10 / m + s01 / n, n_pos=m, n_neg=n)


def delong_ci(y_pos: np.ndarray, score: np.ndarray, level: float = 0.95):
    """AUROC with DeLong's Wald interval ``AUC -+ z sqrt(Var)``, clipped to [0, 1] (pROC)."""
    d = delong(y_pos, score)
    auc, se = float(d.auc[0]), float(np.sqrt(max(d.cov[0, 0], 0.0)))
    z = float(ndtri(0.5 + level / 2))
    return auc, max(0.0, auc - z * se), min(1.0, auc + z * se), se


def delong_test(y_pos: np.ndarray, score_a: np.ndarray, score_b: np.ndarray, level: float = 0.95):
    """Paired DeLong test of AUC(a) = AUC(b).

    Returns ``(auc_a, auc_b, z, p_value, ci_low, ci_high)`` where the interval is the Wald
    interval of the difference ``AUC(a) - AUC(b)``.
    """
    d = delong(y_pos, np.vstack([score_a, score_b]))
    diff = float(d.auc[0] - d.auc[1])
    var = float(d.cov[0, 0] + d.cov[1, 1] - 2 * d.cov[0, 1])
    se = np.sqrt(max(var, 0.0))
    z = (0.0 if diff == 0 else float(np.sign(diff) * np.inf)) if se == 0 else diff / se
    p = float(2 * ndtr(-abs(z)))
    q = float(ndtri(0.5 + level / 2))
    return float(d.auc[0]), float(d.auc[1]), float(z), p, diff - q * se, diff + q * se
