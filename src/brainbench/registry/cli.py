"""``brainbench registry``: list, show and check registered models."""

from __future__ import annotations

import json
from pathlib import Path

import click

from brainbench._cli_types import WORKERS, FiniteFloatRange
from brainbench.errors import UserError


def _root(ctx: click.Context) -> Path | None:
    return ctx.obj.get("root") if ctx.obj else None


@click.group(name="registry")
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Registry folder (default: $BRAINBENCH_REGISTRY, else the nearest registry/ folder).",
)
@click.pass_context
def registry(ctx: click.Context, root: Path | None) -> None:
    """List, show and check registered models (registry/models/<id>/)."""
    ctx.ensure_object(dict)
    ctx.obj["root"] = root


@registry.command(name="list")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.pass_context
def list_(ctx: click.Context, fmt: str) -> None:
    """Id, version, framework and task types of every readable entry."""
    from brainbench.registry.entries import all_entries, default_root, entry_folders

    root = _root(ctx) or default_root()
    entries = all_entries(root)
    skipped = len(entry_folders(root)) - len(entries)
    if skipped:
        click.echo(
            f"note: {skipped} entr{'y' if skipped == 1 else 'ies'} could not be read; "
            "run 'brainbench registry check' to see why",
            err=True,
        )
    rows = [
        {
            "id": e.entry.id,
            "version": e.entry.version,
            "framework": e.entry.framework,
            "task_types": list(e.entry.task_types),
            "title": e.entry.title,
        }
        for e in entries
    ]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"no entries in {root / 'models'}")
        return
    widths = [max(len(r[k]) for r in rows) for k in ("id", "version", "framework")]
    for r in rows:
        click.echo(
            f"{r['id']:<{widths[0]}}  {r['version']:<{widths[1]}}  {r['framework']:<{widths[2]}}  "
            f"{','.join(r['task_types']):<26}  {r['title']}"
        )


@registry.command()
@click.argument("model_id")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.pass_context
def show(ctx: click.Context, model_id: str, fmt: str) -> None:
    """Everything an entry declares (its model.yaml, validated)."""
    from brainbench.registry.entries import find_entry

    loaded = find_entry(model_id, _root(ctx))
    data = loaded.entry.model_dump(mode="json", by_alias=True, exclude_none=True)
    data["folder"] = str(loaded.folder)
    if fmt == "json":
        click.echo(json.dumps(data, indent=2))
        return
    e = loaded.entry
    inp = e.input
    shape = "x".join(map(str, inp.spatial_shape))
    seen = ", ".join(e.pretraining.cohorts) or "none"
    lines = [
        f"{e.id} {e.version}: {e.title}",
        f"  folder        {loaded.folder}",
        f"  framework     {e.framework}   entrypoint {e.entrypoint}",
        f"  tasks         {', '.join(e.task_types)}",
        f"  input         {inp.modality} {inp.unit}, {inp.channels}x{shape}"
        f" at {'x'.join(f'{s:g}' for s in inp.voxel_spacing)} mm ({inp.shape_policy} shape), "
        f"normalisation {inp.intensity_normalisation}",
        f"  license       {e.license}",
        f"  authors       {', '.join(a.name for a in e.authors)}",
        f"  pretraining   {seen}: {e.pretraining.description}",
    ]
    if e.training is not None:
        t = e.training
        stop = (
            f", early stopping on validation loss (patience {t.early_stopping.patience})"
            if t.early_stopping
            else ""
        )
        lines.append(
            f"  training      {t.epochs} epochs, batch {t.batch_size}, {t.optimiser} "
            f"lr {t.learning_rate:g}{stop}"
        )
    if e.hyperparameters:
        lines.append("  hyper-parameters")
        for name, hp in e.hyperparameters.items():
            search = ""
            if isinstance(hp.search, list):
                search = f"  search {hp.search}"
            elif hp.search is not None:
                log = " (log)" if hp.search.log else ""
                search = f"  search [{hp.search.low:g}, {hp.search.high:g}]{log}"
            lines.append(f"    {name} = {hp.default!r}  {hp.description}{search}")
    cost = e.resources.expected_time
    figures = ", ".join(
        f"{v:g} min on {k}"
        for k, v in (("CPU", cost.cpu_minutes), ("GPU", cost.gpu_minutes))
        if v is not None
    )
    lines.append(f"  expected time {figures or 'unknown'} ({cost.setting})")
    for ref in e.references:
        lines.append(f"  reference     {ref.text}" + (f" doi:{ref.doi}" if ref.doi else ""))
    click.echo("\n".join(lines))


