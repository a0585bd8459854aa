"""``brainbench cohort PATH_OR_SPEC``: read a cohort (or a spec's cohorts) and summarise it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from brainbench.errors import UserError

SPEC_SUFFIXES = (".yaml", ".yml")


def _load(path: Path, source_format: str | None, target: str | None, modality: str | None):
    from brainbench.cohort import guess_target, load_cohorts, read_cohort

    if path.is_file() and path.suffix.lower() in SPEC_SUFFIXES:
        from brainbench.spec import load_spec

        loaded = load_spec(path)
        cohort = load_cohorts(loaded)
        return cohort, target or loaded.spec.task.target
    cohort = read_cohort(path, format=source_format, suffixes=(modality,) if modality else None)
    return cohort, target or guess_target(cohort.table)


def _text(summary: dict[str, Any], findings: list) -> str:
    lines = [
        f"{summary['subjects']} subjects, {summary['sessions']} sessions, "
        f"{summary['images']} images, {summary['sites']} sites, {summary['scanners']} scanners, "
        f"{summary['datasets']} dataset(s)"
    ]
    for cid, c in summary["cohorts"].items():
        lines.append(
            f"  {cid} ({c['role']}): {c['subjects']} subjects, {c['sessions']} sessions, "
            f"{c['images']} images, {c['sites']} sites, {c['scanners']} scanners"
        )
    if "classes_per_site" in summary:
        classes = sorted(summary["classes"])
        lines.append(f"subjects per class and site ({summary['target']}):")
        width = max([len("site"), *(len(s) for s in summary["classes_per_site"])])
        lines.append("  " + "site".ljust(width) + "".join(f"  {c:>8}" for c in classes))
        for site, counts in summary["classes_per_site"].items():
            row = "".join(f"  {counts.get(c, 0):>8}" for c in classes)
            lines.append("  " + site.ljust(width) + row)
    if findings:
        lines.append(f"{len(findings)} finding(s):")
        for f in findings:
            where = f.location()
            lines.append(f"  {f.severity.value} {f.rule}: {f.message} ({where})")
    return "\n".join(lines)


@click.command(name="cohort")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--source-format",
    type=click.Choice(["bids", "tsv", "csv"]),
    default=None,
    help="Format of PATH when it is not a spec (default: guessed from the path).",
)
@click.option("--target", default=None, help="Label column for the classes per site.")
@click.option("--modality", default=None, help="BIDS: keep only images of this suffix (T1w).")
def cohort(
    path: Path, fmt: str, source_format: str | None, target: str | None, modality: str | None
) -> None:
    """Read a cohort (BIDS folder, TSV/CSV manifest, or every cohort of a spec) and summarise
    its hierarchy: subjects, sessions, images, sites, scanners, classes per site, findings."""
    from brainbench.cohort import summarize_cohort

    if not path.exists():
        raise UserError(f"{path}: no such file or folder.")
    ct, target = _load(path, source_format, target, modality)
    summary = summarize_cohort(ct.table, target=target)
    if fmt == "json":
        summary["findings"] = [f.to_dict() for f in ct.findings]
        summary["files"] = ct.files
        click.echo(json.dumps(summary, indent=2))
    else:
        click.echo(_text(summary, ct.findings))
