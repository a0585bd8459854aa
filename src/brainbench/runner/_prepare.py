"""Preparing a run: validate the spec with its data, freeze the splits, write the run folder."""

from __future__ import annotations

import io
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from brainbench.errors import UserError
from brainbench.runner._audit import audit_entries
from brainbench.runner._io import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_parquet,
    parquet_safe,
    read_json,
    sha256_bytes,
)
from brainbench.runner._units import Unit, expand_units, split_folds

if TYPE_CHECKING:
    import pandas as pd

    from brainbench.spec import LoadedSpec
    from brainbench.validate.findings import CheckResult

PLAN_FILE = "plan.json"
ID_COLUMNS = ("cohort", "subject", "session", "image")


class InvalidSpec(Exception):
    """The spec (with its data) does not validate; ``result`` holds the findings."""

    def __init__(self, result: CheckResult) -> None:
        super().__init__("the spec does not validate")
        self.result = result


@dataclass
class RunOptions:
    """What ``brainbench run`` was asked to do (stored in ``plan.json``)."""

    models: list[str]
    seeds: int | None = None
    device: str = "auto"
    max_epochs: int | None = None
    deterministic: bool = False
    amp: bool = True
    hyperparameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    registry_root: str | None = None
    unit_timeout_s: float | None = None
    #: Cap of the decoded-image disk cache in GiB (None: the default cap; 0: no disk cache).
    image_cache_gb: float | None = None
    #: Memory limit of each model process in GiB (None: the sandbox's default; 0: none).
    model_memory_gb: float | None = None
    seal: bool = True
    require_seal: str = "none"

    def identity(self) -> dict[str, Any]:
        """The options that change predictions (a resume must not change them)."""
        return {
            "max_epochs": self.max_epochs,
            "deterministic": self.deterministic,
            "amp": self.amp,
            "hyperparameters": self.hyperparameters,
        }


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def join_keys(df: pd.DataFrame) -> pd.Series:
    """One text key per row from the id columns (missing written ``n/a``, as in split files)."""
    parts = [df[c].astype("string").fillna("n/a") for c in ID_COLUMNS]
    key = parts[0]
    for p in parts[1:]:
        key = key + "\x1f" + p
    return key


def canonical_sha256(df: pd.DataFrame) -> str:
    """Hash of a table's content as TSV (stable across Parquet writer versions)."""
    buf = io.StringIO()
    df.to_csv(buf, sep="\t", index=False, na_rep="n/a", lineterminator="\n")
    return sha256_bytes(buf.getvalue().encode("utf-8"))


def load_and_validate(spec_path: Path) -> tuple[LoadedSpec, Any, pd.DataFrame, CheckResult, str]:
    """Spec, cohort table, split table, validation result and split origin.

    Runs the spec rules (including the pinned split file's hash), reads the cohorts, reads the
    pinned split file or makes the splits, then runs the data rules; waivers applied. Raises
    :class:`InvalidSpec` when an error remains, :class:`~brainbench.spec.SpecError` when the spec
    does not follow the schema, UserError when input cannot be read.
    """
    from brainbench.cohort import load_cohorts
    from brainbench.spec import load_spec
    from brainbench.split import make_splits, read_split_file
    from brainbench.validate.data_rules import CohortDataContext
    from brainbench.validate.engine import apply_waivers, run_data_rules, run_spec_rules
    from brainbench.validate.findings import CheckResult

    loaded = load_spec(spec_path)
    spec_findings = run_spec_rules(loaded)
    early = apply_waivers(loaded, list(spec_findings), data_checked=False)
    if not early.valid:
        raise InvalidSpec(early)
    cohort = load_cohorts(loaded)
    pinned = loaded.spec.splits.file
    if pinned is not None:
        splits = read_split_file(loaded.resolve_path(pinned.path), sha256=pinned.sha256)
        origin = str(loaded.resolve_path(pinned.path))
    else:
        splits = make_splits(loaded, cohort)
        origin = "generated"
    # Reading findings go through rule D300, so a waiver can silence them as in `validate --data`.
    ctx = CohortDataContext(
        loaded=loaded,
        cohort=cohort.table,
        splits=splits,
        findings=list(cohort.findings),
        split_file=None if pinned is None else loaded.resolve_path(pinned.path),
        splits_generated=pinned is None,
    )
    data_findings = run_data_rules(ctx)
    result = apply_waivers(loaded, [*spec_findings, *data_findings])
    if not isinstance(result, CheckResult) or not result.valid:
        raise InvalidSpec(result)
    return loaded, cohort, splits, result, origin


def run_image_paths(cohort_table: pd.DataFrame, splits: pd.DataFrame) -> pd.Series:
    """The image paths of the rows the splits use."""
    used = set(join_keys(splits))
    keys = join_keys(cohort_table)
    return cohort_table.loc[keys.isin(used).to_numpy(), "image_path"].dropna()


