"""``brainbench experiments`` (and ``python -m brainbench.experiments``)."""

from __future__ import annotations

import click

from brainbench._cli_types import SEED
from brainbench.experiments._common import DEFAULT_SEED, PRESET_NAMES


@click.command("experiments")
@click.option(
    "--preset",
    type=click.Choice(PRESET_NAMES),
    default="quick",
    show_default=True,
    help="quick: CI-sized (minutes); full: the published figures (under an hour on 2 cores).",
)
@click.option(
    "--only",
    "only",
    type=int,
    multiple=True,
    help="Run only experiment N (repeatable): 1 wrong split, 2 late split, 3 site "
    "confounding, 4 CI coverage, 5 comparisons, 6 CI width vs test size.",
)
@click.option("--seed", type=SEED, default=DEFAULT_SEED, show_default=True, help="Root seed.")
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default="reports/experiments",
    show_default=True,
    help="Folder of the results (one sub-folder per experiment and a summary README.md).",
)
def experiments(preset: str, only: tuple[int, ...], seed: int, out_dir: str) -> None:
    """Show what ignoring brain-imaging specificities costs: run the experiments of issue 8."""
    from brainbench.experiments._runner import run_experiments

    results = run_experiments(
        only or None, preset, out_dir, seed, progress=lambda m: click.echo(m, err=True)
    )
    for r in results:
        click.echo(
            f"{r.number}. {r.title}: " + "; ".join(f"{f.label} {f.text}" for f in r.findings)
        )
    click.echo(f"Results in {out_dir}/README.md")
