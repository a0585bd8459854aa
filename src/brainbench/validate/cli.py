"""``brainbench validate`` and ``brainbench rules``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from brainbench.validate.findings import CheckResult


@click.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--data", is_flag=True, help="Also read the cohorts and run the data rules (D3xx).")
@click.option(
    "--against",
    type=click.Path(path_type=Path),
    help="An older version of the spec: check that the version bump matches the change.",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def validate(specs: tuple[Path, ...], data: bool, against: Path | None, fmt: str) -> None:
    """Check benchmark specs for leaky or statistically unsound designs.

    Every SPEC gets its own result (with --format json, one entry of "results" each), whatever
    happens to the others. Exit status: 0 no error remains, 1 an error remains, 2 an input
    cannot be read, 70 an internal error (its traceback is saved to a log file).
    """
    from brainbench.validate.findings import CheckResult, render_json, render_text

    total = CheckResult()
    for spec in specs:
        total.extend(_validate_one(spec, data=data, against=against))
    click.echo(render_json(total) if fmt == "json" else render_text(total))
    raise click.exceptions.Exit(total.exit_code)


def _validate_one(spec: Path, *, data: bool, against: Path | None) -> CheckResult:
    """One file's result; a bug while checking it becomes that file's finding (exit 70)."""
    from brainbench.errors import EXIT_INTERNAL, internal_error_message, save_traceback
    from brainbench.validate.engine import INTERNAL, validate_path
    from brainbench.validate.findings import CheckResult, Finding, Severity

    try:
        result, unreadable = validate_path(spec, data=data, against=against)
    except Exception as exc:  # a bug: this file's result says so, the batch goes on
        log = save_traceback(exc, context=f"brainbench validate {spec}")
        finding = Finding(
            rule=INTERNAL,
            severity=Severity.ERROR,
            message=internal_error_message(exc, log),
            file=str(spec),
        )
        return CheckResult(files=[str(spec)], findings=[finding], status=EXIT_INTERNAL)
    if unreadable:
        result.status = 2
    return result


@click.command()
@click.argument("spec", type=click.Path(path_type=Path))
@click.option(
    "--data",
    is_flag=True,
    help="Read the cohorts and plan each test set from its actual counts (as rule D306 does).",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def plan(spec: Path, data: bool, fmt: str) -> None:
    """Expected CI half-width and minimal detectable difference of SPEC's design.

    Without --data the design is protocol.planning's (test_subjects, test_sites,
    sessions_per_subject, prevalence); with --data, each test set of the cohorts and splits.
    The assumptions (metric value, ICCs, error SD, model correlation, power) are
    protocol.planning's. Normal approximations: half-width z * SE * sqrt(deff), minimal
    detectable difference (z_(1-alpha/2) + z_power) * SE * sqrt(deff) * sqrt(2 (1 - rho)),
    deff = 1 + (m - 1) ICC per cluster level (Kish 1965).
    """
    from dataclasses import asdict

    from brainbench.errors import UserError
    from brainbench.spec import load_spec
    from brainbench.validate.data_rules import (
        KISH_1965,
        TestSetTooSmall,
        load_data_context,
        plan_from_spec,
    )

    loaded = load_spec(spec)
    if loaded.spec.task.type == "segmentation":
        raise UserError(
            f"{spec}: a segmentation benchmark is not planned: these formulas hold for one "
            "score or label per unit (a binomial or the target's SD), not for per-case Dice or "
            "boundary distances, whose spread depends on the structure and the model. Estimate "
            "the per-case SD on a pilot run (`brainbench run`, case_metrics.parquet) instead."
        )
    if data:
        ctx = load_data_context(loaded)
        plans = TestSetTooSmall().plans(ctx)
        if not plans:
            problems = "; ".join(f.message for f in ctx.findings[:3])
            raise UserError(
                f"{spec}: no test set with units to plan from the cohorts"
                + (f" ({problems})" if problems else "")
                + ". Run `brainbench validate SPEC --data` to see why."
            )
    else:
        plans = [plan_from_spec(loaded)]
    protocol = loaded.spec.protocol
    level = protocol.confidence.level
    if fmt == "json":
        out = {
            "spec": str(spec),
            "metric": protocol.primary_metric,
            "level": level,
            "planning": protocol.planning.model_dump(),
            "test_sets": [asdict(p) for p in plans],
        }
        out["interval"] = _planned_interval(protocol, data)
        click.echo(json.dumps(out, indent=2))
        return
    p0 = protocol.planning
    interval = _planned_interval(protocol, data)
    from brainbench.stats import metric_info

    info = metric_info(protocol.primary_metric)
    click.echo(
        f"{spec}: planning {protocol.primary_metric}, {level:.0%} intervals, unit "
        f"{protocol.unit_of_analysis}; assumptions (protocol.planning): site ICC "
        f"{p0.site_icc:g}, subject ICC {p0.subject_icc:g}"
    )
    for p in plans:
        click.echo(f"\n{p.name}: {p.size}")
        click.echo(f"  SE on independent units   {p.se:.4g}  ({p.formula}, {p.assumed})")
        click.echo(f"  design effect             {p.deff:.3g}{p.deff_text}")
        click.echo(f"  expected CI half-width    {p.half_width:.4g}  = z * SE * sqrt(deff)")
        click.echo(
            f"  minimal detectable diff.  {p.mdd:.4g}  = (z_(1-alpha/2) + z_power) * SE * "
            f"sqrt(deff) * sqrt(2 (1 - rho)); {p.mdd_text}"
        )
        if info.bounded and p.mdd >= info.bounds[1] - info.bounds[0]:
            click.echo(
                f"  the minimal detectable difference exceeds the range of {p.metric} "
                f"({info.bounds[1] - info.bounds[0]:g}): no difference is detectable with this "
                "design."
            )
    if interval:
        click.echo(f"\nInterval method: {interval}")
    click.echo(
        "\nNormal approximations for planning, not the bootstrap intervals of `evaluate`. "
        f"Design effect: {KISH_1965}; 1 + (m - 1) ICC, m = sum(m_i^2) / sum(m_i). Paired "
        "difference: Hanley & McNeil 1983, doi:10.1148/radiology.148.3.6878708."
    )


def _planned_interval(protocol, data: bool) -> str | None:
    """What `interval: calibrated` would use for protocol.planning's design (spec-only), as
    `evaluate` decides it from protocol.confidence: the outer cluster level first."""
    p = protocol.planning
    if data or not p.test_subjects or not p.test_sites:
        return None
    from brainbench.stats._interval_defaults import (
        SITE_LIKE,
        calibrated_choice,
        describe_choice,
    )

    conf = protocol.confidence
    clusters = list(conf.clusters)
    if conf.method != "hierarchical-bootstrap" or not clusters:
        return "`interval: calibrated` uses percentile (no cluster level resampled)."
    outer = clusters[0]
    if outer not in SITE_LIKE:
        choice = calibrated_choice(protocol.primary_metric, p.test_sites, 1.0, outer)
        return f"`interval: calibrated` uses {choice.method} ({choice.chosen_for})."
    if outer != "site":
        # protocol.planning.test_sites counts sites, not the outer level's clusters.
        return (
            f"`interval: calibrated` depends on the number of {outer}s in the test set "
            "(protocol.planning.test_sites counts sites); `brainbench validate SPEC --data` "
            "(rule D307) says what it gives for the cohorts' test sets."
        )
    return describe_choice(protocol.primary_metric, p.test_sites, p.test_subjects / p.test_sites)


@click.command()
@click.argument("rule_id", required=False)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def rules(rule_id: str | None, fmt: str) -> None:
    """List the rule catalogue, or explain RULE_ID (e.g. L101)."""
    from brainbench.validate.rule import get_rule, iter_rules

    if rule_id:
        rule = get_rule(rule_id)
        if fmt == "json":
            click.echo(json.dumps(_rule_dict(rule), indent=2))
        else:
            click.echo(rule.doc())
        return
    catalogue = list(iter_rules())
    if fmt == "json":
        click.echo(json.dumps([_rule_dict(r) for r in catalogue], indent=2))
        return
    for rule in catalogue:
        click.echo(f"{rule.id}  {rule.severity.value:<7}  {rule.name:<40}  {rule.summary}")


def _rule_dict(rule: object) -> dict[str, object]:
    fields = ("id", "name", "kind", "summary", "what", "why", "example", "use_instead", "hint")
    out: dict[str, object] = {f: getattr(rule, f) for f in fields}
    out["severity"] = rule.severity.value  # type: ignore[attr-defined]
    out["references"] = list(rule.references)  # type: ignore[attr-defined]
    return out


__all__ = ["plan", "rules", "validate"]
