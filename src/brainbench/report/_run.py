"""Reading run directories (the runner's output) into one :class:`RunData`.

A run directory holds ``predictions.parquet``, ``cohort.parquet``, ``splits.tsv``, ``spec.yaml``
and ``spec.resolved.json``, ``validation.json`` and ``provenance.json``. Any of them may be
missing (predictions made by another tool): :attr:`RunData.missing` says which, and the sections
that need them say so. A predictions file (Parquet, TSV, CSV) may be given instead of a folder.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from brainbench.errors import UserError
from brainbench.hashing import sha256_file

PREDICTION_FILES = ("predictions.parquet", "predictions.tsv", "predictions.csv")


@dataclass(frozen=True)
class TableKind:
    """The results table a run folder holds: predictions (classification, regression) or
    case metrics (segmentation), with the reader that checks it and the provenance key that
    records its hash."""

    what: str
    files: tuple[str, ...]
    reader: Callable[[Path], pd.DataFrame]
    provenance_key: str
    hint: str


def _read_predictions(path: Path) -> pd.DataFrame:
    from brainbench.report._stats import read_predictions

    return read_predictions(path)


PREDICTIONS = TableKind(
    "predictions table",
    PREDICTION_FILES,
    _read_predictions,
    "predictions_sha256",
    "Run `brainbench run`, or convert another tool's predictions with `brainbench convert`.",
)


@dataclass
class RunData:
    """Everything the report reads, from one or more run directories.

    Attributes
    ----------
    sources
        The run directories (or predictions files) given.
    predictions
        The checked predictions table, ``validation`` and ``train`` rows dropped.
    cohort, splits
        The cohort table and the split table, or None.
    spec, spec_file, spec_sha256
        The spec the report follows (``--spec``, else the run's), where it came from and its
        hash (:attr:`brainbench.spec.LoadedSpec.sha256`).
    validation
        The leakage audit (``validation.json``), or None.
    provenance
        One ``provenance.json`` per run directory that has one.
    missing
        File name -> why it is missing, for every expected file that is absent.
    notes
        Problems met while reading that the report states (unreadable optional file...).
    """

    sources: list[Path]
    predictions: pd.DataFrame
    cohort: pd.DataFrame | None = None
    splits: pd.DataFrame | None = None
    spec: Any = None
    spec_file: str | None = None
    spec_sha256: str | None = None
    run_spec_sha256: str | None = None
    validation: dict[str, Any] | None = None
    provenance: list[dict[str, Any]] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    spec_hashes: dict[str, str] = field(default_factory=dict)
    loaded_spec: Any = None  # brainbench.spec.LoadedSpec of ``spec``, for re-running spec rules
    #: sha256 of each source's predictions file: binds the sheet to the run folder it reports.
    predictions_sha256: list[str] = field(default_factory=list)
    #: Models whose predictions file differs from what their provenance.json records.
    untrusted_models: set[str] = field(default_factory=set)

    @property
    def tier(self) -> str:
        """``reproduced`` when the runner made every model's predictions, ``self-reported``
        when it made none, ``mixed`` otherwise (see :attr:`model_tiers`)."""
        tiers = set(self.model_tiers.values())
        if tiers == {"reproduced"}:
            return "reproduced"
        return "self-reported" if tiers <= {"self-reported"} else "mixed"

    @property
    def model_tiers(self) -> dict[str, str]:
        """Per model: ``reproduced`` when a provenance.json of the runner records completed
        work units of it (and the predictions file hashes to what that provenance records),
        else ``self-reported``."""
        ran = {
            str(u.get("model"))
            for u in self.units
            if str(u.get("status", "")).lower() in ("ok", "done", "success", "completed")
        }
        ran -= self.untrusted_models
        return {
            str(m): ("reproduced" if str(m) in ran else "self-reported")
            for m in pd.unique(self.predictions["model"])
        }

    @property
    def units(self) -> list[dict[str, Any]]:
        return [u for p in self.provenance for u in (p.get("units") or [])]

    def has(self, name: str) -> bool:
        return name not in self.missing


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def spec_sha256(spec: Any) -> str:
    """The hash :attr:`brainbench.spec.LoadedSpec.sha256` gives for this spec."""
    return _sha256_text(spec.model_dump_json(exclude={"extends"}))


def _read_json(path: Path, notes: list[str]) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        notes.append(f"{path.name} could not be read ({exc}); it is treated as missing.")
        return None
    if not isinstance(value, dict):
        notes.append(f"{path.name} is not a JSON object; it is treated as missing.")
        return None
    return value


def _read_table(path: Path, notes: list[str]) -> pd.DataFrame | None:
    from brainbench.stats import read_table

    try:
        return read_table(path, "table")
    except UserError as exc:
        notes.append(f"{path.name} could not be read ({exc.message}); it is treated as missing.")
        return None


def _load_spec_file(path: Path) -> tuple[Any, str, Any]:
    from brainbench.spec import load_spec

    loaded = load_spec(path)
    return loaded.spec, loaded.sha256, loaded


def _load_resolved(path: Path, notes: list[str]) -> tuple[Any, str, Any] | None:
    from pydantic import ValidationError

    from brainbench.spec import LoadedSpec, Spec

    data = _read_json(path, notes)
    if data is None:
        return None
    data.pop("extends", None)
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        notes.append(f"{path} does not follow the spec schema ({exc.error_count()} error(s)).")
        return None
    return spec, spec_sha256(spec), LoadedSpec(spec=spec, file=path, data=data)


def read_runs(
    sources: list[Path] | list[str],
    spec: Path | str | None = None,
    table: TableKind = PREDICTIONS,
) -> RunData:
    """Read one or more run directories (or results files) and an optional spec.

    ``table`` is the results table read from each folder (:data:`PREDICTIONS`, or the
    segmentation case metrics); it becomes :attr:`RunData.predictions`.

    Raises
    ------
    UserError
        A source does not exist, has no predictions table, or the predictions cannot be used
        (no rows, missing columns), or two sources hold predictions of the same model.
    """
    sources = [Path(s) for s in sources]
    if not sources:
        raise UserError("Give at least one run directory (or predictions file) to report on.")
    notes: list[str] = []
    missing: dict[str, str] = {}
    frames = []
    cohorts, splits, validations, provenance = [], [], [], []
    run_spec: tuple[Any, str, str, Any] | None = None
    owner: dict[str, Path] = {}
    hashes: list[str] = []
    untrusted: set[str] = set()
    for src in sources:
        if not src.exists():
            raise UserError(f"The run directory {src} does not exist.")
        if not src.is_dir():  # a predictions file: the reader names what is wrong with it
            pred_path, folder = src, None
        else:
            folder = src
            pred_path = next((src / n for n in table.files if (src / n).exists()), None)
            if pred_path is None:
                raise UserError(
                    f"The run directory {src} has no {table.what} ({', '.join(table.files)}): "
                    f"nothing to report. {table.hint}"
                )
        rows = table.reader(pred_path)
        hashes.append(sha256_file(pred_path))
        for model in pd.unique(rows["model"]):
            if model in owner and owner[model] != src:
                raise UserError(
                    f"Model '{model}' has predictions in both {owner[model]} and {src}: give "
                    "each model's predictions once."
                )
            owner[model] = src
        frames.append(rows)
        if folder is None:
            continue
        for name, reader, sink in (
            ("cohort.parquet", _read_table, cohorts),
            ("splits.tsv", _read_table, splits),
        ):
            if (folder / name).exists():
                value = reader(folder / name, notes)
                if value is not None:
                    sink.append(value)
        if (folder / "validation.json").exists():
            value = _read_json(folder / "validation.json", notes)
            if value is not None:
                validations.append(value)
        if (folder / "provenance.json").exists():
            value = _read_json(folder / "provenance.json", notes)
            if value is not None:
                provenance.append(value)
                recorded = value.get(table.provenance_key)
                if recorded is not None and recorded != hashes[-1]:
                    untrusted.update(str(m) for m in pd.unique(rows["model"]))
                    notes.append(
                        f"{pred_path.name} does not hash to the {table.provenance_key} that "
                        f"{folder / 'provenance.json'} records: the predictions changed after "
                        "the run, so its models are not counted as reproduced."
                    )
        if run_spec is None:
            if (folder / "spec.yaml").exists():
                try:
                    s, h, ld = _load_spec_file(folder / "spec.yaml")
                    run_spec = (s, h, str(folder / "spec.yaml"), ld)
                except UserError as exc:
                    notes.append(f"{folder / 'spec.yaml'} could not be used: {exc.message}")
            if run_spec is None and (folder / "spec.resolved.json").exists():
                got = _load_resolved(folder / "spec.resolved.json", notes)
                if got is not None:
                    run_spec = (got[0], got[1], str(folder / "spec.resolved.json"), got[2])

    predictions = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    kept = ~predictions["partition"].isin(["validation", "train"])
    if not kept.any():
        raise UserError(
            f"The {table.what} holds only validation rows: there is no test or external-test "
            "partition to report on."
        )
    predictions = predictions[kept].reset_index(drop=True)

    data = RunData(sources=sources, predictions=predictions, notes=notes, missing=missing)
    data.predictions_sha256 = hashes
    data.untrusted_models = untrusted
    data.cohort = pd.concat(cohorts, ignore_index=True) if cohorts else None
    data.splits = pd.concat(splits, ignore_index=True) if splits else None
    data.validation = _merge_validation(validations) if validations else None
    data.provenance = provenance
    if spec is not None:
        s, h, ld = _load_spec_file(Path(spec))
        data.spec, data.spec_sha256, data.spec_file, data.loaded_spec = s, h, str(spec), ld
        data.spec_hashes["--spec"] = h
        if run_spec is not None:
            data.spec_hashes[run_spec[2]] = run_spec[1]
    elif run_spec is not None:
        data.spec, data.spec_sha256, data.spec_file, data.loaded_spec = run_spec
        data.spec_hashes[run_spec[2]] = run_spec[1]
    for p in provenance:
        h = (p.get("spec") or {}).get("sha256")
        if h:
            data.run_spec_sha256 = h
    for name, present in (
        ("cohort.parquet", data.cohort is not None),
        ("splits.tsv", data.splits is not None),
        ("spec", data.spec is not None),
        ("validation.json", data.validation is not None),
        ("provenance.json", bool(provenance)),
    ):
        if not present:
            data.missing[name] = (
                "not in the run directory"
                if name != "spec"
                else ("no --spec given and no spec.yaml / spec.resolved.json in the run directory")
            )
    return data


def _merge_validation(items: list[dict[str, Any]]) -> dict[str, Any]:
    if len(items) == 1:
        return items[0]
    out: dict[str, Any] = {"valid": all(i.get("valid", True) for i in items), "files": []}
    out["findings"] = [f for i in items for f in i.get("findings", [])]
    out["waived"] = [w for i in items for w in i.get("waived", [])]
    for i in items:
        out["files"].extend(f for f in i.get("files", []) if f not in out["files"])
    return out
