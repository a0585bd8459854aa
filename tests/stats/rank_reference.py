"""The sort-and-group AUROC / average precision with multiplicities that brainbench used before
the rank kernel (commit 349712c, ``stats/_metrics.py``): one sort of all rows, weights gathered
in score order, tie groups summed with ``reduceat``, cumulative sums over all rows.

Kept as the reference the new kernel must reproduce on the same weights (tests) and as the
baseline of ``benchmarks/stats/bench_rank.py``.
"""

from __future__ import annotations

import numpy as np

from brainbench.stats._metrics import Columns


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)


def _grouped(cols: Columns, W: np.ndarray, descending: bool, atoms: np.ndarray | None = None):
    s = cols.score
    order = np.argsort(-s if descending else s, kind="mergesort")
    s_sorted = s[order]
    ties = s_sorted[1:] == s_sorted[:-1]
    starts = np.flatnonzero(np.r_[True, ~ties]) if ties.any() else None
    pos = cols.is_pos[order].astype(bool)
    idx = order if atoms is None else np.asarray(atoms)[order]
    Wo = np.asarray(W, dtype=float)[:, idx]
    P = np.where(pos[None, :], Wo, 0.0)
    N = Wo - P
    if starts is not None:
        P = np.add.reduceat(P, starts, axis=1)
        N = np.add.reduceat(N, starts, axis=1)
    return P, N


def auroc_reference(cols: Columns, W: np.ndarray, atoms: np.ndarray | None = None) -> np.ndarray:
    P, N = _grouped(cols, W, descending=False, atoms=atoms)
    below = np.cumsum(N, axis=1)
    below -= 0.5 * N  # negatives strictly below, plus half of the tied ones
    num = np.einsum("ij,ij->i", P, below)
    return _div(num, P.sum(axis=1) * N.sum(axis=1))


def average_precision_reference(
    cols: Columns, W: np.ndarray, atoms: np.ndarray | None = None
) -> np.ndarray:
    P, N = _grouped(cols, W, descending=True, atoms=atoms)
    tp = np.cumsum(P, axis=1)
    fp = np.cumsum(N, axis=1)
    precision = _div(tp, tp + fp)
    precision = np.where(np.isnan(precision), 0.0, precision)
    return _div((P * precision).sum(axis=1), P.sum(axis=1))
