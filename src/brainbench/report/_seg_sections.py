"""The sections of the segmentation evidence sheet.

The sheet keeps the classification sheet's sections about the run (identity, protocol and
deviations, leakage audit, provenance: the same builders, fed a
:class:`~brainbench.report._seg_analysis.SegAnalysis`), its claims table and its key findings
box, and replaces the results with per-case ones: per-label summaries, breakdowns by site and
session, per-case plots, the worst and the empty cases with their ids, paired comparisons and
the ranking's stability.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from brainbench.report import _seg_figures
from brainbench.report._claims import (
    NOT_ESTIMABLE,
    NOT_SUPPORTED,
    SUPPORTED,
    Claim,
    claims_tables,
    distinct_resamples,
)
from brainbench.report._context import Footnotes, ReportContext, interval, num, pct, pval
from brainbench.report._figures import blob_plot
from brainbench.report._model import UNAVAILABLE, Section, Table
from brainbench.report._sections_meta import audit, identity, protocol, provenance

#: Worst cases listed per model and label.
WORST = 5
STATUS_WORDS = {
    "empty-reference": "empty reference",
    "empty-prediction": "empty prediction",
    "both-empty": "both empty",
}


def _metric_head(ctx: ReportContext, metric: str) -> str:
    info = ctx.analysis.info(metric)
    return f"{metric} ({info.units}; {info.direction})"


def _estimate(ctx: ReportContext, s: Any, notes: Footnotes) -> str:
    """``estimate [low, high]``, or the estimate and why its interval is not estimable; the
    statistics' warnings as footnotes."""
    if s is None or s.n_cases == 0:
        return "n/a"
    why = ctx.analysis.why(s)
    if why:
        return f"{num(s.estimate)} (interval not estimable {notes.mark([why])})"
    cell = f"{num(s.estimate)} {interval(s.ci_low, s.ci_high)}"
    if s.warnings:
        cell += f" {notes.mark(list(s.warnings))}"
    return cell


def _cells(ctx: ReportContext, got: dict[str, Any], notes: Footnotes) -> list[str]:
    """Mean and median with their intervals, cases, subjects and sites of one model."""
    mean = got["mean"]
    return [
        _estimate(ctx, mean, notes),
        _estimate(ctx, got["median"], notes),
        str(mean.n_cases),
        str(mean.n_subjects),
        str(mean.n_sites),
    ]


def _data(ctx: ReportContext, got: dict[str, Any]) -> dict[str, Any]:
    """A model's mean and median summaries, JSON-ready, each with why it is not estimable."""
    return {k: {**r.to_dict(), "not_estimable": ctx.analysis.why(r)} for k, r in got.items()}


# ---------------------------------------------------------------------------------------------
def labels(ctx: ReportContext, sec: Section) -> Section:
    """Per label: every metric of every model, mean and median with their intervals, the
    counts, and the empty cases with how they entered."""
    an = ctx.analysis
    lvl = f"{an.level:.0%}"
    sec.text.append(
        f"Each case is one test image; a case scored in several runs (repeats, seeds) takes "
        f"the mean of its runs. Means and medians of the cases on the {an.main_partition} "
        f"partition, with {lvl} percentile intervals from {an.resamples} hierarchical "
        "bootstrap resamples: sites, then subjects within sites (all of a subject's sessions "
        "kept together); with fewer than 4 sites only subjects are resampled, within each "
        "site, and the interval is conditional on these sites (brainbench.segmentation."
        "statistics)."
    )
    sec.text.append(
        "Empty masks follow Metrics Reloaded (Maier-Hein et al. 2024): a case with an empty "
        "reference or an empty prediction enters with the value the metric defines for it "
        "(the notes under each table say which); a value the metric leaves undefined (e.g. "
        "the relative volume error of an empty reference) is left out of the estimate and "
        "counted under 'Left out'. The empty cases are listed with their ids in the "
        "worst-cases section."
    )
    data: dict[str, Any] = {}
    for label in an.labels:
        notes = Footnotes()
        rows = []
        for measure in an.metrics:
            for model in an.models:
                got = an.summaries.get((an.main_partition, label, measure, model))
                if got is None:
                    continue
                mean = got["mean"]
                counts = mean.status_counts
                empty = sum(v for k, v in counts.items() if k != "ok")
                how = notes.mark([mean.empty_handling]) if empty else ""
                rows.append(
                    [
                        _metric_head(ctx, measure),
                        model,
                        *_cells(ctx, got, notes),
                        str(counts.get("empty-reference", 0)),
                        str(counts.get("empty-prediction", 0)),
                        str(counts.get("both-empty", 0)),
                        f"{empty - mean.n_undefined} {how}".strip(),
                        str(mean.n_undefined),
                    ]
                )
                data.setdefault(label, {}).setdefault(measure, {})[model] = _data(ctx, got)
        sec.tables.append(
            Table(
                f"label-{label}",
                f"Label {label}: per-case metrics on {an.main_partition}",
                [
                    "Metric",
                    "Model",
                    f"Mean [{lvl} CI]",
                    f"Median [{lvl} CI]",
                    "Cases",
                    "Subjects",
                    "Sites",
                    "Empty reference",
                    "Empty prediction",
                    "Both empty",
                    "Empty, in the estimate",
                    "Left out (undefined)",
                ],
                rows,
                notes=notes.notes(),
            )
        )
    external = _other_partitions(ctx, sec)
    sec.data = {"partition": an.main_partition, "labels": data, "other_partitions": external}
    return sec


