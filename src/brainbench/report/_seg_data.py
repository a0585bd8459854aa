"""The case-metrics table of a segmentation run: recognising it and checking it.

The runner writes ``case_metrics.parquet`` in the run folder of a ``task.type: segmentation``
benchmark: one row per (model, repeat, fold, seed, partition, image, label, metric), columns as
docs/design.md, "The case-metrics table", lists them. The report refuses a table it cannot read
correctly with one paragraph that names the file, the column, the first bad row and what to do.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from brainbench.errors import UserError

CASE_METRICS_FILE = "case_metrics.parquet"
#: Columns without which no number of the sheet can be computed.
REQUIRED = ("model", "subject", "image", "label", "metric", "value", "status")
#: Hierarchy ids: read as text; a missing one is filled (one site, one session per subject).
HIERARCHY = ("dataset", "site", "scanner", "subject", "session", "image")
RUN_COLUMNS = ("repeat", "fold", "seed")
#: Statuses of a case (Metrics Reloaded, Maier-Hein et al. 2024, Nat. Methods 21:195-212,
#: doi:10.1038/s41592-023-02151-z: empty reference or prediction are reported, not dropped).
STATUSES = ("ok", "empty-reference", "empty-prediction", "both-empty")
WHERE = "docs/design.md, 'The case-metrics table'"


def is_segmentation_run(source: Path) -> bool:
    """True when ``source`` is the run folder of a segmentation benchmark: it holds a
    case-metrics table, or its resolved spec declares ``task.type: segmentation``."""
    source = Path(source)
    if source.is_file():
        return source.name.startswith("case_metrics")
    if (source / CASE_METRICS_FILE).exists():
        return True
    resolved = source / "spec.resolved.json"
    if not resolved.is_file():
        return False
    try:
        task = json.loads(resolved.read_text()).get("task") or {}
    except (OSError, ValueError, AttributeError):
        return False
    return isinstance(task, dict) and task.get("type") == "segmentation"


def case_metrics_file(source: Path) -> Path:
    """The case-metrics table of a segmentation run folder (or the file itself)."""
    source = Path(source)
    if source.is_file():
        return source
    path = source / CASE_METRICS_FILE
    if not path.exists():
        raise UserError(
            f"The run directory {source} is a segmentation run (its spec.resolved.json says "
            f"task.type: segmentation) but has no {CASE_METRICS_FILE}: nothing to report. The "
            "runner writes it once every work unit has finished; rerun `brainbench run` (it "
            "resumes) and report again."
        )
    return path


def _bad(source: str, column: str, rows: pd.Series | np.ndarray, what: str, todo: str) -> None:
    first = int(np.flatnonzero(np.asarray(rows))[0]) + 1
    n = int(np.asarray(rows).sum())
    raise UserError(
        f"{source}: column '{column}', data row {first}"
        + (f" (and {n - 1} more)" if n > 1 else "")
        + f": {what}. {todo} (see {WHERE})."
    )


def read_case_metrics(path: str | Path) -> pd.DataFrame:
    """Read and check a case-metrics table (Parquet, TSV or CSV).

    Refused with one paragraph (file, column, first data row, what to do): missing required
    columns, no rows, an empty id, an unknown status, a value that is not a number, an
    infinite value, a NaN value on a row whose status is ``ok``, and the same (model, repeat,
    fold, seed, partition, image, label, metric) twice. Missing optional columns are filled:
    run columns with 0, ``partition`` with ``test``, ``site`` and ``session`` with one
    placeholder id each (the sheet says the breakdown is then uninformative).
    """
    from brainbench.stats import read_table

    path = Path(path)
    source = str(path)
    df = read_table(path, "case-metrics table", text_columns=HIERARCHY).copy()
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise UserError(
            f"{source} lacks the column(s) {', '.join(missing)} (found: "
            f"{', '.join(map(str, df.columns[:12])) or 'none'}). It is not a case-metrics "
            f"table: `brainbench run` writes one for a segmentation spec (see {WHERE})."
        )
    if df.empty:
        raise UserError(
            f"{source} has no rows: no case was scored. Check that the run's work units "
            "finished (provenance.json) and that the test partition is not empty."
        )
    for col in ("model", "subject", "image", "label", "metric", "status"):
        text = df[col].astype("string").str.strip()
        empty = text.isna() | (text == "")
        if empty.any():
            _bad(source, col, empty, "empty", "Every row needs its model, ids, label and metric")
        df[col] = text.astype(str)
    for col in HIERARCHY:
        if col in df.columns:
            df[col] = df[col].astype("string").fillna("n/a").astype(str)
    from brainbench.segmentation import SEGMENTATION_METRICS

    for col, allowed, what in (
        ("status", STATUSES, "status"),
        ("metric", SEGMENTATION_METRICS, "segmentation metric"),
    ):
        unknown = ~df[col].isin(allowed)
        if unknown.any():
            bad = df.loc[unknown, col].iloc[0]
            _bad(
                source, col, unknown, f"unknown {what} {bad!r}", f"Use one of {', '.join(allowed)}"
            )
    values = pd.to_numeric(df["value"], errors="coerce")
    not_number = values.isna() & df["value"].notna()
    if not_number.any():
        _bad(source, "value", not_number, "not a number", "Values are floats (NaN if undefined)")
    if np.isinf(values).any():
        _bad(source, "value", np.isinf(values), "infinite", "Write NaN and a status instead")
    nan_ok = values.isna() & (df["status"] == "ok")
    if nan_ok.any():
        _bad(
            source,
            "value",
            nan_ok,
            "NaN on a row whose status is 'ok'",
            "A metric undefined on a case says why in 'status' (empty-reference, "
            "empty-prediction, both-empty)",
        )
    df["value"] = values.astype(float)
    for col in RUN_COLUMNS:
        if col not in df.columns:
            df[col] = 0
        run = pd.to_numeric(df[col], errors="coerce")
        if run.isna().any() or (run != run.round()).any():
            _bad(source, col, run.isna() | (run != run.round()), "not an integer", "Fix the run")
        df[col] = run.astype(int)
    if "partition" not in df.columns:
        df["partition"] = "test"
    df["partition"] = df["partition"].astype(str)
    for col in ("site", "session"):
        if col not in df.columns:
            df[col] = "n/a"
    for col in ("reference_voxels", "predicted_voxels"):
        if col in df.columns:
            df[col] = pd.to_numeric(df[col], errors="coerce")
    if "tolerance_mm" in df.columns:
        df["tolerance_mm"] = pd.to_numeric(df["tolerance_mm"], errors="coerce")
    key = ["model", *RUN_COLUMNS, "partition", "image", "label", "metric"]
    key += ["tolerance_mm"] if "tolerance_mm" in df.columns else []
    dup = df.duplicated(key, keep="first")
    if dup.any():
        _bad(
            source,
            "image",
            dup,
            "the same (model, repeat, fold, seed, partition, image, label, metric) appears twice",
            "Each case is scored once per metric",
        )
    return df


__all__ = [
    "CASE_METRICS_FILE",
    "STATUSES",
    "case_metrics_file",
    "is_segmentation_run",
    "read_case_metrics",
]
