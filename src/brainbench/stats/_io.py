"""Reading the predictions table (docs/design.md) and shaping it for the statistics.

The table is long: one row per (model, repeat, fold, seed, image). This module checks it, picks
the task and the positive class, aggregates predictions to the unit of analysis, and builds the
per-model *unit frame* that every estimator consumes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from brainbench.errors import UserError

#: Hierarchy levels, outer to inner (docs/design.md).
LEVELS: tuple[str, ...] = ("dataset", "site", "scanner", "subject", "session", "image")
RUN_COLUMNS: tuple[str, ...] = ("repeat", "fold", "seed")
UNIT_LEVELS = {"image": "image", "session": "session", "subject": "subject"}


def _read_any(path: Path) -> pd.DataFrame:
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix == ".gz" else path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".tsv", ".tab", ".tsv.gz", ".txt"):
            return pd.read_csv(path, sep="\t", keep_default_na=True)
        if suffix in (".csv", ".csv.gz"):
            return pd.read_csv(path, keep_default_na=True)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise UserError(f"Cannot read the predictions table {path}: {exc}") from None
    raise UserError(
        f"Cannot read the predictions table {path}: unknown extension '{path.suffix}'. "
        "Use .parquet, .tsv or .csv."
    )


def read_predictions(path: str | Path) -> pd.DataFrame:
    """Read and check a predictions table (Parquet, TSV or CSV).

    Parameters
    ----------
    path
        The file. Its columns follow docs/design.md, "The predictions table": ``model``,
        ``y_true`` and at least one of ``y_pred``, ``score`` or ``score_<class>`` are required;
        ``repeat``, ``fold``, ``seed`` default to 0 and ``partition`` to ``test``; the hierarchy
        columns (``dataset``, ``site``, ``scanner``, ``subject``, ``session``, ``image``) are
        optional.

    Returns
    -------
    pandas.DataFrame
        The checked table: run columns as integers, hierarchy ids and ``model`` as strings.

    Raises
    ------
    UserError
        When the file cannot be read, a required column is missing, a score is NaN or
        infinite, or a run column is not integer.
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"The predictions table {path} does not exist.")
    df = _read_any(path)
    return check_predictions(df, source=str(path))


def check_predictions(df: pd.DataFrame, *, source: str = "the predictions table") -> pd.DataFrame:
    """Check a predictions DataFrame already in memory (see :func:`read_predictions`)."""
    df = df.copy()
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in ("model", "y_true") if c not in df.columns]
    if missing:
        raise UserError(
            f"{source} lacks the column(s) {', '.join(missing)}. Found: {', '.join(df.columns)}. "
            "See docs/design.md, 'The predictions table'."
        )
    scores = score_columns(df)
    if "y_pred" not in df.columns and not scores:
        raise UserError(
            f"{source} has neither 'y_pred' nor a 'score' / 'score_<class>' column: "
            "nothing to evaluate."
        )
    if len(df) == 0:
        raise UserError(f"{source} has no rows.")
    for col in ["model", "y_true"]:
        if df[col].isna().any():
            row = int(np.flatnonzero(df[col].isna().to_numpy())[0])
            raise UserError(
                f"{source}: column '{col}' is empty in data row {row + 1} (and maybe more)."
            )
    for col in scores:
        values = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise UserError(
                f"{source}: column '{col}' has {int(bad.sum())} NaN, infinite or non-numeric "
                f"value(s), first in data row {row + 1} (value {df[col].iloc[row]!r}). Scores "
                "must be finite numbers: drop or fix those rows."
            )
        df[col] = values
    if "y_pred" in df.columns and df["y_pred"].isna().any():
        row = int(np.flatnonzero(df["y_pred"].isna().to_numpy())[0])
        raise UserError(f"{source}: column 'y_pred' is empty in data row {row + 1}.")
    for col in RUN_COLUMNS:
        if col not in df.columns:
            df[col] = 0
            continue
        values = pd.to_numeric(df[col], errors="coerce")
        if values.isna().any() or not np.all(np.equal(np.mod(values, 1), 0)):
            raise UserError(
                f"{source}: column '{col}' must hold integers (found {df[col].iloc[0]!r})."
            )
        df[col] = values.astype(np.int64)
    if "partition" not in df.columns:
        df["partition"] = "test"
    df["partition"] = df["partition"].fillna("test").astype(str)
    df["model"] = df["model"].astype(str)
    for level in LEVELS:
        if level in df.columns:
            col = df[level]
            df[level] = col.where(col.isna(), col.astype(str))
    df["y_true"] = _normalise_labels(df["y_true"])
    if "y_pred" in df.columns:
        df["y_pred"] = _normalise_labels(df["y_pred"])
    return df


def _normalise_labels(s: pd.Series) -> pd.Series:
    """Numbers that are integers (1.0) become integers, so '1' and 1.0 name the same class."""
    if pd.api.types.is_float_dtype(s) and np.all(np.equal(np.mod(s.to_numpy(), 1), 0)):
        return s.astype(np.int64)
    return s


def score_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c == "score" or c.startswith("score_")]


