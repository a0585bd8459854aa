"""Sections about the results: primary, generalisation, comparisons, ranking, variance,
calibration, the confound baseline and the plain-words conclusions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from brainbench.report import _figures as F
from brainbench.report import _stats
from brainbench.report._claims import ClaimBuilder, claims_tables, decision_text, not_estimable
from brainbench.report._context import (
    Footnotes,
    ReportContext,
    interval,
    metric_label,
    num,
    pct,
    pval,
)
from brainbench.report._descriptive import group_spread, reliability_bins, run_spread
from brainbench.report._model import PARTIAL, UNAVAILABLE, Section, Table, section


def _ci_text(r: Any) -> str:
    return interval(r.ci_low, r.ci_high)


def _level(an) -> str:
    return f"{an.level:.0%}"


def _conditional_scope(results: list[Any]) -> str:
    """What the intervals of ``results`` describe when a level was too small to resample
    (``MetricResult.conditional_on``): '' when every declared level was resampled."""
    fixed: dict[str, set[int]] = {}
    for r in results:
        for c, n in (getattr(r, "conditional_on", None) or {}).items():
            fixed.setdefault(c, set()).add(int(n))
    if not fixed:
        return ""
    levels = ", ".join(f"{' or '.join(map(str, sorted(n)))} {c}s" for c, n in fixed.items())
    return (
        f"A {' or '.join(fixed)}-level interval is not estimable from {levels}: these "
        f"intervals resample within each {' x '.join(fixed)} and are conditional on these "
        f"{levels} (they describe them, not new ones)."
    )


def _interval_choice(results: list[Any]) -> str:
    """Which interval method the primary results used and the design regime it was chosen for
    (``interval: calibrated``; ``MetricResult.chosen_for``), with its calibration coverage."""
    parts = _choice_parts(results)
    if not parts:
        return ""
    return "Interval method (calibrated): " + "; ".join(parts) + "."


def _secondary_choices(an, part: str) -> str:
    """The calibrated interval method of each secondary metric (``calibrated`` chooses per
    metric, so they may differ from the primary's), as :func:`_interval_choice` words it."""
    per_metric = []
    for x in an.secondary:
        parts = _choice_parts([an.result(m, x, part) for m in an.ranked_models])
        if parts:
            per_metric.append(f"{metric_label(x)}: " + "; ".join(parts))
    if not per_metric:
        return ""
    return "Secondary metrics, interval method (calibrated): " + ". ".join(per_metric) + "."


def _choice_parts(results: list[Any]) -> list[str]:
    seen: dict[tuple[str, str], dict] = {}
    for r in results:
        if r is not None and getattr(r, "chosen_for", ""):
            seen.setdefault((r.interval, r.chosen_for), getattr(r, "calibration", {}) or {})
    parts = []
    for (method, regime), cal in seen.items():
        text = f"{method}, chosen for {regime}"
        if cal:
            run = (
                f"a confirmation run's {cal['designs']} simulated designs of that regime "
                f"({cal['data_sets_per_design']} data sets each)"
                if "data_sets_per_design" in cal
                else f"the {cal['designs']} simulated designs of that regime"
            )
            text += (
                f" (it covered {cal['coverage_min']:.1%}-{cal['coverage_max']:.1%} of nominal "
                f"95% intervals in {run}, `{cal['source']}`"
                + ("" if cal["consistent_with_goal"] else "; below the 94-96% goal: approximate")
                + ")"
            )
        parts.append(text)
    return parts


def _undefined_reason(r: Any) -> str:
    for w in r.warnings:
        if "undefined" in w:
            return w
    return "undefined"


def _why(r: Any) -> str:
    """Why a metric is undefined, without the model's name (for grouping)."""
    reason = _undefined_reason(r)
    if "(" in reason and reason.endswith(").") and "absent" in reason:
        return reason[reason.rindex("(") + 1 : -2]
    return "undefined in this group"


def _undefined_text(label: str, level: str, items: list[tuple[str, str, str, str]]) -> list[str]:
    """One sentence per (group, partition): which models, and why (e.g. a class absent)."""
    by: dict[tuple[str, str, str], list[str]] = {}
    for g, part, model, why in items:
        by.setdefault((g, part, why), []).append(model)
    return [
        f"{label} is undefined on {level} {g} ({part}) for {', '.join(models)}: {why}."
        for (g, part, why), models in by.items()
    ]


def _errors(sec: Section, collected: _stats.Collected, what: str) -> None:
    for e in dict.fromkeys(collected.errors):
        sec.text.append(f"Not computed ({what}): {e}")
        sec.missing.append(f"{what}: {e}")
        sec.status = PARTIAL


# ---------------------------------------------------------------------------------------------
@section("primary", 5, "Primary result")
def primary(ctx: ReportContext, sec: Section) -> Section:
    an = ctx.analysis
    part = an.main_partition
    label = metric_label(an.primary)
    forest_rows, data = [], []
    tables = []
    for p in an.endpoints:
        rows = []
        fn = Footnotes()
        for m in an.ranked_models:
            r = an.result(m, an.primary, p)
            if r is None:
                rows.append([m, "n/a", "n/a", "", "", "", "no result"])
                continue
            est = num(r.estimate) if _stats.finite(r.estimate) else "undefined"
            rows.append(
                [
                    m,
                    est,
                    _ci_text(r),
                    str(r.n_units),
                    ", ".join(f"{v} {k}s" for k, v in r.clusters.items()),
                    str(r.n_runs),
                    fn.mark(r.warnings),
                ]
            )
            if p == part:
                forest_rows.append((m, float(r.estimate), float(r.ci_low), float(r.ci_high)))
                data.append(r.to_dict())
        tables.append(
            Table(
                "primary" if p == part else f"primary_{p}",
                f"{label} per model ({p})",
                [
                    "Model",
                    label,
                    f"{_level(an)} CI",
                    f"{an.unit.capitalize()}s",
                    "Clusters",
                    "Runs",
                    "Warnings",
                ],
                rows,
                notes=fn.notes(),
            )
        )
    main = [an.result(m, an.primary, part) for m in an.ranked_models]
    scope = _conditional_scope(main)
    choice = _interval_choice(main)
    sec.text.append(
        f"Primary metric: {label} on {an.endpoint_text}, at the {an.unit} level; "
        f"{_level(an)} intervals by {an.ci_method} ({an.interval}"
        + (f", clusters {' > '.join(an.clusters)}" if an.clusters else "")
        + f", {an.resamples} resamples, seed {an.seed}). With several runs (seeds, splits) the "
        "estimate is the mean of the runs' metrics."
        + (f" {choice}" if choice else "")
        + (f" {scope}" if scope else "")
    )
    sec.tables.extend(tables)
    if forest_rows:
        fig = F.forest(forest_rows, xlabel=f"{label} ({part}, {_level(an)} CI)")
        best = forest_rows[0]
        sec.figures.append(
            ctx.figures.save(
                fig,
                "forest_primary",
                f"{label} per model",
                alt=f"Forest plot of {label} per model on the {part} partition with "
                f"{_level(an)} confidence intervals ({_stats.metric_info(an.primary).direction}); "
                f"{_stats.metric_info(an.primary).best_word}: {best[0]} at {num(best[1])} "
                f"[{num(best[2])}, {num(best[3])}].",
                caption=f"Each model's {label} ({part}) with its hierarchy-aware {_level(an)} CI."
                + (f" {scope}" if scope else ""),
            )
        )
    # Secondary metrics, every partition.
    if an.secondary:
        header = ["Model", "Partition", *[metric_label(x) for x in an.secondary]]
        srows = []
        for p in an.partitions:
            for m in an.ranked_models:
                cells = []
                for x in an.secondary:
                    r = an.result(m, x, p)
                    cells.append(
                        "n/a"
                        if r is None
                        else (
                            f"{num(r.estimate)} {_ci_text(r)}"
                            if _stats.finite(r.estimate)
                            else "undefined"
                        )
                    )
                srows.append([m, p, *cells])
        choices = _secondary_choices(an, part)
        sec.tables.append(
            Table(
                "secondary",
                f"Secondary metrics, estimate and {_level(an)} CI",
                header,
                srows,
                notes=[choices] if choices else [],
            )
        )
    _errors(sec, an.overall, "metrics")
    sec.data = {
        "metric": an.primary,
        "partition": part,
        "unit": an.unit,
        "results": [r.to_dict() for r in an.overall.results],
        "errors": list(an.overall.errors),
    }
    if not data:
        sec.status = UNAVAILABLE
    return sec


# ---------------------------------------------------------------------------------------------
@section("generalisation", 6, "Generalisation")
def generalisation(ctx: ReportContext, sec: Section) -> Section:
    an = ctx.analysis
    label = metric_label(an.primary)
    data: dict[str, Any] = {"levels": {}, "external": {}}
    if not an.breakdown_levels and not an.external:
        sec.status = UNAVAILABLE
        sec.missing.append(
            "no dataset, site or scanner ids in the predictions and no external "
            "cohort: nothing to break down"
        )
    for b in an.missing_breakdowns:
        sec.missing.append(
            f"breakdown '{b}' declared in the spec: no such column in the "
            "predictions or the cohort table"
        )
        sec.status = PARTIAL
    for level in an.breakdown_levels:
        got = an.breakdowns[level]

        rows, frows, groups, undefined = [], [], [], []
        fn = Footnotes()
        results = sorted(
            got.results,
            key=lambda r: (
                an.partitions.index(r.partition),
                str(r.group.get(level)),
                an.ranked_models.index(r.model),
            ),
        )
        for r in results:
            g = str(r.group.get(level))
            defined = _stats.finite(r.estimate)
            # A perfect or constant score in one site gives [1.000, 1.000]: a degenerate
            # bootstrap, shown as such and never as a result (issue 12).
            why = not_estimable(r, an.unit) if defined else None
            if not defined:
                ci_cell = _undefined_reason(r)
            elif why:
                ci_cell = f"not estimable: {why}"
            else:
                ci_cell = _ci_text(r)
            rows.append(
                [
                    g,
                    r.partition,
                    r.model,
                    num(r.estimate) if defined else "undefined",
                    ci_cell,
                    str(r.n_units),
                    fn.mark(r.warnings),
                ]
            )
            frows.append(
                (
                    f"{g} · {r.model}"
                    + ("" if r.partition == an.main_partition else f" ({r.partition})"),
                    float(r.estimate),
                    float(r.ci_low),
                    float(r.ci_high),
                )
            )
            groups.append(r.model)
            if not defined:
                undefined.append((g, r.partition, r.model, _why(r)))
        n_groups = len({str(r.group.get(level)) for r in results})
        sec.tables.append(
            Table(
                f"by_{level}",
                f"{label} per {level}",
                [
                    level.capitalize(),
                    "Partition",
                    "Model",
                    label,
                    f"{_level(an)} CI",
                    f"{an.unit.capitalize()}s",
                    "Warnings",
                ],
                rows,
                notes=fn.notes(),
            )
        )
        sec.text.extend(_undefined_text(label, level, undefined))
        if frows:
            lows = [r[1] for r in frows if np.isfinite(r[1])]
            fig = F.forest(frows, xlabel=f"{label} ({_level(an)} CI)", groups=groups)
            sec.figures.append(
                ctx.figures.save(
                    fig,
                    f"forest_{level}",
                    f"{label} per {level}",
                    alt=f"Forest plot of {label} per {level} and model with {_level(an)} "
                    f"confidence intervals; estimates range from "
                    f"{num(min(lows)) if lows else 'n/a'} to {num(max(lows)) if lows else 'n/a'}.",
                    caption=f"{label} per {level}: a wide spread across the {level} groups means "
                    f"the model does not perform equally in every {level} group.",
                )
            )
        spread = {}
        for m in an.ranked_models:
            ests = [
                r.estimate for r in results if r.model == m and r.partition == an.main_partition
            ]
            if len(ests) > 1:
                finite = [e for e in ests if _stats.finite(e)]
                spread[m] = {
                    "min": min(finite) if finite else None,
                    "max": max(finite) if finite else None,
                    "sd": group_spread(ests),
                }
        data["levels"][level] = {
            "groups": n_groups,
            "spread": spread,
            "results": [r.to_dict() for r in results],
        }
        _errors(sec, got, f"per {level}")
    for level, why in an.redundant_levels.items():
        sec.text.append(f"No separate breakdown by {level}: {why}.")
        data["levels"][level] = {"skipped": why}
    # External-test cohorts.
    if an.external:
        rows = []
        for p in an.external:
            for m in an.ranked_models:
                r_ext = an.result(m, an.primary, p)
                # The change is against the internal test partition, never a cohort against
                # itself; external-only designs have no internal estimate.
                r_int = an.result(m, an.primary, an.internal) if an.internal else None
                if r_ext is None:
                    continue
                drop = (
                    (r_ext.estimate - r_int.estimate)
                    if (
                        r_int is not None
                        and _stats.finite(r_ext.estimate)
                        and _stats.finite(r_int.estimate)
                    )
                    else None
                )
                rows.append(
                    [
                        p,
                        m,
                        num(r_ext.estimate),
                        _ci_text(r_ext),
                        num(r_int.estimate) if r_int is not None else "n/a",
                        num(drop) if drop is not None else "n/a",
                    ]
                )
                data["external"].setdefault(p, {})[m] = {
                    "estimate": r_ext.estimate,
                    "ci": [r_ext.ci_low, r_ext.ci_high],
                    "internal": r_int.estimate if r_int is not None else None,
                    "change": drop,
                }
        sec.tables.append(
            Table(
                "external",
                f"{label} on external-test cohorts",
                [
                    "Cohort",
                    "Model",
                    label,
                    f"{_level(an)} CI",
                    f"{an.internal or 'internal'} estimate",
                    "Change",
                ],
                rows,
                notes=[
                    "Change: external minus internal estimate (point estimates; the two "
                    "partitions hold different subjects, so no paired interval is given)."
                    if an.internal
                    else "No internal test partition (external-only design): no change to give."
                ],
            )
        )
    elif an.breakdown_levels:
        sec.text.append("No external-test cohort: transfer to new data is not assessed.")
    sec.data = data
    return sec


# ---------------------------------------------------------------------------------------------
def _comparison_rows(
    results: list[Any], fn: Footnotes, with_partition: bool = False
) -> list[list[str]]:
    rows = []
    for r in results:
        row = [r.a, r.b]
        if with_partition:
            row.insert(0, r.partition)
        row += [
            num(r.estimate),
            interval(r.ci_low, r.ci_high),
            pval(r.p_value),
            pval(r.p_adjusted),
            r.decision or "n/a",
            fn.mark(r.warnings),
        ]
        rows.append(row)
    return rows


@section("comparisons", 7, "Model comparisons")
def comparisons(ctx: ReportContext, sec: Section) -> Section:
    an = ctx.analysis
    if len(an.models) < 2:
        sec.status = UNAVAILABLE
        sec.missing.append("a comparison needs at least two models")
        return sec
    got = an.comparisons
    kw = an.comparison_kwargs
    label = metric_label(an.primary)
    sec.text.append(
        f"Paired comparisons of every pair of models on {label} ({an.main_partition}), method "
        f"{kw['method']}, {kw['correction']} correction over the {len(got.results)} "
        f"comparison(s), alpha {kw['alpha']}, hypothesis {kw['hypothesis']} with margin "
        f"{kw['margin']}. The difference is the first model minus the second."
        + (
            ""
            if an.comparison is not None
            else " (Not pre-registered: the spec declares no comparison.)"
        )
    )
    if an.comparison_fallback is not None and an.comparison is not None:
        sec.text.append(
            f"The protocol's method, {an.comparison.method}, could not be applied: "
            f"{an.comparison_fallback} The paired hierarchical bootstrap is used instead "
            "(a deviation, section 2)."
        )
    _errors(sec, got, "comparisons")
    if not got.results:
        sec.status = UNAVAILABLE
        return sec
    fn = Footnotes()
    several = len(an.endpoints) > 1
    rows = _comparison_rows(got.results, fn, several)
    fn.mark([w for w in got.warnings if not any(w in r.warnings for r in got.results)])
    if several:
        sec.text.append(
            f"The primary result is on {an.endpoint_text}: each pair is compared on each cohort "
            "and the p-values of all of them are adjusted together. The map below shows "
            f"{an.main_partition}."
        )
    sec.tables.append(
        Table(
            "comparisons",
            f"Pairwise differences in {label}",
            (["Partition"] if several else [])
            + [
                "Model A",
                "Model B",
                "A − B",
                f"{_level(an)} CI",
                "p",
                "p adjusted",
                "Decision",
                "Warnings",
            ],
            rows,
            notes=fn.notes(),
        )
    )
    for r in got.results:
        sec.text.append(decision_text(r) + (f" ({r.partition})" if several else ""))
    shown: dict[tuple[str, str], tuple[float | None, bool]] = {}
    for r in got.results:
        if r.partition != an.main_partition:
            continue
        p = r.p_adjusted if r.p_adjusted is not None else r.p_value
        shown[(r.a, r.b)] = (p, r.decision == "superior")
        shown[(r.b, r.a)] = (p, r.decision == "inferior")
    fig = F.significance_map(an.ranked_models, shown)
    sec.figures.append(
        ctx.figures.save(
            fig,
            "significance_map",
            "Significance map",
            alt="Significance map: a grid of models against models; a dark cell means the row "
            f"model is shown better than the column model on {label} (the protocol's decision: "
            f"{kw['correction']}-adjusted p below {kw['alpha']} and the interval beyond the "
            f"margin {kw['margin']}); cells give adjusted p-values. "
            + ("; ".join(f"{r.a} vs {r.b}: {r.decision}" for r in got.results))
            + ".",
            caption="Dark: the row model is shown better than the column model (decision "
            "'superior'); each cell gives the adjusted p-value of the pair.",
        )
    )
    frows = [
        (
            f"{r.a} − {r.b}" + (f" ({r.partition})" if several else ""),
            float(r.estimate),
            float(r.ci_low),
            float(r.ci_high),
        )
        for r in got.results
    ]
    fig = F.forest(frows, xlabel=f"difference in {label} ({_level(an)} CI)", reference=0.0)
    if kw["margin"]:
        for ax in fig.axes:
            ax.axvline(kw["margin"], color="#d1495b", linestyle=":", linewidth=1)
            ax.axvline(-kw["margin"], color="#d1495b", linestyle=":", linewidth=1)
    sec.figures.append(
        ctx.figures.save(
            fig,
            "forest_differences",
            "Pairwise differences",
            alt=f"Forest plot of the pairwise differences in {label} with {_level(an)} confidence "
            f"intervals, a dashed line at 0 and dotted lines at the margin ±{kw['margin']}.",
            caption="Differences (first model minus second) with their intervals; dotted lines: "
            "the declared margin.",
        )
    )
    sec.data = {"settings": kw, "results": [r.to_dict() for r in got.results]}
    return sec


# ---------------------------------------------------------------------------------------------
@section("ranking", 8, "Ranking and its stability")
def ranking(ctx: ReportContext, sec: Section) -> Section:
    an = ctx.analysis
    res, notes = an.ranks
    label = metric_label(an.primary)
    if res is None:
        sec.status = UNAVAILABLE
        sec.missing.extend(notes)
        return sec
    models = res["models"]
    rows = []
    for m in models:
        lo, hi = res["rank_ci"][m]
        rows.append(
            [
                m,
                num(res["full_rank"][m], 1),
                num(res["mean_rank"][m], 2),
                f"[{lo:g}, {hi:g}]",
                pct(res["p_first"][m]),
            ]
        )
    sec.tables.append(
        Table(
            "ranks",
            f"Ranks by {label} ({an.main_partition}) over {res['resamples_used']} "
            "bootstrap resamples",
            ["Model", "Rank", "Mean bootstrap rank", f"{_level(an)} rank interval", "P(best)"],
            rows,
        )
    )
    tau = res.get("kendall_tau_mean")
    first = max(models, key=lambda m: res["p_first"][m])
    stable = tau is not None and tau >= 0.9
    sec.text.append(
        f"Models are re-ranked in each hierarchical bootstrap resample of the test set (shared "
        f"by all models). Kendall's tau between the bootstrap rankings and the full-data "
        f"ranking: mean {num(tau, 2)}"
        + (" (a stable ranking)." if stable else " (the ranking is not stable).")
        + f" {first} ranks first (ties included) in {pct(res['p_first'][first])} of the resamples."
    )
    for n in notes:
        sec.text.append(f"Note: {n}")
    fig = F.blob_plot(models, res["rank_distribution"])
    sec.figures.append(
        ctx.figures.save(
            fig,
            "rank_blobs",
            "Bootstrap rank distribution",
            alt="Blob plot of each model's bootstrap rank distribution: circle area is the share "
            "of resamples giving the model that rank; "
            + "; ".join(f"{m} first (or tied) in {pct(res['p_first'][m])}" for m in models)
            + ".",
            caption="Rank distribution over bootstrap resamples (area: frequency; bar: median).",
        )
    )
    sec.data = res
    return sec


# ---------------------------------------------------------------------------------------------
@section("variance", 9, "Variance: splits, seeds and sites")
def variance(ctx: ReportContext, sec: Section) -> Section:
    an = ctx.analysis
    runs = an.runs
    label = metric_label(an.primary)
    main = runs[runs["partition"] == an.main_partition] if len(runs) else runs
    site_level = "site" if "site" in an.breakdowns else None
    rows, data = [], {}
    seed_sd, split_sd, site_sd, samp_sd = [], [], [], []
    for m in an.ranked_models:
        sp = (
            run_spread(main[main["model"] == m])
            if len(main)
            else run_spread(pd.DataFrame(columns=["repeat", "fold", "seed", "estimate"]))
        )
        s_site = float("nan")
        if site_level:
            ests = [
                r.estimate
                for r in an.breakdowns[site_level].results
                if r.model == m and r.partition == an.main_partition
            ]
            s_site = group_spread(ests)
        r = an.result(m, an.primary)
        se = float("nan")
        if r is not None and _stats.finite(r.ci_low) and _stats.finite(r.ci_high):
            from scipy.stats import norm

            se = (r.ci_high - r.ci_low) / (2 * norm.ppf(0.5 + r.level / 2))
        rows.append(
            [
                m,
                str(sp["n_splits"]),
                str(sp["n_seeds"]),
                num(sp["sd_split"]),
                num(sp["sd_seed"]),
                num(s_site),
                num(se),
                f"{num(sp['min'])} to {num(sp['max'])}",
            ]
        )
        seed_sd.append(sp["sd_seed"])
        split_sd.append(sp["sd_split"])
        site_sd.append(s_site)
        samp_sd.append(se)
        data[m] = {**sp, "sd_site": s_site, "sampling_se": se}
    sec.tables.append(
        Table(
            "variance",
            f"Spread of {label} by source ({an.main_partition})",
            [
                "Model",
                "Splits",
                "Seeds",
                "SD across splits",
                "SD across seeds",
                "SD across sites",
                "Test-sample SE",
                "Run range",
            ],
            rows,
            notes=[
                "SD across seeds: within a split, pooled over splits. SD across splits: of the "
                "seed-averaged metric. SD across sites: of the per-site estimates (runs pooled). "
                "Test-sample SE: the CI width / (2 z), the sampling uncertainty of the test set.",
                "These are descriptive spreads (Bouthillier et al. 2021), not variance components "
                "of a fitted model.",
            ],
        )
    )
    if len(main):
        fig = F.variance_bars(
            an.ranked_models,
            {"splits": split_sd, "seeds": seed_sd, "sites": site_sd, "test sample": samp_sd},
        )
        sec.figures.append(
            ctx.figures.save(
                fig,
                "variance_sources",
                "Variance by source",
                alt=f"Grouped bar chart of the standard deviation of {label} per model from "
                "splits, "
                "seeds, sites and test-set sampling; "
                + "; ".join(
                    f"{m}: seeds {num(a)}, splits {num(b)}, sites {num(c)}"
                    for m, a, b, c in zip(an.ranked_models, seed_sd, split_sd, site_sd, strict=True)
                )
                + ".",
                caption="How much the metric moves with the training split, the seed, the site and "
                "the test sample.",
            )
        )
    sources = {
        "seeds": np.nanmean(seed_sd) if np.isfinite(seed_sd).any() else np.nan,
        "splits": np.nanmean(split_sd) if np.isfinite(split_sd).any() else np.nan,
        "sites": np.nanmean(site_sd) if np.isfinite(site_sd).any() else np.nan,
    }
    finite = {k: v for k, v in sources.items() if np.isfinite(v)}
    if finite:
        top = max(finite, key=finite.get)
        sec.text.append(
            "Averaged over models, the largest spread comes from "
            + top
            + f" (SD {num(finite[top])}); "
            + ", ".join(f"{k} {num(v)}" for k, v in finite.items() if k != top)
            + "."
        )
    if not np.isfinite(seed_sd).any():
        sec.status = PARTIAL
        sec.missing.append("a single seed per split: training variance is not measured")
    if not np.isfinite(split_sd).any():
        sec.status = PARTIAL
        # Folds that partition the test units are pooled into one estimate per repeat.
        test_rows = an.frame[an.frame["partition"] == an.main_partition]
        pooled = bool(len(main) and (main["fold"] == -1).all() and test_rows["fold"].nunique() > 1)
        sec.missing.append(
            "the k test folds are pooled into one estimate per repeat (each fold tests "
            "different units, so a per-fold spread would mix training and test-sample "
            "variance), and there is one repeat: the variance between training splits is not "
            "measured (declare splits.repeats > 1 to measure it)"
            if pooled
            else "a single training split (repeat, fold) per model: the variance between "
            "training splits is not measured (declare repeats or k-fold validation to measure it)"
        )
    if site_level is None:
        sec.status = PARTIAL
        sec.missing.append("no site ids: between-site variance is not measured")
    sec.data = {"models": data, "average": sources}
    return sec


# ---------------------------------------------------------------------------------------------
@section("calibration", 10, "Calibration")
def calibration(ctx: ReportContext, sec: Section) -> Section:
    an = ctx.analysis
    if not an.is_classification:
        sec.status = UNAVAILABLE
        sec.missing.append("calibration applies to classification probabilities")
        return sec
    if not an.has_probabilities:
        sec.status = UNAVAILABLE
        sec.missing.append(
            "no probability of the positive class in the predictions "
            "('score' or 'score_<class>' in [0, 1])"
        )
        return sec
    got = an.calibration
    rows, data = [], {"results": [r.to_dict() for r in got.results], "bins": {}}
    by = {(r.model, r.partition, r.metric): r for r in got.results}
    for p in an.partitions:
        for m in an.ranked_models:
            b, e = by.get((m, p, "brier")), by.get((m, p, "ece_debiased"))
            if b is None and e is None:
                continue
            rows.append(
                [
                    m,
                    p,
                    "n/a" if b is None else f"{num(b.estimate)} {_ci_text(b)}",
                    "n/a" if e is None else f"{num(e.estimate)} {_ci_text(e)}",
                ]
            )
    sec.tables.append(
        Table(
            "calibration",
            f"Brier score and debiased ECE ({_level(an)} CI)",
            ["Model", "Partition", "Brier score", "ECE (debiased)"],
            rows,
            notes=[
                "Lower is better for both. ECE: 10 equal-width bins, debiased (Kumar, Liang & "
                "Ma 2019, NeurIPS, arXiv:1909.10155). The plug-in ECE is biased upward by the "
                "sampling noise of each bin's frequency, and more so in bootstrap resamples, so "
                "its point estimate can fall below its own percentile interval; here the "
                "estimate is further bootstrap bias-corrected and given with the basic interval "
                "(Efron & Tibshirani 1993, section 10.6), which holds it. It can be slightly "
                "negative for a well-calibrated model."
            ],
        )
    )
    _errors(sec, got, "calibration")
    curves = {}
    main = an.frame[an.frame["partition"] == an.main_partition]
    for m in an.ranked_models:
        rows_m = main[main["model"] == m]
        if rows_m.empty:
            continue
        uf = _stats.unit_frame(rows_m, an.task, an.unit)
        pos = (uf["y"].to_numpy() == len(an.task.classes) - 1).astype(float)
        curves[m] = reliability_bins(pos, uf["score"].to_numpy(dtype=float))
    data["bins"] = curves
    if curves:
        fig = F.reliability(curves)
        eces = {
            m: by[(m, an.main_partition, "ece_debiased")].estimate
            for m in curves
            if (m, an.main_partition, "ece_debiased") in by
        }
        sec.figures.append(
            ctx.figures.save(
                fig,
                "reliability",
                "Reliability diagram",
                alt=f"Reliability diagram ({an.main_partition}): observed frequency of "
                f"{an.task.positive} against the mean predicted probability in 10 bins, one "
                "line per model, with the diagonal of perfect calibration; ECE "
                + "; ".join(f"{m} {num(v)}" for m, v in eces.items())
                + ".",
                caption="Points below the diagonal: over-confident predictions of the positive "
                "class; above: under-confident.",
            )
        )
        # Calibration of a model that does not beat chance is no merit: a constant prediction
        # at the prevalence is perfectly calibrated. Only models whose primary-metric interval
        # excludes chance compete.
        info = _stats.metric_info(an.primary)
        chance = info.chance(len(an.task.classes))
        informative = {}
        for m, v in eces.items():
            r = an.result(m, an.primary)
            if not _stats.finite(v) or r is None or not_estimable(r, an.unit):
                continue
            if chance is None or info.better(r.ci_low, chance):
                informative[m] = v
        if informative:
            best = min(informative, key=informative.__getitem__)
            sec.text.append(
                f"Best calibrated on {an.main_partition} among the models shown above chance: "
                f"{best} (ECE {num(informative[best])})."
                if chance is not None
                else f"Lowest ECE on {an.main_partition}: {best} (ECE {num(informative[best])})."
            )
        elif eces:
            sec.text.append(
                "No model is shown above chance on the primary metric, so none is called best "
                "calibrated: a prediction that ignores the input can be perfectly calibrated."
            )
    sec.data = data
    return sec


# ---------------------------------------------------------------------------------------------
@section("confound", 11, "The confound baseline")
def confound(ctx: ReportContext, sec: Section) -> Section:
    an = ctx.analysis
    label = metric_label(an.primary)
    if an.baseline is None:
        sec.status = UNAVAILABLE
        sec.missing.append(
            "no demographics-only model among the predictions: add `demographics-logreg` "
            "(age, sex, site) to the run to test whether the models learn more than confounds"
        )
        return sec
    got = an.baseline_comparisons
    sec.text.append(
        f"Does each model beat the demographics-only model {an.baseline} (age, sex and site, "
        f"no image)? Difference in {label}, model minus baseline, {an.comparison_method} "
        "method, on every partition."
    )
    _errors(sec, got, "baseline comparisons")
    base = an.result(an.baseline, an.primary)
    if base is not None:
        sec.text.append(
            f"{an.baseline}: {label} {num(base.estimate)} {_ci_text(base)} on {an.main_partition}."
        )
    if not got.results:
        if len(an.models) == 1:
            sec.missing.append("only the baseline has predictions")
        sec.status = UNAVAILABLE if not got.results else sec.status
        return sec
    fn = Footnotes()
    rows = _comparison_rows(got.results, fn, True)
    fn.mark([w for w in got.warnings if not any(w in r.warnings for r in got.results)])
    sec.tables.append(
        Table(
            "baseline",
            f"Each model against {an.baseline}",
            [
                "Partition",
                "Model",
                "Baseline",
                "Model − baseline",
                f"{_level(an)} CI",
                "p",
                "p adjusted",
                "Decision",
                "Warnings",
            ],
            rows,
            notes=fn.notes(),
        )
    )
    for r in got.results:
        beats = r.decision == "superior"
        sec.text.append(
            (
                f"{r.a} beats the demographics baseline on {r.partition}"
                if beats
                else f"{r.a} is not shown to beat the demographics baseline on {r.partition}"
            )
            + f": difference {num(r.estimate)}, {_level(an)} CI "
            f"{interval(r.ci_low, r.ci_high)}."
        )
    frows = [
        (f"{r.a} ({r.partition})", float(r.estimate), float(r.ci_low), float(r.ci_high))
        for r in got.results
    ]
    fig = F.forest(
        frows,
        xlabel=f"{label}: model − {an.baseline}",
        reference=0.0,
        reference_label="no gain over demographics",
    )
    sec.figures.append(
        ctx.figures.save(
            fig,
            "forest_baseline",
            "Gain over the demographics baseline",
            alt=f"Forest plot of each model's gain in {label} over {an.baseline} with "
            f"{_level(an)} confidence intervals and a dashed line at 0 (no gain).",
            caption=(
                "Intervals entirely right of 0: the model learns more than demographics."
                if _stats.metric_info(an.primary).higher_is_better
                else f"Lower {label} is better: intervals entirely left of 0 mean the model "
                "learns more than demographics."
            ),
        )
    )
    sec.data = {"baseline": an.baseline, "results": [r.to_dict() for r in got.results]}
    return sec


# ---------------------------------------------------------------------------------------------
@section("conclusions", 12, "What can and cannot be concluded")
def conclusions(ctx: ReportContext, sec: Section) -> Section:
    """One table of claims (each with its evidence and one status) and the limits of the
    evidence; the key findings box is drawn from these two lists only."""
    an = ctx.analysis
    claims = ClaimBuilder(an).build()
    limits = _limits(ctx, claims)
    sec.text.append(
        f"The primary result is on {an.endpoint_text}. Each claim below has exactly one status: "
        "supported (the pre-registered decision or the interval backs it), not supported (the "
        "interval is estimable but does not back it), or not estimable (no interval, a "
        "zero-width one, too few units or clusters for a bootstrap interval)."
    )
    sec.tables.extend(claims_tables(claims, limits))
    sec.data = {
        "primary_result": {"mode": an.endpoint_mode, "partitions": list(an.endpoints)},
        "claims": [c.to_dict() for c in claims],
        "estimates": _estimates(an),
        "limits": limits,
    }
    return sec


def _estimates(an) -> list[str]:
    """The primary metric of every model on every test set, one line per test set; intervals
    that are not estimable give their reason once and the point estimates only."""
    label = metric_label(an.primary)
    out = []
    for p in an.partitions:
        shown, points, reasons = [], [], {}
        for m in an.ranked_models:
            r = an.result(m, an.primary, p)
            if r is None:
                continue
            why = not_estimable(r, an.unit)
            if why:
                reasons.setdefault(why, []).append(m)
                if _stats.finite(r.estimate):
                    points.append(f"{m} {num(r.estimate)}")
            else:
                shown.append(f"{m} {num(r.estimate)} {_ci_text(r)}")
        if not (shown or reasons):
            continue
        role = "primary" if p in an.endpoints else ("external" if p in an.external else "")
        parts = shown + [
            f"not estimable for {', '.join(ms)} ({why})" for why, ms in reasons.items()
        ]
        if points:
            parts.append(f"point estimates only: {', '.join(points)}")
        out.append(
            f"{label} on {p}" + (f" ({role})" if role else "") + ": " + "; ".join(parts) + "."
        )
    return out


def _limits(ctx: ReportContext, claims: list) -> list[str]:
    """What bounds every claim: the audit, serious deviations, the tier, few clusters, wide
    intervals, untested generalisation, unavailable sections."""
    an, run = ctx.analysis, ctx.run
    info = _stats.metric_info(an.primary)
    label = metric_label(an.primary)
    cannot: list[str] = []
    errors = [d for d in an.deviations if d.severity == "error"]
    audit = ctx.sections.get("audit")
    if audit is not None and audit.data.get("valid") is False:
        failed = audit.data.get("failed") or []
        leaky = [r for r in failed if r.startswith("L") or r == "D301"]
        other = [r for r in failed if r not in leaky]
        if leaky or not failed:
            cannot.append(
                "The design failed the leakage audit (section 4"
                + (f": {', '.join(leaky)}" if leaky else "")
                + "): the estimates may be inflated by leakage, and no claim about the models "
                "should rest on them."
            )
        if other:
            cannot.append(
                f"The audit rejects the design or its statistical protocol ({', '.join(other)}, "
                "section 4): the pre-registered analysis is unsound as declared, so the "
                "conclusions that rest on it are not confirmatory."
            )
    if errors:
        cannot.append(
            f"{len(errors)} serious deviation(s) from the pre-registered protocol "
            "(section 2): "
            + " ".join(d.message for d in errors[:3])
            + (" ..." if len(errors) > 3 else "")
        )
    touching = [d for d in an.deviations if d.affects_results and d.severity != "error"]
    if touching:
        cannot.append(
            "The run departs from the protocol in ways that change what was trained (section 2): "
            + " ".join(d.message for d in touching)
        )
    if run.spec is None:
        cannot.append(
            "There is no spec: the analysis was not pre-registered, so every result "
            "below is exploratory."
        )
    if run.tier == "mixed":
        theirs = [m for m, t in run.model_tiers.items() if t != "reproduced"]
        cannot.append(
            f"The predictions of {', '.join(theirs)} are self-reported (not reproduced by the "
            "brainbench runner): the report cannot vouch for how they were made."
        )
    elif run.tier != "reproduced":
        cannot.append(
            "The predictions are self-reported (not reproduced by the brainbench "
            "runner): the report cannot vouch for how they were made."
        )
    results = [an.result(m, an.primary, p) for p in an.endpoints for m in an.models]
    results = [r for r in results if r is not None and _stats.finite(r.estimate)]
    scope = _conditional_scope(results)
    if scope:
        cannot.append(f"{scope} They say nothing about the variation between such clusters.")
    few = next((w for r in results for w in r.warnings if "clusters" in w and "narrow" in w), None)
    if few:
        cannot.append(
            f"{few} Every interval of this report resamples those clusters: with so few, "
            "the intervals and p-values overstate the certainty."
        )
    if info.bounded and not info.in_target_units:
        wide = sorted(
            {r.model for r in results if _stats.finite(r.ci_low) and (r.ci_high - r.ci_low) > 0.2},
            key=an.models.index,
        )
        if wide:
            cannot.append(
                f"The intervals of {', '.join(wide)} are wider than 0.2 on the {label} scale: "
                "the test set is too small to pin down their performance."
            )
    if an.baseline is None and len(an.models):
        cannot.append(
            "Without a demographics-only baseline, it cannot be excluded that the "
            "models exploit age, sex or site rather than the images."
        )
    if not an.external:
        cannot.append("Generalisation to new cohorts is untested: no external-test cohort.")
    vsec = ctx.sections.get("variance")
    if vsec is not None and vsec.data.get("average"):
        seeds = vsec.data["average"].get("seeds")
        if seeds is not None and np.isfinite(seeds):
            diffs = [abs(r.estimate) for r in an.comparisons.results if _stats.finite(r.estimate)]
            if diffs and seeds >= min(diffs):
                cannot.append(
                    f"Training seeds move {label} by SD {num(seeds)}, as much as the "
                    f"smallest difference between models ({num(min(diffs))}): a "
                    "single-seed comparison would be unreliable."
                )
    for name, s in ctx.sections.items():
        if s.status == UNAVAILABLE and name not in ("conclusions",):
            cannot.append(
                f"Section {s.number} ({s.title}) is unavailable: "
                + ("; ".join(m.rstrip(".") for m in s.missing) or "its inputs are missing")
                + "."
            )
    return cannot
