"""``brainbench run`` and ``brainbench demo``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from brainbench._cli_types import EPOCHS, SEEDS, WORKERS, FiniteFloatRange
from brainbench.errors import EXIT_FINDINGS as EXIT_INVALID
from brainbench.errors import EXIT_TAMPERED, EXIT_UNITS_FAILED, UserError


def _print_invalid(result) -> None:
    from brainbench.validate.findings import render_text

    click.echo(render_text(result), err=True)


def _parse_hyperparameters(items: tuple[str, ...], models: list[str]) -> dict[str, dict]:
    import yaml

    out: dict[str, dict] = {}
    for item in items:
        key, sep, value = item.partition("=")
        model, dot, name = key.partition(".")
        if not sep or not dot or not name:
            raise UserError(
                f"--hp expects MODEL.NAME=VALUE (e.g. cnn3d-small.learning_rate=0.001), "
                f"got '{item}'."
            )
        if model not in models:
            raise UserError(f"--hp '{item}': model '{model}' is not among --model {models}.")
        out.setdefault(model, {})[name] = yaml.safe_load(value)
    return out


@click.command(name="run")
@click.argument("spec", type=click.Path(path_type=Path))
@click.option(
    "--model",
    "-m",
    "models",
    multiple=True,
    help="Registry id (repeat for several); default: the spec's protocol.models.",
)
@click.option(
    "--seeds",
    type=SEEDS,
    default=None,
    help="Training runs per model and fold (default: protocol.seeds).",
)
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default=None,
    help="auto: CUDA when available (default: the profile's, else auto).",
)
@click.option(
    "--executor",
    type=click.Choice(["local", "slurm"]),
    default=None,
    help="local (default) or slurm (submitit job arrays, one task per unit).",
)
@click.option(
    "--workers",
    type=WORKERS,
    default=None,
    help="local: units run in parallel, each in its own model process.",
)
@click.option(
    "--profile",
    default=None,
    help="Execution profile: a YAML file or a shipped name (local, slurm-generic, jean-zay).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Run folder (default: runs/<spec id>-<spec version>).",
)
@click.option("--resume", is_flag=True, help="Finish a run folder: skip the units complete.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars; failures and summary only.")
@click.option(
    "--max-epochs",
    type=EPOCHS,
    default=None,
    help="Cap every model's epochs (quick runs).",
)
@click.option("--deterministic", is_flag=True, help="Deterministic algorithms (slower).")
@click.option("--no-amp", is_flag=True, help="CUDA: train in float32 (default: mixed precision).")
@click.option(
    "--unit-timeout",
    type=FiniteFloatRange(0, 525_600, min_open=True),
    default=None,
    metavar="MINUTES",
    help="Stop a unit (marked failed: timeout) that runs longer than this (at most a year).",
)
@click.option(
    "--no-cache",
    is_flag=True,
    help="Do not keep decoded images in RUN_DIR/cache/ (default: kept, so that a resumed run "
    "and SLURM tasks decode each image once).",
)
@click.option(
    "--cache-gb",
    type=FiniteFloatRange(0, 1 << 20, min_open=True),
    default=None,
    help="Cap of RUN_DIR/cache/ in GiB (default: 16, or half the free disk space if less).",
)
@click.option(
    "--model-memory-gb",
    type=FiniteFloatRange(0, 1 << 20),
    default=None,
    help="Memory limit of each model process in GiB (RLIMIT_DATA; an allocation past it fails "
    "the unit: memory). Default: three quarters of this machine's memory shared by the "
    "workers on CPU, none on CUDA (not yet checked on a GPU); 0: no limit.",
)
@click.option(
    "--hp",
    "hps",
    multiple=True,
    metavar="MODEL.NAME=VALUE",
    help="Override a hyper-parameter of one model.",
)
@click.option(
    "--require-seal",
    type=click.Choice(["none", "fs", "full"]),
    default=None,
    help="Refuse to run unless the model processes can be sealed this far: fs (Landlock "
    "file-system rules) or full (also network, PID namespace, no-new-privs, non-dumpable "
    "runner). Default: the profile's, else none (seal what this machine allows).",
)
@click.option(
    "--no-seal",
    is_flag=True,
    help="Run model processes without the sandbox (trusted code only; the run says 'unsealed').",
)
@click.option("--dry-run", is_flag=True, help="Validate and list the units; write and run nothing.")
@click.option(
    "--registry",
    "registry_root",
    type=click.Path(path_type=Path),
    default=None,
    help="Registry folder (default: $BRAINBENCH_REGISTRY or ./registry).",
)
def run(
    spec: Path,
    models: tuple[str, ...],
    seeds: int | None,
    device: str | None,
    executor: str | None,
    workers: int | None,
    profile: str | None,
    out: Path | None,
    resume: bool,
    quiet: bool,
    max_epochs: int | None,
    deterministic: bool,
    no_amp: bool,
    unit_timeout: float | None,
    no_cache: bool,
    cache_gb: float | None,
    model_memory_gb: float | None,
    hps: tuple[str, ...],
    require_seal: str | None,
    no_seal: bool,
    dry_run: bool,
    registry_root: Path | None,
) -> int:
    """Run registered models on the frozen splits of the benchmark SPEC.

    Validates SPEC with its data (the leakage audit) and refuses to run when an error remains;
    expands the work units (model x repeat x fold x seed); fits each model on the training
    partition, selects on validation only, and predicts the test and external-test partitions
    without ever handing the model their labels. Writes the run folder: predictions.parquet,
    provenance.json, cohort.parquet, splits.tsv, validation.json, units/ and logs/.

    Model code runs sealed (docs/security.md): the run's provenance and evidence sheet state
    the sandbox layers that held (``seal: ...`` or ``unsealed: ...``).

    Exit status: 0 every unit ok; 1 the spec does not validate; 2 unreadable input or a seal
    level this machine cannot give; 3 some unit failed (see the summary and logs/); 4 a unit
    output changed after the runner wrote it (the run is void).
    """
    from brainbench.runner._api import run_benchmark
    from brainbench.runner._prepare import InvalidSpec
    from brainbench.spec import SpecError, load_spec
    from brainbench.validate.findings import CheckResult

    if not spec.is_file():
        raise UserError(f"Spec file {spec} does not exist.")
    try:
        loaded = load_spec(spec)
    except SpecError as exc:
        _print_invalid(CheckResult(files=[str(spec)], findings=list(exc.findings)))
        return EXIT_INVALID
    model_list = list(models) or list(loaded.spec.protocol.models or [])
    if not model_list:
        raise UserError(
            f"No model to run: pass --model ID (see `brainbench registry list`), or list them "
            f"under protocol.models in {spec}."
        )
    out = out or Path("runs") / f"{loaded.spec.id}-{loaded.spec.version}"
    if dry_run:
        hp = _parse_hyperparameters(hps, model_list)
        return _dry_run(spec, model_list, seeds, hp, registry_root)
    try:
        result = run_benchmark(
            spec,
            model_list,
            out=out,
            seeds=seeds,
            device=device,
            executor=executor,
            workers=workers,
            profile=profile,
            resume=resume,
            quiet=quiet,
            max_epochs=max_epochs,
            deterministic=deterministic,
            amp=not no_amp,
            unit_timeout_min=unit_timeout,
            image_cache_gb=0.0 if no_cache else cache_gb,
            model_memory_gb=model_memory_gb,
            hyperparameters=_parse_hyperparameters(hps, model_list),
            registry_root=registry_root,
            seal=not no_seal,
            require_seal=require_seal,
        )
    except InvalidSpec as exc:
        _print_invalid(exc.result)
        click.echo(f"{spec}: refusing to run a spec that does not validate.", err=True)
        return EXIT_INVALID
    _print_summary(result, quiet=quiet)
    if result.tampered:
        click.echo(
            f"RUN VOID: {len(result.tampered)} unit output(s) changed after the runner wrote "
            f"them: {'; '.join(result.tampered)}. Do not publish this run; see "
            f"{result.run_dir / 'provenance.json'} (integrity) and docs/security.md.",
            err=True,
        )
        return EXIT_TAMPERED
    return 0 if result.ok else EXIT_UNITS_FAILED


def _dry_run(spec, models, seeds, hyperparameters, registry_root) -> int:
    from brainbench.runner._prepare import InvalidSpec, RunOptions, plan_only

    options = RunOptions(
        models=models,
        seeds=seeds,
        hyperparameters=hyperparameters,
        registry_root=str(registry_root) if registry_root else None,
    )
    try:
        units, result, task = plan_only(spec, options)
    except InvalidSpec as exc:
        _print_invalid(exc.result)
        return EXIT_INVALID
    click.echo(
        f"{spec}: valid ({len(result.findings)} warning(s), {len(result.waived)} waived); "
        f"{task.type} {list(task.classes or task.labels) or ''} on images "
        f"{list(task.spatial_shape)}"
        + (f" cut into {task.unit}s of {list(task.unit_shape)}" if task.unit_shape else "")
        + f"; {len(units)} unit(s):"
    )
    for u in units:
        click.echo(f"  {u.id}  (rng seed {u.rng_seed})")
    return 0


def _print_summary(result, *, quiet: bool) -> None:
    failed = result.failed
    if not quiet:
        from collections import Counter

        by_model = Counter(u["model"] for u in result.units if u["status"] == "ok")
        total = Counter(u["model"] for u in result.units)
        for m, n in total.items():
            click.echo(f"  {m}: {by_model.get(m, 0)}/{n} unit(s) ok", err=True)
    for u in failed:
        click.echo(f"  failed {u['id']}: {u['error']} (log: {u['log']})", err=True)
    for d in result.provenance.get("deviations", []):
        click.echo(f"  deviation ({d['rule']}): {d['message']}", err=True)
    click.echo(f"{result.summary()}; run folder: {result.run_dir}", err=True)


@click.command(name="demo")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("brainbench-demo"),
    show_default=True,
    help="Folder for the cohort, the run and the report.",
)
@click.option(
    "--full",
    is_flag=True,
    help="A larger cohort: 300 subjects, 6 sites (about 30-60 minutes on 2 cores).",
)
@click.option("--seeds", type=SEEDS, default=3, show_default=True, help="Training runs per model.")
@click.option(
    "--preset",
    type=click.Choice(["tiny", "demo", "full"]),
    default=None,
    hidden=True,
    help="Synthetic cohort preset (tests use tiny).",
)
@click.option(
    "--max-epochs",
    type=EPOCHS,
    default=None,
    help="Cap the CNN's epochs (default: 8, or 20 with --full).",
)
@click.option("--overwrite", is_flag=True, help="Replace a demo folder written before.")
@click.option(
    "--spec",
    "spec_file",
    type=click.Path(path_type=Path),
    default=None,
    hidden=True,
    help="Another spec over the demo cohorts (tests).",
)
@click.option(
    "--task",
    type=click.Choice(["classification", "segmentation"]),
    default="classification",
    show_default=True,
    help="segmentation: a synthetic WMH cohort, threshold-seg and unet-seg-small (about 2-4 "
    "minutes on 2 cores).",
)
@click.option("--quiet", "-q", is_flag=True, help="Less output.")
def demo(
    out: Path,
    full: bool,
    seeds: int,
    preset: str | None,
    max_epochs: int | None,
    overwrite: bool,
    spec_file: Path | None,
    task: str,
    quiet: bool,
) -> int:
    """Synthetic cohort -> validate (and reject a leaky variant) -> run -> evidence sheet.

    Generates a synthetic multi-site longitudinal cohort and an external-test cohort from other
    sites, validates the shipped demo spec, shows its leaky variant rejected, runs
    demographics-logreg, voxel-linear and cnn3d-small with several seeds on CPU, and writes
    the evidence sheet. About 3-5 minutes on a 2-core laptop. With --task segmentation: a
    synthetic white-matter-hyperintensity cohort (FLAIR, reference masks), the leaky
    session-level split rejected, threshold-seg and unet-seg-small run, per-case metrics.
    """
    from brainbench.runner._demo import run_demo, run_segmentation_demo

    if task == "segmentation":
        if full or spec_file is not None:
            raise click.UsageError("--task segmentation takes neither --full nor --spec")
        return run_segmentation_demo(
            out,
            preset=preset,
            max_epochs=max_epochs,
            overwrite=overwrite,
            quiet=quiet,
            echo=lambda s: click.echo(s, err=False),
        )
    status = run_demo(
        out,
        full=full,
        seeds=seeds,
        preset=preset,
        max_epochs=max_epochs,
        overwrite=overwrite,
        quiet=quiet,
        spec_file=spec_file,
        echo=lambda s: click.echo(s, err=False),
    )
    sys.stdout.flush()
    return status


__all__ = ["demo", "run"]