def image_cache_plan(options: RunOptions, paths: pd.Series) -> dict[str, Any]:
    """The loader's settings stored in the plan: the disk cache cap (bytes; None: default;
    0: off) and the images' modal orientation, which every image must share."""
    from brainbench.runner._data import common_orientation

    gb = options.image_cache_gb
    return {
        "image_cache_bytes": None if gb is None else int(gb * (1 << 30)),
        "orientation": common_orientation(list(paths.astype(str))) if len(paths) else None,
    }


def task_info(loaded: LoadedSpec, cohort_table: pd.DataFrame, splits: pd.DataFrame):
    """The TaskInfo of a run: classes from the spec, geometry from the images' headers."""
    from brainbench.registry.interface import TaskInfo
    from brainbench.runner._data import common_geometry

    spec = loaded.spec
    paths = run_image_paths(cohort_table, splits)
    kwargs: dict[str, Any] = {
        "type": spec.task.type,
        "classes": tuple(spec.task.classes or ()) if spec.task.type == "classification" else (),
        "unit": spec.task.input.unit,
        "modality": spec.task.input.modality,
        "target": spec.task.target,
        "covariates": tuple(c.name for c in getattr(spec, "covariates", ())),
    }
    if spec.task.type == "segmentation":
        kwargs["labels"] = tuple(x.name for x in spec.task.labels or ())
        kwargs["label_values"] = tuple(x.value for x in spec.task.labels or ())
    if len(paths):
        try:
            shape, zooms, channels = common_geometry(list(paths.astype(str)))
            kwargs.update(spatial_shape=shape, voxel_spacing=zooms, channels=channels)
        except ValueError:
            pass  # no header readable: image models fail per unit, naming the files
    from brainbench.runner._input_units import plan_input_units, with_unit_shape

    task = TaskInfo(**kwargs)
    return with_unit_shape(task, plan_input_units(loaded, task))


def segmentation_plan(spec: Any) -> dict[str, Any]:
    """The plan's segmentation fields: labels, their values, the lesion (instance-like) labels,
    and the metrics the runner computes per case (primary first, with their parameters)."""
    return {
        "labels": [x.name for x in spec.task.labels],
        "label_values": [x.value for x in spec.task.labels],
        "lesion_labels": [x.name for x in spec.task.labels if x.kind == "lesion"],
        "metrics": [m.model_dump() for m in spec.segmentation_metrics()],
    }


def check_models(
    models: list[str],
    task: Any,
    registry_root: Path | None,
    hyperparameters: dict[str, dict[str, Any]] | None = None,
) -> dict[str, str]:
    """Each model's registry version; UserError for an unknown model, one unfit for the task,
    or an unknown hyper-parameter (before any unit runs)."""
    from brainbench.registry.entries import find_entry
    from brainbench.registry.loading import check_task_fits, resolve_hyperparameters

    versions = {}
    for m in models:
        loaded = find_entry(m, registry_root)
        check_task_fits(loaded, task)
        resolve_hyperparameters(loaded, (hyperparameters or {}).get(m))
        versions[m] = loaded.entry.version
    return versions


def cohort_for_report(table: pd.DataFrame) -> pd.DataFrame:
    """The cohort table as stored in ``cohort.parquet``: every column, text where mixed."""
    out = table.reset_index(drop=True).copy()
    out.insert(0, "row", range(len(out)))
    return parquet_safe(out)