@registry.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--changed-since",
    "changed_since",
    metavar="REF",
    default=None,
    help="Git ref: without PATHs, check only the entries changed since REF; always require a "
    "version bump and a CHANGELOG section for changed entries. Default for the bump check: "
    "origin/main when it exists.",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option(
    "--no-run",
    is_flag=True,
    help="Skip importing the code and the fit/predict probe (static checks only).",
)
@click.option(
    "--timeout",
    type=FiniteFloatRange(0, 86_400, min_open=True),
    default=300.0,
    show_default=True,
    help="Seconds allowed per entry to import, fit one epoch and predict on random data (at "
    "most a day).",
)
@click.option(
    "--jobs",
    "-j",
    type=WORKERS,
    default=1,
    show_default=True,
    help="Entries checked in parallel (each probe is its own process).",
)
@click.pass_context
def check(
    ctx: click.Context,
    paths: tuple[Path, ...],
    changed_since: str | None,
    fmt: str,
    no_run: bool,
    timeout: float,
    jobs: int,
) -> None:
    """Check registry entries as CI does for a pull request.

    PATHS are entry folders (or their model.yaml); none means every entry of the registry, or,
    with --changed-since, the entries changed since REF. Exit status: 0 no error, 1 errors,
    2 an entry could not be read.
    """
    from brainbench.registry.check import (
        CheckOptions,
        changed_entry_folders,
        check_entries,
        git_ref_exists,
        unreadable,
    )
    from brainbench.registry.entries import default_root, entry_folders, resolve_entry_path
    from brainbench.validate.findings import render_json, render_text

    root = _root(ctx) or default_root()
    notes: list[str] = []
    if changed_since is not None:
        if not git_ref_exists(changed_since, root if root.is_dir() else Path.cwd()):
            raise UserError(
                f"--changed-since {changed_since}: no such git ref here (fetch it first, "
                "e.g. 'git fetch origin main').",
            )
        ref: str | None = changed_since
    elif git_ref_exists("origin/main", root if root.is_dir() else Path.cwd()):
        ref = "origin/main"
    else:
        ref = None
        notes.append("no origin/main here: version-bump check skipped (use --changed-since REF)")

    if paths:
        folders = [resolve_entry_path(p) for p in paths]
    elif changed_since is not None:
        changed = changed_entry_folders(changed_since, root)
        if changed is None:
            raise UserError(f"could not ask git what changed since {changed_since} in {root}.")
        folders = changed
        if not folders:
            notes.append(f"no registry entry changed since {changed_since}")
    else:
        folders = entry_folders(root)
        if not folders:
            raise UserError(f"no registry entries in {root / 'models'}: give entry folders.")

    options = CheckOptions(changed_since=ref, run_code=not no_run, timeout=timeout, jobs=jobs)
    result = check_entries(folders, options)
    for entry_id, seconds in options.timings.items():
        notes.append(f"{entry_id}: import, fit and predict on random data in {seconds:.1f} s")
    for note in notes:
        click.echo(f"note: {note}", err=True)
    click.echo(render_json(result) if fmt == "json" else render_text(result))
    ctx.exit(2 if unreadable(result) else result.exit_code)


@registry.command()
def schema() -> None:
    """Print the JSON Schema of model.yaml (spec/schema/model-1.schema.json)."""
    from brainbench.registry.schema import json_schema_text

    click.echo(json_schema_text(), nl=False)


__all__ = ["registry"]
