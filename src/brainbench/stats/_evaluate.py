"""Metrics with confidence intervals: :func:`evaluate_predictions`, :func:`confidence_interval`."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from brainbench.errors import (
    BrainbenchWarning,
    DegenerateResampleWarning,
    FewClustersWarning,
    SmallSampleWarning,
    TiesWarning,
    UserError,
)
from brainbench.stats._bootstrap import (
    Block,
    Statistic,
    bca_interval,
    bias_corrected_basic,
    percentile_interval,
)
from brainbench.stats._data import ModelData, check_metric, design_for, iter_groups, model_data
from brainbench.stats._delong import delong_ci
from brainbench.stats._intervals import (
    MEAN_METRICS,
    MEAN_ONLY,
    STUDENTISED,
    cluster_t,
    cr2_interval,
    mean_form,
    mixed_interval,
    t_interval,
    t_p_value,
    wild_cluster_t,
)
from brainbench.stats._intervals import MIN_CLUSTERS as MIN_STUDENTISED_CLUSTERS
from brainbench.stats._io import LEVELS, Task, infer_task
from brainbench.stats._metrics import METRICS, get_metric
from brainbench.stats._resample import ClusterDesign
from brainbench.stats._results import MetricResult

CI_METHODS = ("hierarchical-bootstrap", "bootstrap", "delong", "none")
INTERVALS = ("percentile", "bca", *STUDENTISED, "calibrated")
#: Below this many clusters at the outer level, a cluster bootstrap warns (its intervals are
#: too narrow with few clusters: Cameron, Gelbach & Miller 2008, Rev. Econ. Stat. 90:414-427,
#: doi:10.1162/rest.90.3.414).
MIN_CLUSTERS = 8
#: Below this many clusters at the outer level, a between-cluster variance is not estimable
#: and the cluster bootstrap is not used: with G clusters it has C(2G-1, G) distinct outer
#: draws (10 for G = 3) and its intervals under-cover badly (Cameron & Miller 2015, J. Hum.
#: Resour. 50:317-372, doi:10.3368/jhr.50.2.317). The outer levels are then held fixed and the
#: interval is conditional on those clusters (``MetricResult.conditional_on``).
MIN_ESTIMABLE_CLUSTERS = 4
#: Below this many units, asymptotic and bootstrap intervals warn.
MIN_UNITS = 30


def _warn(messages: list[str], category: type[BrainbenchWarning], message: str) -> None:
    messages.append(message)
    warnings.warn(message, category, stacklevel=3)


def _check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        from brainbench.registry_base import did_you_mean

        raise UserError(
            f"The {name} must be one of {', '.join(choices)}. Got '{value}' instead."
            f"{did_you_mean(value, tuple(choices))}"
        )


def run_blocks(md: ModelData, metric, design, coef: float = 1.0) -> list[Block]:
    """One block per run of ``md`` with coefficient ``coef / R`` (the mean over runs)."""
    f = md.frame
    runs = md.runs
    atoms = design.row_atom
    blocks = []
    for run in runs:
        rows = np.flatnonzero(f["run"].to_numpy() == run)
        blocks.append(Block(metric, md.columns(rows), atoms[rows], coef / len(runs)))
    return blocks


def estimable_design(
    md: ModelData, clusters: Sequence[str], *, stratify: bool
) -> tuple[ClusterDesign, list[str], dict[str, int], str]:
    """The bootstrap design over ``clusters``, or, with fewer than
    :data:`MIN_ESTIMABLE_CLUSTERS` outer clusters, the design holding the outer levels fixed
    and resampling the innermost one within each (the interval is then conditional on them).

    Returns the design, its level names, the levels held fixed with their cluster counts, and
    the message saying so ('' when nothing was held fixed)."""
    clusters = list(clusters)
    design, names = design_for(md, clusters, stratify=stratify)
    if not clusters or names[0] == md.unit or design.n_top >= MIN_ESTIMABLE_CLUSTERS:
        return design, names, {}, ""
    fixed = clusters[:-1] or clusters
    kept = clusters[len(fixed) :]
    conditional_on = {c: int(n) for c, n in design.n_clusters.items() if c in fixed}
    first, g = names[0], design.n_top
    design, names = design_for(md, kept, stratify=stratify, fixed=fixed)
    return (
        design,
        names,
        conditional_on,
        f"A {first}-level interval is not estimable from {g} {first}(s): the cluster "
        f"bootstrap needs at least {MIN_ESTIMABLE_CLUSTERS} to estimate the "
        f"between-{first} variance. Reported instead: the interval over {names[0]}s "
        f"resampled within each {' x '.join(fixed)}, conditional on these {g} {first}(s): "
        f"it describes them, not a new {first}.",
    )


def confidence_interval(
    md: ModelData,
    metric: str,
    *,
    method: str = "hierarchical-bootstrap",
    interval: str = "percentile",
    clusters: Sequence[str] = (),
    level: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
    stratify: bool = True,
    partition: str = "test",
    group: dict[str, str] | None = None,
) -> MetricResult:
    """A metric of one model with its confidence interval.

    Parameters
    ----------
    md
        The model's predictions (see :func:`brainbench.stats.model_data`).
    metric
        A registered metric name.
    method
        ``hierarchical-bootstrap`` resamples ``clusters`` in order (outer first), keeping each
        atom's rows together; ``bootstrap`` resamples units of analysis independently (the
        naive interval when units are nested in subjects or sites); ``delong`` gives DeLong's
        Wald interval of the AUROC (independent units, one run); ``none`` gives no interval.
    interval
        ``percentile`` or ``bca`` (bias-corrected and accelerated; the acceleration comes from
        a delete-one-cluster jackknife over the outer clusters) of the hierarchical bootstrap;
        ``cluster-bootstrap-t``, ``wild-cluster-rademacher`` or ``wild-cluster-webb``: the
        studentised site-level methods of :mod:`brainbench.stats._intervals` over the outer
        cluster level (the levels inside it are absorbed, not resampled); ``calibrated``: the
        one the calibration table chose for the metric and the design's regime
        (:mod:`brainbench.stats._interval_defaults`; ``MetricResult.chosen_for`` names the
        regime). With fewer than 4 outer clusters every choice gives the conditional interval.
    clusters
        Hierarchy levels to resample, outer first, e.g. ``["site", "subject"]``; empty: each
        unit is a cluster.
    stratify
        Resample within class at the innermost level when every cluster there has one class.

    Notes
    -----
    With R runs (seeds, repeats; folds pooled when they partition the units) the estimate is the
    mean of the R run metrics, and each resample reuses the same atom multiplicities in every
    run. Resamples that leave the metric undefined (e.g. a class absent) are counted in
    ``n_degenerate`` and excluded; a warning reports them.
    """
    _check_choice("CI method", method, CI_METHODS)
    _check_choice("interval", interval, INTERVALS)
    if not 0.5 < level < 1:
        raise UserError(f"The confidence level must lie in (0.5, 1). Got {level}.")
    m = get_metric(metric)
    check_metric(md, m)
    notes: list[str] = []
    group = group or {}
    if method == "delong" and metric != "auroc":
        _warn(
            notes,
            BrainbenchWarning,
            f"DeLong intervals exist for AUROC only; '{metric}' uses the bootstrap over units.",
        )
        method = "bootstrap"
    level_clusters = list(clusters) if method == "hierarchical-bootstrap" else []
    level_clusters = [c for c in level_clusters if c not in group]
    if method == "hierarchical-bootstrap" and not level_clusters:
        method = "bootstrap"  # no cluster declared: each unit is its own cluster
    if method in ("bootstrap", "delong"):
        finer = [
            lvl
            for lvl in ("subject", "session")
            if lvl in md.frame.columns and LEVELS.index(lvl) < LEVELS.index(md.unit)
        ]
        if finer and md.frame.groupby(["run", finer[0]]).size().max() > 1:
            _warn(
                notes,
                BrainbenchWarning,
                f"Several {md.unit}s per {finer[0]} are resampled "
                f"as independent units: declare clusters (e.g. --clusters {finer[0]}) or "
                f"use --unit {finer[0]} (rule S204).",
            )
    design, names, conditional_on, why = estimable_design(md, level_clusters, stratify=stratify)
    if why:
        _warn(notes, FewClustersWarning, why)
    elif level_clusters:
        for note in outer_level_notes(md, metric, names[0], design.n_top):
            _warn(notes, FewClustersWarning, note)
    interval, chosen_for, calibration = _resolve_interval(
        md, metric, interval, method, names, design, conditional_on, notes, level
    )
    stat = Statistic(design, run_blocks(md, m, design))
    estimate = stat.point()
    n_runs = len(md.runs)
    common = dict(
        model=md.model,
        metric=metric,
        level=level,
        n_units=md.n_units,
        n_runs=n_runs,
        partition=partition,
        group=dict(group),
        unit=md.unit,
        conditional_on=conditional_on,
        chosen_for=chosen_for,
        calibration=calibration,
    )
    if m.needs == "score" and md.task.type == "classification":
        n_distinct = md.frame["score"].nunique()
        if n_distinct < max(2, 0.1 * len(md.frame)):
            _warn(
                notes,
                TiesWarning,
                f"Only {n_distinct} distinct scores for {len(md.frame)} predictions: tied "
                f"pairs count 1/2 in '{metric}', and its curve has few operating points.",
            )
    if md.n_units < MIN_UNITS:
        _warn(
            notes,
            SmallSampleWarning,
            f"Only {md.n_units} {md.unit}s: the interval may be miscalibrated.",
        )
    if not np.isfinite(estimate):
        present = sorted(set(md.frame["y"].astype(int))) if md.task.type != "regression" else []
        missing = [c for i, c in enumerate(md.task.classes) if i not in present]
        why = f" (class {', '.join(missing)} absent)" if missing else ""
        _warn(notes, BrainbenchWarning, f"'{metric}' is undefined for model '{md.model}'{why}.")
        return MetricResult(
            estimate=float("nan"),
            ci_low=float("nan"),
            ci_high=float("nan"),
            method=method,
            interval=interval,
            n_clusters=design.n_top,
            clusters=design.n_clusters,
            warnings=notes,
            **common,
        )
    if method == "none" or resamples == 0:
        return MetricResult(
            estimate=estimate,
            ci_low=float("nan"),
            ci_high=float("nan"),
            method="none",
            interval="none",
            n_clusters=design.n_top,
            clusters=design.n_clusters,
            warnings=notes,
            **common,
        )
    if method == "delong":
        if n_runs > 1:
            raise UserError(
                f"Model '{md.model}' has {n_runs} runs (seeds/repeats); a DeLong interval needs "
                "one test set. Use the hierarchical bootstrap, or filter the table to one run."
            )
        cols = md.columns()
        est, lo, hi, _ = delong_ci(cols.y == cols.positive, cols.score, level)
        return MetricResult(
            estimate=est,
            ci_low=lo,
            ci_high=hi,
            method="delong",
            interval="wald",
            n_clusters=md.n_units,
            clusters={md.unit: md.n_units},
            warnings=notes,
            **common,
        )
    if (
        method == "hierarchical-bootstrap"
        and interval in INTERVALS[:2]
        # A calibrated choice from the table carries its own flag; a percentile interval
        # used where the table has no entry (another metric, another outer level) does not.
        and not calibration
        and design.n_top < MIN_CLUSTERS
        and len(names)
        and (names[0] != md.unit)
    ):
        _warn(
            notes,
            FewClustersWarning,
            f"Only {design.n_top} {names[0]} clusters: cluster "
            f"bootstrap intervals tend to be too narrow with fewer than {MIN_CLUSTERS}.",
        )
    rng = np.random.default_rng(seed)
    if interval in STUDENTISED:
        st = studentised([(md, 1.0)], m, interval, names[0], level, resamples, rng, names)
        lo, hi, outer = st.low, st.high, st.design
        if st.n_undefined:
            _warn(
                notes,
                DegenerateResampleWarning,
                f"{st.n_undefined} of {resamples} bootstrap-t resamples "
                f"({100 * st.n_undefined / resamples:.1f}%) left '{metric}' or its standard "
                "error undefined and were excluded.",
            )
        if not (np.isfinite(lo) and np.isfinite(hi)) and chosen_for:
            # The calibrated choice is undefined for these data: say so and fall back on
            # the hierarchical bootstrap rather than report no interval.
            _warn(
                notes,
                DegenerateResampleWarning,
                f"The calibrated choice for {chosen_for}, {interval}, gives no interval for "
                f"these data: {st.why}. Reported instead: the percentile interval of the "
                "hierarchical bootstrap, which the calibration did not choose for this "
                "design (approximate).",
            )
            common["chosen_for"] = f"{chosen_for} ({interval} undefined for these data)"
            common["calibration"] = {}
            interval = "percentile"
        elif not (np.isfinite(lo) and np.isfinite(hi)):
            _warn(
                notes,
                DegenerateResampleWarning,
                f"No {interval} interval for '{metric}': {st.why}. Use the percentile "
                "interval, or calibrated.",
            )
    if interval in STUDENTISED:
        lo_b, hi_b = m.bounds
        if lo < lo_b or hi > hi_b:
            notes.append(
                f"The {interval} interval ({lo:.4g}, {hi:.4g}) crossed the range of "
                f"'{metric}' ({lo_b:g} to {hi_b:g}): it is truncated to it (a studentised "
                "interval does not respect a bounded parameter's range)."
            )
            lo, hi = max(lo, lo_b), min(hi, hi_b)
        return MetricResult(
            estimate=estimate,
            ci_low=lo,
            ci_high=hi,
            method=method,
            interval=interval,
            n_clusters=outer.n_top,
            clusters=outer.n_clusters,
            n_resamples=resamples,
            n_degenerate=st.n_undefined,
            seed=seed,
            warnings=notes,
            **common,
        )
    theta = stat.resample(resamples, rng)
    ok = np.isfinite(theta)
    n_bad = int((~ok).sum())
    if n_bad:
        _warn(
            notes,
            DegenerateResampleWarning,
            f"{n_bad} of {resamples} resamples "
            f"({100 * n_bad / resamples:.1f}%) left '{metric}' undefined and were excluded.",
        )
    good = theta[ok]
    if len(good) < 2:
        lo = hi = float("nan")
    elif interval == "bca":
        lo, hi, _, _ = bca_interval(good, estimate, stat.jackknife(), level)
    elif m.kind == "calibration":
        plug_in = estimate
        estimate, lo, hi, bias = bias_corrected_basic(good, estimate, level)
        interval = "basic, bootstrap bias-corrected"
        notes.append(
            f"'{metric}' is biased upward in small bins: the estimate {estimate:.4g} is the "
            f"bootstrap bias-corrected one (uncorrected {plug_in:.4g}, bootstrap bias "
            f"{bias:+.4g}) with the basic interval (Efron & Tibshirani 1993, section 10.6; "
            "Davison & Hinkley 1997, eq. 5.6)."
        )
    else:
        lo, hi = percentile_interval(good, level)
    return MetricResult(
        estimate=estimate,
        ci_low=lo,
        ci_high=hi,
        method=method,
        interval=interval,
        n_clusters=design.n_top,
        clusters=design.n_clusters,
        n_resamples=resamples,
        n_degenerate=n_bad,
        seed=seed,
        warnings=notes,
        **common,
    )


def _own_ids(f: pd.DataFrame, column: str) -> pd.Series:
    """``column``'s ids, a missing one replaced by its unit's (a cluster of its own, as in
    :func:`brainbench.stats._data.design_for`)."""
    return f[column].astype(object).where(f[column].notna(), "\x00unit " + f["unit_id"].astype(str))


def subjects_per_cluster(md: ModelData, outer: str) -> float:
    """Mean number of subjects (units without a subject column) per ``outer`` cluster, over
    the clusters the bootstrap sees: a unit without an ``outer`` id is a cluster of its own."""
    f = md.frame
    inner = "subject" if "subject" in f.columns and outer != "subject" else "unit_id"
    ids = pd.DataFrame({"outer": _own_ids(f, outer), "inner": _own_ids(f, inner)})
    return float(ids.groupby("outer")["inner"].nunique().mean())


#: Metrics resting on one class only (positive: the last; negative: the first), and those
#: that are means over every unit whatever its class: a class confined to few clusters
#: matters to the first kind for its class, not at all to the second.
ONE_CLASS_METRICS = {"sensitivity": -1, "specificity": 0}
ALL_UNIT_METRICS = ("accuracy", "brier", "log_loss")


def confined_classes(md: ModelData, metric: str, outer: str, n_clusters: int) -> str:
    """A note naming the classes that ``metric`` rests on and that occur in fewer than
    :data:`MIN_ESTIMABLE_CLUSTERS` of the ``n_clusters`` outer clusters ('' when none): the
    between-cluster variance of such a class's part of the metric (its recall, its ranks)
    comes from that many clusters, too few to estimate it whatever the interval method (a
    design confounding class and site, e.g. patients recruited at 2 sites; rule D302)."""
    if md.task.type != "classification" or metric in ALL_UNIT_METRICS:
        return ""
    classes = list(md.task.classes)
    if metric in ONE_CLASS_METRICS:
        classes = [classes[ONE_CLASS_METRICS[metric]]]
    f = md.frame
    ids = _own_ids(f, outer)
    y = f["y"].to_numpy()
    few = []
    for c in classes:
        k = int(ids[y == md.task.classes.index(c)].nunique())
        if 0 < k < MIN_ESTIMABLE_CLUSTERS:
            few.append((c, k))
    return " ".join(
        f"Class {c} occurs at only {k} of the {n_clusters} {outer}s: the between-{outer} "
        f"variance of '{metric}' rests on {k} {outer}(s) for it, too few to estimate it (at "
        f"least {MIN_ESTIMABLE_CLUSTERS}); treat the interval as approximate whatever its "
        f"method (class and {outer} are confounded: rule D302)."
        for c, k in few
    )


def outer_level_notes(md: ModelData, metric: str, outer: str, n_clusters: int) -> list[str]:
    """What the data of an estimable ``outer`` cluster level say against its interval (for
    ``evaluate`` and the paired bootstrap alike): units without an ``outer`` id
    (:func:`missing_outer_ids`), classes confined to few clusters (:func:`confined_classes`)."""
    if outer == md.unit:
        return []
    found = (
        missing_outer_ids(md, outer, n_clusters),
        confined_classes(md, metric, outer, n_clusters),
    )
    return [note for note in found if note]


def missing_outer_ids(md: ModelData, outer: str, n_clusters: int) -> str:
    """A note when units have no ``outer`` id ('' when every unit has one): each is a cluster
    of its own, which raises the number of clusters the interval (and ``calibrated``'s
    regime) counts."""
    f = md.frame
    if outer not in f.columns or outer == md.unit:
        return ""
    k = int(f.loc[f[outer].isna(), "unit_id"].nunique())
    if not k:
        return ""
    return (
        f"{k} {md.unit}s have no {outer} id: each is a {outer} cluster of its own, so the "
        f"design has {n_clusters} {outer} clusters ({n_clusters - k} with an id). Give them "
        f"their {outer} ids if they have one."
    )


def _resolve_interval(
    md: ModelData,
    metric: str,
    interval: str,
    method: str,
    names: list[str],
    design,
    conditional_on: dict[str, int],
    notes: list[str],
    level: float = 0.95,
) -> tuple[str, str, dict]:
    """The interval actually computed, the regime it was chosen for ('' unless
    ``calibrated``) and the calibration table's record of it."""
    if interval not in (*STUDENTISED, "calibrated"):
        return interval, "", {}
    clustered = method == "hierarchical-bootstrap" and (names[0] != md.unit or bool(conditional_on))
    if interval in STUDENTISED:
        if not clustered:
            raise UserError(
                f"The {interval} interval studentises over clusters: use the "
                "hierarchical-bootstrap method with clusters (e.g. --clusters site,subject)."
            )
        if interval in MEAN_ONLY and metric not in MEAN_METRICS:
            raise UserError(
                f"The {interval} interval applies to metrics that are weighted means "
                f"({', '.join(MEAN_METRICS)}); '{metric}' is not one. Use cluster-bootstrap-t "
                "or calibrated."
            )
        if conditional_on:
            outer = next(iter(conditional_on))
            notes.append(
                f"{interval} needs at least {MIN_ESTIMABLE_CLUSTERS} {outer}s to be "
                "estimable at that level: the conditional percentile interval is reported."
            )
            return "percentile", "", {}
        return interval, "", {}
    from brainbench.stats._interval_defaults import calibrated_choice

    if not clustered:
        return "percentile", "no cluster level resampled", {}
    if conditional_on:
        c, n = next(iter(conditional_on.items()))
        return "percentile", f"{n} {c}s: a {c}-level interval is not estimable", {}
    outer = names[0]
    choice = calibrated_choice(metric, design.n_top, subjects_per_cluster(md, outer), outer)
    if choice.warning:
        _warn(notes, FewClustersWarning, choice.warning)
    if choice.entry is not None and abs(level - 0.95) > 1e-9:
        _warn(
            notes,
            BrainbenchWarning,
            f"The calibration grid judged nominal 95% intervals only: at the {100 * level:g}% "
            f"level the choice of {choice.method} for {choice.chosen_for}, and the coverage "
            "it quotes, are for 95% intervals; treat this interval as approximate.",
        )
    k = len(md.task.classes)
    if choice.entry is not None and md.task.type == "classification" and k > 2:
        _warn(
            notes,
            BrainbenchWarning,
            f"The calibration grid simulated two-class tasks; this one has {k} classes, so "
            f"the coverage of {choice.method} for {choice.chosen_for} is an extrapolation: "
            "treat the interval as approximate.",
        )
    chosen_for = choice.chosen_for
    if choice.entry is not None and outer != "site":
        chosen_for += f" (here: {design.n_top} {outer}s)"
    return choice.method, chosen_for, choice.calibration