def prepare_run(
    spec_path: str | Path,
    out: str | Path,
    options: RunOptions,
    *,
    resume: bool = False,
) -> tuple[Path, dict[str, Any], CheckResult]:
    """Validate, split and write the run folder; the plan (``plan.json``) of the units to run.

    Raises
    ------
    InvalidSpec
        The spec does not validate with its data (print ``exc.result``; exit 1).
    UserError
        Unreadable input, unknown model, a run folder in use without ``resume`` or one
        prepared from other inputs or options.
    """
    from brainbench.runner._input_units import plan_input_units
    from brainbench.split import write_split_file

    spec_path = Path(spec_path)
    out = Path(out)
    loaded, cohort, splits, result, origin = load_and_validate(spec_path)
    spec = loaded.spec
    from brainbench.registry.entries import default_root

    registry_root = Path(options.registry_root) if options.registry_root else default_root()
    task = task_info(loaded, cohort.table, splits)
    versions = check_models(options.models, task, registry_root, options.hyperparameters)
    audit = audit_entries(
        loaded, cohort.table, options.models, registry_root, options.hyperparameters
    )
    seeds = options.seeds if options.seeds is not None else spec.protocol.seeds
    units = expand_units(
        options.models, split_folds(splits), seeds, split_seed=int(spec.splits.seed)
    )
    cohort_df = cohort_for_report(cohort.table)
    cohort_sha = canonical_sha256(cohort_df)

    plan_path = out / PLAN_FILE
    previous = read_json(plan_path) if plan_path.is_file() else None
    if previous is not None and not resume:
        raise UserError(
            f"The run folder {out} already holds a run (plan.json). Pass --resume to finish it, "
            "or choose another --out."
        )
    if previous is None and out.is_dir() and any(out.iterdir()) and not resume:
        raise UserError(
            f"The output folder {out} exists and is not empty. Choose another --out "
            "(brainbench never mixes a run with other files)."
        )
    out.mkdir(parents=True, exist_ok=True)
    split_bytes = _split_bytes(splits, write_split_file)
    split_sha = sha256_bytes(split_bytes)
    if previous is not None:
        for key, now in (
            ("spec_sha256", loaded.sha256),
            ("split_sha256", split_sha),
            ("cohort_sha256", cohort_sha),
            ("options", options.identity()),
        ):
            if previous.get(key) != now:
                raise UserError(
                    f"Cannot resume the run in {out}: its {key.replace('_', ' ')} differs from "
                    "this invocation's (the spec, the splits, the cohort or the training options "
                    "changed). Start a new run with another --out."
                )
        started = previous.get("started", utc_now())
    else:
        started = utc_now()
        for name, raw in loaded.snapshot().items():  # spec.yaml, and its parts if it extends
            atomic_write_bytes(out / name, raw)
        atomic_write_json(out / "spec.resolved.json", spec.model_dump(mode="json"))
        atomic_write_bytes(out / "splits.tsv", split_bytes)
        atomic_write_parquet(out / "cohort.parquet", cohort_df)
        atomic_write_json(out / "validation.json", result.to_dict())
    (out / "units").mkdir(exist_ok=True)
    (out / "logs").mkdir(exist_ok=True)

    plan = {
        "format": 1,
        "spec": {
            "id": spec.id,
            "version": spec.version,
            "sha256": loaded.sha256,
            "file": str(spec_path.resolve()),
        },
        "spec_sha256": loaded.sha256,
        "split_sha256": split_sha,
        "split_origin": origin,
        "cohort_sha256": cohort_sha,
        "options": options.identity(),
        "device": options.device,
        "amp": options.amp,
        "unit_timeout_s": options.unit_timeout_s,
        "model_memory_bytes": None
        if options.model_memory_gb is None
        else int(options.model_memory_gb * (1 << 30)),
        **image_cache_plan(options, run_image_paths(cohort.table, splits)),
        "seal": options.seal,
        "require_seal": options.require_seal,
        "registry_root": str(registry_root.resolve()),
        "task": {
            "type": task.type,
            "classes": list(task.classes),
            "spatial_shape": list(task.spatial_shape),
            "voxel_spacing": list(task.voxel_spacing),
            "channels": task.channels,
            "unit": task.unit,
            "modality": task.modality,
            "target": task.target,
            "covariates": [c.model_dump() for c in getattr(spec, "covariates", ())],
            **(segmentation_plan(spec) if spec.task.type == "segmentation" else {}),
        },
        "input_units": plan_input_units(loaded, task),
        "models": [{"id": m, "version": versions[m]} for m in options.models],
        "withheld_covariates": audit.withheld_covariates,
        "deviations": audit.deviations,
        "seeds": seeds,
        "units": [u.to_dict() for u in units],
        "started": started,
    }
    atomic_write_json(plan_path, plan)
    return out, plan, result


def plan_only(spec_path: str | Path, options: RunOptions) -> tuple[list[Unit], CheckResult, Any]:
    """Validate and expand the units without writing anything (``brainbench run --dry-run``)."""
    from brainbench.registry.entries import default_root

    loaded, cohort, splits, result, _ = load_and_validate(Path(spec_path))
    registry_root = Path(options.registry_root) if options.registry_root else default_root()
    task = task_info(loaded, cohort.table, splits)
    check_models(options.models, task, registry_root, options.hyperparameters)
    audit_entries(loaded, cohort.table, options.models, registry_root, options.hyperparameters)
    seeds = options.seeds if options.seeds is not None else loaded.spec.protocol.seeds
    units = expand_units(
        options.models, split_folds(splits), seeds, split_seed=int(loaded.spec.splits.seed)
    )
    return units, result, task


def _split_bytes(splits: pd.DataFrame, writer: Any) -> bytes:
    """The split file's bytes, written by the split module's own writer."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "splits.tsv"
        writer(splits, path)
        return path.read_bytes()


def plan_units(plan: dict[str, Any]) -> list[Unit]:
    return [Unit.from_dict(u) for u in plan["units"]]


def remove_run(out: Path) -> None:
    """Delete a run folder brainbench wrote (used by the demo's --overwrite)."""
    if (out / PLAN_FILE).is_file():
        shutil.rmtree(out)


__all__ = [
    "PLAN_FILE",
    "InvalidSpec",
    "RunOptions",
    "canonical_sha256",
    "join_keys",
    "load_and_validate",
    "plan_only",
    "plan_units",
    "prepare_run",
    "task_info",
]
