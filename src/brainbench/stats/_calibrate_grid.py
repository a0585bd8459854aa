"""Calibration grid of interval methods (issue 15): coverage per design cell and metric.

Each cell simulates ``replicates`` test sets of ``sites`` x ``subjects`` x ``sessions`` with a
known super-population value and records, per method of
:data:`brainbench.stats._intervals.INTERVAL_METHODS`, the coverage of the nominal 95% interval,
its Monte-Carlo standard error ``sqrt(c (1 - c) / n)`` and the mean and median widths (a
bootstrap-t over few clusters has rare enormous intervals: resamples of two near-equal sites
have a near-zero jackknife SE). A method's
interval is counted over the data sets where it is defined (``n``).

Classification (balanced accuracy, sensitivity, specificity, AUROC): the model of
:mod:`brainbench.stats._simulate`, ``margin = mu_c + u_site + v_subject + w_session + e``, e
logistic; the site ICC on the latent scale is ``rho = sd_site^2 / (sd_site^2 + sd_subject^2 +
sd_session^2 + pi^2/3)``, so ``sd_site^2 = rho / (1 - rho) (sd_subject^2 + sd_session^2 +
pi^2/3)``. Truths: recalls by Gauss-Hermite quadrature (:func:`logit_normal_mean`); AUROC
``P(margin_pos + margin_neg > 0)`` for a positive and a negative from independent sites, by
Monte Carlo (2,000,000 pairs, seeded; SE < 0.0003).
Regression (MAE): prediction errors ``e = a_site + b_subject + c_session + eps``, normal, with
the same ICC definition (``pi^2/3`` replaced by ``var(eps) = 1``); truth
``E|e| = sigma sqrt(2 / pi)``.

With fewer than 4 sites the engine does not report a site-level interval (it reports the
interval conditional on the sites, see ``evaluate``); those cells are marked
``estimable: false`` and show how the site-level candidates fare there.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Collection
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from brainbench.errors import UserError
from brainbench.stats._bootstrap import Block, Statistic, bca_interval, percentile_interval
from brainbench.stats._evaluate import MIN_ESTIMABLE_CLUSTERS
from brainbench.stats._intervals import (
    INTERVAL_METHODS,
    MEAN_METRICS,
    cluster_bootstrap_t,
    cr2_interval,
    mean_form,
    mixed_interval,
    wild_cluster_interval,
)
from brainbench.stats._metrics import METRICS, Columns
from brainbench.stats._resample import ClusterDesign
from brainbench.stats._simulate import logit_normal_mean, simulate_arrays

#: The candidates of the selection runs made before ``mixed-satterthwaite`` was registered
#: (``extended``, ``large-sites``): their presets name them, so that the committed commands
#: rerun today evaluate what the committed runs did and give the committed table (every
#: candidate in every cell of a regime is what makes a method eligible there).
EARLY_CANDIDATES = [
    "percentile",
    "bca",
    "cluster-bootstrap-t",
    "wild-cluster-rademacher",
    "cr2",
    "wild-cluster-webb",
]
#: Environment variable naming the defaults table a confirmation run (``--grid confirm``,
#: ``confirm-fresh``) evaluates the choices of, instead of the committed one: the table as it
#: stood when that run was made (``benchmarks/stats/reproduce_defaults.py``). Only the
#: confirmation grids read it; ``interval: calibrated`` always reads the committed table.
CONFIRM_TABLE_ENV = "BRAINBENCH_CONFIRM_TABLE"

GRID_PRESETS: dict[str, dict[str, Any]] = {
    # Runs in the tests in a few seconds.
    "quick": {
        "sites": [4, 8],
        "subjects_per_site": [20],
        "sessions": [1],
        "icc": [0.05],
        "prevalence": [0.5],
        "metrics": ["balanced_accuracy"],
        "replicates": 200,
        "resamples": 199,
    },
    # The part of the grid run for benchmarks/stats/README.md (2 shared cores, one session).
    "partial": {
        "sites": [2, 3, 4, 6, 8],
        "subjects_per_site": [20],
        "sessions": [1],
        "icc": [0.0, 0.05, 0.2],
        "prevalence": [0.5],
        "metrics": ["balanced_accuracy", "mae"],
        "replicates": 400,
        "resamples": 399,
    },
    # A wider part (more metrics, 5 subjects per site, prevalence 0.2), fewer data sets.
    "extended": {
        "sites": [2, 3, 4, 6, 8, 16],
        "subjects_per_site": [5, 20],
        "sessions": [1],
        "icc": [0.05, 0.2],
        "prevalence": [0.5, 0.2],
        "metrics": ["balanced_accuracy", "auroc", "sensitivity", "mae"],
        "replicates": 200,
        "resamples": 199,
        "methods": EARLY_CANDIDATES,
    },
    # 80 subjects per site (the >= 40 regime), sites that are estimable, every metric.
    "large-sites": {
        "sites": [4, 6, 8, 16],
        "subjects_per_site": [80],
        "sessions": [1],
        "icc": [0.05, 0.2],
        "prevalence": [0.5],
        "metrics": ["balanced_accuracy", "auroc", "sensitivity", "specificity", "mae"],
        "replicates": 200,
        "resamples": 199,
        "methods": EARLY_CANDIDATES,
    },
    # Issue 15's grid: 252 designs x 5 metrics x 2,000 data sets (days on two cores).
    "full": {
        "sites": [2, 3, 4, 6, 8, 16, 32],
        "subjects_per_site": [5, 20, 80],
        "sessions": [1, 3],
        "icc": [0.0, 0.05, 0.2],
        "prevalence": [0.5, 0.2],
        "metrics": ["balanced_accuracy", "auroc", "sensitivity", "specificity", "mae"],
        "replicates": 2000,
        "resamples": 999,
    },
}


#: A confirmation run's fraction of issue 15's sessions x ICC x prevalence, rows ``[which,
#: sessions, ICC, prevalence]`` (``which``: 0 the regime's fewest sites, 1 its second count):
#: each factor varies (3 sessions, ICC 0, prevalence 0.2 included) and the hardest corner
#: (fewest sites, ICC 0.2) is in.
CONFIRM_FRACTION: list[list[float]] = [
    [0, 1, 0.2, 0.5],
    [1, 1, 0.05, 0.5],
    [0, 3, 0.0, 0.5],
    [1, 3, 0.2, 0.2],
    [0, 1, 0.05, 0.2],
]
#: The confirmation's site counts per site regime: the fewest, a second, and further counts
#: (run at ICC 0.2 only).
CONFIRM_SITES: dict[str, list[int]] = {"4-7": [4, 6], ">= 8": [8, 16, 32]}


def _regime_designs(
    sites: list[int], fraction: list[list[float]], per_site: int
) -> list[list[float]]:
    """(sites, subjects per site, sessions, ICC, prevalence) of one site regime: the
    ``fraction`` rows on its first two site counts, then each further count at ICC 0.2."""
    first, more = sites[:2], sites[2:]
    return [[first[int(w)], per_site, sess, icc, prev] for w, sess, icc, prev in fraction] + [
        [s, per_site, 1, 0.2, 0.5] for s in more
    ]


def confirmation_designs(
    sites: dict[str, list[int]], subjects_per_site: list[int]
) -> list[list[float]]:
    """The designs of a confirmation run: per site regime and subjects per site,
    :data:`CONFIRM_FRACTION` (:func:`_regime_designs`). The prevalence is ignored for MAE
    (:func:`grid_cells`)."""
    return [
        d
        for sizes in sites.values()
        for p in subjects_per_site
        for d in _regime_designs(sizes, CONFIRM_FRACTION, p)
    ]


# Confirmation runs (``--grid confirm``, ``confirm-quick``): only the method the committed
# table chose for the cell's metric and regime, plus ``compare`` (the earlier default), on
# fresh data sets (a seed other than the selection runs'), many per cell.
GRID_PRESETS |= {
    "confirm-quick": {
        "designs": [[4, 20, 1, 0.05, 0.5], [8, 20, 1, 0.05, 0.5]],
        "metrics": ["balanced_accuracy"],
        "replicates": 200,
        "resamples": 199,
        "confirm": True,
        "compare": ["percentile"],
    },
    "confirm": {
        "designs": confirmation_designs(CONFIRM_SITES, [5, 20, 80]),
        "metrics": ["balanced_accuracy", "auroc", "sensitivity", "specificity", "mae"],
        "replicates": 2000,
        "resamples": 399,
        "confirm": True,
        "compare": ["percentile"],
    },
}
#: The regimes (sites, subjects per site) whose chosen method the seed-2025 confirmation did not
#: confirm (``benchmarks/stats/README.md``): the choice there was made on 200 data sets per
#: design, where the best of seven candidates is largely the luckiest.
FLAGGED_BY_CONFIRMATION: dict[str, list[tuple[str, int]]] = {
    "auroc": [("4-7", 5), (">= 8", 5)],
    "balanced_accuracy": [("4-7", 5)],
    "mae": [("4-7", 5), ("4-7", 80), (">= 8", 20), (">= 8", 80)],
    "sensitivity": [("4-7", 5), (">= 8", 5)],
    "specificity": [("4-7", 5), ("4-7", 80), (">= 8", 5)],
}


def reselection_designs() -> dict[str, list[list[float]]]:
    """Per metric, the confirmation's designs (:func:`confirmation_designs`) of the regimes in
    :data:`FLAGGED_BY_CONFIRMATION`: the re-selection evaluates every candidate there on
    2,000 data sets per design (a seed of its own)."""
    return {
        metric: [
            d
            for label, per in regimes
            for d in _regime_designs(CONFIRM_SITES[label], CONFIRM_FRACTION, per)
        ]
        for metric, regimes in FLAGGED_BY_CONFIRMATION.items()
    }


#: The fresh confirmation's fraction (``[which, sessions, ICC, prevalence]``): the
#: complement of :data:`CONFIRM_FRACTION` in sessions x ICC x prevalence, the hardest corner
#: (fewest sites, ICC 0.2) twice.
FRESH_FRACTION: list[list[float]] = [
    [0, 3, 0.2, 0.5],
    [1, 1, 0.2, 0.2],
    [0, 1, 0.0, 0.5],
    [1, 3, 0.05, 0.5],
    [0, 1, 0.2, 0.2],
]


def fresh_confirmation_designs() -> dict[str, list[list[float]]]:
    """Per metric, designs of the re-selected regimes that neither the selection runs nor the
    first confirmation had: the regime's fewest sites (4, 8) and another count (7, 24),
    other subjects per site (8 for 1-9, 12 for 10-39, 40 for >= 40: each regime's harder
    end; 7 sites x 8 subjects is within the goal's >= 40 test subjects, 4 x 8 below it) and
    the complementary fraction."""
    sizes = {"4-7": [4, 7], ">= 8": [8, 24]}
    per_site = {5: 8, 20: 12, 80: 40}
    return {
        metric: [
            d
            for label, per in regimes
            for d in _regime_designs(sizes[label], FRESH_FRACTION, per_site[per])
        ]
        for metric, regimes in FLAGGED_BY_CONFIRMATION.items()
    }


GRID_PRESETS |= {
    # Every candidate on 2,000 data sets per design in the regimes the confirmation flagged:
    # a choice precise enough to be confirmed (it supersedes the 200-data-set runs there).
    "reselect": {
        "designs": reselection_designs(),
        "metrics": list(FLAGGED_BY_CONFIRMATION),
        "replicates": 2000,
        "resamples": 399,
    },
    # The re-selection's choices on fresh data sets in fresh designs (a third seed).
    "confirm-fresh": {
        "designs": fresh_confirmation_designs(),
        "metrics": list(FLAGGED_BY_CONFIRMATION),
        "replicates": 2000,
        "resamples": 399,
        "confirm": True,
        "compare": ["percentile"],
    },
}
#: The metrics the grid simulates.
METRIC_NAMES: list[str] = GRID_PRESETS["full"]["metrics"]
MU = (1.2, 0.8)
SD_SUBJECT = 0.8
SD_SESSION = 0.3
AUROC_TRUTH_DRAWS = 2_000_000


def _sd_site(icc: float, within: float) -> float:
    return float(np.sqrt(icc / (1 - icc) * within)) if icc > 0 else 0.0


def _within(sessions: int, regression: bool) -> float:
    noise = 1.0 if regression else np.pi**2 / 3
    return SD_SUBJECT**2 + (SD_SESSION**2 if sessions > 1 else 0.0) + noise


@lru_cache(maxsize=64)
def cell_truth(metric: str, icc: float, sessions: int, seed: int = 0) -> float:
    """The super-population value of ``metric`` in a cell (see the module docstring); cached,
    since AUROC's Monte-Carlo truth costs about 0.1 s and a grid repeats few (ICC, sessions)."""
    regression = metric == "mae"
    within = _within(sessions, regression)
    sd_site = _sd_site(icc, within)
    if regression:
        return float(np.sqrt(sd_site**2 + within) * np.sqrt(2 / np.pi))
    sigma = float(np.sqrt(sd_site**2 + within - np.pi**2 / 3))
    recall_neg, recall_pos = (logit_normal_mean(m, sigma) for m in MU)
    if metric == "sensitivity":
        return recall_pos
    if metric == "specificity":
        return recall_neg
    if metric == "balanced_accuracy":
        return 0.5 * (recall_neg + recall_pos)
    rng = np.random.default_rng(seed)
    n = AUROC_TRUTH_DRAWS
    pos = MU[1] + rng.normal(0, sigma, n) + rng.logistic(0, 1, n)
    neg = MU[0] + rng.normal(0, sigma, n) + rng.logistic(0, 1, n)
    return float(np.mean(pos + neg > 0))


def _data(
    rng: np.random.Generator,
    metric: str,
    sites: int,
    per_site: int,
    sessions: int,
    icc: float,
    prevalence: float,
) -> tuple[Columns, np.ndarray, np.ndarray]:
    regression = metric == "mae"
    sd_site = _sd_site(icc, _within(sessions, regression))
    sd_session = SD_SESSION if sessions > 1 else 0.0
    if regression:
        site = np.repeat(np.arange(sites), per_site * sessions)
        subject = np.repeat(np.arange(sites * per_site), sessions)
        e = (
            rng.normal(0, sd_site, sites)[site]
            + rng.normal(0, SD_SUBJECT, sites * per_site)[subject]
            + rng.normal(0, sd_session, len(site))
            + rng.normal(0, 1, len(site))
        )
        y = rng.normal(70, 8, len(site))
        return Columns(y=y, pred=y + e), site, subject
    arr = simulate_arrays(
        rng,
        n_sites=sites,
        subjects_per_site=per_site,
        sessions_per_subject=sessions,
        prevalence=prevalence,
        mu={"A": MU},
        sd_site=sd_site,
        sd_subject=SD_SUBJECT,
        sd_session=sd_session,
    )
    score = arr["score_A"]
    cols = Columns(y=arr["y"], pred=(score >= 0.5).astype(np.int64), score=score)
    return cols, arr["site"], arr["subject"]


def cell_intervals(
    metric: str,
    cols: Columns,
    site: np.ndarray,
    subject: np.ndarray,
    *,
    resamples: int,
    rng: np.random.Generator,
    level: float = 0.95,
    methods: Collection[str] | None = None,
) -> dict[str, tuple[float, float]]:
    """Every applicable candidate's interval on one data set (the code users run); with
    ``methods``, only those (a confirmation run evaluates the chosen method alone)."""
    want = set(INTERVAL_METHODS if methods is None else methods)
    m = METRICS.get(metric)
    out: dict[str, tuple[float, float]] = {}
    if want & {"percentile", "bca"}:
        strata = None if metric == "mae" else cols.y
        hier = ClusterDesign([site, subject], strata=strata)
        stat = Statistic(hier, [Block(m, cols, hier.row_atom)])
        theta = stat.resample(resamples, rng)
        theta = theta[np.isfinite(theta)]
        if "percentile" in want:
            out["percentile"] = percentile_interval(theta, level)
        if "bca" in want:
            out["bca"] = bca_interval(theta, stat.point(), stat.jackknife(), level)[:2]
    if "cluster-bootstrap-t" in want:
        flat = ClusterDesign([site])
        out["cluster-bootstrap-t"] = cluster_bootstrap_t(
            Statistic(flat, [Block(m, cols, flat.row_atom)]),
            level=level,
            resamples=resamples,
            rng=rng,
        )
    if metric in MEAN_METRICS:
        u, w = mean_form(metric, cols)
        for weights in ("rademacher", "webb"):
            if f"wild-cluster-{weights}" in want:
                out[f"wild-cluster-{weights}"] = wild_cluster_interval(
                    u, w, site, level=level, resamples=resamples, weights=weights, rng=rng
                )
        if "cr2" in want:
            codes, uniques = pd.factorize(site)
            out["cr2"] = cr2_interval([(u, w, codes, 1.0)], len(uniques), level=level)[:2]
        if "mixed-satterthwaite" in want:
            rows = np.arange(len(u))
            out["mixed-satterthwaite"] = mixed_interval(
                [(u, w, rows, 1.0)], [site, subject], ["site", "subject"], level=level
            )[:2]
    return out


def run_cell(
    rng: np.random.Generator,
    metric: str,
    sites: int,
    per_site: int,
    sessions: int,
    icc: float,
    prevalence: float,
    replicates: int,
    resamples: int,
    methods: Collection[str] | None = None,
) -> list[dict[str, Any]]:
    """Coverage per method in one cell (``methods``: see :func:`cell_intervals`)."""
    truth = cell_truth(metric, icc, sessions)
    hits: dict[str, list[bool]] = {}
    widths: dict[str, list[float]] = {}
    undefined = 0
    for _ in range(replicates):
        cols, site, subject = _data(rng, metric, sites, per_site, sessions, icc, prevalence)
        if not np.isfinite(METRICS.get(metric)(cols)):
            undefined += 1  # e.g. no positive subject at prevalence 0.2
            continue
        got = cell_intervals(
            metric, cols, site, subject, resamples=resamples, rng=rng, methods=methods
        )
        for name, (lo, hi) in got.items():
            if np.isfinite(lo) and np.isfinite(hi):
                hits.setdefault(name, []).append(bool(lo <= truth <= hi))
                widths.setdefault(name, []).append(hi - lo)
    rows = []
    for name in INTERVAL_METHODS:
        h = hits.get(name)
        if h is None:
            continue
        c = float(np.mean(h))
        rows.append(
            {
                "metric": metric,
                "sites": sites,
                "subjects_per_site": per_site,
                "sessions": sessions,
                "icc": icc,
                "prevalence": prevalence,
                "method": name,
                "coverage": c,
                "mc_se": float(np.sqrt(c * (1 - c) / len(h))),
                "mean_width": float(np.mean(widths[name])),
                "median_width": float(np.median(widths[name])),
                "n": len(h),
                "replicates": replicates,
                "undefined": undefined,
                "truth": truth,
                "estimable": sites >= MIN_ESTIMABLE_CLUSTERS,
            }
        )
    return rows


def grid_cells(grid: dict[str, Any]) -> list[tuple]:
    """(metric, sites, subjects per site, sessions, ICC, prevalence) of every cell: the
    product of the grid's factors, or its list of ``designs`` (one list for every metric, or
    a list per metric); the prevalence varies only for classification metrics."""
    cells = []
    for metric in grid["metrics"]:
        if "designs" in grid:
            mine = grid["designs"]
            mine = mine.get(metric, []) if isinstance(mine, dict) else mine
            designs = [(*d[:4], 0.5 if metric == "mae" else d[4]) for d in mine]
            cells += [(metric, *d) for d in dict.fromkeys(designs)]
            continue
        prevalences = [0.5] if metric == "mae" else grid["prevalence"]
        cells += [
            (metric, *rest)
            for rest in itertools.product(
                grid["sites"], grid["subjects_per_site"], grid["sessions"], grid["icc"], prevalences
            )
        ]
    return cells


def _confirmed_table() -> dict[str, Any]:
    """The table a confirmation run confirms: the committed one, or the one at
    ``$BRAINBENCH_CONFIRM_TABLE`` (:data:`CONFIRM_TABLE_ENV`)."""
    from brainbench.stats._interval_defaults import load_table

    return load_table(os.environ.get(CONFIRM_TABLE_ENV) or None)


def _confirmed_methods(grid: dict[str, Any], seed: int) -> dict[tuple, str]:
    """A confirmation grid's chosen method per cell, from the committed table (or
    :func:`_confirmed_table`'s); refuses the selection runs' seed (the confirmation must use
    data sets they never saw)."""
    from brainbench.stats._interval_defaults import calibrated_choice

    table = _confirmed_table()
    used = {
        int(c.split("--seed ")[1].split()[0])
        for c in table["generated_by"]
        if "--seed" in c and "--grid confirm" not in c  # a confirmation may be rerun
    }
    if seed in used:
        raise UserError(
            f"A confirmation run must draw data sets independent of the runs that chose the "
            f"defaults (seed {', '.join(map(str, sorted(used)))}): pass another --seed."
        )
    return {
        cell: calibrated_choice(cell[0], cell[1], cell[2], "site", table).method
        for cell in grid_cells(grid)
    }


def run_interval_grid(
    preset: str = "quick",
    *,
    replicates: int | None = None,
    seed: int = 2024,
    metrics: list[str] | None = None,
    resamples: int | None = None,
) -> dict[str, Any]:
    """Coverage of every candidate interval method over the cells of ``GRID_PRESETS[preset]``
    (``metrics``: only these metrics of the grid's design, e.g. one left out of a run;
    ``resamples``: bootstrap resamples per interval instead of the grid's).

    Seeded: cell k uses ``numpy.random.default_rng([seed, k])``, so any cell can be rerun
    alone and the cells can run in any order. A grid of ``designs`` (the confirmation runs)
    seeds design j of a metric with ``[seed, i, j]``, ``i`` the metric's position in
    :data:`METRIC_NAMES`: a metric run alone (``metrics``) draws the data sets it draws in the
    whole run, and the metrics never share data sets (their coverages are independent).
    """
    grid = dict(GRID_PRESETS[preset])
    if replicates is not None:
        grid["replicates"] = replicates
    if resamples is not None:
        grid["resamples"] = resamples
    if metrics:
        unknown = sorted(set(metrics) - set(METRIC_NAMES))
        if unknown:
            raise UserError(
                f"The calibration grid simulates {', '.join(METRIC_NAMES)}; "
                f"got {', '.join(unknown)}."
            )
        grid["metrics"] = list(metrics)
    chosen = _confirmed_methods(grid, seed) if grid.get("confirm") else {}
    start = time.perf_counter()
    rows = []
    cell_seconds = []
    metric_cells: dict[str, int] = {}
    for k, cell in enumerate(grid_cells(grid)):
        j = metric_cells[cell[0]] = metric_cells.get(cell[0], -1) + 1
        key = [seed, METRIC_NAMES.index(cell[0]), j] if "designs" in grid else [seed, k]
        rng = np.random.default_rng(key)
        # A preset's "methods": the candidates its committed run had (EARLY_CANDIDATES).
        methods = [chosen[cell], *grid["compare"]] if chosen else grid.get("methods")
        tic = time.perf_counter()
        got = run_cell(rng, *cell, grid["replicates"], grid["resamples"], methods)
        cell_seconds.append(time.perf_counter() - tic)
        rows += [r | {"chosen": r["method"] == chosen[cell]} if chosen else r for r in got]
    command = f"brainbench calibrate --grid {preset} --seed {seed}"
    if replicates is not None:
        command += f" --replicates {replicates}"
    if resamples is not None:
        command += f" --resamples {resamples}"
    command += "".join(f" --metric {m}" for m in metrics or [])
    confirms = {}
    if chosen:
        confirms = {"confirms": _confirmed_table()["generated_by"]}
    return confirms | {
        "command": command,
        "grid": grid,
        "seed": seed,
        "coverage": rows,
        "seconds": time.perf_counter() - start,
        "cell_seconds": cell_seconds,
        "methods": {
            name: {"summary": m.summary, "metrics": m.metrics, "references": list(m.references)}
            for name, m in INTERVAL_METHODS.items()
        },
    }


def render_grid_text(res: dict[str, Any]) -> str:
    lines = [
        f"interval calibration grid ({res['command']}; {res['seconds']:.0f} s)",
        "coverage of nominal 95% intervals (Monte-Carlo SE); goal 0.94-0.96",
        "",
        f"{'metric':<18} {'sites':>5} {'subj/site':>9} {'ses':>3} {'ICC':>5} {'prev':>4}  "
        f"{'method':<24} {'coverage':>15} {'med. width':>10} {'n':>5}",
    ]
    for r in res["coverage"]:
        flag = "" if r["estimable"] else "  (< 4 sites: not estimable; engine reports conditional)"
        lines.append(
            f"{r['metric']:<18} {r['sites']:>5} {r['subjects_per_site']:>9} {r['sessions']:>3} "
            f"{r['icc']:>5g} {r['prevalence']:>4g}  {r['method']:<24} "
            f"{r['coverage']:>7.3f} ({r['mc_se']:.3f}) {r['median_width']:>10.3f} {r['n']:>5}{flag}"
        )
    return "\n".join(lines)


def render_grid_markdown(res: dict[str, Any]) -> str:
    """One row per cell, one column per method the run evaluated: coverage (Monte-Carlo SE),
    in bold when within the goal 94-96%; '-' where the method does not apply or gave no interval. A
    confirmation run has the chosen method's column and the percentile interval's, and the
    seconds each cell took."""
    confirm = "confirms" in res
    ran = {r["method"] for r in res["coverage"]}
    # The candidates the run had (a preset may name fewer than the registry: EARLY_CANDIDATES).
    methods = ["chosen", "percentile"] if confirm else [m for m in INTERVAL_METHODS if m in ran]
    cells: dict[tuple, dict[str, dict]] = {}
    for r in res["coverage"]:
        key = (
            r["metric"],
            r["sites"],
            r["subjects_per_site"],
            r["sessions"],
            r["icc"],
            r["prevalence"],
        )
        cells.setdefault(key, {})[r["method"]] = r
        if r.get("chosen"):
            cells[key]["chosen"] = r
    head = ["metric", "sites", "subj/site", "sessions", "ICC", "prev."]
    head += ["chosen method", *methods] if confirm else methods
    # Per design, not per row: a design where no data set had a defined metric has no row.
    seconds = (
        dict(zip(grid_cells(res["grid"]), res["cell_seconds"], strict=True))
        if "cell_seconds" in res
        else {}
    )
    head += ["n"] + (["s"] if seconds else [])
    texts = 7 if confirm else 6
    out = [
        f"Command: `{res['command']}` ({res['seconds']:.0f} s). Coverage of nominal 95% "
        "intervals (Monte-Carlo SE, %); bold: within 94-96%; n: data sets per cell with a "
        + ("defined interval of the chosen method" if confirm else "defined metric")
        + "; sites < 4: the engine reports the conditional interval instead.",
        "",
        "| " + " | ".join(head) + " |",
        "| " + " | ".join(["---"] * texts + ["---:"] * (len(head) - texts)) + " |",
    ]
    if confirm:
        out[0] += (
            " Confirmation run: per cell only the method the table chose for its metric and "
            "regime (chosen method), and percentile on the same data sets; the table "
            "confirmed: " + "; ".join(f"`{c}`" for c in res["confirms"]) + "."
        )
    for key, by in cells.items():
        row = [str(k) if not isinstance(k, float) else f"{k:g}" for k in key]
        if key[1] < MIN_ESTIMABLE_CLUSTERS:
            row[1] += " (cond.)"
        # With few data sets the chosen method may have no interval in a design ("-", n 0).
        chosen = by.get("chosen", {"method": "-", "n": 0})
        if confirm:
            row.append(chosen["method"])
        for m in methods:
            r = by.get(m)
            if r is None:
                row.append("-")
                continue
            text = f"{100 * r['coverage']:.1f} ({100 * r['mc_se']:.1f})"
            row.append(f"**{text}**" if 0.94 <= r["coverage"] <= 0.96 else text)
        # A confirmation run's n is the chosen method's: it may lack an interval where the
        # percentile interval has one.
        row.append(str(chosen["n"] if confirm else max(r["n"] for r in by.values())))
        if seconds:
            row.append(f"{seconds[key]:.0f}")
        out.append("| " + " | ".join(row) + " |")
    return "\n".join(out)


__all__ = [
    "CONFIRM_TABLE_ENV",
    "GRID_PRESETS",
    "cell_truth",
    "render_grid_markdown",
    "render_grid_text",
    "run_interval_grid",
]