class Studentised(NamedTuple):
    """A studentised interval over the outer clusters (:func:`studentised`): its ends and
    p-value (NaN when undefined, ``why`` says why), and the bootstrap-t resamples left
    undefined (excluded from the t* distribution)."""

    low: float
    high: float
    p_value: float
    design: ClusterDesign
    n_undefined: int = 0
    why: str = ""


def studentised(
    parts: list[tuple[ModelData, float]],
    m,
    name: str,
    outer: str,
    level: float,
    resamples: int,
    rng: np.random.Generator,
    clusters: Sequence[str] = (),
) -> Studentised:
    """A studentised interval and its symmetric bootstrap-t p-value (H0: 0) over the outer
    cluster level, for ``sum coef x metric(model)`` (one model with coefficient 1, or a paired
    difference ``(a, +1), (b, -1)`` whose frames are aligned row for row). Each model's
    value is the mean over its runs. ``mixed-satterthwaite`` models every level of
    ``clusters`` (default: the outer one) and gives its t test's p-value."""
    design, _ = design_for(parts[0][0], [outer], stratify=False)
    G = design.n_top
    nan = float("nan")
    what = f"'{m.name}'" if len(parts) == 1 else f"the difference in '{m.name}'"
    if name == "cluster-bootstrap-t":
        blocks = [b for md, c in parts for b in run_blocks(md, m, design, c)]
        got = cluster_t(Statistic(design, blocks), resamples=resamples, rng=rng)
    else:
        per_run = []
        held = np.zeros(G)
        for md, c in parts:
            runs = md.frame["run"].to_numpy()
            for run in md.runs:
                rows = np.flatnonzero(runs == run)
                u, w = mean_form(m.name, md.columns(rows))
                per_run.append((u, w, rows, c / len(md.runs)))
                held += np.bincount(design.row_atom[rows], w, G)
        if name == "mixed-satterthwaite":
            full, names = design_for(parts[0][0], list(clusters) or [outer], stratify=False)
            lo, hi, p = mixed_interval(per_run, full.row_codes, names, level=level)
            why = (
                ""
                if np.isfinite(lo)
                else "the Satterthwaite degrees of freedom could not be computed (the REML "
                "information of the variances is singular)"
            )
            return Studentised(lo, hi, p, design, 0, why)
        k = int((held > 0).sum())
        if k < MIN_STUDENTISED_CLUSTERS:
            return Studentised(
                nan,
                nan,
                nan,
                design,
                0,
                f"only {k} of the {G} {outer}s hold units that '{m.name}' is computed on, "
                f"and the {name} interval needs at least {MIN_STUDENTISED_CLUSTERS}",
            )
        wild = [(u, w, design.row_atom[rows], c) for u, w, rows, c in per_run]
        if name == "cr2":
            lo, hi, p = cr2_interval(wild, G, level=level)
            why = (
                ""
                if np.isfinite(lo)
                else f"the cluster-robust standard error of {what} is 0 or undefined (its "
                f"units do not vary, or one {outer} holds all of a run's units)"
            )
            return Studentised(lo, hi, p, design, 0, why)
        got = wild_cluster_t(
            wild,
            G,
            resamples=resamples,
            weights=name.removeprefix("wild-cluster-"),
            rng=rng,
        )
    if got is None:
        return Studentised(
            nan, nan, nan, design, 0, f"it needs at least {MIN_STUDENTISED_CLUSTERS} {outer}s"
        )
    _, se, t_star = got
    n_undefined = int((~np.isfinite(t_star)).sum())
    lo, hi = t_interval(*got, level)
    why = ""
    if not (np.isfinite(se) and se > 0):
        why = (
            f"the standard error of {what} over the {G} {outer}s is "
            + ("0 (its units do not vary)" if se == 0 else "undefined")
            + (
                f" ({what} is undefined or constant when one {outer} is left out)"
                if name == "cluster-bootstrap-t"
                else ""
            )
        )
    elif not np.isfinite(lo):
        why = f"{n_undefined} of {len(t_star)} bootstrap-t resamples were undefined"
    return Studentised(lo, hi, t_p_value(*got), design, n_undefined, why)