def _other_partitions(ctx: ReportContext, sec: Section) -> dict[str, Any]:
    """The primary metric's mean and median on every other test partition (external-test
    cohorts), per label and model, as a table of the labels section."""
    an = ctx.analysis
    others = [p for p in an.partitions if p != an.main_partition]
    if not others:
        return {}
    lvl = f"{an.level:.0%}"
    notes = Footnotes()
    rows, data = [], {}
    for part in others:
        for label in an.labels:
            for model in an.models:
                got = an.summaries.get((part, label, an.primary, model))
                if got is None:
                    continue
                rows.append(
                    [
                        part,
                        label,
                        model,
                        *_cells(ctx, got, notes),
                    ]
                )
                data.setdefault(part, {}).setdefault(label, {})[model] = _data(ctx, got)
    sec.tables.append(
        Table(
            "other-partitions",
            f"{_metric_head(ctx, an.primary)} on the other test sets",
            ["Test set", "Label", "Model", f"Mean [{lvl} CI]", f"Median [{lvl} CI]", "Cases",
             "Subjects", "Sites"],
            rows,
            notes=notes.notes(),
        )
    )  # fmt: skip
    return data
    return sec


# ---------------------------------------------------------------------------------------------
def breakdowns(ctx: ReportContext, sec: Section) -> Section:
    """The primary metric's mean per group of each breakdown level (the spec's
    reporting.breakdown, default site and session), per label and model."""
    an = ctx.analysis
    lvl = f"{an.level:.0%}"
    sec.text.append(
        f"Mean {an.primary} per {' and per '.join(an.breakdown_levels)} on "
        f"{an.main_partition}, each with a {lvl} interval from resampling the subjects of "
        "that group (and its sites, for a level other than site). Groups with few subjects "
        "give wide or not estimable intervals; a difference between groups is descriptive "
        "(sites differ in cases as well as scanners)."
    )
    data: dict[str, Any] = {}
    for by in an.breakdown_levels:
        word = by.capitalize()
        groups = sorted(an.cases[by].unique())
        if len(groups) < 2:
            sec.text.append(
                f"One {by} only ({groups[0] if groups else 'none'}): no {by} breakdown."
            )
            continue
        got = an.breakdown(by, an.primary)
        notes = Footnotes()
        rows = [
            [label, g, m, _estimate(ctx, s, notes), str(s.n_cases), str(s.n_subjects)]
            for (label, g, m), s in sorted(
                got.items(), key=lambda kv: (an.labels.index(kv[0][0]), kv[0][1], kv[0][2])
            )
        ]
        sec.tables.append(
            Table(
                f"by-{by}",
                f"{_metric_head(ctx, an.primary)} by {by}",
                ["Label", word, "Model", f"Mean [{lvl} CI]", "Cases", "Subjects"],
                rows,
                notes=notes.notes(),
            )
        )
        data[by] = {f"{k[0]}/{k[1]}/{k[2]}": v.to_dict() for k, v in got.items()}
    sec.data = data
    return sec


