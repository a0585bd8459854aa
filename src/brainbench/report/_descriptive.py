"""Descriptive summaries the evidence sheet shows and the statistics engine does not offer.

None of these is an inferential statistic: no interval or p-value is computed here (those come
from :mod:`brainbench.stats`). They are the standardised mean differences of "Table 1", the
reliability-diagram bins, and the spread of the per-run metrics behind the variance section.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Equal-width bins of the reliability diagram (the same as the engine's ECE bins).
RELIABILITY_BINS = 10


def smd_continuous(a: np.ndarray, b: np.ndarray) -> float:
    """Standardised mean difference of a continuous variable between two groups.

    ``d = (mean_b - mean_a) / sqrt((s_a^2 + s_b^2) / 2)`` (Austin 2009, Stat. Med.
    28:3083-3107, doi:10.1002/sim.3697); NaN when either group has fewer than two values.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    pooled = np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
    if pooled == 0:
        return 0.0 if a.mean() == b.mean() else float("inf")
    return float((b.mean() - a.mean()) / pooled)


def smd_binary(p_a: float, p_b: float) -> float:
    """Standardised difference of two proportions (Austin 2009):
    ``(p_b - p_a) / sqrt((p_a (1 - p_a) + p_b (1 - p_b)) / 2)``."""
    denom = np.sqrt((p_a * (1 - p_a) + p_b * (1 - p_b)) / 2)
    if denom == 0:
        return 0.0 if p_a == p_b else float("inf")
    return float((p_b - p_a) / denom)


def reliability_bins(y_pos: np.ndarray, prob: np.ndarray, bins: int = RELIABILITY_BINS) -> list:
    """Equal-width probability bins: mean predicted probability, observed frequency, count."""
    y_pos = np.asarray(y_pos, dtype=float)
    prob = np.asarray(prob, dtype=float)
    idx = np.minimum((prob * bins).astype(int), bins - 1)
    out = []
    for b in range(bins):
        m = idx == b
        n = int(m.sum())
        out.append(
            {
                "bin": b,
                "low": b / bins,
                "high": (b + 1) / bins,
                "n": n,
                "mean_predicted": float(prob[m].mean()) if n else float("nan"),
                "observed": float(y_pos[m].mean()) if n else float("nan"),
            }
        )
    return out


def run_spread(runs: pd.DataFrame) -> dict[str, float | int]:
    """Spread of one model's per-run metrics across seeds and across splits.

    ``runs`` has columns ``repeat``, ``fold``, ``seed``, ``estimate`` (one row per run).

    Returns
    -------
    dict
        ``sd_seed``: square root of the mean, over splits (repeat, fold), of the variance across
        seeds within the split (ddof=1); ``sd_split``: standard deviation across splits of the
        seed-averaged metric; ``n_seeds`` (most seeds in one split), ``n_splits``, ``n_runs``.
        NaN where fewer than two seeds or splits exist.
    """
    r = runs[np.isfinite(runs["estimate"].astype(float))]
    per_split = r.groupby(["repeat", "fold"], sort=True)["estimate"]
    seed_var = per_split.var(ddof=1).dropna()
    means = per_split.mean()
    return {
        "sd_seed": float(np.sqrt(seed_var.mean())) if len(seed_var) else float("nan"),
        "sd_split": float(means.std(ddof=1)) if len(means) > 1 else float("nan"),
        "n_seeds": int(per_split.size().max()) if len(r) else 0,
        "n_splits": len(means),
        "n_runs": len(r),
        "min": float(r["estimate"].min()) if len(r) else float("nan"),
        "max": float(r["estimate"].max()) if len(r) else float("nan"),
    }


def group_spread(estimates: list[float]) -> float:
    """Standard deviation (ddof=1) of finite group estimates; NaN with fewer than two."""
    x = np.asarray([e for e in estimates if e is not None and np.isfinite(e)], dtype=float)
    return float(x.std(ddof=1)) if len(x) > 1 else float("nan")
