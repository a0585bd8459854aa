"""Bootstrap statistics over a cluster design, and percentile / BCa intervals.

A statistic here is a weighted sum of metric values, ``sum_k c_k metric_k(block_k)``: one block
per (model, run), ``c_k = 1/R`` to average a model's R runs, and ``-1/R`` for model B in a paired
difference. All blocks share the atoms' multiplicities, which keeps pairs and runs paired.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtr, ndtri

from brainbench.stats._metrics import Columns, Metric
from brainbench.stats._resample import ClusterDesign


@dataclass
class Block:
    """One metric on one set of rows (a model's run), with a coefficient."""

    metric: Metric
    cols: Columns
    atoms: np.ndarray  # atom of each row
    coef: float = 1.0


@dataclass
class Statistic:
    """A combination of metric blocks over a shared :class:`ClusterDesign`."""

    design: ClusterDesign
    blocks: list[Block]
    _X: np.ndarray | None = field(default=None, init=False, repr=False)
    _slices: list[slice] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        self.linear = all(b.metric.linear for b in self.blocks)
        if self.linear:
            parts, start = [], 0
            for b in self.blocks:
                x = b.metric.suff(b.cols)
                sums = np.zeros((self.design.n_atoms, x.shape[1]))
                np.add.at(sums, b.atoms, x)
                parts.append(sums)
                self._slices.append(slice(start, start + x.shape[1]))
                start += x.shape[1]
            self._X = np.hstack(parts)

    def from_sums(self, S: np.ndarray) -> np.ndarray:
        out = 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            for b, sl in zip(self.blocks, self._slices, strict=True):
                out = out + b.coef * b.metric.finish(S[..., sl])
        return np.asarray(out, dtype=float)

    def from_weights(self, W: np.ndarray) -> np.ndarray:
        if self.linear:
            return self.from_sums(W @ self._X)
        out = 0.0
        for b in self.blocks:
            out = out + b.coef * b.metric.on_weights(b.cols, W, b.atoms)
        return np.asarray(out, dtype=float)

    def point(self) -> float:
        if self.linear:
            return float(self.from_sums(self._X.sum(axis=0)))
        return float(self.from_weights(np.ones((1, self.design.n_atoms)))[0])

    def resample(
        self, n_resamples: int, rng: np.random.Generator, chunk: int | None = None
    ) -> np.ndarray:
        """The statistic in ``n_resamples`` hierarchical bootstrap resamples (NaN: undefined)."""
        if self.linear:
            return self.from_sums(self.design.sums(self._X, n_resamples, rng, chunk=chunk))
        rows = sum(len(b.atoms) for b in self.blocks)
        chunk = chunk or self.design.chunk_size(max(rows, self.design.n_atoms))
        out = np.empty(n_resamples)
        done = 0
        for W in self.design.iter_weights(n_resamples, rng, chunk):
            out[done : done + len(W)] = self.from_weights(W)
            done += len(W)
        return out

    def jackknife(self, max_groups: int = 2000) -> np.ndarray:
        """Delete-one-top-cluster (or delete-a-group) jackknife values."""
        group = self.design.jackknife_groups(max_groups)
        G = int(group.max()) + 1
        if self.linear:
            gs = np.zeros((G, self._X.shape[1]))
            np.add.at(gs, group, self._X)
            return self.from_sums(self._X.sum(axis=0)[None, :] - gs)
        out = np.empty(G)
        step = max(1, self.design.chunk_size(sum(len(b.atoms) for b in self.blocks)))
        for s in range(0, G, step):
            g = np.arange(s, min(G, s + step))
            W = (group[None, :] != g[:, None]).astype(float)
            out[g] = self.from_weights(W)
        return out


def percentile_interval(theta_b: np.ndarray, level: float) -> tuple[float, float]:
    """Percentile interval (Efron & Tibshirani 1993, *An Introduction to the Bootstrap*,
    Chapman & Hall, ch. 13, doi:10.1201/9780429246593): the (1-level)/2 and (1+level)/2
    quantiles (linear interpolation) of the bootstrap distribution. Not estimable (NaN, NaN)
    from fewer than two defined resamples (a single-class test set, say)."""
    if len(theta_b) < 2:
        return float("nan"), float("nan")
    alpha = (1 - level) / 2
    lo, hi = np.quantile(theta_b, [alpha, 1 - alpha])
    return float(lo), float(hi)


def bias_corrected_basic(
    theta_b: np.ndarray, theta_hat: float, level: float
) -> tuple[float, float, float, float]:
    """Bootstrap bias-corrected estimate and basic interval, for estimators with a large bias
    (the binned ECE: sampling noise in each bin's frequency only adds to |gap|).

    bias = mean(theta*) - theta_hat, estimate 2 theta_hat - mean(theta*) (Efron & Tibshirani
    1993, section 10.6), interval [2 theta_hat - q_hi, 2 theta_hat - q_lo] with q the
    percentiles of theta* (the basic interval, Davison & Hinkley 1997, eq. 5.6,
    doi:10.1017/CBO9780511802843). Both move by the same bias, so the estimate lies inside its
    interval whenever mean(theta*) lies between q_lo and q_hi, unlike the plug-in estimate next
    to a percentile interval. Returns ``(estimate, lo, hi, bias)``.
    """
    q_lo, q_hi = percentile_interval(theta_b, level)
    bias = float(np.mean(theta_b)) - theta_hat
    return theta_hat - bias, 2 * theta_hat - q_hi, 2 * theta_hat - q_lo, bias


def bca_interval(
    theta_b: np.ndarray, theta_hat: float, theta_jack: np.ndarray, level: float
) -> tuple[float, float, float, float]:
    """Bias-corrected and accelerated interval (Efron 1987, J. Am. Stat. Assoc. 82:171-185,
    doi:10.1080/01621459.1987.10478410; Efron & Tibshirani 1993, eq. 14.9-14.15).

    ``z0 = Phi^-1(#{theta* < theta_hat} + #{theta* <= theta_hat}) / 2B)``,
    ``a = sum(d^3) / (6 (sum d^2)^(3/2))`` with ``d = mean(theta_(i)) - theta_(i)`` over the
    jackknife values, and the interval is the bootstrap distribution's quantiles at
    ``Phi(z0 + (z0 + z_q) / (1 - a (z0 + z_q)))`` for ``z_q = Phi^-1((1 -+ level)/2)`` (the
    same conventions as ``scipy.stats.bootstrap``).

    Returns ``(low, high, z0, a)``; all NaN from fewer than two defined resamples.
    """
    B = len(theta_b)
    if B < 2:
        return float("nan"), float("nan"), float("nan"), float("nan")
    pct = (np.count_nonzero(theta_b < theta_hat) + np.count_nonzero(theta_b <= theta_hat)) / (2 * B)
    z0 = float(ndtri(pct))
    jack = theta_jack[np.isfinite(theta_jack)]
    d = jack.mean() - jack if len(jack) else np.zeros(1)
    den = (d**2).sum()
    a = float((d**3).sum() / (6 * den**1.5)) if den > 0 else 0.0
    alpha = (1 - level) / 2
    z_a = float(ndtri(alpha))
    q = []
    for z in (z_a, -z_a):
        num = z0 + z
        q.append(float(ndtr(z0 + num / (1 - a * num))))
    if not np.all(np.isfinite(q)):
        return float("nan"), float("nan"), z0, a
    lo, hi = np.quantile(theta_b, q)
    return float(lo), float(hi), z0, a


def bootstrap_p_value(theta_b: np.ndarray, null: float = 0.0) -> float:
    """Two-sided bootstrap p-value of ``H0: theta = null`` from the percentile interval.

    ``p = min(1, 2 min((1 + #{theta* <= null}) / (B + 1), (1 + #{theta* >= null}) / (B + 1)))``:
    the smallest alpha at which the percentile interval excludes ``null`` (Davison & Hinkley
    1997, section 4.4, doi:10.1017/CBO9780511802843), with the +1 that keeps the test valid
    with finite B (Davison & Hinkley eq. 4.11). NaN without any defined resample.
    """
    B = len(theta_b)
    if B == 0:
        return float("nan")
    lo = (1 + np.count_nonzero(theta_b <= null)) / (B + 1)
    hi = (1 + np.count_nonzero(theta_b >= null)) / (B + 1)
    return float(min(1.0, 2 * min(lo, hi)))
