"""``brainbench report``, ``brainbench leaderboard`` and ``brainbench convert``."""

from __future__ import annotations

from pathlib import Path

import click

from brainbench._cli_types import INDEX, RESAMPLES, SEED


@click.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--spec",
    type=click.Path(path_type=Path),
    help="The benchmark spec (default: the spec stored in the run directory).",
)
@click.option(
    "-o",
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder to write evidence.html, evidence.md, evidence.json and figures/ into.",
)
@click.option(
    "--resamples",
    type=RESAMPLES,
    default=None,
    help="Bootstrap resamples of every interval (default: the spec's; a different value is "
    "reported as a deviation).",
)
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of every bootstrap.")
@click.option(
    "--checklist",
    "checklists",
    multiple=True,
    type=click.Choice(["claim", "tripod-ai"]),
    help="Fill a reporting checklist from the run (CLAIM 2024, TRIPOD+AI; repeatable): the "
    "items the spec, run and sheet answer, with their evidence, and those left to the authors.",
)
def report(
    run_dirs: tuple[Path, ...],
    spec: Path | None,
    out: Path,
    resamples: int | None,
    seed: int,
    checklists: tuple[str, ...],
) -> None:
    """Write the evidence sheet of RUN_DIRS (run directories or predictions files).

    Sections whose inputs are missing (predictions made by another tool, no provenance, no
    cohort table) are marked as such; a report is refused only when nothing sensible can be
    written (no predictions).
    """
    from brainbench.report._write import write_report

    html = write_report(
        list(run_dirs), out, spec=spec, resamples=resamples, seed=seed, checklists=checklists
    )
    click.echo(
        f"wrote {html}, {html.with_suffix('.md').name}, {html.with_suffix('.json').name} "
        f"and {html.parent / 'figures'}"
    )


@click.command()
@click.argument("reports_dir", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder to write index.html and index.md into.",
)
@click.option(
    "--resamples",
    type=RESAMPLES,
    default=1000,
    show_default=True,
    help="Bootstrap resamples of the rank intervals across benchmarks.",
)
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option(
    "--runs",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Folder holding the sheets' run folders (repeatable; REPORTS_DIR is always searched). "
    "A model is listed reproduced only when its run folder is found and checks out.",
)
@click.option(
    "--tier",
    "tiers",
    multiple=True,
    type=click.Choice(["reproduced", "self-reported", "unverified"]),
    help="List only the models of this tier (repeatable); default: every tier, reproduced "
    "sheets first and self-reported ones apart.",
)
def leaderboard(
    reports_dir: Path,
    out: Path,
    resamples: int,
    seed: int,
    runs: tuple[Path, ...],
    tiers: tuple[str, ...],
) -> None:
    """Rank models across the evidence sheets (evidence.json) found under REPORTS_DIR."""
    from brainbench.report._leaderboard import write_leaderboard

    path = write_leaderboard(
        reports_dir, out, resamples=resamples, seed=seed, runs=runs, tiers=tiers
    )
    click.echo(f"wrote {path} and {path.with_suffix('.md').name}")


@click.group()
def convert() -> None:
    """Convert other tools' predictions into brainbench's predictions table."""


@convert.command("clinicadl")
@click.argument("tsv", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path),
    help="The predictions table to write (.parquet, .tsv or .csv).",
)
@click.option("--model", default=None, help="Model name (default: from the MAPS path).")
@click.option(
    "--classes",
    default=None,
    help="The diagnoses ClinicaDL was trained on, in any order, e.g. 'AD,CN': indices become "
    "names by ClinicaDL's own label code (1.x: sorted, AD=0 CN=1; 0.x fold-N/cnn_classification: "
    "CN=0 AD=1). Default: the indices.",
)
@click.option(
    "--positive",
    default=None,
    help="The positive class (e.g. AD): the binary 'score' column is its probability. Without "
    "it only score_<class> columns are written and the report takes the spec's positive class.",
)
@click.option(
    "--partition",
    default=None,
    help="Partition of these rows: test, or an external-test cohort id (default: from each "
    "file's name: test, validation, or the data group's name).",
)
@click.option(
    "--fold",
    type=INDEX,
    default=None,
    help="Fold (default: from a 'split-N' or 'fold-N' folder in the path, else 0).",
)
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the run.")
@click.option(
    "--site-from",
    "site_from",
    type=click.Path(path_type=Path),
    default=None,
    help="A TSV with participant_id (and session_id) and site / scanner / dataset "
    "columns to attach the hierarchy (read as text: site 002 stays 002).",
)
@click.option(
    "--labels-from",
    "labels_from",
    type=click.Path(path_type=Path),
    default=None,
    help="A TSV with participant_id, session_id and the label column (a get-labels or split "
    "TSV): fills the true labels of predictions made with `clinicadl predict --no_labels`.",
)
@click.option(
    "--label-column",
    "label_column",
    default="diagnosis",
    show_default=True,
    help="The label column of --labels-from.",
)
def clinicadl(
    tsv: tuple[Path, ...],
    out: Path,
    model: str | None,
    classes: str | None,
    positive: str | None,
    partition: str | None,
    fold: int | None,
    seed: int,
    site_from: Path | None,
    labels_from: Path | None,
    label_column: str,
) -> None:
    """Convert ClinicaDL prediction TSVs (<MAPS>/split-N/best-<metric>/<group>/
    <group>_<level>_level_prediction.tsv, or 0.x's fold-N/cnn_classification/best_<metric>/)
    into one predictions table. See docs/report.md for the column mapping."""
    from brainbench.report._convert import convert_clinicadl

    path, n, unlabelled = convert_clinicadl(
        list(tsv),
        out,
        model=model,
        classes=[c.strip() for c in classes.split(",")] if classes else None,
        positive=positive,
        partition=partition,
        fold=fold,
        seed=seed,
        hierarchy=site_from,
        labels_from=labels_from,
        label_column=label_column,
    )
    click.echo(f"wrote {n} prediction(s) to {path}")
    if unlabelled:
        click.echo(
            f"{unlabelled} prediction(s) have no true label (ClinicaDL --no_labels): give "
            "--labels-from a TSV with their labels before `brainbench report`."
        )


__all__ = ["convert", "leaderboard", "report"]