# --------------------------------------------------------------------------------------------
# Task, classes and the positive class
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Task:
    """What the predictions are about.

    Attributes
    ----------
    type
        ``classification`` or ``regression``.
    classes
        Class names, negative first; the last is the positive class (classification).
    """

    type: str
    classes: tuple[str, ...] = ()

    @property
    def positive(self) -> str | None:
        return self.classes[-1] if self.classes else None


def _natural(label: str) -> tuple:
    """Sort key: numbers by value, then other labels alphabetically."""
    try:
        return (0, float(label), "")
    except ValueError:
        return (1, 0.0, label)


def _label_strings(s: pd.Series) -> pd.Series:
    return s.astype(str)


#: Metrics that treat every class alike, so a multi-class table needs no positive class.
CLASS_SYMMETRIC = frozenset({"balanced_accuracy", "accuracy"})


def infer_task(
    df: pd.DataFrame,
    *,
    task_type: str | None = None,
    classes: list[str] | None = None,
    positive: str | None = None,
    metrics: list[str] | None = None,
) -> Task:
    """Decide the task and the class order from the spec, ``--positive`` or the data.

    Without a spec: numeric targets with more than 10 distinct values, or regression metrics,
    mean regression; otherwise classification, where labels {0, 1} (or {False, True}) take 1 as
    positive; other labels take the class the score columns name (the only ``score_<class>``
    column, or the one equal to ``score``), else ``positive`` is required unless every metric
    asked for is one of :data:`CLASS_SYMMETRIC` (the classes then keep their natural order).
    """
    from brainbench.stats._metrics import METRICS, REGRESSION

    if task_type is None and metrics:
        kinds = {METRICS.get(m).task for m in metrics}
        if len(kinds) > 1:
            raise UserError(
                "The metrics mix classification and regression: " + ", ".join(metrics) + "."
            )
        task_type = kinds.pop()
    y = df["y_true"]
    if task_type is None:
        numeric = pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y)
        task_type = (
            REGRESSION if numeric and y.nunique() > 10 and positive is None else "classification"
        )
    if task_type == REGRESSION:
        if not pd.api.types.is_numeric_dtype(y):
            raise UserError("A regression task needs numeric 'y_true' values.")
        if "y_pred" not in df.columns:
            raise UserError("Regression metrics need a 'y_pred' column of predicted values.")
        return Task(REGRESSION)
    found = sorted(_label_strings(y).unique(), key=_natural)
    if classes is not None:
        classes = [str(c) for c in classes]
        unknown = sorted(set(found) - set(classes))
        if unknown:
            raise UserError(
                f"'y_true' holds label(s) {', '.join(unknown)} outside the task's classes "
                f"({', '.join(classes)})."
            )
        if positive is not None and str(positive) != classes[-1]:
            classes = [c for c in classes if c != str(positive)] + [str(positive)]
        return Task("classification", tuple(classes))
    if positive is not None:
        positive = str(positive)
        if positive not in found:
            from brainbench.registry_base import did_you_mean

            raise UserError(
                f"The positive class '{positive}' is not a label of 'y_true'."
                f"{did_you_mean(positive, found)} Labels found: {', '.join(found)}."
            )
        negatives = [c for c in found if c != positive]
        return Task("classification", (*negatives, positive))
    if set(found) <= {"0", "1"}:
        return Task("classification", ("0", "1"))
    if set(found) <= {"False", "True"}:
        return Task("classification", ("False", "True"))
    pos = _positive_from_scores(df, found)
    if pos is not None:
        return Task("classification", (*[c for c in found if c != pos], pos))
    if metrics and all(m in CLASS_SYMMETRIC for m in metrics):
        # Balanced accuracy and accuracy treat every class alike: no positive class needed.
        return Task("classification", tuple(found))
    raise UserError(
        f"Which class is positive? 'y_true' holds {', '.join(found)}: give --positive CLASS "
        "(or a spec whose task.classes lists the positive class last)."
    )


def _positive_from_scores(df: pd.DataFrame, labels: list[str]) -> str | None:
    """The positive class as the score columns name it (docs/design.md: ``score`` is the score of
    the positive class): the only ``score_<label>`` column, or the one equal to ``score``."""
    named = [c for c in labels if f"score_{c}" in df.columns]
    if len(named) == 1 and "score" not in df.columns:
        return named[0]
    if "score" in df.columns:
        same = [
            c for c in named if np.array_equal(df[f"score_{c}"].to_numpy(), df["score"].to_numpy())
        ]
        if len(same) == 1:
            return same[0]
    return None


# --------------------------------------------------------------------------------------------
# Units of analysis
# --------------------------------------------------------------------------------------------
def unit_key_columns(df: pd.DataFrame, unit: str) -> list[str]:
    """Columns that identify one unit of analysis (outer levels included, so ids nest)."""
    if unit not in UNIT_LEVELS:
        raise UserError(f"Unknown unit of analysis '{unit}': use image, session or subject.")
    depth = LEVELS.index(unit)
    cols = [lvl for lvl in LEVELS[: depth + 1] if lvl in df.columns]
    if unit != "image" and unit not in df.columns:
        raise UserError(
            f"The unit of analysis is '{unit}' but the predictions table has no '{unit}' column."
        )
    return cols


