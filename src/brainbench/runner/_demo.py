"""``brainbench demo``: synthetic cohorts, validation (a leaky spec rejected), run, report."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from brainbench.errors import UserError

DEMO_SPEC = "ad-vs-cn-synthetic.yaml"
LEAKY_SPEC = "ad-vs-cn-synthetic-leaky.yaml"
MODELS = ("demographics-logreg", "voxel-linear", "cnn3d-small")
ENV = "BRAINBENCH_DEMO_DATA"


def demo_spec_dir() -> Path:
    """``spec/demo`` of the source tree (the demo specs ship with the repository)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "spec" / "demo" / DEMO_SPEC
        if candidate.is_file():
            return candidate.parent
    raise UserError(
        "The demo specs (spec/demo/) were not found next to the brainbench sources: run the demo "
        "from a clone of the repository (bash scripts/setup.sh && .venv/bin/brainbench demo)."
    )


def cohort_configs(preset: str, seeds: int) -> dict[str, Any]:
    """The development and external-test cohort configurations of a demo size."""
    from brainbench.synth import SynthConfig

    dev = SynthConfig.preset(preset, seed=0).replace(name="brainbench demo: development cohort")
    if preset == "full":  # 300 subjects, 6 sites, CN/AD/PD; 4 mm keeps the CNN CPU-feasible
        dev = dev.replace(resolution=4.0)
    n_ext = max(8, dev.subjects // 3)
    ext = SynthConfig.preset(
        preset,
        seed=1,
        subjects=n_ext,
        sites=max(2, dev.sites // 2),
        sessions=1,
        resolution=dev.resolution,
    ).replace(name="brainbench demo: external-test cohort")
    return {"dev": dev, "ext": ext}


def relabel_subjects(root: Path, prefix: str) -> None:
    """Rename ``sub-<n>`` to ``sub-<prefix><n>`` in a synthetic BIDS folder (names and tables).

    Both demo cohorts come from the same generator and would share subject ids; distinct ids
    keep the leakage audit (D301: one subject in several cohorts) quiet for the demo.
    """
    import re

    pattern = re.compile(r"sub-(\d+)")
    for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_file() and path.suffix in (".tsv", ".json"):
            text = path.read_text()
            new = pattern.sub(lambda m: f"sub-{prefix}{m.group(1)}", text)
            if new != text:
                path.write_text(new)
        if pattern.search(path.name):
            path.rename(
                path.with_name(pattern.sub(lambda m: f"sub-{prefix}{m.group(1)}", path.name))
            )


def _markdown_summary(run_dir: Path, out: Path, spec_file: Path) -> Path:
    """A simple evidence summary from the stats engine (used when the report is unavailable)."""
    import pandas as pd

    from brainbench.spec import load_spec
    from brainbench.stats import evaluate_predictions

    spec = load_spec(spec_file).spec
    df = pd.read_parquet(run_dir / "predictions.parquet")
    metrics = [spec.protocol.primary_metric, *spec.protocol.metrics]
    results = evaluate_predictions(
        df,
        metrics,
        unit=spec.protocol.unit_of_analysis,
        clusters=[c for c in spec.protocol.confidence.clusters if c in df.columns],
        resamples=min(spec.protocol.confidence.resamples, 2000),
        partitions=sorted(set(df["partition"]) - {"validation"}),
    )
    lines = [
        f"# Evidence summary: {spec.title}",
        "",
        "| model | partition | metric | estimate | 95% CI |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in results:
        d = r.to_dict()
        lo, hi = d.get("ci_low"), d.get("ci_high")
        ci = f"[{lo:.3f}, {hi:.3f}]" if lo is not None and hi is not None else "n/a"
        lines.append(
            f"| {d.get('model')} | {d.get('partition', '')} | {d.get('metric')} | "
            f"{d.get('estimate', float('nan')):.3f} | {ci} |"
        )
    out.mkdir(parents=True, exist_ok=True)
    path = out / "evidence.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_demo(
    out: Path,
    *,
    full: bool = False,
    seeds: int = 3,
    preset: str | None = None,
    max_epochs: int | None = None,
    overwrite: bool = False,
    quiet: bool = False,
    echo: Callable[[str], None] = print,
    models: tuple[str, ...] = MODELS,
    spec_file: str | Path | None = None,
) -> int:
    """The whole demo; returns the exit status (0 when every unit ran)."""
    from brainbench.report import write_report
    from brainbench.runner._api import run_benchmark
    from brainbench.runner._prepare import InvalidSpec
    from brainbench.synth import generate_cohort
    from brainbench.validate.findings import render_text

    t0 = time.perf_counter()
    preset = preset or ("full" if full else "demo")
    max_epochs = max_epochs or (20 if full else 8)
    spec_dir = demo_spec_dir()
    out = Path(out)
    _fresh_folder(out, overwrite, "dev")
    data = out / "data"

    # 1. Cohorts.
    configs = cohort_configs(preset, seeds)
    echo(f"[1/5] Writing synthetic cohorts ({preset} preset) to {data}/")
    for name, cfg in configs.items():
        res = generate_cohort(data / name, cfg)
        if name == "ext":
            relabel_subjects(res.path, "X")
        echo(
            f"      {name}: {res.n_subjects} subjects, {res.n_images} images, "
            f"{cfg.sites} sites ({res.seconds:.0f} s)"
        )
    os.environ[ENV] = str(data.resolve())

    # 2. The leaky variant, rejected from the spec alone. The sound spec is validated with its
    # data by the run itself (one read of the cohorts), whose audit is printed below.
    spec = Path(spec_file) if spec_file is not None else spec_dir / DEMO_SPEC
    leaky = spec_dir / LEAKY_SPEC
    echo(f"[2/5] Validating the leaky variant {leaky}")
    _reject_leaky(leaky, echo)

    # 3. Validation of the sound spec with its data (the leakage audit), then the run.
    run_dir = out / "run"
    echo(f"[3/5] Validating {spec} with its data (the leakage audit)")
    echo(f"[4/5] Running {', '.join(models)} x {seeds} seeds on CPU (max {max_epochs} epochs)")
    try:
        run = run_benchmark(
            spec,
            list(models),
            out=run_dir,
            seeds=seeds,
            device="cpu",
            quiet=quiet,
            max_epochs=max_epochs,
        )
    except InvalidSpec as exc:
        echo(render_text(exc.result, color=False))
        return 1
    audit = json.loads((run_dir / "validation.json").read_text())
    n_warn = sum(f["severity"] == "warning" for f in audit["findings"])
    echo(f"      audit of step 3: {'valid' if audit['valid'] else 'INVALID'}, {n_warn} warning(s)")
    if not quiet:
        for f in audit["findings"]:
            echo(f"      {f['severity']} {f['rule']}: {f['message']}")
    echo(f"      {run.summary()} ({time.perf_counter() - t0:.0f} s so far)")
    echo(f"      model processes: {run.provenance['seal']['summary']} (docs/security.md)")
    for u in run.failed:
        echo(f"      failed {u['id']}: {u['error']} (log: {run_dir / str(u['log'])})")

    # 4. Evidence sheet.
    report_dir = out / "report"
    echo(f"[5/5] Writing the evidence sheet to {report_dir}/")
    try:
        sheet = write_report([run_dir], report_dir, checklists=("claim", "tripod-ai"))
    except UserError as exc:
        echo(f"      the report could not be written ({exc.message}); writing a summary")
        sheet = _markdown_summary(run_dir, report_dir, spec)
    minutes = (time.perf_counter() - t0) / 60
    echo("")
    echo(f"Done in {minutes:.1f} min. Where to look:")
    echo(f"  evidence sheet   {sheet}")
    md = Path(sheet).with_suffix(".md")
    if md.is_file() and md != Path(sheet):
        echo(f"  (Markdown)       {md}")
    echo(f"  predictions      {run_dir / 'predictions.parquet'}")
    echo(f"  provenance       {run_dir / 'provenance.json'}")
    echo(f"  leakage audit    {run_dir / 'validation.json'}")
    echo(f"  unit logs        {run_dir / 'logs'}/")
    echo(f"  cohorts (BIDS)   {data}/dev, {data}/ext (ground truth in derivatives/)")
    return 0 if run.ok else 3


SEG_SPEC = "wmh-segmentation-synthetic.yaml"
SEG_LEAKY_SPEC = "wmh-segmentation-synthetic-leaky.yaml"
SEG_MODELS = ("threshold-seg", "unet-seg-small")


def _reject_leaky(leaky: Path, echo: Callable[[str], None]) -> None:
    """Validate the demo's leaky variant from the spec alone and say that it was rejected."""
    from brainbench.validate.engine import validate_path
    from brainbench.validate.findings import render_text

    result, _ = validate_path(leaky, data=False)
    echo("      " + render_text(result, color=False).replace("\n", "\n      "))
    echo(
        "      -> rejected before any GPU hour is spent"
        if not result.valid
        else "      !! the leaky variant was NOT rejected"
    )


def _fresh_folder(out: Path, overwrite: bool, marker: str) -> None:
    """Empty ``out`` for a demo: refuse a non-empty folder unless ``overwrite`` and it holds
    a demo (its ``marker`` data folder or its run)."""
    import shutil

    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise UserError(
                f"The demo folder {out} exists and is not empty. Pass --overwrite to replace a "
                "previous demo, or choose another --out."
            )
        if not (out / "data" / marker).is_dir() and not (out / "run").is_dir():
            raise UserError(
                f"Refusing to overwrite {out}: it does not look like a brainbench demo folder."
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def run_segmentation_demo(
    out: Path,
    *,
    preset: str | None = None,
    max_epochs: int | None = None,
    overwrite: bool = False,
    quiet: bool = False,
    echo: Callable[[str], None] = print,
) -> int:
    """``brainbench demo --task segmentation``: a synthetic WMH cohort, the leaky image-level
    split rejected, threshold-seg and unet-seg-small run on CPU, then the report."""
    from brainbench.runner._api import run_benchmark
    from brainbench.runner._prepare import InvalidSpec
    from brainbench.synth import LesionConfig, SynthConfig, generate_cohort
    from brainbench.validate.findings import render_text

    t0 = time.perf_counter()
    preset = preset or "tiny"
    max_epochs = max_epochs or 8
    spec_dir = demo_spec_dir()
    out = Path(out)
    _fresh_folder(out, overwrite, "seg")
    data = out / "data"
    # 16 subjects over 3 sites at 4 mm: a U-Net trains on a CPU in about a minute
    config = SynthConfig.preset(
        preset, seed=0, subjects=16, sites=3, segmentation=LesionConfig()
    ).replace(name="brainbench demo: segmentation cohort")
    echo(f"[1/5] Writing a synthetic segmentation cohort ({preset} preset) to {data}/seg/")
    res = generate_cohort(data / "seg", config)
    echo(f"      {res.n_subjects} subjects, {res.n_images} images, {config.sites} sites")
    os.environ[ENV] = str(data.resolve())

    leaky = spec_dir / SEG_LEAKY_SPEC
    echo(f"[2/5] Validating the leaky variant {leaky} (sessions split, not subjects)")
    _reject_leaky(leaky, echo)
    spec = spec_dir / SEG_SPEC
    run_dir = out / "run"
    echo(f"[3/5] Validating {spec} with its data (the leakage audit)")
    echo(f"[4/5] Running {', '.join(SEG_MODELS)} on CPU (max {max_epochs} epochs)")
    try:
        run = run_benchmark(
            spec, list(SEG_MODELS), out=run_dir, device="cpu", quiet=quiet, max_epochs=max_epochs
        )
    except InvalidSpec as exc:
        echo(render_text(exc.result, color=False))
        return 1
    echo(f"      {run.summary()} ({time.perf_counter() - t0:.0f} s so far)")
    echo(f"      model processes: {run.provenance['seal']['summary']} (docs/security.md)")
    for u in run.failed:
        echo(f"      failed {u['id']}: {u['error']} (log: {run_dir / str(u['log'])})")
    report_dir = out / "report"
    echo(f"[5/5] Writing the evidence sheet to {report_dir}/")
    sheet = _segmentation_report(run_dir, report_dir, echo)
    echo("")
    echo(f"Done in {(time.perf_counter() - t0) / 60:.1f} min. Where to look:")
    if sheet is not None:
        echo(f"  evidence sheet   {sheet}")
    echo(f"  case metrics     {run_dir / 'case_metrics.parquet'}")
    echo(f"  predicted masks  {run_dir / 'masks'}/")
    echo(f"  provenance       {run_dir / 'provenance.json'}")
    echo(f"  cohort (BIDS)    {data}/seg (reference masks in derivatives/reference/)")
    return 0 if run.ok else 3


def _segmentation_report(run_dir: Path, report_dir: Path, echo: Callable[[str], None]):
    """The segmentation evidence sheet (``write_report`` dispatches on the run folder), or
    None with one line saying why there is none (e.g. no unit ran)."""
    from brainbench.report import write_report

    try:
        return write_report([run_dir], report_dir)
    except UserError as exc:
        echo(f"      no evidence sheet: {exc.message}")
        return None


__all__ = ["MODELS", "cohort_configs", "demo_spec_dir", "run_demo", "run_segmentation_demo"]