# ---------------------------------------------------------------------------------------------
def cases(ctx: ReportContext, sec: Section) -> Section:
    """Box and dot plots of the per-case values, one figure per label, one panel per metric."""
    an = ctx.analysis
    c = an.cases[an.cases["partition"] == an.main_partition]
    for i, label in enumerate(an.labels):
        panels = []
        for metric in an.metrics:
            sel = c[(c["label"] == label) & (c["measure"] == metric)]
            info = an.info(metric)
            values = {m: sel.loc[sel["model"] == m, "value"].to_numpy(float) for m in an.models}
            panels.append((f"{metric} ({info.direction})", f"{metric} ({info.units})", values))
        medians = "; ".join(
            f"{m} median {an.primary} "
            + num(an.summaries[an.main_partition, label, an.primary, m]["median"].estimate)
            for m in an.models
            if (an.main_partition, label, an.primary, m) in an.summaries
        )
        fig = _seg_figures.case_dots(panels, an.models, seed=an.seed)
        sec.figures.append(
            ctx.figures.save(
                fig,
                f"cases_{i + 1}",
                f"Per-case metrics, label {label}",
                alt=f"Box and dot plots of every case's {', '.join(an.metrics)} for label "
                f"{label}, one box per model: {medians}.",
                caption="Each dot is one test case (jittered sideways); boxes: quartiles, "
                "whiskers: 1.5 IQR. Undefined values (empty masks) are not drawn.",
            )
        )
    sec.text.append(
        "The spread of the cases shows what a mean hides: a few failures (the worst cases "
        "below) can pull a mean far from the median."
    )
    return sec


# ---------------------------------------------------------------------------------------------
def _ids(row: pd.Series) -> list[str]:
    return [str(row["subject"]), str(row["session"]), str(row["image"]), str(row["site"])]


def worst(ctx: ReportContext, sec: Section) -> Section:
    """The worst cases of every model on the primary metric, and every empty case."""
    an = ctx.analysis
    info = an.info(an.primary)
    c = an.cases[an.cases["partition"] == an.main_partition]
    sel = c[(c["measure"] == an.primary) & c["value"].notna()].copy()
    sel["_key"] = np.asarray(info.order_key(sel["value"].to_numpy(float)))
    rows, data = [], []
    for label in an.labels:
        for model in an.models:
            mine = sel[(sel["label"] == label) & (sel["model"] == model)]
            for _, r in mine.sort_values(["_key", "image"]).head(WORST).iterrows():
                rows.append([label, model, *_ids(r), num(r["value"]), str(r["status"])])
                data.append(
                    {
                        "label": label,
                        "model": model,
                        "subject": r["subject"],
                        "session": r["session"],
                        "image": r["image"],
                        "site": r["site"],
                        "value": r["value"],
                        "status": r["status"],
                    }
                )
    sec.tables.append(
        Table(
            "worst",
            f"The {WORST} worst cases of each model on {_metric_head(ctx, an.primary)}",
            ["Label", "Model", "Subject", "Session", "Image", "Site", an.primary, "Status"],
            rows,
        )
    )
    empty = c[c["status"] != "ok"]
    erows, edata = [], []
    for (label, model, image), g in empty.groupby(["label", "model", "image"], sort=True):
        first = g.iloc[0]
        values = "; ".join(
            f"{m} {num(v)}" if np.isfinite(v) else f"{m} undefined (left out)"
            for m, v in zip(g["measure"], g["value"], strict=True)
        )
        status = STATUS_WORDS.get(str(first["status"]), str(first["status"]))
        erows.append([label, model, *_ids(first), status, values])
        edata.append({"label": label, "model": model, "image": image, "status": first["status"]})
    sec.tables.append(
        Table(
            "empty",
            "Cases with an empty reference or an empty prediction, and the value each metric "
            "gave them",
            ["Label", "Model", "Subject", "Session", "Image", "Site", "Status", "Values"],
            erows,
        )
    )
    closest = getattr(info, "closest_to", None)
    word = (
        f"farthest from {closest:g}"
        if closest is not None
        else ("lowest" if info.higher_is_better else "highest")
    )
    sec.text.append(
        f"For {an.primary} ({info.direction}) the worst cases are those with the {word} "
        "values. Look at these images before trusting a summary: a failure may be an "
        "artefact, a mislabelled reference or a real weakness of the model."
    )
    sec.data = {"worst": data, "empty": edata}
    return sec


