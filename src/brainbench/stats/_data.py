"""Shaping one model's unit frame into runs, units and a cluster design."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from brainbench.errors import UserError
from brainbench.spec.models import clusters_out_of_order
from brainbench.stats._io import LEVELS, RUN_COLUMNS, Task, unit_frame
from brainbench.stats._metrics import Columns, Metric
from brainbench.stats._resample import ClusterDesign

EXCLUDED_PARTITIONS = ("validation", "train")


def iter_groups(
    df: pd.DataFrame, groupby: Sequence[str] | None, partitions: Sequence[str] | None
) -> Iterator[tuple[str, dict[str, str], pd.DataFrame]]:
    """Yield ``(partition, group, rows)`` for each partition and breakdown group."""
    groupby = [g for g in (groupby or []) if g != "partition"]
    for g in groupby:
        if g not in df.columns:
            raise UserError(
                f"Cannot break results down by '{g}': the predictions table has no such column. "
                f"Columns: {', '.join(df.columns)}."
            )
    if partitions is None:
        parts = [p for p in pd.unique(df["partition"]) if p not in EXCLUDED_PARTITIONS]
        if not parts:
            raise UserError(
                "The predictions table has only validation rows: nothing to evaluate (rows of "
                "partition 'test' or an external-test cohort are needed)."
            )
    else:
        parts = list(partitions)
        missing = sorted(set(parts) - set(df["partition"]))
        if missing:
            raise UserError(f"No rows of partition(s) {', '.join(missing)}.")
    for part in parts:
        rows = df[df["partition"] == part]
        if not groupby:
            yield str(part), {}, rows
            continue
        for key, sub in rows.groupby(groupby, sort=True, dropna=False):
            key = key if isinstance(key, tuple) else (key,)
            yield str(part), {g: str(k) for g, k in zip(groupby, key, strict=True)}, sub


def unit_id_columns(uf: pd.DataFrame, unit: str) -> list[str]:
    depth = LEVELS.index(unit)
    return [lvl for lvl in LEVELS[: depth + 1] if lvl in uf.columns]


def _text(col: pd.Series):
    """A column as an Arrow string array, missing values as empty strings (the text ``str``
    gives: integers are cast by Arrow, anything else goes through ``str``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if col.dtype.kind in "iu":
        arr = pc.cast(pa.array(col.to_numpy()), pa.string())
    elif isinstance(col.dtype, pd.StringDtype):
        arr = pa.array(col.array, type=pa.string())
    else:
        arr = pa.array(col.astype(object).where(col.notna(), "").astype(str), type=pa.string())
    return pc.fill_null(arr, "")


def _join(frame: pd.DataFrame, cols: list[str]) -> pd.Series:
    """Vectorised ``"|".join`` of id columns (missing ids become empty strings), joined by
    Arrow in one pass instead of one Python concatenation per column and row."""
    import pyarrow.compute as pc

    joined = pc.binary_join_element_wise(*[_text(frame[c]) for c in cols], "|")
    return pd.Series(joined.to_numpy(zero_copy_only=False), index=frame.index, dtype=object)


def unit_ids(uf: pd.DataFrame, unit: str) -> np.ndarray:
    """A string id per row identifying the unit of analysis across runs.

    Rows without any hierarchy id are their own unit (the id includes the run and row position);
    images without an ``image`` id are numbered in row order within their subject and run.
    """
    cols = unit_id_columns(uf, unit)
    run = _join(uf, list(RUN_COLUMNS))
    pos = uf.groupby(list(RUN_COLUMNS), sort=False).cumcount().astype(str)
    if not cols:
        return ("row:" + run + ":" + pos).to_numpy()
    ids = _join(uf, cols)
    if unit not in uf.columns:
        # Images without ids: the k-th row of a subject (in a run) is its k-th image.
        k = uf.assign(_id=ids).groupby([*RUN_COLUMNS, "_id"], sort=False).cumcount()
        ids = ids + "|#" + k.astype(str)
    # A row with no hierarchy id at all is its own unit.
    none_row = uf[cols].isna().all(axis=1)
    if none_row.any():
        ids = ids.where(~none_row, "row:" + run + ":" + pos)
    return ids.to_numpy()


def run_columns(uf: pd.DataFrame, units: np.ndarray) -> list[str]:
    """Pool folds into one run per (repeat, seed) when they partition the units, else not."""
    frame = pd.DataFrame(
        {"repeat": uf["repeat"], "seed": uf["seed"], "fold": uf["fold"], "u": units}
    )
    per = frame.groupby(["repeat", "seed", "u"], sort=False)["fold"].nunique()
    if (per <= 1).all():
        return ["repeat", "seed"]
    return list(RUN_COLUMNS)


@dataclass
class ModelData:
    """One model's predictions at the unit of analysis, ready for the estimators."""

    model: str
    task: Task
    unit: str
    frame: pd.DataFrame  # unit frame, with 'unit_id' and 'run' columns
    run_cols: list[str]

    @property
    def runs(self) -> list:
        return list(pd.unique(self.frame["run"]))

    @property
    def n_units(self) -> int:
        return int(self.frame["unit_id"].nunique())

    def columns(self, rows: np.ndarray | None = None) -> Columns:
        f = self.frame if rows is None else self.frame.iloc[rows]
        if self.task.type == "classification":
            return Columns(
                y=f["y"].to_numpy(dtype=np.int64),
                pred=None if f["pred"].isna().any() else f["pred"].to_numpy(dtype=np.int64),
                score=None if f["score"].isna().any() else f["score"].to_numpy(dtype=float),
                n_classes=len(self.task.classes),
                positive=len(self.task.classes) - 1,
            )
        return Columns(
            y=f["y"].to_numpy(dtype=float), pred=f["pred"].to_numpy(dtype=float), n_classes=0
        )


def model_data(rows: pd.DataFrame, model: str, task: Task, unit: str) -> ModelData:
    uf = unit_frame(rows, task, unit)
    uf["unit_id"] = unit_ids(uf, unit)
    run_cols = run_columns(uf, uf["unit_id"].to_numpy())
    uf["run"] = _join(uf, run_cols).str.replace("|", "/", regex=False)
    dup = uf.duplicated(["run", "unit_id"])
    if dup.any():
        first = uf.loc[dup].iloc[0]
        raise UserError(
            f"Model '{model}': unit {first['unit_id']!r} appears more than once in run "
            f"{first['run']} (repeat/fold/seed). Give the '{unit}' ids, or choose the unit of "
            "analysis that identifies a row."
        )
    return ModelData(model, task, unit, uf.reset_index(drop=True), run_cols)


def check_metric(md: ModelData, metric: Metric) -> None:
    """UserError when the predictions cannot give ``metric``."""
    if metric.task != md.task.type:
        raise UserError(
            f"The metric '{metric.name}' is a {metric.task} metric, but the task is {md.task.type}."
        )
    f = md.frame
    if metric.needs == "pred" and f["pred"].isna().any():
        raise UserError(
            f"Model '{md.model}': '{metric.name}' needs predicted labels (a 'y_pred' column, "
            "or probabilities in 'score' to threshold at 0.5)."
        )
    if metric.needs in ("score", "probability") and f["score"].isna().any():
        raise UserError(
            f"Model '{md.model}': '{metric.name}' needs a score of the positive class "
            f"('score' or 'score_{md.task.positive}')."
        )
    if metric.needs == "probability" and not f["score"].between(0, 1).all():
        raise UserError(
            f"Model '{md.model}': '{metric.name}' needs probabilities, but some scores lie "
            f"outside [0, 1] (range {f['score'].min():.4g} to {f['score'].max():.4g})."
        )


def check_outer_first(clusters: Sequence[str]) -> None:
    """Clusters are listed outer first: a finer level before a coarser one is refused (the
    coarser would be nested in it and the finer resampled as the outer level)."""
    order = clusters_out_of_order(tuple(clusters))
    if order:
        raise UserError(
            f"Clusters are listed outer first, but {', '.join(clusters)} puts a finer level "
            f"before a coarser one (the coarser would be nested in it): give "
            f"{','.join(order)} (--clusters {','.join(order)}, or protocol.confidence.clusters: "
            f"[{', '.join(order)}])."
        )


def design_for(
    md: ModelData,
    clusters: Sequence[str],
    *,
    stratify: bool,
    frame: pd.DataFrame | None = None,
    fixed: Sequence[str] = (),
) -> tuple[ClusterDesign, list[str]]:
    """The cluster design over the rows of ``frame`` (default: the model's unit frame).

    ``clusters`` lists hierarchy levels outer first; empty means each unit is its own cluster.
    Rows without an id at a level are their own cluster at that level.
    ``fixed`` lists levels held fixed: the innermost level is resampled within each of their
    clusters (a stratified bootstrap, Davison & Hinkley 1997, section 3.2), so the interval
    is conditional on those clusters.
    Returns the design and the names of its levels.
    """
    f = md.frame if frame is None else frame
    unit = md.unit
    check_outer_first(clusters)
    names = []
    levels = []
    unit_codes = pd.factorize(f["unit_id"])[0]
    fixed_key = np.zeros(len(f), dtype=np.int64)
    for c in fixed:
        codes, uniques = pd.factorize(f[c])
        codes = np.where(codes < 0, len(uniques), codes)  # rows without an id: one stratum
        fixed_key = pd.factorize(fixed_key * (len(uniques) + 1) + codes)[0].astype(np.int64)
    for c in clusters:
        if c not in LEVELS:
            raise UserError(f"Unknown cluster level '{c}'. Levels: {', '.join(LEVELS)}.")
        if LEVELS.index(c) > LEVELS.index(unit):
            raise UserError(
                f"The cluster level '{c}' is finer than the unit of analysis '{unit}': "
                "drop it from the clusters or choose a finer unit."
            )
        if c not in f.columns:
            raise UserError(
                f"Clusters include '{c}', but the predictions table has no '{c}' column."
            )
        codes, uniques = pd.factorize(f[c])  # NaN -> -1
        # A row without an id at this level is its own cluster (one per unit of analysis).
        codes = np.where(codes < 0, len(uniques) + unit_codes, codes)
        levels.append(codes)
        names.append(c)
    if not levels:
        # Without declared clusters each unit of analysis is its own cluster.
        levels.append(unit_codes)
        names.append(unit)
    atom = levels[0].astype(np.int64)
    for lv in levels[1:]:
        atom = pd.factorize(atom * (int(lv.max()) + 1) + lv)[0]

    def one_per_atom(values: np.ndarray) -> bool:
        n = int(atom.max()) + 1
        lo = np.full(n, np.inf)
        hi = np.full(n, -np.inf)
        np.minimum.at(lo, atom, values)
        np.maximum.at(hi, atom, values)
        return bool(np.all(lo == hi))

    strata = None
    if stratify and md.task.type == "classification" and one_per_atom(f["y"].to_numpy()):
        strata = f["y"].to_numpy().astype(np.int64)
    if fixed:
        if not one_per_atom(fixed_key):
            inner = names[-1]
            raise UserError(
                f"Some {inner}s belong to several {' x '.join(fixed)} clusters, so they cannot "
                f"be resampled within each: give each {inner} one {fixed[0]} in the table."
            )
        strata = fixed_key if strata is None else pd.factorize(fixed_key * 2**20 + strata)[0]
    return ClusterDesign(levels, strata=strata, names=names), names
