"""``brainbench validate`` and ``brainbench rules``."""

from __future__ import annotations

import json
from pathlib import Path

import click


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

    Exit status: 0 no error remains, 1 an error remains, 2 an input cannot be read.
    """
    from brainbench.validate.engine import validate_path
    from brainbench.validate.findings import CheckResult, render_json, render_text

    total = CheckResult()
    unreadable = False
    for spec in specs:
        result, bad = validate_path(spec, data=data, against=against)
        unreadable |= bad
        total.extend(result)
    click.echo(render_json(total) if fmt == "json" else render_text(total))
    raise click.exceptions.Exit(2 if unreadable else total.exit_code)


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