def evaluate_predictions(
    df: pd.DataFrame,
    metrics: Sequence[str] | None = None,
    *,
    task: Task | None = None,
    positive: str | None = None,
    unit: str = "image",
    method: str = "hierarchical-bootstrap",
    interval: str = "percentile",
    clusters: Sequence[str] = (),
    level: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
    stratify: bool = True,
    groupby: Sequence[str] | None = None,
    partitions: Sequence[str] | None = None,
    models: Sequence[str] | None = None,
) -> list[MetricResult]:
    """Metrics with confidence intervals for every model of a predictions table.

    Parameters
    ----------
    df
        The predictions table (:func:`brainbench.stats.read_predictions` or any DataFrame with
        its columns; it is checked).
    metrics
        Metric names (default: balanced_accuracy and auroc when scores exist for
        classification; mae and r2 for regression).
    task, positive
        The task (from a spec), or the positive class; see :func:`brainbench.stats.infer_task`.
    unit
        Unit of analysis: ``image``, ``session`` or ``subject`` (scores averaged per unit).
    groupby
        Breakdown columns (e.g. ``["site"]``, ``["dataset", "scanner"]``): one result per
        group. Every partition (except ``validation``) is always reported separately.
    partitions
        Partitions to report (default: all but ``validation``).
    Other parameters are those of :func:`confidence_interval`.

    Returns
    -------
    list of MetricResult
        One per (partition, group, model, metric), in that order.
    """
    from brainbench.stats._io import check_predictions

    df = check_predictions(df, source="the predictions table")
    if metrics:
        for name in metrics:
            get_metric(name)
    if task is None:
        task = infer_task(df, positive=positive, metrics=list(metrics) if metrics else None)
    if not metrics:
        metrics = default_metrics(df, task)
    model_names = list(pd.unique(df["model"])) if models is None else list(models)
    unknown = sorted(set(model_names) - set(df["model"]))
    if unknown:
        raise UserError(f"No predictions of model(s) {', '.join(unknown)}.")
    results = []
    for part, group, rows in iter_groups(df, groupby, partitions):
        for model in model_names:
            sub = rows[rows["model"] == model]
            if sub.empty:
                continue
            md = model_data(sub, model, task, unit)
            for name in metrics:
                results.append(
                    confidence_interval(
                        md,
                        name,
                        method=method,
                        interval=interval,
                        clusters=clusters,
                        level=level,
                        resamples=resamples,
                        seed=seed,
                        stratify=stratify,
                        partition=part,
                        group=group,
                    )
                )
    return results