# ---------------------------------------------------------------------------------------------
def _comparison_text(r: Any, measure: str, info: Any, alpha: float) -> str:
    """A comparison in words, oriented by the metric's direction; a signed error best at 0
    is read on the difference of the absolute means (which model's bias is closer to 0)."""
    lvl = f"{r.level:.0%}"
    if not np.isfinite(r.ci_low):
        return f"{r.a} vs {r.b}: no interval could be computed."
    if getattr(info, "closest_to", None) is not None:
        lo, hi = r.abs_ci_low, r.abs_ci_high
        ci = interval(lo, hi)
        if lo is not None and np.isfinite(lo) and (lo > 0 or hi < 0):
            closer, other = (r.b, r.a) if lo > 0 else (r.a, r.b)
            return (
                f"{closer}'s mean {measure} is closer to {info.closest_to:g} than {other}'s: "
                f"the {lvl} CI of |mean {r.a}| - |mean {r.b}|, {ci}, excludes 0 (not "
                "adjusted for multiplicity)."
            )
        return (
            f"{r.a} and {r.b} are not shown to differ in how close their mean {measure} is to "
            f"{info.closest_to:g}: the {lvl} CI of |mean {r.a}| - |mean {r.b}| is {ci}."
        )
    ci = interval(r.ci_low, r.ci_high)
    gain_lo, gain_hi = sorted((float(info.gain(r.ci_low)), float(info.gain(r.ci_high))))
    # The interval of the gain (positive: a better) excludes 0 on one side.
    better = r.a if gain_lo > 0 else r.b if gain_hi < 0 else None
    p = f"Holm-adjusted p = {pval(r.p_adjusted)}"
    if better is not None and r.p_adjusted < alpha:
        worse = r.b if better == r.a else r.a
        return (
            f"{better} is better than {worse} on {measure} ({info.direction}): the {lvl} CI of "
            f"the difference {r.a} - {r.b}, {ci}, excludes 0 ({p})."
        )
    return (
        f"{r.a} and {r.b} are not shown to differ on {measure}: the {lvl} CI of the "
        f"difference {r.a} - {r.b} is {ci} ({p})."
    )


def comparisons(ctx: ReportContext, sec: Section) -> Section:
    """Paired comparisons of every pair of models, per label and metric, Holm-adjusted."""
    an = ctx.analysis
    lvl = f"{an.level:.0%}"
    if len(an.models) < 2:
        sec.status = UNAVAILABLE
        sec.missing.append("a second model: one model has nothing to be compared with")
        return sec
    sec.text.append(
        "Each pair of models is compared on the cases both scored: the mean of the per-case "
        f"differences A - B, its {lvl} interval from the same hierarchical bootstrap (one "
        "resample of the subjects for both models), the bootstrap p-value and Holm's "
        f"correction over every row of the table (alpha {an.alpha:g}). A signed error best "
        "at 0 (volume error) is read on |mean A| - |mean B|: the difference of two biases "
        "does not say which is closer to 0."
    )
    m = sum(len(v) for v in an.comparisons.values())
    p_min = 2 / (an.resamples + 1)
    if an.resamples == 0:
        sec.text.append(
            "No bootstrap resamples (--resamples 0): the differences are point estimates, "
            "without interval or p-value."
        )
    elif m and m * p_min >= an.alpha:
        sec.text.append(
            f"With {an.resamples} resamples the smallest bootstrap p-value is {p_min:.3f}, so "
            f"Holm's correction over {m} rows cannot go below {min(1.0, m * p_min):.3f}: no "
            f"difference can be declared at alpha {an.alpha:g}. Rerun the report with more "
            f"resamples (--resamples {int(np.ceil(2 * m / an.alpha))} or more)."
        )
    rows, data = [], []
    notes = Footnotes()
    for (label, metric), results in an.comparisons.items():
        info = an.info(metric)
        for r in results:
            why = an.why(r)
            text = _comparison_text(r, metric, info, an.alpha)
            rows.append(
                [
                    label,
                    _metric_head(ctx, metric),
                    f"{r.a} - {r.b}",
                    f"{num(r.estimate)} {interval(r.ci_low, r.ci_high)}"
                    + (f" {notes.mark([why])}" if why else ""),
                    pval(r.p_value),
                    pval(r.p_adjusted),
                    str(r.n_cases),
                    text,
                ]
            )
            data.append(
                {**vars(r), "label": label, "measure": metric, "not_estimable": why, "text": text}
            )
    sec.tables.append(
        Table(
            "pairs",
            f"Paired differences on {an.main_partition}",
            [
                "Label",
                "Metric",
                "Difference",
                f"Estimate [{lvl} CI]",
                "p",
                "Holm p",
                "Cases",
                "Reading",
            ],
            rows,
            notes=notes.notes(),
        )
    )
    sec.data = {"comparisons": data}
    return sec


