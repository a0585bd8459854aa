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


__all__ = ["rules", "validate"]
