"""Calibration of paired comparisons (issue 15, item 3): type-I error and power per design.

Two models are scored on one simulated test set of ``sites`` x ``subjects`` x 2 sessions
(:func:`brainbench.stats._simulate.simulate_arrays`: shared site, subject and session effects,
plus each model's own site effect, sd 0.3, and subject effect, sd 0.6, as in the study of
``benchmarks/stats/README.md``). Under the null both models have the logits
``MU = (1.2, 0.8)``; under the alternative model A's logits are ``MU + DELTA`` on both classes.
Each data set is tested at alpha = 0.05 on the difference of balanced accuracies (A - B) by
the methods ``compare`` offers for a test set:

* ``paired-bootstrap`` (the default of ``compare``): paired hierarchical bootstrap [site,
  subject], class-stratified, p-value from the percentile interval
  (:func:`~brainbench.stats._bootstrap.bootstrap_p_value`);
* ``cluster-bootstrap-t``: sites resampled, each resample studentised by its cluster jackknife
  (:func:`~brainbench.stats._intervals.cluster_t`);
* ``wild-cluster-rademacher`` / ``wild-cluster-webb``: the wild cluster bootstrap-t of the
  difference of the two weighted means (unrestricted, WCU;
  :func:`~brainbench.stats._intervals.wild_cluster_t`);
* ``cr2``: the CR2 t test with Bell-McCaffrey degrees of freedom
  (:func:`~brainbench.stats._intervals.cr2_interval`);
* ``mixed-satterthwaite``: the difference of balanced accuracies with its variance under
  the REML mixed model of the per-session differences of the class-weighted contributions
  (site and subject random intercepts) and Satterthwaite df
  (:func:`~brainbench.stats._intervals.mixed_interval`, ``compare --method bootstrap
  --interval mixed-satterthwaite``), from 4 sites;
* ``mixed``: REML mixed model of the per-session differences of the class-weighted
  contributions, random site intercept and subject variance component, t test with
  Satterthwaite df (:func:`~brainbench.stats._mixed.fit_mixed`); as in ``compare``, only
  with at least 5 sites (``compare`` refuses fewer).

The studentised methods reject when ``t_p_value < alpha`` (symmetric bootstrap-t p-value).
Each cell's rejection rate comes with its Monte-Carlo SE ``sqrt(r (1 - r) / n)``, and each
method's with the difference from the mixed model's on the same data sets
(:func:`rate_difference`). The verdicts follow :data:`RULE`, stated once.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import numpy as np

from brainbench.stats._bootstrap import Block, Statistic, bootstrap_p_value
from brainbench.stats._intervals import (
    cluster_t,
    cr2_interval,
    mean_form,
    mixed_interval,
    t_p_value,
    wild_cluster_t,
)
from brainbench.stats._metrics import METRICS, Columns
from brainbench.stats._mixed import fit_mixed
from brainbench.stats._resample import ClusterDesign
from brainbench.stats._simulate import simulate_arrays

MU = (1.2, 0.8)
#: The alternative's shift of model A's logits (both classes).
DELTA = 0.5
SIM = {
    "sessions_per_subject": 2,
    "sd_site": 0.5,
    "sd_subject": 0.8,
    "sd_session": 0.3,
    "model_sd_site": 0.3,
    "model_sd_subject": 0.6,
}
ALPHA = 0.05
#: ``compare --method mixed`` needs this many sites.
MIXED_MIN_SITES = 5
#: Data sets per design from which a run judges "within 4-6%": two Monte-Carlo SEs of a 5%
#: rejection rate are then at most one percentage point (2 sqrt(0.05 x 0.95 / n) <= 0.01).
MIN_DATA_SETS = 1900
TOO_FEW = "too few data sets to judge 4-6%"
#: The one statement of the paired-comparison goal's rule (issue 15), for code and reports.
RULE = (
    "a design is judged from >= 1,900 data sets per cell, where two Monte-Carlo SEs of a 5% "
    f"rate are at most 1 point (with fewer: '{TOO_FEW}', never the goal met); a method holds "
    "its level when its type-I error r is within 4-6% up to two MC SEs, 0.04 - 2 SE <= r <= "
    "0.06 + 2 SE with SE = sqrt(r (1 - r) / n) (Morris, White & Crowther 2019, Stat Med "
    "38:2074-2102); its power is at least the mixed model's when the difference d of their "
    "rejection rates under the alternative, on the same data sets, is >= -2 SE_d with SE_d = "
    "sqrt(b + c - (b - c)^2 / n) / n (b, c: data sets only the method, only the mixed model "
    "rejects; the SE of a difference of dependent proportions, Agresti 2013, Categorical Data "
    "Analysis, Section 11.1); the goal is met when the most powerful method holding its level "
    "has power at least the mixed model's (where that ran: >= 5 sites)"
)
METHODS = (
    "paired-bootstrap",
    "cluster-bootstrap-t",
    "wild-cluster-rademacher",
    "wild-cluster-webb",
    "cr2",
    "mixed-satterthwaite",
    "mixed",
)
#: What the unequal-site presets share (6 and 8 sites, the largest 8 times the smallest).
_UNEQUAL: dict[str, Any] = {
    "sites": [6, 8],
    "effect": [0.0, DELTA],
    "replicates": 200,
    "resamples": 199,
    "size_ratio": 8.0,
}
PAIRED_PRESETS: dict[str, dict[str, Any]] = {
    # Runs in the tests in a few seconds.
    "quick": {
        "sites": [6],
        "subjects_per_site": [5],
        "effect": [0.0, DELTA],
        "replicates": 40,
        "resamples": 199,
    },
    # The part run for docs/statistics.md (2 shared cores).
    "partial": {
        "sites": [4, 6, 8, 16],
        "subjects_per_site": [5, 20],
        "effect": [0.0, DELTA],
        "replicates": 200,
        "resamples": 199,
    },
    # Unequal sites (sizes in geometric progression, the largest 8 times the smallest, mean
    # 20): where the mixed model's REML estimate and the plain difference differ.
    "unbalanced": {**_UNEQUAL, "subjects_per_site": [20]},
    # Unequal small sites: the same progression with 5 subjects per site on average and at
    # least 2 each (6 sites: 2, 2, 3, 5, 7, 11; 8 sites: 2, 2, 3, 3, 5, 6, 8, 11), the
    # "1-9 subjects per site" regime.
    "unbalanced-small": {**_UNEQUAL, "subjects_per_site": [5]},
    # The top edge of the "1-9 subjects per site" regime (9 per site, equal sites), where an
    # ad-hoc check on 400 data sets saw CR2 at 7.5% with 6 sites of 9-10 subjects.
    "edge": {
        "sites": [4, 6, 8],
        "subjects_per_site": [9],
        "effect": [0.0, DELTA],
        "replicates": 2000,
        "resamples": 199,
    },
}


def site_sizes(sites: int, per_site: int, size_ratio: float = 1.0) -> np.ndarray:
    """Subjects per site: ``per_site`` each, or with ``size_ratio`` > 1 a geometric
    progression from the smallest to ``size_ratio`` times it, about ``per_site`` on average
    (at least 2 each)."""
    w = size_ratio ** np.linspace(0.0, 1.0, sites)
    return np.maximum(2, np.round(per_site * sites * w / w.sum())).astype(int)


def _cols(y: np.ndarray, score: np.ndarray) -> Columns:
    return Columns(y=y, pred=(score >= 0.5).astype(np.int64), score=score)


def replicate_p_values(
    rng: np.random.Generator,
    sites: int,
    per_site: int,
    effect: float,
    resamples: int,
    size_ratio: float = 1.0,
) -> dict[str, float]:
    """Every method's p-value on one simulated pair of models (sites of
    :func:`site_sizes`)."""
    shifted = (MU[0] + effect, MU[1] + effect)
    sizes = site_sizes(sites, per_site, size_ratio)
    arr = simulate_arrays(
        rng, n_sites=sites, subjects_per_site=sizes, mu={"A": shifted, "B": MU}, **SIM
    )
    y, site, subject = arr["y"], arr["site"], arr["subject"]
    ca, cb = _cols(y, arr["score_A"]), _cols(y, arr["score_B"])
    metric = METRICS.get("balanced_accuracy")
    hier = ClusterDesign([site, subject], strata=y)
    stat = Statistic(
        hier, [Block(metric, ca, hier.row_atom, 1.0), Block(metric, cb, hier.row_atom, -1.0)]
    )
    theta = stat.resample(resamples, rng)
    out = {"paired-bootstrap": bootstrap_p_value(theta[np.isfinite(theta)])}
    flat = ClusterDesign([site])
    got = cluster_t(
        Statistic(
            flat, [Block(metric, ca, flat.row_atom, 1.0), Block(metric, cb, flat.row_atom, -1.0)]
        ),
        resamples=resamples,
        rng=rng,
    )
    out["cluster-bootstrap-t"] = float("nan") if got is None else t_p_value(*got)
    (ua, wa), (ub, wb) = mean_form("balanced_accuracy", ca), mean_form("balanced_accuracy", cb)
    blocks = [(ua, wa, flat.row_atom, 1.0), (ub, wb, flat.row_atom, -1.0)]
    for weights in ("rademacher", "webb"):
        got = wild_cluster_t(blocks, sites, resamples=resamples, weights=weights, rng=rng)
        out[f"wild-cluster-{weights}"] = float("nan") if got is None else t_p_value(*got)
    out["cr2"] = cr2_interval(blocks, sites)[2]
    rows = np.arange(len(y))
    out["mixed-satterthwaite"] = mixed_interval(
        [(ua, wa, rows, 1.0), (ub, wb, rows, -1.0)], [site, subject], ["site", "subject"]
    )[2]
    if sites >= MIXED_MIN_SITES:
        d = (ua - ub) * len(y) * wa  # class weights: mean(d) = the difference
        try:
            out["mixed"] = fit_mixed(d, [site, subject], ["site", "subject"]).beta.p_value
        except ValueError:  # constant differences
            out["mixed"] = float("nan")
    return out


def run_paired_grid(
    preset: str = "quick", *, replicates: int | None = None, seed: int = 2024
) -> dict[str, Any]:
    """Rejection rates of every method per (sites, subjects per site, effect) cell.

    Seeded: cell k uses ``numpy.random.default_rng([seed, k])``."""
    grid = dict(PAIRED_PRESETS[preset])
    if replicates is not None:
        grid["replicates"] = replicates
    start = time.perf_counter()
    rows = []
    cells = itertools.product(grid["sites"], grid["subjects_per_site"], grid["effect"])
    for k, (sites, per_site, effect) in enumerate(cells):
        rng = np.random.default_rng([seed, k])
        reps = [
            replicate_p_values(
                rng, sites, per_site, effect, grid["resamples"], grid.get("size_ratio", 1.0)
            )
            for _ in range(grid["replicates"])
        ]
        # One row per data set (NaN where a method gave no p-value), so that two methods'
        # rejections can be paired on the same data sets.
        p = {m: np.array([r.get(m, np.nan) for r in reps]) for m in METHODS if m in reps[0]}
        for name, values in p.items():
            done = np.isfinite(values)
            if not done.any():
                continue
            rate = float(np.mean(values[done] < ALPHA))
            n = int(done.sum())
            row = {
                "sites": sites,
                "subjects_per_site": per_site,
                "effect": effect,
                "method": name,
                "rate": rate,
                "mc_se": float(np.sqrt(max(rate * (1 - rate), 1e-12) / n)),
                "n": n,
            }
            if "mixed" in p:
                row["vs_mixed"] = rate_difference(values, p["mixed"])
            rows.append(row)
    command = f"brainbench calibrate --paired-grid {preset} --seed {seed}"
    if replicates is not None:
        command += f" --replicates {replicates}"
    return {
        "command": command,
        "grid": grid,
        "seed": seed,
        "alpha": ALPHA,
        "delta": DELTA,
        "rates": rows,
        "seconds": time.perf_counter() - start,
    }


def rate_difference(p: np.ndarray, q: np.ndarray) -> dict[str, float]:
    """The difference of two methods' rejection rates at ``ALPHA`` on the same data sets
    (those where both gave a p-value), with its Monte-Carlo SE.

    With ``b`` data sets rejected by the first method only and ``c`` by the second only, out
    of ``n``, the difference is ``(b - c) / n`` and its SE ``sqrt(b + c - (b - c)^2 / n) / n``:
    the standard error of a difference of two dependent proportions (Agresti 2013,
    Categorical Data Analysis, 3rd ed., Section 11.1), the Monte-Carlo SE of a paired
    comparison of two methods on one set of simulated data sets (Morris, White & Crowther
    2019, Stat Med 38:2074-2102, doi:10.1002/sim.8086)."""
    both = np.isfinite(p) & np.isfinite(q)
    rp, rq = p[both] < ALPHA, q[both] < ALPHA
    n, b, c = int(both.sum()), int(np.sum(rp & ~rq)), int(np.sum(~rp & rq))
    if n == 0:
        return {"diff": float("nan"), "mc_se": float("nan"), "n": 0, "b": 0, "c": 0}
    return {
        "diff": (b - c) / n,
        "mc_se": float(np.sqrt(max(b + c - (b - c) ** 2 / n, 0.0)) / n),
        "n": n,
        "b": b,
        "c": c,
    }


def holds_level(row: dict[str, Any]) -> bool:
    """A null cell's rejection rate holds the 4-6% goal by :data:`RULE`: judged from at least
    :data:`MIN_DATA_SETS` data sets, within 4-6% up to two Monte-Carlo SEs."""
    return row["n"] >= MIN_DATA_SETS and _near(row)


def at_least_mixed(row: dict[str, Any]) -> bool:
    """An alternative cell's power is at least the mixed model's by :data:`RULE`: the
    difference of their rejection rates on the same data sets (:func:`rate_difference`) is
    not below zero by more than two of its Monte-Carlo SEs. True where the mixed model did not
    run (fewer than :data:`MIXED_MIN_SITES` sites: ``compare --method mixed`` refuses)."""
    vs = row.get("vs_mixed")
    return vs is None or vs["diff"] >= -2 * vs["mc_se"]


def design_label(v: dict[str, Any]) -> str:
    """``6 sites x 5`` or, for unequal sites, ``6 sites x 5 (2-11)``."""
    return f"{v['sites']} sites x {_per_site(v)}"


def _per_site(v: dict[str, Any]) -> str:
    """Subjects per site, with the smallest and largest site where they differ."""
    lo, hi = min(v["site_sizes"]), max(v["site_sizes"])
    return f"{v['subjects_per_site']}" + (f" ({lo}-{hi})" if lo != hi else "")


def paired_verdicts(res: dict[str, Any]) -> list[dict[str, Any]]:
    """Per design (sites, subjects per site) of a ``run_paired_grid`` run, by :data:`RULE`:
    each method's type-I error and power, the methods that hold the level (``calibrated``;
    none when the run has too few data sets, ``judged`` False), those whose power is at least
    the mixed model's (``at_least_mixed``), the recommended method (the most powerful
    calibrated one: an interval of ``compare --method bootstrap``, or ``mixed`` itself,
    ``compare --method mixed``, where the mixed model holds its level and is the most
    powerful) and whether the goal is met: the design is judged, a recommendation exists and
    its power is at least the mixed model's; ``why`` says what failed (the design is
    flagged)."""
    ratio = res.get("grid", {}).get("size_ratio", 1.0)
    by: dict[tuple, dict[str, dict[str, dict]]] = {}
    for r in res["rates"]:
        key = (r["sites"], r["subjects_per_site"])
        kind = "type1" if r["effect"] == 0 else "power"
        by.setdefault(key, {}).setdefault(r["method"], {})[kind] = r
    out = []
    for (sites, per_site), methods in sorted(by.items()):
        both = {n: m for n, m in methods.items() if "type1" in m and "power" in m}
        power = {n: m["power"]["rate"] for n, m in both.items()}
        data_sets = max((m["type1"]["n"] for m in both.values()), default=0)
        calibrated = [n for n, m in both.items() if holds_level(m["type1"])]
        best = max(calibrated, key=lambda n: power[n], default=None)
        why = ""
        if data_sets < MIN_DATA_SETS:
            why = f"{TOO_FEW} ({data_sets} data sets; {MIN_DATA_SETS:,} needed)"
        elif best is None:
            rates = ", ".join(f"{n} {100 * m['type1']['rate']:.1f}%" for n, m in both.items())
            why = f"no method's type-I error is within 4-6% ({rates})"
        elif not at_least_mixed(both[best]["power"]):
            why = f"{best} holds its level but is less powerful than the mixed model " + (
                _versus(both[best]["power"], power["mixed"])
            )
        out.append(
            {
                "sites": sites,
                "subjects_per_site": per_site,
                "site_sizes": [int(x) for x in site_sizes(sites, per_site, ratio)],
                "data_sets": data_sets,
                "judged": data_sets >= MIN_DATA_SETS,
                "calibrated": calibrated,
                "at_least_mixed": [n for n, m in both.items() if at_least_mixed(m["power"])],
                "recommended": best,
                "meets_goal": best is not None and not why,
                "why": why,
                "type1": {n: m["type1"]["rate"] for n, m in both.items()},
                "power": power,
                "power_vs_mixed": {
                    n: m["power"]["vs_mixed"] for n, m in both.items() if "vs_mixed" in m["power"]
                },
            }
        )
    return out


def _versus(row: dict[str, Any], mixed: float) -> str:
    vs = row["vs_mixed"]
    return (
        f"({100 * row['rate']:.1f}% vs {100 * mixed:.1f}%; difference "
        f"{100 * vs['diff']:+.1f} points, MC SE {100 * vs['mc_se']:.1f})"
    )


def _near(r: dict[str, Any]) -> bool:
    """A type-I error within 4-6% up to two Monte-Carlo SEs."""
    return 0.04 - 2 * r["mc_se"] <= r["rate"] <= 0.06 + 2 * r["mc_se"]


def render_paired_markdown(res: dict[str, Any]) -> str:
    """Type-I error and power per design and method, with the verdict of :data:`RULE`."""
    head = ["sites", "subj/site", "data sets", *METHODS, "recommended", "meets goal"]
    out = [
        f"Command: `{res['command']}` ({res['seconds']:.0f} s). Each cell: type-I error / "
        f"power (%) at alpha = {res['alpha']}, difference of balanced accuracies; alternative: "
        f"model A's logits + {res['delta']}; {res['grid']['replicates']} data sets per cell "
        "(the mixed model from 5 sites, as `compare --method mixed`; unequal sites: the "
        "smallest-largest site in brackets); bold: holds its level. Rule: " + RULE + ".",
        "",
        "| " + " | ".join(head) + " |",
        "| " + " | ".join(["---:"] * (len(head) - 2) + ["---", "---"]) + " |",
    ]
    for v in paired_verdicts(res):
        row = [str(v["sites"]), _per_site(v), str(v["data_sets"])]
        for m in METHODS:
            if m not in v["type1"]:
                row.append("-")
                continue
            text = f"{100 * v['type1'][m]:.1f} / {100 * v['power'][m]:.1f}"
            row.append(f"**{text}**" if m in v["calibrated"] else text)
        rec = v["recommended"]
        vs = v["power_vs_mixed"].get(rec) if rec else None
        row += [
            rec or "none (flagged)",
            (
                "yes"
                + (
                    f" (power - mixed: {100 * vs['diff']:+.1f}, MC SE {100 * vs['mc_se']:.1f})"
                    if vs and rec != "mixed"
                    else ""
                )
            )
            if v["meets_goal"]
            else f"no: {v['why']}",
        ]
        out.append("| " + " | ".join(row) + " |")
    return "\n".join(out)


__all__ = [
    "MIN_DATA_SETS",
    "PAIRED_PRESETS",
    "RULE",
    "TOO_FEW",
    "at_least_mixed",
    "design_label",
    "holds_level",
    "paired_verdicts",
    "rate_difference",
    "render_paired_markdown",
    "run_paired_grid",
    "site_sizes",
]
