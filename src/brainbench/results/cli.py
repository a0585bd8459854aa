"""``brainbench results``: check, start and report results entries (docs/results.md)."""

from __future__ import annotations

from pathlib import Path

import click

from brainbench._cli_types import RESAMPLES, SEED
from brainbench.errors import UserError

_SPEC = click.option(
    "--spec",
    type=click.Path(path_type=Path),
    default=None,
    help="The benchmark spec (default: the spec under spec/ whose id is the card's benchmark).",
)
_SPLIT = click.option(
    "--split",
    type=click.Path(path_type=Path),
    default=None,
    help="The frozen split file (default: the spec's splits.file; its pinned sha256 must match).",
)


def _folders(
    paths: tuple[Path, ...], changed_since: str | None, root: Path, *, every: bool
) -> list[Path]:
    """The entries named by PATHS, else those changed since a git ref, else (``every``) all."""
    from brainbench.registry.check import git_ref_exists
    from brainbench.results.check import changed_entries, entry_folder, entry_folders

    if paths:
        return [entry_folder(p) for p in paths]
    if changed_since is not None:
        if not git_ref_exists(changed_since, root):
            raise UserError(
                f"--changed-since {changed_since}: no such git ref here (fetch it first, "
                "e.g. 'git fetch origin main')."
            )
        found = changed_entries(changed_since, root)
        if found is None:
            raise UserError(f"could not ask git what changed since {changed_since} in {root}.")
        if not found:
            click.echo(f"note: no results entry changed since {changed_since}", err=True)
        return found
    if not every:
        raise UserError("give entry folders, or --changed-since REF.")
    folders = entry_folders(root)
    if not folders:
        click.echo(f"note: no results entries under {root / 'results'}", err=True)
    return folders


@click.group()
def results() -> None:
    """Results entries: predictions made elsewhere on a benchmark's frozen split."""


@results.command("check")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--changed-since",
    "changed_since",
    default=None,
    help="Git ref: without PATHS, check the entries under results/ changed since REF.",
)
@_SPEC
@_SPLIT
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.pass_context
def check(
    ctx: click.Context,
    paths: tuple[Path, ...],
    changed_since: str | None,
    spec: Path | None,
    split: Path | None,
    fmt: str,
) -> None:
    """Check results entries (folders holding result.yaml) as CI does for a pull request.

    PATHS are entry folders or their result.yaml; none means every entry under results/ (or,
    with --changed-since, those changed since REF). Exit status: 0 every entry passes, 1
    findings, 2 an input cannot be read.
    """
    from brainbench.results.check import check_entries, results_root
    from brainbench.validate.findings import render_json, render_text

    root = results_root()
    folders = _folders(paths, changed_since, root, every=True)
    result = check_entries(folders, root=root, spec=spec, split=split)
    click.echo(render_json(result) if fmt == "json" else render_text(result))
    ctx.exit(result.exit_code)


@results.command("new")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--benchmark", required=True, help="The benchmark's id.")
@click.option("--predictions", required=True, type=click.Path(path_type=Path), help="The table.")
@click.option("--name", required=True, help="The model name (the table's model column).")
@_SPEC
@_SPLIT
def new(
    folder: Path,
    benchmark: str,
    predictions: Path,
    name: str,
    spec: Path | None,
    split: Path | None,
) -> None:
    """Start a results entry in FOLDER: copy the predictions table beside a skeleton
    result.yaml whose benchmark, version and split sha256 come from the spec. Fill in the
    TODOs, then run `brainbench results check FOLDER`."""
    from brainbench.results.check import new_entry, results_root

    card = new_entry(
        folder,
        benchmark=benchmark,
        predictions=predictions,
        name=name,
        root=results_root(),
        spec=spec,
        split=split,
    )
    click.echo(f"wrote {card} and {card.parent / predictions.name}: fill in the TODOs")


@results.command("report")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder of the sheets: one OUT/<benchmark>/<entry>/ per entry.",
)
@click.option(
    "--changed-since",
    "changed_since",
    default=None,
    help="Git ref: without PATHS, the entries under results/ changed since REF.",
)
@_SPEC
@click.option("--resamples", type=RESAMPLES, default=None)
@click.option("--seed", type=SEED, default=0, show_default=True)
def report(
    paths: tuple[Path, ...],
    out: Path,
    changed_since: str | None,
    spec: Path | None,
    resamples: int | None,
    seed: int,
) -> None:
    """Write the evidence sheet of each results entry (its predictions under its benchmark's
    spec) into OUT/<benchmark>/<entry>/; the leaderboard lists them as self-reported."""
    from brainbench.results.check import report_entry, results_root

    root = results_root()
    folders = _folders(paths, changed_since, root, every=False)
    for folder in folders:
        html = report_entry(folder, out, root=root, spec=spec, resamples=resamples, seed=seed)
        click.echo(f"wrote {html} (and .md, .json)")


@results.command("schema")
def schema() -> None:
    """Print the JSON Schema of result.yaml (spec/schema/result-1.schema.json)."""
    from brainbench.results.card import json_schema_text

    click.echo(json_schema_text(), nl=False)


__all__ = ["results"]
