"""``brainbench evaluate``, ``compare``, ``rank`` and ``calibrate``.

JSON contracts (other tools rely on them):

* evaluate: ``{"models": [{"model", "metric", "estimate", "ci_low", "ci_high", "method",
  "n_units", ...}], "settings": {...}}``
* compare: ``{"comparisons": [{"a", "b", "metric", "method", "estimate", "ci_low", "ci_high",
  "statistic", "p_value", "p_adjusted", ...}], "settings": {...}}`` (estimate = a - b)
* rank: ``{"mean_ranks": {model: rank}, "friedman": {statistic, p_value},
  "iman_davenport": {statistic, p_value}, "nemenyi": {cd, alpha}, "pairwise": [...], ...}``
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import click

from brainbench._cli_types import RESAMPLES, SEED, FiniteFloatRange
from brainbench.errors import BrainbenchWarning, UserError
from brainbench.spec.models import IntervalName

FORMATS = click.Choice(["text", "json"])


@dataclass
class Settings:
    """Statistical settings: from a spec, overridden by command-line options."""

    task_type: str | None = None
    classes: list[str] | None = None
    positive: str | None = None
    metrics: list[str] = field(default_factory=list)
    unit: str = "image"
    ci_method: str = "hierarchical-bootstrap"
    interval: str = "percentile"
    level: float = 0.95
    resamples: int = 10_000
    clusters: list[str] = field(default_factory=list)
    comparison: str | None = None
    alpha: float = 0.05
    correction: str = "holm"
    margin: float = 0.0
    hypothesis: str = "superiority"
    rope: float | None = None
    breakdown: list[str] = field(default_factory=list)
    spec: str | None = None


def settings_from_spec(path: str | None) -> Settings:
    """The one place that reads a spec (``brainbench.spec``), imported lazily."""
    if path is None:
        return Settings()
    from brainbench.spec import load_spec

    spec = load_spec(path).spec
    protocol = spec.protocol
    conf = protocol.confidence
    s = Settings(
        task_type=spec.task.type,
        classes=list(spec.task.classes) if spec.task.classes else None,
        metrics=[
            protocol.primary_metric,
            *[m for m in protocol.metrics if m != protocol.primary_metric],
        ],
        unit=protocol.unit_of_analysis,
        ci_method=conf.method,
        interval=conf.interval,
        level=conf.level,
        resamples=conf.resamples,
        clusters=list(conf.clusters),
        spec=str(path),
    )
    comp = protocol.comparison
    if comp is not None:
        s.comparison = comp.method
        s.alpha = comp.alpha
        s.correction = comp.correction
        s.margin = comp.margin
        s.hypothesis = getattr(comp, "hypothesis", "superiority")
        s.rope = getattr(comp, "rope", None)
    reporting = getattr(spec, "reporting", None)
    if reporting is not None:
        s.breakdown = [b for b in getattr(reporting, "breakdown", []) or []]
    return s


def _task(settings: Settings, df):
    from brainbench.stats._io import infer_task

    return infer_task(
        df,
        task_type=settings.task_type,
        classes=settings.classes,
        positive=settings.positive,
        metrics=settings.metrics or None,
    )


def _split_list(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def _fmt(x: Any, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    if isinstance(x, float):
        if x != 0 and abs(x) < 1e-3:
            return f"{x:.2e}"
        return f"{x:.{digits}f}"
    return str(x)


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def _emit(payload: dict, fmt: str, text: str, output: str | None) -> None:
    out = json.dumps(payload, indent=2) + "\n" if fmt == "json" else text + "\n"
    if output:
        try:
            Path(output).write_text(out)
        except OSError as exc:
            raise UserError(f"Cannot write {output}: {exc}") from None
    else:
        click.echo(out, nl=False)


def _common(f):
    options = [
        click.option(
            "--spec",
            "spec",
            type=click.Path(dir_okay=False),
            help="Benchmark spec: task, classes, metrics and the statistical protocol.",
        ),
        click.option("--positive", help="The positive class (without a spec)."),
        click.option(
            "--unit",
            type=click.Choice(["image", "session", "subject"]),
            help="Unit of analysis (scores of a unit's images averaged).",
        ),
        click.option("--clusters", help="Levels to resample, outer first: site,subject."),
        click.option("--resamples", type=RESAMPLES, help="Bootstrap resamples."),
        click.option(
            "--level",
            type=FiniteFloatRange(0.5, 1, min_open=True, max_open=True),
            help="Confidence level (default 0.95).",
        ),
        click.option("--seed", type=SEED, default=0, show_default=True, help="Random seed."),
        click.option(
            "--interval",
            type=click.Choice(list(get_args(IntervalName))),
            help="Interval: percentile, bca, a studentised cluster method, or calibrated (the "
            "method chosen for the metric and the number of sites; docs/statistics.md).",
        ),
        click.option(
            "--groupby",
            multiple=True,
            help="Break results down by a column (site, scanner, dataset...).",
        ),
        click.option(
            "--partition",
            "partitions",
            multiple=True,
            help="Partition(s) to analyse (default: all but validation).",
        ),
        click.option("--format", "fmt", type=FORMATS, default="text", show_default=True),
        click.option(
            "--output",
            "-o",
            type=click.Path(dir_okay=False),
            help="Write to this file instead of standard output.",
        ),
    ]
    for opt in reversed(options):
        f = opt(f)
    return f


def _settings(spec, positive, unit, clusters, resamples, level, interval) -> Settings:
    s = settings_from_spec(spec)
    if positive is not None:
        s.positive = positive
    if unit:
        s.unit = unit
    if clusters is not None:
        s.clusters = _split_list(clusters) or []
    if resamples is not None:
        s.resamples = resamples
    if level is not None:
        s.level = level
    if interval:
        s.interval = interval
    return s


@click.command(name="evaluate")
@click.argument("pred", type=click.Path(dir_okay=False))
@_common
@click.option("--metric", "metrics", multiple=True, help="Metric(s) (default: the spec's).")
@click.option(
    "--method",
    type=click.Choice(["hierarchical-bootstrap", "bootstrap", "delong", "none"]),
    help="Confidence-interval method.",
)
def evaluate(
    pred,
    spec,
    positive,
    unit,
    clusters,
    resamples,
    level,
    seed,
    interval,
    groupby,
    partitions,
    fmt,
    output,
    metrics,
    method,
):
    """Metrics of every model in PRED with hierarchy-aware confidence intervals.

    PRED is a predictions table (Parquet, TSV or CSV; docs/design.md). Without --clusters (or a
    spec declaring them) each unit is its own cluster.
    """
    from brainbench.stats._evaluate import evaluate_predictions
    from brainbench.stats._io import read_predictions

    s = _settings(spec, positive, unit, clusters, resamples, level, interval)
    if metrics:
        s.metrics = list(metrics)
    if method:
        s.ci_method = method
    df = read_predictions(pred)
    task = _task(s, df)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BrainbenchWarning)
        results = evaluate_predictions(
            df,
            s.metrics or None,
            task=task,
            unit=s.unit,
            method=s.ci_method,
            interval=s.interval,
            clusters=s.clusters,
            level=s.level,
            resamples=s.resamples,
            seed=seed,
            groupby=list(groupby) or None,
            partitions=list(partitions) or None,
        )
    settings = {
        "spec": s.spec,
        "unit": s.unit,
        "method": s.ci_method,
        "interval": s.interval,
        "level": s.level,
        "resamples": s.resamples,
        "clusters": s.clusters,
        "seed": seed,
        "task": task.type,
        "classes": list(task.classes),
        "positive": task.positive,
    }
    payload = {"models": [r.to_dict() for r in results], "settings": settings}
    rows = []
    notes = []
    for r in results:
        grp = ",".join(f"{k}={v}" for k, v in r.group.items())
        rows.append(
            [
                r.partition + (f" {grp}" if grp else ""),
                r.model,
                r.metric,
                _fmt(r.estimate),
                f"[{_fmt(r.ci_low)}, {_fmt(r.ci_high)}]",
                str(r.n_units),
                str(r.n_clusters),
                r.method
                + (f" {r.interval}" if r.interval not in ("percentile", "none") else "")
                + (f" (chosen for {r.chosen_for})" if r.chosen_for else "")
                + "".join(f", conditional on {n} {c}s" for c, n in r.conditional_on.items()),
            ]
        )
        notes += [f"{r.model} {r.metric}: {w}" for w in r.warnings]
        if r.n_resamples and math.isfinite(r.ci_low) and r.ci_low == r.ci_high:
            notes.append(
                f"{r.model} {r.metric}: zero-width interval: at least the central "
                f"{r.level:.0%} of the resamples gave {r.ci_low:.4g}, so it is not a precise "
                "estimate (the bootstrap cannot vary "
                "it here, e.g. one unit per resampled cluster, or every unit scored alike); "
                "the evidence sheet calls it not estimable."
            )
    text = _table(
        rows,
        [
            "partition",
            "model",
            "metric",
            "estimate",
            f"{int(s.level * 100)}% CI",
            "units",
            "clusters",
            "method",
        ],
    )
    if notes:
        text += "\n\nwarnings:\n" + "\n".join(f"  {n}" for n in dict.fromkeys(notes))
    _emit(payload, fmt, text, output)


@click.command(name="compare")
@click.argument("pred", type=click.Path(dir_okay=False))
@_common
@click.option("--metric", help="Metric compared (default: the spec's primary metric).")
@click.option(
    "--method",
    help="paired-t, corrected-t, corrected-repeated-kfold-t, delong, "
    "mcnemar, bootstrap, mixed, bayes, wilcoxon, probability.",
)
@click.option(
    "--correction",
    type=click.Choice(["holm", "bh", "none"]),
    help="Multiplicity correction (default holm).",
)
@click.option("--alpha", type=FiniteFloatRange(0, 0.5, min_open=True), help="Default 0.05.")
@click.option("--margin", type=FiniteFloatRange(min=0), help="Smallest difference that matters.")
@click.option("--hypothesis", type=click.Choice(["superiority", "non-inferiority", "equivalence"]))
@click.option("--rope", type=FiniteFloatRange(min=0), help="bayes: half-width of the ROPE.")
@click.option("--reference", help="Compare every model with this one (default: all pairs).")
@click.option(
    "--test-train-ratio",
    # Above 1000 test units per training unit the ratio is a typing mistake, and near 2**53
    # the Bayesian test's rho = r / (1 + r) rounds to 1.
    type=FiniteFloatRange(0, 1000, min_open=True),
    help="n_test/n_train for corrected-t and bayes outside k-fold designs (at most 1000).",
)
def compare(
    pred,
    spec,
    positive,
    unit,
    clusters,
    resamples,
    level,
    seed,
    interval,
    groupby,
    partitions,
    fmt,
    output,
    metric,
    method,
    correction,
    alpha,
    margin,
    hypothesis,
    rope,
    reference,
    test_train_ratio,
):
    """Paired comparisons of the models in PRED (estimate = metric of a minus metric of b)."""
    from brainbench.stats._compare import COMPARISONS, compare_models
    from brainbench.stats._io import read_predictions

    s = _settings(spec, positive, unit, clusters, resamples, level, interval)
    metric = metric or (s.metrics[0] if s.metrics else None)
    if metric is None:
        raise UserError("Which metric? Give --metric (or a spec with a primary_metric).")
    method = method or s.comparison or "bootstrap"
    COMPARISONS.get(method)
    s.metrics = [metric]
    for name, value in (
        ("correction", correction),
        ("alpha", alpha),
        ("margin", margin),
        ("hypothesis", hypothesis),
        ("rope", rope),
    ):
        if value is not None:
            setattr(s, name, value)
    df = read_predictions(pred)
    task = _task(s, df)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BrainbenchWarning)
        results = compare_models(
            df,
            metric,
            method,
            reference=reference,
            task=task,
            unit=s.unit,
            clusters=s.clusters,
            level=s.level,
            resamples=s.resamples,
            seed=seed,
            interval=s.interval,
            correction=s.correction,
            alpha=s.alpha,
            margin=s.margin,
            hypothesis=s.hypothesis,
            rope=s.rope,
            test_train_ratio=test_train_ratio,
            groupby=list(groupby) or None,
            partitions=list(partitions) or None,
        )
    settings = {
        "spec": s.spec,
        "metric": metric,
        "method": method,
        "unit": s.unit,
        "clusters": s.clusters,
        "interval": s.interval,
        "level": s.level,
        "resamples": s.resamples,
        "seed": seed,
        "correction": s.correction,
        "alpha": s.alpha,
        "margin": s.margin,
        "hypothesis": s.hypothesis,
        "positive": task.positive,
    }
    payload = {"comparisons": [r.to_dict() for r in results], "settings": settings}
    rows, notes = [], []
    for r in results:
        grp = ",".join(f"{k}={v}" for k, v in r.group.items())
        if r.method == "bayes":
            e = r.extra
            stat = f"L/R/R {e['p_left']:.3f}/{e['p_rope']:.3f}/{e['p_right']:.3f}"
        else:
            stat = _fmt(r.statistic, 3)
        rows.append(
            [
                r.partition + (f" {grp}" if grp else ""),
                f"{r.a} - {r.b}",
                _fmt(r.estimate),
                f"[{_fmt(r.ci_low)}, {_fmt(r.ci_high)}]",
                stat,
                _fmt(r.p_value),
                _fmt(r.p_adjusted),
                r.decision or "-",
            ]
        )
        notes += [f"{r.a} vs {r.b}: {w}" for w in r.warnings]
    used = dict.fromkeys(
        r.extra["interval"]
        + (f", chosen for {r.extra['chosen_for']}" if r.extra.get("chosen_for") else "")
        for r in results
        if r.extra.get("interval")
    )
    how = f"; interval {'; '.join(used)}" if used else ""
    text = f"{metric} by {method} ({s.correction} correction{how})\n" + _table(
        rows,
        [
            "partition",
            "a - b",
            "estimate",
            f"{int(s.level * 100)}% CI",
            "statistic",
            "p",
            "p adj",
            "decision",
        ],
    )
    if notes:
        text += "\n\nwarnings:\n" + "\n".join(f"  {n}" for n in dict.fromkeys(notes))
    _emit(payload, fmt, text, output)


@click.command(name="rank")
@click.argument("scores", type=click.Path(dir_okay=False))
@click.option("--lower-is-better", is_flag=True, help="Lower scores rank first (losses).")
@click.option(
    "--alpha", type=FiniteFloatRange(0, 0.5, min_open=True), default=0.05, show_default=True
)
@click.option(
    "--resamples",
    type=RESAMPLES,
    default=1000,
    show_default=True,
    help="Bootstrap resamples of the tasks for rank stability (0: none).",
)
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option(
    "--friedman-ties",
    type=click.Choice(["corrected", "demsar"]),
    default="corrected",
    show_default=True,
    help="Friedman's statistic with the tie correction (as scipy) or Demsar 2006's without.",
)
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False))
def rank(scores, lower_is_better, alpha, resamples, seed, friedman_ties, fmt, output):
    """Rank models across tasks (columns model, task or dataset, score): Friedman,
    Iman-Davenport, Nemenyi critical difference, Holm against the best, Wilcoxon."""
    from brainbench.stats._io import read_table
    from brainbench.stats._rank import rank_models

    table = read_table(scores, "scores table")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BrainbenchWarning)
        res = rank_models(
            table,
            lower_is_better=lower_is_better,
            alpha=alpha,
            stability_resamples=resamples,
            seed=seed,
            friedman_ties=friedman_ties,
        )
    payload = res.to_dict()
    order = sorted(res.mean_ranks, key=res.mean_ranks.get)
    rows = [[m, _fmt(res.mean_ranks[m], 3)] for m in order]
    text = _table(rows, ["model", "mean rank"])
    text += (
        f"\n\n{res.friedman.method}: chi2 = {res.friedman.statistic:.3f} "
        f"(p = {_fmt(res.friedman.p_value)})"
        f"; Iman-Davenport F = {res.iman_davenport.statistic:.3f} "
        f"(p = {_fmt(res.iman_davenport.p_value)})"
        f"\nNemenyi CD (alpha {alpha}) = {res.nemenyi['cd']:.3f} over {res.n_tasks} tasks"
    )
    if res.warnings:
        text += "\n\nwarnings:\n" + "\n".join(f"  {w}" for w in res.warnings)
    _emit(payload, fmt, text, output)


@click.command(name="calibrate")
@click.option(
    "--preset",
    type=click.Choice(["ci", "full"]),
    default="ci",
    show_default=True,
    help="ci: under a minute; full: the study of benchmarks/stats/README.md.",
)
@click.option(
    "--grid",
    type=click.Choice(
        [
            "quick",
            "partial",
            "extended",
            "large-sites",
            "full",
            "confirm-quick",
            "confirm",
            "reselect",
            "confirm-fresh",
        ]
    ),
    help="Instead of the study: the coverage grid of the candidate interval methods "
    "(percentile, BCa, cluster bootstrap-t, wild cluster bootstrap, CR2); quick: sites 4 and "
    "8, seconds; partial, extended, large-sites: the parts run for benchmarks/stats/README.md; "
    "full: issue 15's grid (sites 2-32, subjects, sessions, ICC, prevalence, metrics; 2,000 "
    "data sets per cell, days on two cores); confirm (confirm-quick: seconds): only the method "
    "the committed table (or the one at $BRAINBENCH_CONFIRM_TABLE) chose per metric and "
    "regime, and percentile, on fresh data sets "
    "(a --seed other than the selection runs') in designs of every regime with >= 4 sites; "
    "reselect: every candidate on 2,000 data sets per design in the regimes that confirmation "
    "flagged; confirm-fresh: the re-selected choices on fresh data sets in fresh designs.",
)
@click.option(
    "--paired-grid",
    type=click.Choice(["quick", "partial", "unbalanced", "unbalanced-small", "edge"]),
    help="Instead of the study: type-I error and power of the paired comparisons (paired "
    "bootstrap, cluster bootstrap-t, wild cluster bootstrap, CR2, mixed model) per design; "
    "quick: seconds; partial: the part run for docs/statistics.md; unbalanced, "
    "unbalanced-small: 6 and 8 sites of unequal sizes, 20 or 5 subjects per site on average; "
    "edge: 4, 6 and 8 sites of 9 subjects (the top of the 1-9 regime). "
    "A design's verdict judges 4-6% only from >= 1,900 data sets (--replicates 2000).",
)
@click.option(
    "--replicates", type=click.IntRange(10, 1_000_000), help="Simulated data sets per cell."
)
@click.option(
    "--resamples",
    type=click.IntRange(99, 100_000),
    help="--grid: bootstrap resamples per interval instead of the grid's own (399 or 199).",
)
@click.option(
    "--metric",
    "metrics",
    multiple=True,
    help="--grid: only this metric of the grid (repeatable), e.g. one a run left out.",
)
@click.option(
    "--from-json",
    "from_json",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="With --write-defaults: earlier grid runs (--grid ... --format json), pooled.",
)
@click.option(
    "--write-defaults",
    type=click.Path(dir_okay=False),
    help="Write the calibrated interval choice per metric and design regime (the table "
    "`interval: calibrated` reads: src/brainbench/stats/interval-defaults.json) from the grid "
    "run now or from --from-json runs.",
)
@click.option("--seed", type=SEED, default=2024, show_default=True)
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write JSON/text here.")
@click.option("--plot", type=click.Path(dir_okay=False), help="Write a PNG figure here.")
def calibrate(
    preset,
    grid,
    paired_grid,
    replicates,
    resamples,
    metrics,
    from_json,
    write_defaults,
    seed,
    fmt,
    output,
    plot,
):
    """Simulate hierarchical data with a known truth: CI coverage and type-I error per method."""
    from brainbench.stats._calibrate import plot_calibration, render_text, run_calibration

    if paired_grid:
        from brainbench.stats._calibrate_paired import render_paired_markdown, run_paired_grid

        res = run_paired_grid(paired_grid, replicates=replicates, seed=seed)
        _emit(res, fmt, render_paired_markdown(res), output)
        return

    if from_json or write_defaults:
        _write_defaults(grid, replicates, metrics, seed, from_json, write_defaults, fmt, output)
        return
    if grid:
        from brainbench.stats._calibrate_grid import render_grid_text, run_interval_grid

        if plot:
            raise UserError("--plot draws the study's figure; it does not apply to --grid.")
        res = run_interval_grid(
            grid, replicates=replicates, seed=seed, metrics=list(metrics), resamples=resamples
        )
        _emit(res, fmt, render_grid_text(res), output)
        return
    res = run_calibration(preset=preset, replicates=replicates, seed=seed)
    if plot:
        plot_calibration(res, plot)
    _emit(res, fmt, render_text(res), output)


def _write_defaults(grid, replicates, metrics, seed, from_json, path, fmt, output) -> None:
    """``calibrate --write-defaults``: the calibrated-interval table from grid runs."""
    from brainbench.stats._calibrate_grid import run_interval_grid
    from brainbench.stats._interval_defaults import choose_defaults, render_defaults_markdown

    if not path:
        raise UserError("--from-json pools earlier grid runs for --write-defaults PATH: give it.")
    if bool(grid) == bool(from_json):
        raise UserError(
            "--write-defaults needs either --grid NAME (run the grid now) or --from-json FILE "
            "(earlier `calibrate --grid NAME --format json` runs), not both or neither."
        )
    runs = []
    for f in from_json:
        try:
            res = json.loads(Path(f).read_text())
            res["rates" if "rates" in res else "coverage"], res["command"], res["grid"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise UserError(
                f"{f} is not the JSON of a calibration grid run (`brainbench calibrate --grid "
                f"NAME --format json` or `--paired-grid NAME --format json`): missing {e}."
            ) from e
        runs.append(res)
    if grid:
        runs.append(run_interval_grid(grid, replicates=replicates, seed=seed, metrics=metrics))
    table = choose_defaults(runs)
    Path(path).write_text(json.dumps(table, indent=2) + "\n")
    _emit(table, fmt, render_defaults_markdown(table), output)
