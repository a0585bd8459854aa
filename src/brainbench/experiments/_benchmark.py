"""What the benchmark experiments (1-3) share: cohorts, runs, evaluation and evidence sheets.

An arm of an experiment is one spec of ``spec/experiments/`` run by the runner
(:func:`brainbench.runner.run_benchmark`) on a synthetic cohort (:mod:`brainbench.synth`), then
evaluated by the statistics engine with the spec's own protocol and written up by the report
generator (:func:`brainbench.report.write_report`) when it is available.

Cohorts and run folders go to a work folder (``$BRAINBENCH_EXPERIMENT_WORK``, else a temporary
folder removed afterwards); the predictions, provenance and leakage audit of each arm are copied
next to the experiment's report.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from brainbench.errors import BrainbenchWarning, UserError

ENV_DATA = "BRAINBENCH_EXPERIMENT_DATA"
ENV_WORK = "BRAINBENCH_EXPERIMENT_WORK"
KEEP = ("predictions.parquet", "provenance.json", "validation.json", "splits.tsv")


def spec_dir() -> Path:
    """``spec/experiments`` of the source tree."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "spec" / "experiments"
        if candidate.is_dir():
            return candidate
    raise UserError(
        "The experiment specs (spec/experiments/) were not found next to the brainbench "
        "sources: run the experiments from a clone of the repository."
    )


def experiment_registry() -> Path:
    """``benchmarks/experiments/registry``: the experiments' own model entries."""
    return spec_dir().parent.parent / "benchmarks" / "experiments" / "registry"


@contextmanager
def work_folder(name: str) -> Iterator[Path]:
    """The folder of cohorts and runs: ``$BRAINBENCH_EXPERIMENT_WORK/name`` (kept) or a
    temporary folder (removed on exit)."""
    base = os.environ.get(ENV_WORK)
    if base:
        path = Path(base) / name
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    tmp = Path(tempfile.mkdtemp(prefix=f"brainbench-{name}-"))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def make_cohort(folder: Path, config: Any) -> Path:
    """Generate the synthetic cohort ``config`` in ``folder`` unless it is already there."""
    from brainbench.synth import generate_cohort

    key = hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True).encode()).hexdigest()
    marker = folder / ".brainbench-experiment-config"
    if marker.is_file() and marker.read_text() == key:
        return folder
    if folder.exists():
        shutil.rmtree(folder)
    generate_cohort(folder, config)
    marker.write_text(key)
    return folder


def relabel(root: Path, subject_prefix: str, site_prefix: str) -> None:
    """Rename subjects (``sub-001`` -> ``sub-X001``) and sites (``site01`` -> ``siteX01``) of a
    synthetic BIDS folder, so that two cohorts from the generator share no id."""
    sub = re.compile(r"sub-(\d+)")
    site = re.compile(r"(?i)\b(site)(\d+)")
    for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_file() and path.suffix in (".tsv", ".json"):
            text = path.read_text()
            new = sub.sub(lambda m: f"sub-{subject_prefix}{m.group(1)}", text)
            new = site.sub(lambda m: f"{m.group(1)}{site_prefix}{m.group(2)}", new)
            if new != text:
                path.write_text(new)
        if sub.search(path.name):
            path.rename(
                path.with_name(sub.sub(lambda m: f"sub-{subject_prefix}{m.group(1)}", path.name))
            )


def combined_registry(work: Path, extra: Sequence[str]) -> Path:
    """A registry folder with every default entry plus the experiments' entries ``extra``."""
    from brainbench.registry.entries import default_root

    root = work / "registry" / "models"
    if root.parent.exists():
        shutil.rmtree(root.parent)
    root.mkdir(parents=True)
    for folder in sorted(Path(default_root()).glob("models/*")) or sorted(
        Path(default_root()).glob("*")
    ):
        if (folder / "model.yaml").is_file():
            (root / folder.name).symlink_to(folder.resolve(), target_is_directory=True)
    for name in extra:
        (root / name).symlink_to(
            (experiment_registry() / "models" / name).resolve(), target_is_directory=True
        )
    return root.parent


def run_arm(
    spec: Path,
    models: Sequence[str],
    data: Path,
    run_dir: Path,
    *,
    registry_root: Path | None = None,
    max_epochs: int | None = None,
) -> Path:
    """Run ``models`` on ``spec`` with its cohorts under ``data``; returns the run folder."""
    from brainbench.runner import run_benchmark

    os.environ[ENV_DATA] = str(Path(data).resolve())
    if run_dir.exists():
        shutil.rmtree(run_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BrainbenchWarning)
        result = run_benchmark(
            spec,
            list(models),
            out=run_dir,
            seeds=1,
            device="cpu",
            workers=2,
            quiet=True,
            max_epochs=max_epochs,
            registry_root=registry_root,
        )
    if not result.ok:
        failed = "; ".join(f"{u['id']}: {u.get('error')}" for u in result.failed[:3])
        raise RuntimeError(f"{spec.name}: {len(result.failed)} unit(s) failed ({failed})")
    return run_dir


