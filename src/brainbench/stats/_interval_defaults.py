"""The calibrated interval method: chosen per metric and design regime from the calibration grid.

``interval: calibrated`` (spec ``protocol.confidence.interval``, ``evaluate --interval``) picks,
for each metric, the candidate of :data:`brainbench.stats._intervals.INTERVAL_METHODS` that
covered best in the simulated designs of the data's *regime*: the number of outer clusters
(sites) and the subjects per site (:func:`regime`). The choices live in a small committed
table, ``interval-defaults.json`` beside this module, written by
``brainbench calibrate --grid NAME --write-defaults PATH`` (or ``--from-json`` earlier grid
runs) with :func:`choose_defaults`, never by hand.

Rule (:func:`choose_defaults`): within a regime, over the grid cells of that metric, a method
is eligible when it gave an interval in every cell; the chosen one has the smallest worst-cell
distance ``max |coverage - 0.95|``; distances within :data:`TIE` of the best are tied and the
smallest mean distance wins, then the registry's order (percentile first). An entry
``meets_goal`` when the chosen method covered within :data:`GOAL` in every cell, and
``consistent_with_goal`` when every cell is within two Monte-Carlo SEs of it; when not,
``evaluate`` attaches a warning naming the regime and the coverage range (``why``), so a result
from that design is flagged, not silently trusted.

Where a selection run has :data:`PRECISE` data sets per design (``calibrate --grid
reselect``), the regimes it covers are chosen from such runs alone: the coarser runs' cells
there are dropped, not pooled.

Choosing the best of several methods on noisy cells overstates the winner's coverage (the
winner's curse), so the choice is then *confirmed*: ``brainbench calibrate --grid confirm``
evaluates only the chosen method (and the percentile interval, the earlier default) on fresh
data sets, many per cell, in designs of every regime, some the selection runs never had
(3 sessions, ICC 0, 32 sites, prevalence 0.2). With such runs among the inputs each entry
records its ``confirmation`` (designs, data sets per design, the largest Monte-Carlo SE, the
coverage range, percentile's beside it); the regime is ``consistent_with_goal`` only when the
selection runs and the confirmation both are, judged cell by cell with each cell's own
Monte-Carlo SE. The confirmation never changes the choice (that would be selection again).

With fewer than :data:`~brainbench.stats._evaluate.MIN_ESTIMABLE_CLUSTERS` sites no site-level
interval is estimable: the entry records the candidates' coverage there (why) and the engine
reports the interval conditional on the sites. When the outer resampled level is the subject
(or the unit), the grid's site -> subject design does not apply and the percentile interval of
the hierarchical bootstrap is used (the study of ``benchmarks/stats/README.md``: 95-96% from
8 clusters on).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from brainbench.errors import UserError

TABLE = Path(__file__).with_name("interval-defaults.json")
#: Coverage goal of issue 15 for nominal 95% intervals.
GOAL = (0.94, 0.96)
#: Worst-cell distances closer than this to the best are ties (about one Monte-Carlo SE of a
#: coverage near 95% from 2,000 data sets; a third of one from 200).
TIE = 0.005
#: Data sets per design from which a selection run supersedes the coarser runs (200-400 data
#: sets) in the regimes it covers: a Monte-Carlo SE of about 0.5 point at 95%, so the best of
#: seven candidates is chosen for its coverage rather than its luck.
PRECISE = 2000
#: The goal's scope (issue 15): designs with >= 4 sites and at least this many test subjects.
#: A regime's ``goal_scope`` judges its chosen method on those designs alone (selection and
#: confirmation); the engine's flag stays per regime, so a small design is still flagged.
GOAL_SUBJECTS = 40
#: Site regimes: (lowest, highest) number of outer clusters, ``None`` = no upper bound.
SITE_REGIMES: tuple[tuple[int, int | None], ...] = ((2, 3), (4, 7), (8, None))
#: Subjects-per-site regimes (the grid has 5, 20 and 80: 10 and 40 split them on a log scale).
SUBJECT_REGIMES: tuple[tuple[int, int | None], ...] = ((1, 9), (10, 39), (40, None))
#: Outer levels the grid's site -> subject simulation stands for.
SITE_LIKE = ("dataset", "site", "scanner")


def _label(bounds: tuple[int, int | None], what: str) -> str:
    lo, hi = bounds
    if hi is None:
        return f">= {lo} {what}"
    return f"{lo}-{hi} {what}"


def _bin(value: float, regimes: tuple[tuple[int, int | None], ...]) -> tuple[int, int | None]:
    for lo, hi in regimes:
        if value >= lo and (hi is None or value <= hi):
            return lo, hi
    return regimes[0]


def regime(n_sites: int, subjects_per_site: float) -> tuple[str, str]:
    """The design regime's labels, e.g. ``("4-7 sites", "10-39 subjects per site")``.

    ``subjects_per_site`` is the mean; it is rounded down to a whole subject (a site with
    9.5 subjects on average is in the lowest regime)."""
    return (
        _label(_bin(n_sites, SITE_REGIMES), "sites"),
        _label(_bin(int(np.floor(subjects_per_site)), SUBJECT_REGIMES), "subjects per site"),
    )


@dataclass(frozen=True)
class Choice:
    """The calibrated interval for one metric and regime."""

    method: str
    chosen_for: str
    entry: dict[str, Any] | None

    @property
    def calibration(self) -> dict[str, Any]:
        """What the result records of the table entry (empty without one): the chosen
        method's coverage range over the confirmation run's designs when the regime was
        confirmed (``data_sets_per_design`` says how many data sets each had), else over the
        selection runs' designs."""
        e = self.entry
        if e is None:
            return {}
        conf = e.get("confirmation")
        if conf and conf["cells"]:
            return {
                "coverage_min": conf["coverage"]["min"],
                "coverage_max": conf["coverage"]["max"],
                "designs": conf["cells"],
                "data_sets_per_design": conf["n_per_cell"][0],
                "consistent_with_goal": e["consistent_with_goal"],
                "source": conf["source"],
            }
        cov = e["coverage"][self.method]
        return {
            "coverage_min": cov["min"],
            "coverage_max": cov["max"],
            "designs": e["cells"],
            "consistent_with_goal": e["consistent_with_goal"],
            "source": e["source"],
        }

    @property
    def warning(self) -> str | None:
        """The message flagging a regime where the chosen method missed the goal (in the
        selection runs or in the confirmation run)."""
        e = self.entry
        if e is None or e["consistent_with_goal"]:
            return None
        return (
            f"Calibration: in the simulated designs of this regime ({self.chosen_for}) "
            f"{e['why']}. Treat this interval as approximate."
        )