def default_metrics(df: pd.DataFrame, task: Task) -> list[str]:
    if task.type == "regression":
        return ["mae", "r2"]
    out = ["balanced_accuracy"]
    if any(c == "score" or c.startswith("score_") for c in df.columns):
        out.append("auroc")
    return out


def compute_metric(
    name: str,
    y_true,
    y_pred=None,
    score=None,
    *,
    positive=None,
    classes: Sequence | None = None,
) -> float:
    """One metric on arrays, without resampling (``NaN`` when undefined).

    Classification labels are compared as strings; ``positive`` defaults to the last of
    ``classes`` (or 1 for 0/1 labels).
    """
    m = get_metric(name)
    if m.task == "regression":
        from brainbench.stats._metrics import Columns

        return m(Columns(y=np.asarray(y_true, float), pred=np.asarray(y_pred, float)))
    y_s = pd.Series(np.asarray(y_true)).astype(str)
    df = pd.DataFrame({"model": "m", "y_true": y_s})
    if classes is None:
        labels = sorted(
            set(y_s)
            | (set(pd.Series(np.asarray(y_pred)).astype(str)) if y_pred is not None else set())
        )
        task = infer_task(
            df, positive=None if positive is None else str(positive), task_type="classification"
        )
        extra = [c for c in labels if c not in task.classes]
        task = Task("classification", (*extra, *task.classes))
    else:
        task = infer_task(
            df,
            classes=[str(c) for c in classes],
            positive=None if positive is None else str(positive),
            task_type="classification",
        )
    code = {c: i for i, c in enumerate(task.classes)}
    from brainbench.stats._metrics import Columns

    cols = Columns(
        y=y_s.map(code).to_numpy(dtype=np.int64),
        pred=None
        if y_pred is None
        else pd.Series(np.asarray(y_pred)).astype(str).map(code).to_numpy(dtype=np.int64),
        score=None if score is None else np.asarray(score, float),
        n_classes=len(task.classes),
        positive=len(task.classes) - 1,
    )
    return m(cols)


__all__ = ["METRICS", "compute_metric", "confidence_interval", "evaluate_predictions"]
