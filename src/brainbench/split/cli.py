"""``brainbench split SPEC -o FILE``: write the frozen split table and print its sha256."""

from __future__ import annotations

from pathlib import Path

import click

from brainbench.errors import UserError


@click.command(name="split")
@click.argument("spec", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Split file to write (default: the spec's splits.file.path).",
)
@click.option(
    "--balance/--no-balance",
    default=True,
    show_default=True,
    help="Print the largest standardised mean difference per covariate and partition.",
)
def split(spec: Path, output: Path | None, balance: bool) -> None:
    """Read the spec's cohorts, apply its split protocol and write the split table (TSV).

    Prints ``<sha256>  <file>`` on stdout (the format of ``sha256sum``); pin it in the spec as
    ``splits.file: {path: ..., sha256: ...}``. A summary and any data findings go to stderr.
    """
    from brainbench.cohort import load_cohorts
    from brainbench.spec import load_spec
    from brainbench.split import balance_report, make_splits, write_split_file

    if not spec.is_file():
        raise UserError(f"{spec}: spec file not found.")
    loaded = load_spec(spec)
    pinned = loaded.spec.splits.file
    if output is None:
        if pinned is None:
            raise UserError(
                f"{spec}: no output file: pass -o FILE or set splits.file.path in the spec."
            )
        output = loaded.resolve_path(pinned.path)
    cohort = load_cohorts(loaded)
    for f in cohort.findings:
        click.echo(f"{f.severity.value} {f.rule}: {f.message} ({f.location()})", err=True)
    table = make_splits(loaded, cohort)
    digest = write_split_file(table, output)
    counts = table.groupby(["repeat", "fold", "partition"], observed=True).size()
    n_folds = table[["repeat", "fold"]].drop_duplicates().shape[0]
    per_part = counts.groupby(level="partition", observed=True).mean().round(1)
    click.echo(
        f"{len(table)} rows, {n_folds} (repeat, fold) pair(s); mean rows per fold: "
        + ", ".join(f"{k} {v:g}" for k, v in per_part.items()),
        err=True,
    )
    covariates = list(dict.fromkeys([loaded.spec.task.target, *loaded.spec.splits.stratify]))
    if balance:
        report = balance_report(cohort.table, table, covariates)
        if not report.empty:
            worst = (
                report.assign(abs_smd=report["smd"].abs())
                .groupby(["partition", "column"], sort=True)["abs_smd"]
                .max()
            )
            click.echo("largest |SMD| vs train (Austin 2009; < 0.1 is negligible):", err=True)
            for (part, col), v in worst.items():
                click.echo(f"  {part:>12}  {col:<20} {v:.3f}", err=True)
    if pinned is not None and pinned.sha256 and pinned.sha256 != digest:
        click.echo(
            f"note: the spec pins sha256 {pinned.sha256[:12]}...; this split differs. Update "
            "splits.file.sha256 (and bump the spec's major version).",
            err=True,
        )
    click.echo(f"{digest}  {output}")