# ---------------------------------------------------------------------------------------------
def ranking(ctx: ReportContext, sec: Section) -> Section:
    """challengeR-style bootstrap ranking on the primary metric, per label."""
    an = ctx.analysis
    info = an.info(an.primary)
    data = {}
    if len(an.models) < 2 or an.resamples == 0:
        sec.status = UNAVAILABLE
        sec.missing.append(
            "a second model: one model has no rank to be stable"
            if len(an.models) < 2
            else "bootstrap resamples: --resamples 0 gives point estimates only"
        )
        return sec
    for i, label in enumerate(an.labels):
        res, why = an.rankings[label]
        if res is None:
            sec.text.append(f"Label {label}: no ranking ({why}).")
            continue
        models = list(res.models)
        dist = {
            m: {str(r + 1): p for r, p in enumerate(res.rank_frequencies[m]) if p > 0}
            for m in models
        }
        rows = [
            [
                m,
                num(res.estimates[m]),
                str(res.ranks[m]),
                num(res.mean_rank[m], 2),
                pct(res.p_first[m]),
                ", ".join(f"{r}: {pct(p)}" for r, p in dist[m].items()),
            ]
            for m in models
        ]
        sec.tables.append(
            Table(
                f"ranks-{label}",
                f"Label {label}: ranks by mean {an.primary} ({info.best_word} first) over "
                f"{res.n_resamples} bootstrap resamples of {res.n_cases} cases every model "
                "scored",
                ["Model", "Mean", "Rank", "Mean bootstrap rank", "P(first)", "Rank distribution"],
                rows,
            )
        )
        tau = res.kendall_tau
        # As for an interval: too few subjects give too few distinct resamples to judge.
        few = distinct_resamples(res.n_subjects) < 2 / (1 - an.level)
        stable = np.isfinite(tau["mean"]) and tau["mean"] >= 0.9
        verdict = (
            f" (stability not estimable: {res.n_subjects} subjects give "
            f"{distinct_resamples(res.n_subjects)} distinct resamples)."
            if few
            else (" (a stable ranking)." if stable else " (the ranking is not stable).")
        )
        sec.text.append(
            f"Label {label}: models are re-ranked by their mean {an.primary} in each resample "
            "(challengeR's bootstrap ranking, Wiesenfarth et al. 2021; ties at the lowest "
            f"rank). Kendall's tau between the resampled and the full-data rankings: mean "
            f"{num(tau['mean'], 2)}, median {num(tau['median'], 2)}, 95% of resamples in "
            f"[{num(tau['q025'], 2)}, {num(tau['q975'], 2)}]"
            + verdict
            + "".join(f" Note: {n}" for n in res.warnings)
        )
        fig = blob_plot(models, dist)
        sec.figures.append(
            ctx.figures.save(
                fig,
                f"rank_blobs_{i + 1}",
                f"Ranking stability, label {label}",
                alt=f"Blob plot of each model's bootstrap rank by mean {an.primary} for label "
                f"{label}: "
                + "; ".join(f"{m} first in {pct(res.p_first[m])}" for m in models)
                + f"; mean Kendall's tau {num(tau['mean'], 2)}.",
                caption="Rank distribution over bootstrap resamples (area: frequency; bar: "
                "median rank).",
            )
        )
        data[label] = res.to_dict()
    if not data:
        sec.status = UNAVAILABLE
        sec.missing.append("two models scored on shared cases of some label")
    sec.data = {"metric": an.primary, "rankings": data}
    return sec