@lru_cache(maxsize=4)
def load_table(path: str | None = None) -> dict[str, Any]:
    """The committed table (or the one at ``path``)."""
    p = Path(path) if path else TABLE
    try:
        return json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise UserError(
            f"Cannot read the interval-defaults table {p}: {e}. Regenerate it with "
            "`brainbench calibrate --grid extended --write-defaults PATH`."
        ) from e


def calibrated_choice(
    metric: str, n_sites: int, subjects_per_site: float, outer: str, table: dict | None = None
) -> Choice:
    """The interval ``calibrated`` stands for (see the module docstring)."""
    if outer not in SITE_LIKE:
        return Choice(
            "percentile",
            f"outer level {outer}: many independent clusters (the grid's site designs do not "
            "apply)",
            None,
        )
    table = table if table is not None else load_table()
    sites, subjects = regime(n_sites, subjects_per_site)
    entry = next(
        (
            e
            for e in table["choices"]
            if e["metric"] == metric and e["sites"] == sites and e["subjects_per_site"] == subjects
        ),
        None,
    )
    if entry is None:
        return Choice(
            "percentile",
            f"{sites}, {subjects}: not in the calibration table for '{metric}' (the percentile "
            "interval, the earlier default)",
            None,
        )
    return Choice(entry["method"], f"{sites}, {subjects}", entry)


