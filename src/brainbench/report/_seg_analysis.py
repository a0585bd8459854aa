"""The protocol and the numbers of a segmentation sheet, computed once and shared.

:class:`SegAnalysis` plays for the segmentation sheet the part :class:`~brainbench.report.
_analysis.Analysis` plays for the classification one: it reads the spec's protocol (or
documented defaults), records deviations (:func:`~brainbench.report._analysis.run_deviations`
is shared), and computes lazily, through :mod:`brainbench.segmentation.statistics`, what the
sections show. The shared sections (identity, protocol, audit, provenance) read the same
attribute names from it.

A *measure* is a metric at one tolerance: ``nsd`` when the table scores it at one tolerance,
``nsd@1mm`` and ``nsd@2mm`` when at two.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import cached_property
from itertools import combinations
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from brainbench.errors import BrainbenchWarning, UserError
from brainbench.report._analysis import DEFAULT_RESAMPLES, Deviation, run_deviations
from brainbench.report._claims import not_estimable
from brainbench.report._run import RunData
from brainbench.segmentation import statistics as seg_stats
from brainbench.stats import MetricInfo, adjust_p_values, metric_info

#: The primary metric without a spec: the first of these the table holds.
PREFERRED_PRIMARY = ("dice", "nsd", "lesion-f1", "iou", "hd95")
#: Hierarchy levels every interval resamples (outer first).
LEVELS = ("site", "subject")
#: Columns of the case-metrics table a breakdown can group by.
BREAKDOWNS = ("dataset", "site", "scanner", "session")


@dataclass(frozen=True)
class SegTask:
    """What the shared identity section reads from ``analysis.task``."""

    type: str = "segmentation"
    labels: tuple[str, ...] = ()


def _tol(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def _status_of_runs(s: pd.Series) -> str:
    """A case's status over its runs: the single one, or the most frequent non-ok one."""
    not_ok = s[s != "ok"]
    return str(not_ok.mode().iloc[0]) if len(not_ok) else "ok"


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
        table = run.predictions.copy()
        if "tolerance_mm" not in table.columns:
            table["tolerance_mm"] = np.nan
        table["tolerance_mm"] = pd.to_numeric(table["tolerance_mm"], errors="coerce")
        several = table.groupby("metric")["tolerance_mm"].transform("nunique") > 1
        table["measure"] = [
            f"{m}@{t:g}mm" if s else m
            for m, t, s in zip(table["metric"], table["tolerance_mm"], several, strict=True)
        ]
        self.table = table
        #: measure -> (metric, tolerance in mm or None)
        self.measure_of = {
            str(k): (str(m), _tol(t))
            for k, m, t in table[["measure", "metric", "tolerance_mm"]]
            .drop_duplicates("measure")
            .itertuples(index=False)
        }
        spec = run.spec
        if spec is not None and getattr(spec.task, "type", None) != "segmentation":
            spec = None  # a --spec of another task: the table's own labels and metrics rule
        self.spec = spec
        found_labels = [str(x) for x in pd.unique(table["label"])]
        found = list(self.measure_of)
        declared_labels = [x.name for x in (spec.task.labels or [])] if spec else []
        self.labels = [x for x in declared_labels if x in found_labels] + [
            x for x in found_labels if x not in declared_labels
        ]
        declared = [m.name for m in spec.segmentation_metrics()] if spec else []
        self.metrics = [m for d in declared for m in found if self.measure_of[m][0] == d]
        self.metrics += [m for m in found if m not in self.metrics]
        self.task = SegTask(labels=tuple(self.labels))
        protocol = spec.protocol if spec else None
        if protocol is not None:
            primary = protocol.primary_metric
            self.primary_label = spec.primary_label()
            conf = protocol.confidence
            self.level = float(conf.level)
            self.spec_resamples: int | None = conf.resamples
            self.comparison = protocol.comparison
            self.models_declared = list(protocol.models)
        else:
            metrics = [self.measure_of[m][0] for m in found]
            primary = next((m for m in PREFERRED_PRIMARY if m in metrics), metrics[0])
            self.primary_label = self.labels[0]
            self.level = 0.95
            self.spec_resamples = None
            self.comparison = None
            self.models_declared = []
        #: The primary measure (the first tolerance of the primary metric).
        self.primary = next((m for m in self.metrics if self.measure_of[m][0] == primary), primary)
        self.secondary = [m for m in self.metrics if m != self.primary]
        #: Each test image is a case: the statistics average images (their runs first) and
        #: resample subjects (see :meth:`why`).
        self.unit = "image"
        self.unit_declared = protocol.unit_of_analysis if protocol is not None else None
        self.clusters = list(LEVELS)
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
        declared_breakdown = list(spec.reporting.breakdown) if spec else []
        #: Hierarchy levels the breakdowns section groups by: the spec's reporting.breakdown
        #: among them, else site and session.
        self.breakdown_levels = [
            b for b in declared_breakdown if b in BREAKDOWNS and b in table.columns
        ] or ["site", "session"]
        self.breakdown_unavailable = [b for b in declared_breakdown if b not in BREAKDOWNS]
        self.endpoints = [self.main_partition]
        self._check_protocol(declared, declared_labels, found_labels)

    # -- protocol -------------------------------------------------------------------------
    def _check_protocol(
        self, declared: list[str], declared_labels: list[str], found_labels: list[str]
    ) -> None:
        def add(kind: str, message: str, severity: str = "warning", **kw: Any) -> None:
            self.deviations.append(Deviation(kind, message, severity, **kw))

        if self.primary not in self.measure_of or self.primary_label not in found_labels:
            add(
                "metric",
                f"The primary metric {self.primary} on label {self.primary_label} is not in "
                "the case-metrics table: no primary result can be read.",
                "error",
                affects_results=True,
                short="primary metric missing",
            )
        found_metrics = {m for m, _ in self.measure_of.values()}
        for what, want, found in (
            ("metric", declared, found_metrics),
            ("label", declared_labels, set(found_labels)),
        ):
            lost = [x for x in want if x not in found]
            if lost:
                add(
                    what,
                    f"The spec declares {what}(s) {', '.join(lost)} that the case-metrics "
                    "table does not hold: they are not reported.",
                )
        if self.unit_declared not in (None, "image"):
            add(
                "unit",
                f"The protocol's unit of analysis is {self.unit_declared}; segmentation metrics "
                "are per image, so each test image is a case (its subject's images are "
                "resampled together).",
                "note",
            )
        if self.breakdown_unavailable:
            add(
                "breakdown",
                f"reporting.breakdown {', '.join(self.breakdown_unavailable)}: the "
                "segmentation sheet breaks results down by hierarchy levels only "
                f"({', '.join(BREAKDOWNS)}); not shown.",
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
            missing = sorted(set(main["image"]) - set(main.loc[main["model"] == model, "image"]))
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
    def alpha(self) -> float:
        return float(self.comparison.alpha) if self.comparison is not None else 0.05

    @property
    def comparison_kwargs(self) -> dict[str, Any]:
        return {
            "method": "paired hierarchical bootstrap of the difference of means",
            "alpha": self.alpha,
            "correction": "holm",
            "interval": self.interval,
        }

    def info(self, measure: str) -> MetricInfo:
        """Direction, units and range of a measure (``nsd@1mm`` reads ``nsd``'s)."""
        return metric_info(self.measure_of.get(measure, (measure, None))[0])

    def why(self, r: Any) -> str | None:
        """Why a result's interval cannot carry a conclusion (the classification sheet's
        rules: no or a zero-width interval, too few subjects for the bootstrap's tails, 2-3
        sites resampled), or None."""
        if self.resamples == 0:
            return "no bootstrap resamples (--resamples 0): point estimates only"
        clusters = dict(getattr(r, "clusters", {}) or {})
        view = SimpleNamespace(
            estimate=r.estimate,
            ci_low=r.ci_low,
            ci_high=r.ci_high,
            level=r.level,
            n_units=r.n_subjects,
            n_clusters=next(iter(clusters.values()), 0),
        )
        return not_estimable(view, "subject")

    # -- numbers --------------------------------------------------------------------------
    def _run(self, fn: Any, *args: Any, **kw: Any) -> Any:
        """A statistics call; its warnings are in its results (shown as footnotes)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", BrainbenchWarning)
            return fn(*args, **kw)

    def _common(self) -> dict[str, Any]:
        return {"levels": LEVELS, "n_resamples": self.resamples, "seed": self.seed}

    def _key(self, r: Any) -> tuple[str, str]:
        """(label, measure) of a statistics result."""
        tol = _tol(r.tolerance_mm)
        measure = next(
            m
            for m, (metric, t) in self.measure_of.items()
            if metric == r.metric
            and (t == tol or (t is not None and tol is not None and np.isclose(t, tol)))
        )
        return str(r.label), measure

    @cached_property
    def cases(self) -> pd.DataFrame:
        """One row per (model, partition, image, label, measure): the mean of the defined
        values over runs (NaN when none), the case's status, and its ids."""
        keys = ["model", "partition", "image", "label", "measure"]
        out = self.table.groupby(keys, sort=False).agg(
            value=("value", "mean"),
            status=("status", _status_of_runs),
            **{c: (c, "first") for c in ("subject", *BREAKDOWNS) if c in self.table.columns},
        )
        return out.reset_index()

    @cached_property
    def summaries(self) -> dict[tuple[str, str, str, str], dict[str, Any]]:
        """(partition, label, measure, model) -> {"mean": SegSummary, "median": SegSummary}."""
        out: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        for part in self.partitions:
            for statistic in seg_stats.STATISTICS:
                got = self._run(
                    seg_stats.summarise,
                    self.table,
                    statistic=statistic,
                    level=self.level,
                    partition=part,
                    **self._common(),
                )
                for r in got:
                    label, measure = self._key(r)
                    out.setdefault((part, label, measure, r.model), {})[statistic] = r
        return out

    def breakdown(self, by: str, measure: str) -> dict[tuple[str, str, str], Any]:
        """(label, group, model) -> mean of ``measure`` on the main partition within each
        ``by`` group (site: subjects resampled within it; session: sites and subjects)."""
        got = self._run(
            seg_stats.summarise,
            self.table,
            statistic="mean",
            by=(by,),
            level=self.level,
            partition=self.main_partition,
            **self._common(),
        )
        out = {}
        for r in got:
            label, m = self._key(r)
            if m == measure:
                out[label, r.group[by], r.model] = r
        return out

    @cached_property
    def comparisons(self) -> dict[tuple[str, str], list[Any]]:
        """(label, measure) -> paired comparisons of every pair of models on the main
        partition. ``p_adjusted`` is recomputed here: Holm over every row of the sheet
        (pairs x labels x measures), so that more models do not loosen the family."""
        rows = []
        for a, b in combinations(self.models, 2):
            rows += self._run(
                seg_stats.compare,
                self.table,
                a,
                b,
                level=self.level,
                alpha=self.alpha,
                partition=self.main_partition,
                **self._common(),
            )
        p = np.array([r.p_value for r in rows], dtype=float)
        adj = np.full(len(p), np.nan)
        ok = np.isfinite(p)
        if ok.any():
            adj[ok] = adjust_p_values(p[ok], "holm")
        out: dict[tuple[str, str], list[Any]] = {}
        for r, q in zip(rows, adj, strict=True):
            out.setdefault(self._key(r), []).append(
                SimpleNamespace(**{**r.__dict__, "p_adjusted": float(q)})
            )
        return {k: out[k] for k in sorted(out, key=self._order)}

    def _order(self, key: tuple[str, str]) -> tuple[int, int]:
        label, measure = key
        return self.labels.index(label), self.metrics.index(measure)

    @cached_property
    def rankings(self) -> dict[str, tuple[Any, str | None]]:
        """label -> (challengeR-style bootstrap ranking on the primary measure, or None,
        and why there is none)."""
        metric, tol = self.measure_of.get(self.primary, (self.primary, None))
        out: dict[str, tuple[Any, str | None]] = {}
        if self.resamples == 0:
            return {label: (None, "no bootstrap resamples") for label in self.labels}
        for label in self.labels:
            try:
                res = self._run(
                    seg_stats.rank_stability,
                    self.table,
                    metric=metric,
                    label=label,
                    tolerance_mm=tol,
                    partition=self.main_partition,
                    **self._common(),
                )
                out[label] = (res, None)
            except UserError as exc:
                out[label] = (None, exc.message)
        return out


__all__ = ["SegAnalysis", "SegTask"]
