"""The protocol the report follows, and the statistics it needs, computed once and shared.

:class:`Analysis` reads the spec's pre-registered protocol (or documented defaults when there is
no spec), and computes lazily, through :mod:`brainbench.report._stats`, what the sections show.
Every deviation from the protocol that the report itself makes is recorded in
:attr:`Analysis.deviations`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from brainbench.errors import UserError
from brainbench.report import _stats
from brainbench.report._run import RunData

HIERARCHY_BREAKDOWNS = ("dataset", "site", "scanner")
#: Partition name of the external-test cohorts pooled into one test set
#: (``protocol.primary_result: {on: pooled-external}``).
POOLED = "external-pooled"
#: What the calibration section reports: the Brier score, and the debiased ECE, whose point
#: estimate lies inside the percentile interval of the same estimator (the plug-in ECE is
#: biased upward, more so in bootstrap resamples).
CALIBRATION_METRICS = ("brier", "ece_debiased")
#: Unit statuses of provenance.json that mean the unit completed.
OK_STATUSES = ("ok", "done", "success", "completed")
BASELINE_PREFIX = "demographics"
DEFAULT_RESAMPLES = 2000
#: Comparison method when the spec declares none, or when its method cannot apply.
FALLBACK_METHOD = "bootstrap"


@dataclass
class Deviation:
    """A departure from the pre-registered protocol, with where it comes from."""

    kind: str  # metric, seeds, folds, failed-unit, spec-hash, epoch-cap, ...
    message: str
    #: note (an addition), warning (a departure), error (the run cannot support the protocol)
    severity: str = "warning"
    #: The models whose results it touches (empty: every model of the run).
    models: tuple[str, ...] = ()
    #: True when it changes what was trained or measured, so the claims on the models it
    #: touches say so in the key findings; ``short`` is how they name it.
    affects_results: bool = False
    short: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "severity": self.severity,
            "message": self.message,
        }
        if self.affects_results:
            out["affects"] = list(self.models) or "all models"
        return out

    def touches(self, models: tuple[str, ...] | list[str]) -> bool:
        """It bears on a claim about ``models``."""
        return self.affects_results and (not self.models or bool(set(self.models) & set(models)))


class Analysis:
    """The protocol and the numbers of one report.

    Parameters
    ----------
    run
        The run data.
    resamples
        Bootstrap resamples; None: the spec's (or 2000 without a spec). A value different from
        the spec's is a deviation.
    seed
        Seed of every bootstrap.
    """

    def __init__(self, run: RunData, *, resamples: int | None = None, seed: int = 0) -> None:
        self.run = run
        self.seed = int(seed)
        self.deviations: list[Deviation] = []
        self.engine_warnings: list[str] = []
        self.engine_errors: list[str] = []
        #: True when the task has no meaningful positive class (multi-class, no spec).
        self.positive_free = False
        spec = run.spec
        df = run.predictions
        protocol = spec.protocol if spec is not None else None
        if spec is not None:
            if spec.task.type == "classification":
                self.task = _stats.make_task("classification", spec.task.classes)
                found = {str(v) for v in pd.unique(df["y_true"])}
                unknown = sorted(found - set(self.task.classes))
                if unknown:
                    raise UserError(
                        f"The predictions' labels ({', '.join(sorted(found))}) are not the "
                        f"spec's classes ({', '.join(self.task.classes)}): "
                        f"{', '.join(unknown)} unknown. Map the labels (e.g. `brainbench "
                        "convert clinicadl --classes "
                        f"{','.join(self.task.classes)}`) or give the right --spec."
                    )
            else:
                self.task = _stats.make_task("regression")
        else:
            try:
                self.task = _stats.infer_task(df)
            except UserError:
                # A multi-class table without a spec or a score column naming a positive class:
                # balanced accuracy and accuracy need none (the score metrics are left out).
                # Two classes still need one: the sheet names sensitivity and the positive
                # class, and guessing it would swap sensitivity and specificity.
                if df["y_true"].nunique() <= 2:
                    raise
                self.task = _stats.infer_task(df, metrics=["balanced_accuracy", "accuracy"])
                self.positive_free = True
        self.is_classification = self.task.type == "classification"
        if protocol is not None:
            self.primary = protocol.primary_metric
            self.secondary = [m for m in protocol.metrics if m != self.primary]
            self.unit = protocol.unit_of_analysis
            conf = protocol.confidence
            self.ci_method, self.interval, self.level = conf.method, conf.interval, conf.level
            self.clusters = list(conf.clusters)
            self.spec_resamples: int | None = conf.resamples
            self.comparison = protocol.comparison
            self.seeds_declared: int | None = protocol.seeds
            self.models_declared = list(protocol.models)
            self.breakdown = list(spec.reporting.breakdown)
        else:
            has_score = not self.positive_free and any(
                c == "score" or c.startswith("score_") for c in df.columns
            )
            if self.is_classification:
                self.primary = "balanced_accuracy"
                self.secondary = ["auroc"] if has_score else []
            else:
                self.primary, self.secondary = "mae", ["r2"]
            self.unit = "subject" if "subject" in df.columns else "image"
            self.ci_method, self.interval, self.level = "hierarchical-bootstrap", "percentile", 0.95
            self.clusters = [c for c in ("site", "subject") if c in df.columns]
            if self.unit == "image" and "subject" not in df.columns:
                self.clusters = [c for c in self.clusters if c != "subject"]
            self.spec_resamples = None
            self.comparison = None
            self.seeds_declared = None
            self.models_declared = []
            self.breakdown = []
        self.clusters = self._usable_clusters(self.clusters)
        self.resamples = int(
            resamples
            if resamples is not None
            else (self.spec_resamples if self.spec_resamples is not None else DEFAULT_RESAMPLES)
        )
        present = list(pd.unique(df["model"]))
        order = [m for m in self.models_declared if m in present]
        self.models = order + sorted(m for m in present if m not in order)
        parts = [str(p) for p in pd.unique(df["partition"])]
        #: The internal test partition, None in external-only designs.
        self.internal: str | None = "test" if "test" in parts else None
        #: Every external-test cohort (one partition each).
        self.external = sorted(p for p in parts if p != "test")
        self._primary_endpoints(protocol.primary_result if protocol is not None else None)
        self.partitions = self.endpoints + [
            p
            for p in ([self.internal] if self.internal else []) + self.external
            if p not in self.endpoints
        ]
        self.main_partition = self.endpoints[0]
        self.baseline = next((m for m in self.models if m.startswith(BASELINE_PREFIX)), None)
        self.frame = self._with_covariates(df)
        if POOLED in self.endpoints:
            self.frame = _with_pooled(self.frame, self.external)
        self.redundant_levels: dict[str, str] = {}
        self.comparison_fallback: str | None = None
        self._check_protocol()

    # -- setup --------------------------------------------------------------------------------
    def _primary_endpoints(self, declared: Any) -> None:
        """Which partition(s) carry the primary result (``protocol.primary_result``).

        ``endpoint_mode``: ``test``, ``cohort`` (one named external cohort), ``each-external``
        (every external cohort a separate endpoint, ``endpoint_correction`` across them) or
        ``pooled-external``. Without a declaration: the internal test partition, else the one
        external cohort, else each external cohort with Holm's correction, which is then a
        deviation (the spec should have said).
        """
        self.endpoint_correction = "holm"
        mode = declared.test_set if declared is not None else None
        if declared is not None:
            self.endpoint_correction = declared.correction
        if mode == "test" and self.internal is None:
            self.deviations.append(
                Deviation(
                    "primary-result",
                    "The protocol puts the primary result on the internal test partition, but "
                    "the predictions have none: each external cohort is reported as a separate "
                    "endpoint instead.",
                    severity="error",
                    affects_results=True,
                    short="primary test set missing",
                )
            )
            mode = None
        if mode == "cohort" and declared.cohort not in self.external:
            self.deviations.append(
                Deviation(
                    "primary-result",
                    f"The protocol's primary result is on the external cohort "
                    f"'{declared.cohort}', which has no predictions.",
                    severity="error",
                    affects_results=True,
                    short=f"primary cohort {declared.cohort} missing",
                )
            )
            mode = None
        if mode in ("each-external", "pooled-external") and not self.external:
            mode = None
        if mode is None:
            if self.internal is not None:
                mode = "test"
            elif len(self.external) == 1:
                mode = "cohort"
            else:
                mode = "each-external"
                self.deviations.append(
                    Deviation(
                        "primary-result",
                        f"The protocol does not say which of the {len(self.external)} external "
                        f"cohorts ({', '.join(self.external)}) carries the primary result "
                        "(protocol.primary_result): each is reported as a separate endpoint, "
                        "with Holm's correction across them (not pre-registered).",
                    )
                )
        self.endpoint_mode = mode
        if mode == "test":
            self.endpoints = [self.internal]
        elif mode == "cohort":
            named = declared.cohort if declared is not None and declared.cohort else None
            self.endpoints = [named or self.external[0]]
        elif mode == "each-external":
            self.endpoints = list(self.external)
        else:
            self.endpoints = [POOLED]

    @property
    def endpoint_text(self) -> str:
        """The primary result's test set(s), in words."""
        if self.endpoint_mode == "test":
            return f"the internal {self.internal} partition"
        if self.endpoint_mode == "cohort":
            return f"the external cohort {self.endpoints[0]}"
        if self.endpoint_mode == "pooled-external":
            return f"the external cohorts {', '.join(self.external)} pooled ({POOLED})"
        return (
            f"each external cohort ({', '.join(self.endpoints)}) as a separate endpoint, "
            f"{self.endpoint_correction} correction across them"
        )

    def _usable_clusters(self, clusters: list[str]) -> list[str]:
        from brainbench.spec import LEVELS

        df = self.run.predictions
        depth = LEVELS.index(self.unit) if self.unit in LEVELS else len(LEVELS)
        usable = []
        for c in clusters:
            if c not in df.columns or df[c].isna().all():
                self.deviations.append(
                    Deviation(
                        "clusters",
                        f"The protocol resamples '{c}' clusters, but the predictions have no '{c}' "
                        "ids: the intervals resample the remaining levels only.",
                    )
                )
                continue
            if c in LEVELS and LEVELS.index(c) > depth:
                continue
            usable.append(c)
        return usable

    def _with_covariates(self, df: pd.DataFrame) -> pd.DataFrame:
        """The predictions with the cohort covariates the breakdowns name (sex, age group...)."""
        wanted = [b for b in self.breakdown if b not in df.columns]
        cohort = self.run.cohort
        if not wanted or cohort is None:
            return df
        keys = [k for k in ("subject", "session", "image") if k in df.columns and k in cohort]
        if not keys:
            return df
        cols = [c for c in wanted if c in cohort.columns]
        if not cols:
            return df
        extra = cohort[keys + cols].copy()
        for k in keys:
            extra[k] = extra[k].astype(str)
        extra = extra.drop_duplicates(keys)
        left = df.copy()
        for k in keys:
            left[k] = left[k].astype(str)
        merged = left.merge(extra, on=keys, how="left")
        for c in cols:
            merged[c] = merged[c].astype(object).where(merged[c].notna(), "unknown").astype(str)
        return merged

    def _check_protocol(self) -> None:
        run, df = self.run, self.run.predictions
        if self.spec_resamples is not None and self.resamples != self.spec_resamples:
            self.deviations.append(
                Deviation(
                    "resamples",
                    f"The intervals use {self.resamples} bootstrap resamples; the protocol "
                    f"declares {self.spec_resamples}."
                    + (
                        " With none, the sheet gives point estimates only: no intervals, no "
                        "bootstrap comparisons and no rank stability."
                        if self.resamples == 0
                        else ""
                    ),
                )
            )
        if run.spec is None:
            self.deviations.append(
                Deviation(
                    "no-spec",
                    "No spec: there is no pre-registered protocol. The report uses its defaults "
                    f"(primary metric {self.primary}, unit {self.unit}, clusters "
                    f"{', '.join(self.clusters) or 'none'}, {self.level:.0%} intervals).",
                )
            )
        for label, h in run.spec_hashes.items():
            if run.run_spec_sha256 and h != run.run_spec_sha256:
                self.deviations.append(
                    Deviation(
                        "spec-hash",
                        f"The spec hash does not match: the run was made with spec sha256 "
                        f"{run.run_spec_sha256[:12]}..., but {label} has sha256 {h[:12]}.... "
                        "The predictions may not follow this protocol.",
                        severity="error",
                    )
                )
        hashes = set(run.spec_hashes.values())
        if len(hashes) > 1 and not run.run_spec_sha256:
            self.deviations.append(
                Deviation(
                    "spec-hash",
                    "The --spec given differs from the spec stored in the run.",
                    severity="error",
                )
            )
        for m in self.models_declared:
            if m not in self.models:
                self.deviations.append(
                    Deviation(
                        "model-missing",
                        f"Model '{m}' is declared in the protocol but has no predictions.",
                        severity="error",
                        affects_results=True,
                        short=f"model {m} missing",
                    )
                )
        for m in self.models:
            if self.models_declared and m not in self.models_declared:
                self.deviations.append(
                    Deviation(
                        "model-extra", f"Model '{m}' has predictions but is not in the protocol."
                    )
                )
        main = df[df["partition"] == self.main_partition]
        all_splits = set(map(tuple, main[["repeat", "fold"]].drop_duplicates().to_numpy()))
        if run.splits is not None and {"repeat", "fold"} <= set(run.splits.columns):
            all_splits |= set(
                map(tuple, run.splits[["repeat", "fold"]].drop_duplicates().astype(int).to_numpy())
            )
        for m in self.models:
            rows = main[main["model"] == m]
            if rows.empty:
                self.deviations.append(
                    Deviation(
                        "partition-missing",
                        f"Model '{m}' has no predictions on the {self.main_partition} partition.",
                        severity="error",
                    )
                )
                continue
            splits = set(map(tuple, rows[["repeat", "fold"]].drop_duplicates().to_numpy()))
            lacking = sorted(all_splits - splits)
            if lacking:
                names = ", ".join(f"repeat {r} fold {f}" for r, f in lacking)
                self.deviations.append(
                    Deviation(
                        "folds",
                        f"Model '{m}' lacks predictions for {names}: its estimate averages "
                        f"{len(splits)} of {len(all_splits)} splits.",
                        severity="error",
                        models=(m,),
                        affects_results=True,
                        short=f"missing splits of {m}",
                    )
                )
            seeds = rows.groupby(["repeat", "fold"])["seed"].nunique()
            if self.seeds_declared is not None and seeds.min() < self.seeds_declared:
                self.deviations.append(
                    Deviation(
                        "seeds",
                        f"Model '{m}' has {_span(seeds)} seed(s) per split; the protocol "
                        f"declares {self.seeds_declared}.",
                        severity="error",
                        models=(m,),
                        affects_results=True,
                        short=f"fewer seeds of {m}",
                    )
                )
        for u in run.units:
            if str(u.get("status", "ok")).lower() not in OK_STATUSES:
                self.deviations.append(
                    Deviation(
                        "failed-unit",
                        f"Unit {u.get('model')} repeat {u.get('repeat', 0)} fold {u.get('fold')} "
                        f"seed {u.get('seed')} {u.get('status')}"
                        + (f": {u.get('error')}" if u.get("error") else "")
                        + (f" (log: {u.get('log')})" if u.get("log") else "")
                        + ".",
                        severity="error",
                        models=(str(u.get("model")),),
                        affects_results=True,
                        short=f"failed units of {u.get('model')}",
                    )
                )
        self.deviations.extend(run_deviations(self.run, main, self.main_partition))
        if run.spec is not None and self.has_probabilities:
            declared = {self.primary, *self.secondary}
            for m in CALIBRATION_METRICS:
                if m not in declared:
                    self.deviations.append(
                        Deviation(
                            "metric",
                            f"{m} is reported in the calibration section but is not among the "
                            "protocol's metrics (a description, not a pre-registered endpoint).",
                        )
                    )
        if len(self.models) > 1 and run.spec is not None:
            self.deviations.append(
                Deviation(
                    "descriptive",
                    "Bootstrap ranks and Kendall's tau (ranking section) and the spreads of the "
                    "variance section are descriptive additions, not pre-registered tests.",
                    severity="note",
                )
            )
        v = run.validation
        if v is not None and not v.get("valid", True):
            n = sum(1 for f in v.get("findings", []) if f.get("severity") == "error")
            self.deviations.append(
                Deviation(
                    "leakage-audit",
                    f"The spec did not pass validation ({n} error finding(s)): see the leakage "
                    "audit.",
                    severity="error",
                )
            )
        if self.comparison is None and len(self.models) > 1 and run.spec is not None:
            self.deviations.append(
                Deviation(
                    "comparison",
                    "The protocol declares no model comparison; the report compares the models "
                    "with a paired hierarchical bootstrap of the difference (Holm-corrected), "
                    "which is not pre-registered.",
                )
            )

    # -- comparison protocol ---------------------------------------------------------------
    @property
    def comparison_method(self) -> str:
        """The method applied: the protocol's, unless it cannot apply (see :meth:`_compare`)."""
        if self.comparison_fallback is not None:
            return FALLBACK_METHOD
        return self.comparison.method if self.comparison is not None else FALLBACK_METHOD

    def _compare(self, frame: pd.DataFrame, pairs: list[tuple[str, str]]) -> _stats.Collected:
        """Paired comparisons with the protocol's method; when the engine says that method
        cannot apply to these predictions (e.g. a test over folds with a single split), the
        paired hierarchical bootstrap instead, recorded as a deviation."""
        got = _stats.compare(frame, self.primary, pairs, **self._common(), **self.comparison_kwargs)
        if got.results or not got.errors or self.comparison_method == FALLBACK_METHOD:
            return got
        reason = got.errors[0]
        self.comparison_fallback = reason
        self.deviations.append(
            Deviation(
                "comparison-method",
                f"The protocol's comparison method {self.comparison.method} cannot be applied to "
                f"these predictions ({reason}). The report compares the models with the paired "
                "hierarchical bootstrap of the difference instead (not pre-registered).",
            )
        )
        return _stats.compare(
            frame, self.primary, pairs, **self._common(), **self.comparison_kwargs
        )

    @property
    def comparison_kwargs(self) -> dict[str, Any]:
        c = self.comparison
        out = {
            "method": self.comparison_method,
            "alpha": c.alpha if c is not None else 0.05,
            "correction": c.correction if c is not None else "holm",
            "margin": c.margin if c is not None else 0.0,
            "hypothesis": c.hypothesis if c is not None else "superiority",
            "interval": self.interval,
        }
        if c is not None and c.rope is not None:
            out["rope"] = c.rope
        return out

    def _common(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "unit": self.unit,
            "clusters": self.clusters,
            "level": self.level,
            "resamples": self.resamples,
            "seed": self.seed,
        }

    def _ci(self) -> dict[str, Any]:
        return {**self._common(), "method": self.ci_method, "interval": self.interval}

    def _note(self, collected: _stats.Collected, where: str) -> _stats.Collected:
        for w in collected.warnings:
            msg = f"{where}: {w}"
            if msg not in self.engine_warnings:
                self.engine_warnings.append(msg)
        for e in collected.errors:
            msg = f"{where}: {e}"
            if msg not in self.engine_errors:
                self.engine_errors.append(msg)
        return collected

    # -- results ----------------------------------------------------------------------------
    @cached_property
    def overall(self) -> _stats.Collected:
        """Every metric of every model on every partition, with intervals."""
        return self._note(
            _stats.evaluate(
                self.frame,
                [self.primary, *self.secondary],
                partitions=self.partitions,
                models=self.models,
                **self._ci(),
            ),
            "metrics",
        )

    def result(self, model: str, metric: str, partition: str | None = None) -> Any:
        partition = partition or self.main_partition
        for r in self.overall.results:
            if (
                r.model == model
                and r.metric == metric
                and r.partition == partition
                and not (r.group)
            ):
                return r
        return None

    @cached_property
    def breakdown_levels(self) -> list[str]:
        """Levels to break the primary metric down by (redundant ones left out, see
        :attr:`redundant_levels`)."""
        levels = [c for c in HIERARCHY_BREAKDOWNS if c in self.frame.columns]
        for b in self.breakdown:
            if b in self.frame.columns and b not in levels:
                levels.append(b)
        out = []
        f = self.frame
        for lv in levels:
            if f[lv].isna().all():
                continue
            per_part = f.groupby("partition")[lv].nunique(dropna=False)
            if (per_part <= 1).all():
                self.redundant_levels[lv] = (
                    f"one {lv} per partition: the per-partition results (section 5) say it all"
                )
                continue
            twin = next((o for o in out if _same_grouping(f, lv, o)), None)
            if twin is not None:
                self.redundant_levels[lv] = f"the {lv} groups coincide with the {twin} groups"
                continue
            out.append(lv)
        return out

    @cached_property
    def missing_breakdowns(self) -> list[str]:
        return [b for b in self.breakdown if b not in self.frame.columns]

    @cached_property
    def breakdowns(self) -> dict[str, _stats.Collected]:
        """The primary metric per group of each breakdown level, every partition."""
        out = {}
        for level in self.breakdown_levels:
            frame = self.frame
            if frame[level].isna().any():
                frame = frame.copy()
                frame[level] = frame[level].astype(object).where(frame[level].notna(), "unknown")
            out[level] = self._note(
                _stats.evaluate(
                    frame,
                    [self.primary],
                    groupby=[level],
                    partitions=self.partitions,
                    models=self.models,
                    **self._ci(),
                ),
                f"per {level}",
            )
        return out

    def _compare_on(self, partitions: list[str], pairs: list[tuple[str, str]]) -> _stats.Collected:
        """The pairs compared on each partition; on several primary endpoints
        (``each-external``), the p-values of the endpoints' comparisons are adjusted together
        with ``endpoint_correction`` (one family: pairs x endpoints) and decided again."""
        out = _stats.Collected()
        for part in partitions:
            got = self._compare(self.frame[self.frame["partition"] == part], pairs)
            out.results.extend(dataclasses.replace(r, partition=part) for r in got.results)
            out.warnings.extend(got.warnings)
            out.errors.extend(got.errors)
        family = [i for i, r in enumerate(out.results) if r.partition in self.endpoints]
        if len(self.endpoints) > 1 and family:
            kw = self.comparison_kwargs
            adj = _stats.adjust_p_values(
                [out.results[i].p_value for i in family], self.endpoint_correction
            )
            for i, pa in zip(family, adj, strict=True):
                r = dataclasses.replace(
                    out.results[i],
                    p_adjusted=float(pa) if np.isfinite(pa) else None,
                    correction=f"{self.endpoint_correction} over pairs x endpoints",
                )
                out.results[i] = dataclasses.replace(
                    r,
                    decision=_stats.decide(
                        r, alpha=kw["alpha"], margin=kw["margin"], hypothesis=kw["hypothesis"]
                    ),
                )
        return out

    @cached_property
    def comparisons(self) -> _stats.Collected:
        """All pairs of models on each primary endpoint, best-estimate first in each pair."""
        models = self.ranked_models
        if len(models) < 2:
            return _stats.Collected()
        return self._note(self._compare_on(self.endpoints, _stats.all_pairs(models)), "comparisons")

    @cached_property
    def baseline_comparisons(self) -> _stats.Collected:
        """Each model against the demographics-only baseline, on every partition."""
        if self.baseline is None:
            return _stats.Collected()
        pairs = [(m, self.baseline) for m in self.models if m != self.baseline]
        if not pairs:
            return _stats.Collected()
        return self._note(self._compare_on(self.partitions, pairs), "confound baseline")

    @cached_property
    def ranked_models(self) -> list[str]:
        """Models ordered by their primary estimate on the main partition (best first)."""
        metric = _stats.get_metric(self.primary)

        def key(m: str) -> tuple[int, float, str]:
            r = self.result(m, self.primary)
            est = r.estimate if r is not None and _stats.finite(r.estimate) else None
            if est is None:
                return (1, 0.0, m)
            return (0, -est if metric.higher_is_better else est, m)

        return sorted(self.models, key=key)

    @cached_property
    def ranks(self) -> tuple[dict | None, list[str]]:
        if len(self.models) < 2:
            return None, ["a ranking needs at least two models"]
        res, notes = _stats.rank_stability(
            self.frame[self.frame["partition"] == self.main_partition],
            self.primary,
            models=self.ranked_models,
            **self._common(),
        )
        for n in notes:
            msg = f"ranking: {n}"
            if msg not in self.engine_warnings:
                self.engine_warnings.append(msg)
        return res, notes

    @cached_property
    def runs(self) -> pd.DataFrame:
        """The primary metric per run (model, partition, repeat, fold, seed)."""
        try:
            return _stats.per_run(
                self.frame,
                self.primary,
                task=self.task,
                unit=self.unit,
                partitions=self.partitions,
                models=self.models,
            )
        except UserError as exc:
            self.engine_errors.append(f"per-run metrics: {exc.message}")
            return pd.DataFrame(
                columns=["model", "partition", "repeat", "fold", "seed", "estimate"]
            )

    @cached_property
    def has_probabilities(self) -> bool:
        if not self.is_classification or self.positive_free:
            return False
        score = _stats.positive_score(self.frame, self.task)
        return score is not None and bool(np.all((score >= 0) & (score <= 1)))

    @cached_property
    def calibration(self) -> _stats.Collected:
        if not self.has_probabilities:
            return _stats.Collected()
        return self._note(
            _stats.evaluate(
                self.frame,
                list(CALIBRATION_METRICS),
                partitions=self.partitions,
                models=self.models,
                **self._ci(),
            ),
            "calibration",
        )