def positive_score(df: pd.DataFrame, task: Task) -> np.ndarray | None:
    """The score of the positive class, from ``score_<positive>`` or ``score``."""
    if task.type != "classification":
        return None
    name = f"score_{task.positive}"
    if name in df.columns:
        return df[name].to_numpy(dtype=float)
    if "score" in df.columns:
        return df["score"].to_numpy(dtype=float)
    if len(task.classes) == 2 and f"score_{task.classes[0]}" in df.columns:
        return 1.0 - df[f"score_{task.classes[0]}"].to_numpy(dtype=float)
    return None


_SAFE = re.compile(r"[^A-Za-z0-9_]")


def unit_frame(df: pd.DataFrame, task: Task, unit: str = "image") -> pd.DataFrame:
    """Aggregate a model's rows to one row per (run, unit of analysis).

    Columns of the result: the run columns, the hierarchy ids present, ``y`` (class code or
    value), ``pred`` (class code / value or NaN), ``score`` (positive-class score or NaN).

    A unit's images are aggregated as follows: scores are averaged; the predicted class is the
    averaged score thresholded at 0.5 when probabilities are available (binary tasks), else the
    majority vote of ``y_pred`` (ties go to the class listed last in the task); regression
    predictions and true values are averaged. ``y_true`` must be constant within a
    classification unit.
    """
    out = pd.DataFrame({c: df[c].to_numpy() for c in RUN_COLUMNS})
    for level in LEVELS:
        if level in df.columns:
            out[level] = df[level].to_numpy()
    if task.type == "classification":
        code = {c: i for i, c in enumerate(task.classes)}
        y = _label_strings(df["y_true"]).map(code)
        out["y"] = y.to_numpy()
        if "y_pred" in df.columns:
            pred = _label_strings(df["y_pred"]).map(code)
            if pred.isna().any():
                bad = sorted(_label_strings(df["y_pred"])[pred.isna()].unique())[:5]
                raise UserError(
                    f"'y_pred' holds label(s) {', '.join(bad)} that are not classes of the task "
                    f"({', '.join(task.classes)})."
                )
            out["pred"] = pred.to_numpy(dtype=float)
        else:
            out["pred"] = np.nan
        score = positive_score(df, task)
        out["score"] = np.nan if score is None else score
        if (
            "y_pred" not in df.columns
            and score is not None
            and len(task.classes) == 2
            and np.all((score >= 0) & (score <= 1))
        ):
            out["pred"] = (score >= 0.5).astype(float)
    else:
        out["y"] = df["y_true"].to_numpy(dtype=float)
        out["pred"] = pd.to_numeric(df["y_pred"], errors="coerce").to_numpy(dtype=float)
        if np.isnan(out["pred"]).any() or not np.isfinite(out["pred"]).all():
            raise UserError("'y_pred' must hold finite numbers for a regression task.")
        out["score"] = np.nan
    if unit == "image":
        return out.reset_index(drop=True)
    keys = list(RUN_COLUMNS) + unit_key_columns(df, unit)
    missing = out[unit].isna()
    if missing.any():
        raise UserError(
            f"{int(missing.sum())} row(s) have no '{unit}' id, but the unit of analysis is "
            f"'{unit}'."
        )
    grouped = out.groupby(keys, sort=True, dropna=False)
    agg = grouped.agg(
        y=("y", "mean"),
        y_min=("y", "min"),
        y_max=("y", "max"),
        score=("score", "mean"),
        pred=("pred", "mean"),
        n_images=("y", "size"),
    ).reset_index()
    if task.type == "classification":
        mixed = agg["y_min"] != agg["y_max"]
        if mixed.any():
            first = agg.loc[mixed].iloc[0]
            raise UserError(
                f"{int(mixed.sum())} {unit}(s) have images with different true labels "
                f"(first: {unit} {first[unit]!r}); a {unit}-level analysis needs one label per "
                f"{unit}. Use --unit image, or fix the labels."
            )
        if (
            agg["score"].notna().all()
            and len(task.classes) == 2
            and (agg["score"].between(0, 1).all())
        ):
            agg["pred"] = (agg["score"] >= 0.5).astype(float)
        elif out["pred"].notna().all():
            votes = out.groupby([*keys, "pred"], sort=True, dropna=False).size().reset_index()
            votes = votes.sort_values([*keys, 0, "pred"]).drop_duplicates(keys, keep="last")
            agg = agg.drop(columns="pred").merge(votes[[*keys, "pred"]], on=keys, how="left")
    agg = agg.drop(columns=["y_min", "y_max"])
    # Levels below the unit are no longer ids of the aggregated row.
    for level in LEVELS[LEVELS.index(unit) + 1 :]:
        if level in agg.columns:
            agg = agg.drop(columns=level)
    return agg


def is_finite(x: float) -> bool:
    return x is not None and math.isfinite(x)