def _near_goal(coverage: float, mc_se: float) -> bool:
    """The coverage is within two Monte-Carlo SEs of the goal interval."""
    return GOAL[0] - 2 * mc_se <= coverage <= GOAL[1] + 2 * mc_se


def paired_regimes(paired: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Paired-comparison verdicts per design regime, from ``run_paired_grid`` runs, by the rule
    of :data:`brainbench.stats._calibrate_paired.RULE`.

    A design belongs to the regime of its sites and mean subjects per site. A regime is judged
    from its designs with >= 1,900 data sets; with none it is flagged ("too few data sets to
    judge 4-6%"). A method qualifies when it held its level in every judged design; the
    recommended one has the highest mean power among those (the mixed model is not an
    interval of the paired bootstrap: it is the yardstick of power). The regime
    ``meets_goal`` when one qualifies and its power is at least the mixed model's in every
    judged design where the mixed model ran; otherwise ``why`` says what failed and
    ``compare`` flags the design."""
    from brainbench.stats._calibrate_paired import (
        MIN_DATA_SETS,
        TOO_FEW,
        design_label,
        paired_verdicts,
    )

    by: dict[tuple[str, str], list[tuple[dict, str]]] = {}
    for res in paired:
        for v in paired_verdicts(res):
            key = regime(v["sites"], float(np.mean(v["site_sizes"])))
            by.setdefault(key, []).append((v, res["command"]))
    out = []
    for (sites, subjects), items in sorted(by.items()):
        used = [(v, c) for v, c in items if v["judged"]] or items
        vs = [v for v, _ in used]
        qualify = set.intersection(*(set(v["calibrated"]) for v in vs)) - {"mixed"}
        best = max(
            sorted(qualify), key=lambda m: np.mean([v["power"][m] for v in vs]), default=None
        )
        why = ""
        if not vs[0]["judged"]:
            why = (
                f"{TOO_FEW}: "
                + "; ".join(f"{design_label(v)}: {v['data_sets']} data sets" for v in vs)
                + f" ({MIN_DATA_SETS:,} needed)"
            )
        elif best is None:
            why = "no bootstrap method held its type-I error within 4-6% in every design: " + (
                "; ".join(
                    f"{design_label(v)}: "
                    + ", ".join(f"{m} {100 * r:.1f}%" for m, r in v["type1"].items())
                    for v in vs
                )
            )
        elif weaker := [v for v in vs if best not in v["at_least_mixed"]]:
            why = f"{best} holds its level but is less powerful than the mixed model: " + (
                "; ".join(
                    f"{design_label(v)}: {100 * v['power'][best]:.1f}% vs "
                    f"{100 * v['power']['mixed']:.1f}% (difference "
                    f"{100 * v['power_vs_mixed'][best]['diff']:+.1f} points, MC SE "
                    f"{100 * v['power_vs_mixed'][best]['mc_se']:.1f})"
                    for v in weaker
                )
            )
            if all("mixed" in v["calibrated"] for v in weaker):
                why += " (`compare --method mixed` held its level there: the more powerful test)"
        out.append(
            {
                "sites": sites,
                "subjects_per_site": subjects,
                "recommended": best,
                "meets_goal": not why,
                "why": why,
                "designs": vs,
                "source": " + ".join(sorted({c for _, c in used})),
            }
        )
    return out


def paired_choice(
    n_sites: int, subjects_per_site: float, table: dict | None = None
) -> dict[str, Any] | None:
    """The paired-comparison entry of the table for this design's regime (None if none)."""
    table = table if table is not None else load_table()
    sites, subjects = regime(n_sites, subjects_per_site)
    return next(
        (
            e
            for e in table.get("paired", [])
            if e["sites"] == sites and e["subjects_per_site"] == subjects
        ),
        None,
    )


def describe_choice(metric: str, n_sites: int, subjects_per_site: float) -> str:
    """One sentence: what ``interval: calibrated`` uses for this design (``brainbench plan``)."""
    if n_sites < SITE_REGIMES[1][0]:
        return (
            f"{n_sites} site(s): a site-level interval is not estimable; `evaluate` reports the "
            "interval conditional on the sites (subjects resampled within each)."
        )
    c = calibrated_choice(metric, n_sites, subjects_per_site, "site")
    if c.entry is None:
        return f"`interval: calibrated` uses percentile ({c.chosen_for})."
    cov = c.calibration
    text = (
        f"`interval: calibrated` uses {c.method} for {metric}, chosen for {c.chosen_for} "
        f"(coverage {cov['coverage_min']:.1%}-{cov['coverage_max']:.1%} of nominal 95% "
        f"intervals in {cov['designs']} simulated designs)"
    )
    return text + ("." if cov["consistent_with_goal"] else "; below the 94-96% goal: approximate.")


def choose_defaults(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The defaults table from grid runs (``run_interval_grid``'s output) and paired runs
    (``run_paired_grid``'s, recognised by their ``rates``)."""
    from brainbench.stats._intervals import INTERVAL_METHODS

    paired = [r for r in results if "rates" in r]
    confirms = [r for r in results if "confirms" in r]
    results = [r for r in results if "rates" not in r and "confirms" not in r]

    order = list(INTERVAL_METHODS)
    rows: dict[tuple, list[tuple[str, int, dict[str, Any]]]] = {}
    for res in results:
        for r in res["coverage"]:
            sites, subjects = regime(r["sites"], r["subjects_per_site"])
            rows.setdefault((r["metric"], sites, subjects), []).append(
                (res["command"], res["grid"]["replicates"], r)
            )
    cells: dict[tuple, dict[str, list[tuple[float, float, int]]]] = {}
    counts: dict[tuple, set] = {}
    sources: dict[tuple, set] = {}
    for key, got in rows.items():
        if any(n >= PRECISE for _, n, _ in got):
            got = [row for row in got if row[1] >= PRECISE]
        for command, _, r in got:
            cells.setdefault(key, {}).setdefault(r["method"], []).append(
                (r["coverage"], r["mc_se"], r["sites"] * r["subjects_per_site"])
            )
            cell = (r["sites"], r["subjects_per_site"], r["sessions"], r["icc"], r["prevalence"])
            counts.setdefault(key, set()).add((command, cell))
            sources.setdefault(key, set()).add(command)
    choices = []
    for key in sorted(cells):
        metric, sites, subjects = key
        n = len(counts[key])
        by = cells[key]
        stats = {
            m: {
                "min": float(min(c for c, _, _ in v)),
                "max": float(max(c for c, _, _ in v)),
                "worst_distance": float(max(abs(c - 0.95) for c, _, _ in v)),
                "mean_distance": float(np.mean([abs(c - 0.95) for c, _, _ in v])),
                "in_goal": int(sum(GOAL[0] <= c <= GOAL[1] for c, _, _ in v)),
                "within_mc_error": int(sum(_near_goal(c, se) for c, se, _ in v)),
                "cells": len(v),
            }
            for m, v in sorted(by.items(), key=lambda kv: order.index(kv[0]))
        }
        eligible = [m for m, s in stats.items() if s["cells"] == n]
        best = min(stats[m]["worst_distance"] for m in eligible)
        tied = [m for m in eligible if stats[m]["worst_distance"] <= best + TIE]
        method = min(tied, key=lambda m: (stats[m]["mean_distance"], order.index(m)))
        estimable = not sites.startswith(f"{SITE_REGIMES[0][0]}-")
        source = " + ".join(sorted(sources[key]))
        conf = _confirmation(confirms, key, method) if estimable else None
        selected = stats[method]["within_mc_error"] == n
        why = []
        if estimable and not selected:
            why.append(
                f"no interval method covered {GOAL[0]:.0%}-{GOAL[1]:.0%} in every design "
                f"(within Monte-Carlo error); the chosen {method} covered "
                f"{stats[method]['min']:.1%}-{stats[method]['max']:.1%} ({n} designs, "
                f"`{source}`)"
            )
        if conf and conf["consistent_with_goal"] is False:
            why.append(conf["why"])
        scope = [(c, se) for c, se, subjects in by[method] if subjects >= GOAL_SUBJECTS]
        if conf and conf["cells"]:
            scope += [
                (d["coverage"], d["mc_se"])
                for d in conf["designs"]
                if d["sites"] * d["subjects_per_site"] >= GOAL_SUBJECTS
            ]
        choices.append(
            {
                "metric": metric,
                "sites": sites,
                "subjects_per_site": subjects,
                "method": method if estimable else "conditional",
                "best_site_level": method,
                "estimable": estimable,
                "meets_goal": estimable
                and stats[method]["in_goal"] == n
                and (conf is None or conf["meets_goal"] is not False),
                "consistent_with_goal": estimable and not why,
                "why": "; ".join(why),
                "goal_scope": {
                    "designs": len(scope) if estimable else 0,
                    "consistent_with_goal": (
                        all(_near_goal(c, se) for c, se in scope) if estimable and scope else None
                    ),
                },
                "cells": n,
                "source": source,
                "coverage": stats,
            }
            | ({"confirmation": conf} if conf else {})
        )
    return {
        "generated_by": [r["command"] for r in results + paired + confirms],
        "replicates": sorted({r["grid"]["replicates"] for r in results}),
        "goal": list(GOAL),
        "rule": (
            "per (metric, sites, subjects per site): among methods with an interval in every "
            "cell, the smallest worst-cell |coverage - 0.95|; within "
            f"{TIE} of it, the smallest mean |coverage - 0.95|; where runs with >= {PRECISE} "
            "data sets per design cover the regime, only their cells"
        ),
        "site_regimes": [list(r) for r in SITE_REGIMES],
        "subject_regimes": [list(r) for r in SUBJECT_REGIMES],
        "choices": choices,
    } | ({"paired": paired_regimes(paired)} if paired else {})


def _confirmation(
    confirms: list[dict[str, Any]], key: tuple[str, str, str], method: str
) -> dict[str, Any] | None:
    """The confirmation of a regime's chosen ``method`` by ``calibrate --grid confirm`` runs
    (``None`` when none covers the regime): the chosen method's coverage in each confirmed
    design, judged with that design's own Monte-Carlo SE, and percentile's beside it. A run
    that evaluated another method (the table changed since) confirms nothing: ``cells`` 0."""
    metric, sites, subjects = key
    rows = [
        (res["command"], r)
        for res in confirms
        for r in res["coverage"]
        if r["metric"] == metric and regime(r["sites"], r["subjects_per_site"]) == (sites, subjects)
    ]
    if not rows:
        return None
    # Only the runs that evaluated this method confirm it (another run of the regime may have
    # evaluated an earlier choice); percentile is read from those runs too.
    mine = [r for _, r in rows if r["method"] == method]
    used = {c for c, r in rows if r["method"] == method}
    if not mine:
        source = " + ".join(sorted({c for c, _ in rows}))
        tried = ", ".join(sorted({r["method"] for _, r in rows if r["chosen"]}))
        # Not a failure of the chosen method: the regime keeps its selection verdict.
        return {
            "method": method,
            "cells": 0,
            "meets_goal": None,
            "consistent_with_goal": None,
            "why": f"not confirmed: the confirmation run evaluated {tried}, the choice when it "
            f"ran (`{source}`); rerun it",
            "source": source,
        }

    def summary(rs: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "min": float(min(r["coverage"] for r in rs)),
            "max": float(max(r["coverage"] for r in rs)),
            "in_goal": int(sum(GOAL[0] <= r["coverage"] <= GOAL[1] for r in rs)),
            "within_mc_error": int(sum(_near_goal(r["coverage"], r["mc_se"]) for r in rs)),
            "cells": len(rs),
        }

    source = " + ".join(sorted(used))
    design = ("sites", "subjects_per_site", "sessions", "icc", "prevalence")
    percentile = {
        tuple(r[d] for d in design): r for c, r in rows if r["method"] == "percentile" and c in used
    }
    cov = summary(mine)
    missed = [r for r in mine if not _near_goal(r["coverage"], r["mc_se"])]
    lo, hi = min(r["n"] for r in mine), max(r["n"] for r in mine)
    why = ""
    if missed:
        why = (
            f"in a confirmation run ({len(mine)} designs, {lo if lo == hi else f'{lo}-{hi}'} "
            f"data sets each, `{source}`) the chosen {method} "
            f"covered outside {GOAL[0]:.0%}-{GOAL[1]:.0%} beyond two Monte-Carlo SEs in "
            f"{len(missed)}: "
            + ", ".join(
                f"{r['sites']} sites x {r['subjects_per_site']} subjects x {r['sessions']} "
                f"session{'s' if r['sessions'] > 1 else ''}, ICC {r['icc']:g}, prevalence "
                f"{r['prevalence']:g}: "
                f"{r['coverage']:.1%} (SE {r['mc_se']:.1%})"
                for r in missed
            )
        )
    return {
        "method": method,
        "cells": len(mine),
        "n_per_cell": [lo, hi],
        "mc_se_max": float(max(r["mc_se"] for r in mine)),
        "coverage": cov,
        "percentile": summary(list(percentile.values())) if percentile else None,
        "meets_goal": cov["in_goal"] == len(mine),
        "consistent_with_goal": not missed,
        "why": why,
        "source": source,
        "designs": [
            {d: r[d] for d in design}
            | {"coverage": r["coverage"], "mc_se": r["mc_se"], "n": r["n"]}
            | (
                {"percentile": percentile[tuple(r[d] for d in design)]["coverage"]}
                if tuple(r[d] for d in design) in percentile
                else {}
            )
            for r in mine
        ],
    }


def render_confirmation_markdown(choices: list[dict[str, Any]]) -> str:
    """The confirmation per regime (entries with a ``confirmation``): a table, then why each
    flagged regime is flagged."""
    out = [
        "Confirmation of the chosen methods: fresh data sets (a seed the selection runs did "
        "not use), only the chosen method and the percentile interval (the earlier default) "
        "on the same data sets, in designs of each regime including ones the selection runs "
        "never had. Goal: every design within 94-96% up to two of its own Monte-Carlo SEs; a "
        "regime that misses it (in the selection or the confirmation) is flagged by "
        "`evaluate`, D307 and the evidence sheet. Coverage: min-max over the designs (%); in "
        "goal: designs within 94-96% / within it up to two MC SEs / designs; data sets: with "
        "an interval of the chosen method, per design.",
        "",
        "| metric | sites | subjects/site | chosen | confirmed coverage | in goal | data sets "
        "| max MC SE | percentile | goal |",
        "| --- | --- | --- | --- | --- | --- | ---: | ---: | --- | --- |",
    ]
    why = []
    for e in choices:
        c = e["confirmation"]
        row = [e["metric"], e["sites"], e["subjects_per_site"], e["method"]]
        if c["cells"]:
            cov, pct = c["coverage"], c["percentile"]
            lo, hi = c["n_per_cell"]
            row += [
                f"{100 * cov['min']:.1f}-{100 * cov['max']:.1f}",
                f"{cov['in_goal']}/{cov['within_mc_error']}/{c['cells']}",
                str(lo) if lo == hi else f"{lo}-{hi}",
                f"{100 * c['mc_se_max']:.1f}",
                "-" if pct is None else f"{100 * pct['min']:.1f}-{100 * pct['max']:.1f}",
            ]
        else:
            row += ["not confirmed", "-", "-", "-", "-"]
        row.append("met" if e["consistent_with_goal"] else "**flagged**")
        out.append("| " + " | ".join(row) + " |")
        reason = e["why"] if c["cells"] else c["why"]
        if reason:
            why.append(f"- {e['metric']}, {e['sites']}, {e['subjects_per_site']}: {reason}.")
    return "\n".join(out + (["", *why] if why else []))


def render_defaults_markdown(table: dict[str, Any]) -> str:
    """The table as Markdown: the choice per regime and every candidate's coverage range."""
    from brainbench.stats._intervals import INTERVAL_METHODS

    methods = list(INTERVAL_METHODS)
    out = [
        "Generated by: "
        + "; ".join(f"`{c}`" for c in table["generated_by"])
        + ". Rule: "
        + table["rule"]
        + ". Cells: coverage range of nominal 95% intervals over the regime's designs in "
        "the selection runs (min-max, %), and how many designs were within 94-96% / within "
        "it up to two Monte-Carlo SEs / designs; goal met: in the selection runs and, where "
        f"a confirmation run covers the regime, in it too (table below); goal met, >= "
        f"{GOAL_SUBJECTS} subjects: the same judged on the designs with at least "
        f"{GOAL_SUBJECTS} test subjects (the goal's scope; how many in brackets; '-': none, or "
        "not estimable).",
        "",
        "| metric | sites | subjects/site | chosen | goal met (+-2 MC SE) | goal met, >= "
        f"{GOAL_SUBJECTS} subjects | designs | " + " | ".join(methods) + " |",
        "| --- | --- | --- | --- | --- | --- | ---: | " + " | ".join(["---"] * len(methods)) + " |",
    ]
    for e in table["choices"]:
        row = [e["metric"], e["sites"], e["subjects_per_site"]]
        row.append(
            f"**{e['method']}**"
            if e["estimable"]
            else f"conditional (not estimable; best site-level: {e['best_site_level']})"
        )
        scope = e["goal_scope"]
        row += [
            "yes" if e["consistent_with_goal"] else "no",
            "-"
            if scope["consistent_with_goal"] is None
            else f"{'yes' if scope['consistent_with_goal'] else 'no'} ({scope['designs']})",
            str(e["cells"]),
        ]
        for m in methods:
            s = e["coverage"].get(m)
            row.append(
                "-"
                if s is None
                else f"{100 * s['min']:.1f}-{100 * s['max']:.1f} "
                f"({s['in_goal']}/{s['within_mc_error']}/{s['cells']})"
            )
        out.append("| " + " | ".join(row) + " |")
    confirmed = [e for e in table["choices"] if e.get("confirmation")]
    if confirmed:
        out += ["", render_confirmation_markdown(confirmed)]
    if table.get("paired"):
        from brainbench.stats._calibrate_paired import RULE

        out += [
            "",
            "Paired comparisons (difference of balanced accuracies): recommended method per "
            "regime, or the design flagged and why. Rule: " + RULE + ".",
            "",
            "| sites | subjects/site | recommended | meets goal | why not |",
            "| --- | --- | --- | --- | --- |",
        ]
        for e in table["paired"]:
            out.append(
                f"| {e['sites']} | {e['subjects_per_site']} | {e['recommended'] or 'none'} | "
                f"{'yes' if e['meets_goal'] else 'no (flagged)'} | {e['why'] or '-'} |"
            )
    return "\n".join(out)


__all__ = [
    "GOAL",
    "SITE_REGIMES",
    "SUBJECT_REGIMES",
    "Choice",
    "calibrated_choice",
    "choose_defaults",
    "load_table",
    "regime",
    "render_confirmation_markdown",
    "render_defaults_markdown",
]