def run_deviations(run: RunData, main: pd.DataFrame, main_partition: str) -> list[Deviation]:
    """What ``brainbench run`` was told that departs from the spec, read from
    provenance.json: an epoch cap (--max-epochs), hyper-parameter overrides (--hp), mixed
    precision off on CUDA (--no-amp), fewer seeds (--seeds) or splits than declared, units
    run on different devices, and the deviations the runner's audit recorded itself."""
    out: list[Deviation] = []
    spec = run.spec
    for prov in run.provenance:
        cap = prov.get("max_epochs")
        capped = _capped_models(prov, cap) if cap is not None else ()
        if capped is None or capped:
            which = "the models that train by epochs" if capped is None else ", ".join(capped)
            out.append(
                Deviation(
                    "epoch-cap",
                    f"Training was capped at {cap} epoch(s) (--max-epochs {cap}): {which} "
                    "may be under-trained; the results are not those of the registry "
                    "entries' training schedules.",
                    models=capped or (),
                    affects_results=True,
                    short=f"epochs capped at {cap}",
                )
            )
        for model, values in sorted((prov.get("hyperparameters") or {}).items()):
            if values:
                given = ", ".join(f"{k}={v}" for k, v in sorted(values.items()))
                out.append(
                    Deviation(
                        "hyperparameters",
                        f"{model} was trained with hyper-parameters overridden on the "
                        f"command line (--hp {given}), not its registry entry's.",
                        models=(str(model),),
                        affects_results=True,
                        short=f"--hp {given} for {model}",
                    )
                )
        device = prov.get("device") or {}
        if device.get("type") == "cuda" and prov.get("amp") is False:
            out.append(
                Deviation(
                    "amp",
                    "Mixed precision was off on CUDA (--no-amp): the models trained in "
                    "float32, unlike the registry entries' default.",
                    severity="note",
                    affects_results=True,
                    short="AMP off",
                )
            )
        seeds = (prov.get("seeds") or {}) if isinstance(prov.get("seeds"), dict) else {}
        count = seeds.get("count")
        if spec is not None and count is not None and count < spec.protocol.seeds:
            out.append(
                Deviation(
                    "seeds",
                    f"The run was made with {count} seed(s) per model and split (--seeds); "
                    f"the protocol declares {spec.protocol.seeds}.",
                    severity="error",
                    affects_results=True,
                    short=f"{count} of {spec.protocol.seeds} seeds",
                )
            )
        # What the runner's own audit recorded (a target-proxy covariate withheld, L107; a
        # waived pretraining on a tested cohort, L104), each with the models it touched.
        for d in prov.get("deviations") or []:
            if not isinstance(d, dict) or not d.get("message"):
                continue
            models = tuple(str(m) for m in d.get("models") or [])
            out.append(
                Deviation(
                    str(d.get("kind") or "run"),
                    f"{d['message']} (rule {d.get('rule')}, recorded by the run)."
                    if d.get("rule")
                    else f"{d['message']} (recorded by the run).",
                    models=models,
                    affects_results=bool(models),
                    short=str(d.get("kind") or "run deviation")
                    + (f" ({', '.join(models)})" if models else ""),
                )
            )
    devices: dict[str, set[str]] = {}
    for u in run.units:
        if str(u.get("status", "")).lower() in OK_STATUSES and u.get("device"):
            devices.setdefault(str(u["device"]), set()).add(str(u.get("model")))
    if len(devices) > 1:
        models = sorted({m for ms in devices.values() for m in ms})
        out.append(
            Deviation(
                "devices",
                "The units ran on different devices ("
                + "; ".join(f"{d}: {', '.join(sorted(ms))}" for d, ms in sorted(devices.items()))
                + "): results may differ by device (non-deterministic kernels, precision).",
                models=tuple(models),
                affects_results=True,
                short="units on different devices",
            )
        )
    expected = _declared_splits(spec)
    got = len(main[["repeat", "fold"]].drop_duplicates()) if len(main) else 0
    if expected is not None and 0 < got < expected:
        out.append(
            Deviation(
                "folds",
                f"The predictions hold {got} training split(s) (repeat x fold) on "
                f"{main_partition}; the spec's splits declare {expected}.",
                severity="error",
                affects_results=True,
                short=f"{got} of {expected} splits",
            )
        )
    return out


