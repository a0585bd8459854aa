"""brainbench.segmentation: per-case segmentation metrics and their statistics.

:func:`case_metrics` scores one case (every label x metric, MONAI's implementations, empty
masks as Metrics Reloaded prescribes); :func:`summarise`, :func:`compare` and
:func:`rank_stability` work on the long case-metrics table the runner writes
(``case_metrics.parquet``). See docs/statistics.md, "Segmentation metrics".
"""

from brainbench.segmentation.metrics import (
    SEGMENTATION_METRICS,
    STATUSES,
    SegmentationMetric,
    case_metrics,
    lesion_counts,
    lesion_f1,
)
from brainbench.segmentation.statistics import (
    RankStability,
    SegComparison,
    SegSummary,
    compare,
    rank_stability,
    summarise,
)

__all__ = [
    "SEGMENTATION_METRICS",
    "STATUSES",
    "RankStability",
    "SegComparison",
    "SegSummary",
    "SegmentationMetric",
    "case_metrics",
    "compare",
    "lesion_counts",
    "lesion_f1",
    "rank_stability",
    "summarise",
]
