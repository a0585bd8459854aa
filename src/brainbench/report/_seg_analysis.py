"""The protocol and the numbers of a segmentation sheet, computed once and shared.

:class:`SegAnalysis` plays for the segmentation sheet the part :class:`~brainbench.report.
_analysis.Analysis` plays for the classification one: it reads the spec's protocol (or
documented defaults), records deviations (:func:`~brainbench.report._analysis.run_deviations`
is shared), and computes lazily, through :mod:`brainbench.report._seg_stats`, what the
sections show. The shared sections (identity, protocol, audit, provenance) read the same
attribute names from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from itertools import combinations
from typing import Any

import pandas as pd

from brainbench.report import _seg_stats
from brainbench.report._analysis import DEFAULT_RESAMPLES, Deviation, run_deviations
from brainbench.report._run import RunData
from brainbench.report._seg_data import base_metric
from brainbench.stats import MetricInfo, metric_info

#: Metrics whose comparison or ranking the sheet reads from another metric (a signed error's
#: mean is a bias: two models are compared on the absolute error instead).
PREFERRED_PRIMARY = ("dice", "nsd", "lesion-f1", "iou", "hd95")


@dataclass(frozen=True)
class SegTask:
    """What the shared identity section reads from ``analysis.task``."""

    type: str = "segmentation"
    labels: tuple[str, ...] = ()


class SegAnalysis:
    """The protocol and the numbers of one segmentation sheet.

    Parameters
    ----------
    run
        The run data; ``run.predictions`` holds the checked case-metrics table.
    resamples
        Bootstrap resamples; None: the spec's (2000 without a spec). A value different from
        the spec's is a deviation.
    seed
        Seed of every bootstrap.
    """

    is_classification = False
    ci_method = "hierarchical-bootstrap"
    interval = "percentile"

    def __init__(self, run: RunData, *, resamples: int | None = None, seed: int = 0) -> None:
        self.run = run
        self.seed = int(seed)
        self.deviations: list[Deviation] = []
        self.engine_warnings: list[str] = []
        table = run.predictions
        spec = run.spec if getattr(getattr(run.spec, "task", None), "type", "") else None
        if spec is not None and spec.task.type != "segmentation":
            spec = None  # a --spec of another task: the table's own labels and metrics rule
        self.spec = spec
        found_labels = [str(x) for x in pd.unique(table["label"])]
        found_metrics = [str(x) for x in pd.unique(table["metric"])]
        declared_labels = [x.name for x in (spec.task.labels or [])] if spec else []
        self.labels = [x for x in declared_labels if x in found_labels] + [
            x for x in found_labels if x not in declared_labels
        ]
        declared_metrics = [m.name for m in spec.segmentation_metrics()] if spec else []
        self.metrics = [m for d in declared_metrics for m in found_metrics if base_metric(m) == d]
        self.metrics += [m for m in found_metrics if m not in self.metrics]
        self.task = SegTask(labels=tuple(self.labels))
        protocol = spec.protocol if spec else None
        if protocol is not None:
            self.primary = protocol.primary_metric
            self.primary_label = spec.primary_label()
            conf = protocol.confidence
            self.level = float(conf.level)
            self.spec_resamples: int | None = conf.resamples
            self.comparison = protocol.comparison
            self.models_declared = list(protocol.models)
        else:
            self.primary = (
                next((m for m in PREFERRED_PRIMARY if m in found_metrics), None)
                or (found_metrics[0])
            )
            self.primary_label = self.labels[0]
            self.level = 0.95
            self.spec_resamples = None
            self.comparison = None
            self.models_declared = []
        self.secondary = [m for m in self.metrics if m != self.primary]
        self.unit = "subject"
        self.clusters = ["site", "subject"]
        self.resamples = int(
            resamples
            if resamples is not None
            else (self.spec_resamples if self.spec_resamples is not None else DEFAULT_RESAMPLES)
        )
        present = [str(m) for m in pd.unique(table["model"])]
        order = [m for m in self.models_declared if m in present]
        self.models = order + sorted(m for m in present if m not in order)
        parts = [str(p) for p in pd.unique(table["partition"])]
        self.partitions = (["test"] if "test" in parts else []) + sorted(
            p for p in parts if p != "test"
        )
        self.main_partition = self.partitions[0]
        self.endpoints = [self.main_partition]
        self.table = table
        self._check_protocol(declared_metrics, declared_labels, found_metrics, found_labels)

    # -- protocol -------------------------------------------------------------------------
    def _check_protocol(
        self,
        declared_metrics: list[str],
        declared_labels: list[str],
        found_metrics: list[str],
        found_labels: list[str],
    ) -> None:
        def add(kind: str, message: str, severity: str = "warning", **kw: Any) -> None:
            self.deviations.append(Deviation(kind, message, severity, **kw))

        if self.primary not in found_metrics or self.primary_label not in found_labels:
            add(
                "metric",
                f"The primary metric {self.primary} on label {self.primary_label} is not in "
                "the case-metrics table: no primary result can be read.",
                "error",
                affects_results=True,
                short="primary metric missing",
            )
        for what, declared, found in (
            ("metric", declared_metrics, found_metrics),
            ("label", declared_labels, found_labels),
        ):
            lost = [x for x in declared if x not in {base_metric(f) for f in found} | set(found)]
            if lost:
                add(
                    what,
                    f"The spec declares {what}(s) {', '.join(lost)} that the case-metrics "
                    "table does not hold: they are not reported.",
                )
        if self.spec_resamples is not None and self.resamples != self.spec_resamples:
            add(
                "resamples",
                f"Intervals use {self.resamples} bootstrap resamples (--resamples); the "
                f"protocol declares {self.spec_resamples}.",
            )
        main = self.table[self.table["partition"] == self.main_partition]
        self.deviations.extend(run_deviations(self.run, main, self.main_partition))
        for model in self.models:
            sub = main[main["model"] == model]
            missing = sorted(set(main["image"]) - set(sub["image"]))
            if missing:
                add(
                    "missing-cases",
                    f"{model} has no metrics for {len(missing)} test case(s) that other models "
                    f"have (e.g. {missing[0]}): its summaries are on fewer cases, and paired "
                    "comparisons use the cases both models scored.",
                    models=(model,),
                    affects_results=True,
                    short=f"{len(missing)} case(s) missing for {model}",
                )

    @property
    def endpoint_text(self) -> str:
        return f"the {self.main_partition} partition, label {self.primary_label}"

    @property
    def comparison_kwargs(self) -> dict[str, Any]:
        c = self.comparison
        return {
            "method": "paired hierarchical bootstrap of the mean difference",
            "alpha": c.alpha if c is not None else 0.05,
            "correction": "holm",
            "interval": self.interval,
        }

    @property
    def alpha(self) -> float:
        return float(self.comparison_kwargs["alpha"])

    def info(self, metric: str) -> MetricInfo:
        """Direction, units and range of a measure (``nsd@1mm`` reads ``nsd``'s)."""
        return metric_info(base_metric(metric))

    # -- numbers --------------------------------------------------------------------------
    @cached_property
    def cases(self) -> pd.DataFrame:
        """One row per (model, partition, image, label, metric): see :func:`_seg_stats.per_case`."""
        return _seg_stats.per_case(self.table)

    def _select(self, partition: str, label: str, metric: str) -> pd.DataFrame:
        c = self.cases
        return c[(c["partition"] == partition) & (c["label"] == label) & (c["metric"] == metric)]

    def _settings(self) -> dict[str, Any]:
        return {"level": self.level, "resamples": self.resamples, "seed": self.seed}

    @cached_property
    def summaries(self) -> dict[tuple[str, str, str, str], dict[str, _seg_stats.Summary]]:
        """(partition, label, metric, model) -> {"mean": Summary, "median": Summary}."""
        out = {}
        for part in self.partitions:
            for label in self.labels:
                for metric in self.metrics:
                    sel = self._select(part, label, metric)
                    for model in self.models:
                        rows = sel[sel["model"] == model]
                        if len(rows):
                            out[part, label, metric, model] = _seg_stats.summarise(
                                rows, **self._settings()
                            )
        return out

    def breakdown(self, by: str, metric: str) -> dict[tuple[str, str, str], _seg_stats.Summary]:
        """(label, group, model) -> mean of ``metric`` on the main partition within each
        ``by`` group (site or session), subjects resampled within it."""
        out = {}
        for label in self.labels:
            sel = self._select(self.main_partition, label, metric)
            for (group, model), rows in sel.groupby([by, "model"], sort=True):
                out[label, str(group), str(model)] = _seg_stats.summarise(rows, **self._settings())[
                    "mean"
                ]
        return out

    def comparable(self, metric: str) -> bool:
        """A difference of means orders two models only for metrics best at an extreme (the
        mean of a signed error is a bias, best near 0: its difference says nothing)."""
        return getattr(self.info(metric), "closest_to", None) is None

    @cached_property
    def comparisons(self) -> dict[tuple[str, str], list[_seg_stats.Comparison]]:
        """(label, metric) -> paired comparisons of every pair of models on the main
        partition, Holm-adjusted within the label and metric."""
        pairs = list(combinations(self.models, 2))
        out: dict[tuple[str, str], list[_seg_stats.Comparison]] = {}
        if not pairs:
            return out
        for label in self.labels:
            for metric in self.metrics:
                if self.comparable(metric):
                    sel = self._select(self.main_partition, label, metric)
                    out[label, metric] = _seg_stats.compare(sel, pairs, **self._settings())
        return out

    @cached_property
    def rankings(self) -> dict[tuple[str, str], dict | None]:
        """(label, metric) -> challengeR-style bootstrap ranking on the main partition, for
        the primary metric on every label."""
        out = {}
        info = self.info(self.primary)
        for label in self.labels:
            sel = self._select(self.main_partition, label, self.primary)
            out[label, self.primary] = _seg_stats.rank_stability(
                sel,
                self.models,
                order_key=info.order_key,
                resamples=self.resamples,
                seed=self.seed,
            )
        return out


__all__ = ["SegAnalysis", "SegTask"]