def evaluate_arm(
    run_dir: Path, arm: str, *, resamples: int, seed: int, metrics: Sequence[str] | None = None
) -> pd.DataFrame:
    """Every model x partition x metric of a run, with the spec's protocol (unit, clusters)."""
    from brainbench.spec.models import Spec
    from brainbench.stats import evaluate_predictions

    spec = Spec.model_validate(json.loads((run_dir / "spec.resolved.json").read_text()))
    df = pd.read_parquet(run_dir / "predictions.parquet")
    protocol = spec.protocol
    metrics = list(metrics or [protocol.primary_metric, *protocol.metrics])
    clusters = [c for c in protocol.confidence.clusters if c in df.columns]
    parts = sorted(set(df["partition"]) - {"validation", "train"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BrainbenchWarning)
        results = evaluate_predictions(
            df,
            metrics,
            positive=spec.task.classes[-1],
            unit=protocol.unit_of_analysis,
            clusters=clusters,
            resamples=resamples,
            seed=seed,
            partitions=parts,
        )
    rows = []
    for r in results:
        rows.append(
            {
                "arm": arm,
                "model": r.model,
                "partition": r.partition,
                "metric": r.metric,
                "estimate": r.estimate,
                "ci_low": r.ci_low,
                "ci_high": r.ci_high,
                "n_units": r.n_units,
                "n_clusters": r.n_clusters,
            }
        )
    return pd.DataFrame(rows)


def publish_arms(
    run_dirs: dict[str, Path], out_dir: Path, *, resamples: int | None = None, seed: int = 0
) -> dict[str, str]:
    """Copy each arm's evidence files under ``out_dir/runs/<arm>`` and write its evidence sheet
    (:func:`brainbench.report.write_report`) under ``out_dir/evidence/<arm>``.

    Returns ``{"report": what was written, or why nothing was}``.
    """
    for arm, run_dir in run_dirs.items():
        dest = out_dir / "runs" / arm
        dest.mkdir(parents=True, exist_ok=True)
        for name in KEEP:
            if (run_dir / name).is_file():
                shutil.copy2(run_dir / name, dest / name)
    try:
        from brainbench.report import write_report
    except ImportError:
        return {"report": "not written (brainbench.report.write_report is not available)"}
    sheets, errors = [], []
    for arm, run_dir in run_dirs.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", BrainbenchWarning)
                sheet = write_report(
                    [run_dir], out_dir / "evidence" / arm, resamples=resamples, seed=seed
                )
            md = Path(sheet).with_suffix(".md")
            shown = md if md.is_file() else Path(sheet)
            sheets.append(f"[{arm}]({shown.relative_to(out_dir)})")
        except (UserError, OSError, ValueError, KeyError) as exc:
            errors.append(f"{arm}: the report generator failed ({exc})")
    text = ", ".join(sheets) if sheets else "not written"
    if errors:
        text += "; " + "; ".join(errors)
    return {"report": text}


def run_arms(
    arms: dict[str, str],
    models: Sequence[str],
    data: Path,
    work: Path,
    out_dir: Path,
    *,
    resamples: int,
    seed: int,
    registry_root: Path | None = None,
    max_epochs: int | None = None,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Run every arm (``{arm: spec file name}`` under :func:`spec_dir`) into
    ``work/runs/<spec>``, evaluate it (:func:`evaluate_arm`) and publish it
    (:func:`publish_arms`): the evaluation table of all arms and the publication's notes."""
    runs = {
        arm: run_arm(
            spec_dir() / spec,
            models,
            data,
            work / "runs" / spec.removesuffix(".yaml"),
            registry_root=registry_root,
            max_epochs=max_epochs,
        )
        for arm, spec in arms.items()
    }
    table = pd.concat(
        [evaluate_arm(r, arm, resamples=resamples, seed=seed) for arm, r in runs.items()],
        ignore_index=True,
    )
    notes = publish_arms(
        {spec.removesuffix(".yaml"): runs[arm] for arm, spec in arms.items()},
        out_dir,
        resamples=resamples,
        seed=seed,
    )
    return table, notes


def ci_text(row: pd.Series) -> str:
    return f"{row['estimate']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"