# ---------------------------------------------------------------------------------------------
def conclusions(ctx: ReportContext, sec: Section) -> Section:
    """Claims on the primary metric and label, each with one status, and the limits."""
    an = ctx.analysis
    info = an.info(an.primary)
    label, part = an.primary_label, an.main_partition
    claims: list[Claim] = []

    def add(claim: Claim) -> None:
        claim.affected_by = [d.short or d.kind for d in an.deviations if d.touches(claim.models)]
        claims.append(claim)

    summaries = {m: an.summaries.get((part, label, an.primary, m)) for m in an.models}
    scored = {m: s["mean"] for m, s in summaries.items() if s is not None and s["mean"].n_cases}
    estimates = []
    for m, s in scored.items():
        why = an.why(s)
        estimates.append(
            f"{m}: mean {an.primary} on {label} {num(s.estimate)}"
            + (f" (interval not estimable: {why})" if why else f" {interval(s.ci_low, s.ci_high)}")
        )
    for p in an.partitions[1:]:
        for m in an.models:
            got = an.summaries.get((p, label, an.primary, m))
            if got is not None and got["mean"].n_cases:
                s, why = got["mean"], an.why(got["mean"])
                estimates.append(
                    f"{m} on {p}: mean {an.primary} on {label} {num(s.estimate)}"
                    + (
                        f" (interval not estimable: {why})"
                        if why
                        else f" {interval(s.ci_low, s.ci_high)}"
                    )
                )
    if len(scored) >= 2:
        best = max(scored, key=lambda m: float(info.order_key(scored[m].estimate)))
        results = [r for r in an.comparisons.get((label, an.primary), []) if best in (r.a, r.b)]
        for r in results:
            other = r.b if r.a == best else r.a
            why = an.why(r)
            text = _comparison_text(r, an.primary, info, an.alpha)
            if why:
                status = NOT_ESTIMABLE
            elif text.startswith((f"{best} is better", f"{best}'s mean")):
                status = SUPPORTED
            else:
                status = NOT_SUPPORTED
            # The claim states who is better; its evidence is the interval and the p-value.
            if why:
                text = f"Difference {r.a} - {r.b}: {num(r.estimate)}; not estimable: {why}."
            else:
                text = text.split(": ", 1)[-1]
                text = text[0].upper() + text[1:]
            add(
                Claim(
                    "comparison",
                    f"{best} segments {label} better than {other} ({an.primary}, {info.direction})",
                    status,
                    text,
                    (best, other),
                    part,
                    key=True,
                )
            )
    limits = _limits(ctx)
    sec.text.append(
        f"The primary result is {an.primary} on label {label} ({part}). Each claim has exactly "
        "one status: supported (the Holm-adjusted paired comparison backs it), not supported "
        "(the interval is estimable but does not back it), or not estimable (too few subjects "
        "or sites, or a degenerate interval)."
    )
    sec.tables.extend(claims_tables(claims, limits))
    sec.data = {
        "primary_result": {"metric": an.primary, "label": label, "partitions": [part]},
        "claims": [c.to_dict() for c in claims],
        "estimates": [f"{e}." for e in estimates],
        "limits": limits,
    }
    return sec


def _limits(ctx: ReportContext) -> list[str]:
    an = ctx.analysis
    out = []
    audit_sec = ctx.sections.get("audit")
    if audit_sec is not None and audit_sec.data.get("valid") is False:
        out.append(
            "The design failed the leakage audit (section "
            f"{audit_sec.number}): the metrics may be inflated by leakage."
        )
    errors = [d for d in an.deviations if d.severity == "error"]
    if errors:
        out.append(
            f"{len(errors)} serious deviation(s) from the protocol: "
            + " ".join(d.message for d in errors[:3])
        )
    c = an.cases[an.cases["partition"] == an.main_partition]
    n_sites, n_subjects = c["site"].nunique(), c["subject"].nunique()
    if n_sites < 4:
        out.append(
            f"The test set has {n_sites} site(s): between-site variation is not estimable, so "
            "the intervals hold for these sites only."
        )
    if n_subjects < 10:
        out.append(
            f"Only {n_subjects} test subjects: the bootstrap intervals may be miscalibrated "
            "(too narrow) or not estimable."
        )
    undefined = c[c["value"].isna()]
    if len(undefined):
        out.append(
            f"{len(undefined)} case value(s) are undefined (empty reference or prediction) and "
            "left out of the estimates they belong to; they are listed with the worst cases."
        )
    if an.run.tier != "reproduced":
        out.append(
            f"Tier {an.run.tier}: the case metrics were not all computed by the brainbench "
            "runner from the models' masks."
        )
    return out


#: The segmentation sheet, in order: (id, title, builder).
SEG_SECTIONS: tuple[tuple[str, str, Callable[[ReportContext, Section], Section]], ...] = (
    ("identity", "Identity", identity),
    ("protocol", "Pre-registered protocol and deviations", protocol),
    ("audit", "Leakage audit", audit),
    ("labels", "Results per label", labels),
    ("breakdowns", "Breakdowns by site, session or scanner", breakdowns),
    ("cases", "Per-case metrics", cases),
    ("worst", "Worst cases and empty cases", worst),
    ("comparisons", "Model comparisons", comparisons),
    ("ranking", "Ranking and its stability", ranking),
    ("conclusions", "What can and cannot be concluded", conclusions),
    ("provenance", "Provenance", provenance),
)

__all__ = ["SEG_SECTIONS"]