def _capped_models(prov: dict[str, Any], cap: int) -> tuple[str, ...] | None:
    """The run's models whose registry recipe trains more than ``cap`` epochs (the cap changed
    them; models without a recipe, such as scikit-learn ones, are untouched); None when an
    entry cannot be read (then every model is taken as touched)."""
    from brainbench.errors import UserError
    from brainbench.registry.entries import find_entry

    root = prov.get("registry_root")
    out = []
    for m in prov.get("models") or []:
        try:
            entry = find_entry(str(m.get("id")), Path(root) if root else None).entry
        except (UserError, OSError):
            return None
        training = getattr(entry, "training", None)
        if training is not None and training.epochs > cap:
            out.append(str(m.get("id")))
    return tuple(out)


def _declared_splits(spec: Any) -> int | None:
    """The (repeat, fold) training splits the spec's split protocol makes, None when it depends
    on the data (leave-group-out)."""
    if spec is None:
        return None
    test, val = spec.splits.test, spec.splits.validation
    if test.method == "kfold":
        per = test.folds
    elif test.method == "leave-group-out":
        return None
    else:
        per = val.folds if val.method == "kfold" and val.folds else 1
    return int(per) * int(spec.splits.repeats)


def _with_pooled(frame: pd.DataFrame, external: list[str]) -> pd.DataFrame:
    """The frame plus the external cohorts' rows once more as one partition, :data:`POOLED`.

    Cluster ids are prefixed with the cohort, so that two cohorts' sites or subjects with the
    same name stay distinct clusters of the pooled bootstrap.
    """
    rows = frame[frame["partition"].isin(external)].copy()
    for c in ("dataset", "site", "scanner", "subject", "session", "image"):
        if c in rows.columns:
            rows[c] = (rows["partition"].astype(str) + "/" + rows[c].astype(str)).where(
                rows[c].notna(), rows[c]
            )
    rows["partition"] = POOLED
    return pd.concat([frame, rows], ignore_index=True)


def _same_grouping(f: pd.DataFrame, a: str, b: str) -> bool:
    """True when the two columns define the same partition of the rows."""
    pairs = f[[a, b]].astype(str).drop_duplicates()
    return bool(pairs[a].is_unique and pairs[b].is_unique)


def _span(counts: pd.Series) -> str:
    lo, hi = int(counts.min()), int(counts.max())
    return str(lo) if lo == hi else f"{lo} to {hi}"
