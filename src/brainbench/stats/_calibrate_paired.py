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
Each cell's rejection rate comes with its Monte-Carlo SE ``sqrt(r (1 - r) / n)``.
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
METHODS = (
    "paired-bootstrap",
    "cluster-bootstrap-t",
    "wild-cluster-rademacher",
    "wild-cluster-webb",
    "cr2",
    "mixed-satterthwaite",
    "mixed",
)
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
    "unbalanced": {
        "sites": [6, 8],
        "subjects_per_site": [20],
        "effect": [0.0, DELTA],
        "replicates": 200,
        "resamples": 199,
        "size_ratio": 8.0,
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
        p: dict[str, list[float]] = {}
        for _ in range(grid["replicates"]):
            got = replicate_p_values(
                rng, sites, per_site, effect, grid["resamples"], grid.get("size_ratio", 1.0)
            )
            for name, value in got.items():
                if np.isfinite(value):
                    p.setdefault(name, []).append(value)
        for name in METHODS:
            if name not in p:
                continue
            rate = float(np.mean(np.asarray(p[name]) < ALPHA))
            n = len(p[name])
            rows.append(
                {
                    "sites": sites,
                    "subjects_per_site": per_site,
                    "effect": effect,
                    "method": name,
                    "rate": rate,
                    "mc_se": float(np.sqrt(max(rate * (1 - rate), 1e-12) / n)),
                    "n": n,
                }
            )
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


def paired_verdicts(res: dict[str, Any]) -> list[dict[str, Any]]:
    """Per design (sites, subjects per site): each method's type-I error and power, the
    methods whose type-I error is within 4-6% up to two Monte-Carlo SEs (``calibrated``), the
    recommended method (the most powerful calibrated one: an interval of ``compare --method
    bootstrap``, or ``mixed`` itself, ``compare --method mixed``, where the mixed model holds
    its level and is the most powerful) and whether the goal is met: a recommendation exists
    and its power is at least the mixed model's where that ran; ``why`` says what failed (the
    design is flagged)."""
    by: dict[tuple, dict[str, dict[str, dict]]] = {}
    for r in res["rates"]:
        key = (r["sites"], r["subjects_per_site"])
        kind = "type1" if r["effect"] == 0 else "power"
        by.setdefault(key, {}).setdefault(r["method"], {})[kind] = r
    out = []
    for (sites, per_site), methods in sorted(by.items()):
        ok = {
            name: _near(m["type1"]) for name, m in methods.items() if "type1" in m and "power" in m
        }
        calibrated = [n for n, good in ok.items() if good]
        power = {n: m["power"]["rate"] for n, m in methods.items() if "power" in m}
        best = max(calibrated, key=lambda n: power[n], default=None)
        why = ""
        if best is None:
            rates = ", ".join(f"{n} {100 * methods[n]['type1']['rate']:.1f}%" for n in ok)
            why = f"no method's type-I error is within 4-6% ({rates})"
        elif "mixed" in power and power[best] < power["mixed"]:
            why = (
                f"{best} holds its level but is less powerful than the mixed model, whose "
                f"type-I error is outside 4-6% ({100 * power[best]:.1f}% vs "
                f"{100 * power['mixed']:.1f}%)"
            )
        out.append(
            {
                "sites": sites,
                "subjects_per_site": per_site,
                "calibrated": calibrated,
                "recommended": best,
                "meets_goal": best is not None and not why,
                "why": why,
                "type1": {n: m["type1"]["rate"] for n, m in methods.items() if "type1" in m},
                "power": power,
            }
        )
    return out


def _near(r: dict[str, Any]) -> bool:
    """A type-I error within 4-6% up to two Monte-Carlo SEs."""
    return 0.04 - 2 * r["mc_se"] <= r["rate"] <= 0.06 + 2 * r["mc_se"]


def render_paired_markdown(res: dict[str, Any]) -> str:
    """Type-I error and power per design and method, with the verdict."""
    head = ["sites", "subj/site", *METHODS, "recommended", "meets goal"]
    out = [
        f"Command: `{res['command']}` ({res['seconds']:.0f} s). Each cell: type-I error / "
        f"power (%) at alpha = {res['alpha']}, difference of balanced accuracies; alternative: "
        f"model A's logits + {res['delta']}; {res['grid']['replicates']} data sets per cell "
        "(the mixed model from 5 sites, as `compare --method mixed`); bold: type-I error "
        "within 4-6% up to two Monte-Carlo SEs.",
        "",
        "| " + " | ".join(head) + " |",
        "| " + " | ".join(["---:"] * (len(head) - 2) + ["---", "---"]) + " |",
    ]
    for v in paired_verdicts(res):
        row = [str(v["sites"]), str(v["subjects_per_site"])]
        for m in METHODS:
            if m not in v["type1"]:
                row.append("-")
                continue
            t1, pw = 100 * v["type1"][m], 100 * v["power"].get(m, float("nan"))
            text = f"{t1:.1f} / {pw:.1f}"
            row.append(f"**{text}**" if _within(v, m, res) else text)
        row += [
            v["recommended"] or "none (flagged)",
            "yes" if v["meets_goal"] else f"no: {v['why']}",
        ]
        out.append("| " + " | ".join(row) + " |")
    return "\n".join(out)


def _within(v: dict, method: str, res: dict) -> bool:
    return _near(
        next(
            x
            for x in res["rates"]
            if (x["sites"], x["subjects_per_site"], x["method"], x["effect"])
            == (v["sites"], v["subjects_per_site"], method, 0.0)
        )
    )


__all__ = [
    "PAIRED_PRESETS",
    "paired_verdicts",
    "render_paired_markdown",
    "run_paired_grid",
    "site_sizes",
]
