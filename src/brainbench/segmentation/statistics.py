"""Statistics on the case-metrics table: intervals, paired comparisons, ranking stability.

The input is the long table of the runner (``case_metrics.parquet``; docs/design.md): one row
per (model, repeat, fold, seed, partition, image, label, metric) with the hierarchy ids
(``site``, ``subject``, ``session``, ``image``), ``value`` and ``status``. Rows of another
partition than ``partition`` (default ``test``) are ignored when the column exists. A case is
an image (``dataset`` + ``image``); a model's value for a case is the mean over its runs
(repeats, seeds) when it was scored more than once.

Signatures (stable; the evidence sheet calls them)::

    summarise(table, *, statistic="mean", levels=("site", "subject"), by=(),
              level=0.95, n_resamples=2000, seed=0, partition="test") -> list[SegSummary]
        One result per (model, label, metric, tolerance_mm[, by values]): the mean or median
        of the per-case values with a hierarchical bootstrap percentile interval.

    compare(table, model_a, model_b, *, statistic="mean", levels=("site", "subject"),
            level=0.95, n_resamples=2000, seed=0, correction="holm", alpha=0.05,
            partition="test") -> list[SegComparison]
        One result per (label, metric, tolerance_mm): difference a - b of the statistic over
        the cases both models scored, a paired hierarchical bootstrap interval and p-value,
        p-values adjusted across the rows (Holm by default).

    rank_stability(table, *, metric, label, tolerance_mm=None, statistic="mean",
                   levels=("site", "subject"), n_resamples=1000, seed=0,
                   partition="test") -> RankStability
        challengeR-style bootstrap ranking of every model of the table on one (label, metric).

Each result is a frozen dataclass with ``to_dict()`` and a ``warnings`` list.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SegSummary:
    """Placeholder until the implementation lands (same commit series)."""


@dataclass(frozen=True)
class SegComparison:
    """Placeholder until the implementation lands (same commit series)."""


@dataclass(frozen=True)
class RankStability:
    """Placeholder until the implementation lands (same commit series)."""


def summarise(table, **kwargs):
    raise NotImplementedError("brainbench.segmentation.summarise is being written")


def compare(table, model_a, model_b, **kwargs):
    raise NotImplementedError("brainbench.segmentation.compare is being written")


def rank_stability(table, **kwargs):
    raise NotImplementedError("brainbench.segmentation.rank_stability is being written")
