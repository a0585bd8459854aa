"""Reading the predictions table (docs/design.md) and shaping it for the statistics.

The table is long: one row per (model, repeat, fold, seed, image). This module checks it, picks
the task and the positive class, aggregates predictions to the unit of analysis, and builds the
per-model *unit frame* that every estimator consumes.
"""

from __future__ import annotations

import gzip
import io
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from brainbench.errors import UserError
from brainbench.spec.yaml_loader import check_regular_file

#: Hierarchy levels, outer to inner (docs/design.md).
LEVELS: tuple[str, ...] = ("dataset", "site", "scanner", "subject", "session", "image")
RUN_COLUMNS: tuple[str, ...] = ("repeat", "fold", "seed")
UNIT_LEVELS = {"image": "image", "session": "session", "subject": "subject"}


@dataclass(frozen=True)
class Limits:
    """What the predictions reader accepts: larger input is refused before it is parsed.

    The caps keep every command's time and memory bounded on hostile input (a 10,000-character
    model name once took minutes and gigabytes to report on). They sit well above real
    benchmarks: 20 million rows is a 40,000-subject cohort x 10 models x 50 folds and seeds.
    """

    max_bytes: int = 2 * 1024**3  # on disk, and decompressed for .gz / Parquet
    max_rows: int = 20_000_000
    max_columns: int = 1_000
    max_text: int = 256  # characters of a column name, model name, id, label or partition


LIMITS = Limits()
_TEXT_COLUMNS = ("model", "partition", *LEVELS, "y_true", "y_pred")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: Rounding slack of a probability (float32 softmax outputs reach 1 + 1e-7).
_PROB_SLACK = 1e-6


def _too_big(path: Path, what: str, size: int, kind: str = "") -> UserError:
    return UserError(
        f"The {what} {path} is {size / 1024**2:,.0f} MiB{kind}, over brainbench's limit of "
        f"{LIMITS.max_bytes / 1024**2:,.0f} MiB. Split it (one file per model, say) and "
        "evaluate the parts, or check that this is the file you meant."
    )


def _read_text(path: Path, what: str, gz: bool) -> bytes:
    opener = gzip.open if gz else open
    with opener(path, "rb") as fh:
        data = fh.read(LIMITS.max_bytes + 1)
    if len(data) > LIMITS.max_bytes:
        raise _too_big(path, what, len(data), " once decompressed" if gz else "")
    return data


def _read_parquet(path: Path, what: str) -> pd.DataFrame:
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    # Parquet compresses: its footer states the decoded size before anything is decoded.
    size = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if size > LIMITS.max_bytes:
        raise _too_big(path, what, size, " once decoded")
    _check_shape(path, what, meta.num_rows, meta.num_columns)
    return pd.read_parquet(path)


def _check_shape(path: Path, what: str, rows: int, columns: int) -> None:
    if rows > LIMITS.max_rows:
        raise UserError(
            f"The {what} {path} has more than {LIMITS.max_rows:,} rows, brainbench's limit. "
            "Split it (one file per model, say) and evaluate the parts."
        )
    if columns > LIMITS.max_columns:
        raise UserError(
            f"The {what} {path} has {columns:,} columns, over brainbench's limit of "
            f"{LIMITS.max_columns:,}: a predictions table needs a dozen or so (docs/design.md)."
        )


TABLE_SUFFIXES = (".parquet", ".pq", ".tsv", ".tab", ".tsv.gz", ".txt", ".csv", ".csv.gz")


def table_suffix(path: Path) -> str:
    """``.tsv.gz`` for ``a.tsv.gz``, else the last suffix, lower case."""
    if path.name.lower().endswith(".gz"):
        return "".join(path.suffixes[-2:]).lower()
    return path.suffix.lower()


def read_table(
    path: str | Path, what: str = "predictions table", *, text_columns: tuple[str, ...] = ()
) -> pd.DataFrame:
    """Read a Parquet, TSV or CSV table (``.gz`` allowed for text) within :data:`LIMITS`.

    Size, kind of file and (for Parquet) the decoded size and row count are checked before
    anything is parsed; any parse failure becomes a :class:`UserError` naming the file.
    ``text_columns`` of a text file are read as written (id ``0012`` stays ``0012``).
    """
    path = Path(path)
    suffix = table_suffix(path)
    if suffix not in TABLE_SUFFIXES:
        raise UserError(
            f"Cannot read the {what} {path}: unknown extension '{path.suffix}'. "
            "Use .parquet, .tsv or .csv."
        )
    if not path.exists():
        raise UserError(f"The {what} {path} does not exist.")
    # A FIFO would block, a device never ends, a directory cannot be parsed: stat first.
    check_regular_file(path, limit=LIMITS.max_bytes, what=what)
    try:
        if suffix in (".parquet", ".pq"):
            df = _read_parquet(path, what)
        else:
            data = _read_text(path, what, gz=suffix.endswith(".gz"))
            sep = "," if suffix.startswith(".csv") else "\t"
            df = pd.read_csv(
                io.BytesIO(data),
                sep=sep,
                nrows=LIMITS.max_rows + 1,
                dtype=dict.fromkeys(text_columns, str),
            )
    except UserError:
        raise
    except pd.errors.EmptyDataError:
        raise UserError(f"The {what} {path} is empty: it has no header line.") from None
    except (Exception, MemoryError) as exc:  # any parse failure: the input, not brainbench
        detail = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise UserError(
            f"Cannot read the {what} {path} as {suffix.lstrip('.')}: {detail}. Check that it "
            "is a table of that format (header line first)."
        ) from None
    _check_shape(path, what, len(df), len(df.columns))
    return df


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
        When the file cannot be read or exceeds :data:`LIMITS`, or the table breaks a rule of
        :func:`check_predictions`.
    """
    path = Path(path)
    return check_predictions(read_table(path), source=str(path))


def _first_row(mask: np.ndarray | pd.Series) -> int:
    """1-based data row of the first True."""
    return int(np.flatnonzero(np.asarray(mask))[0]) + 1


def check_predictions(df: pd.DataFrame, *, source: str = "the predictions table") -> pd.DataFrame:
    """Check a predictions DataFrame already in memory (see :func:`read_predictions`).

    Refused, with the column, the first data row and what to do: missing required columns,
    no rows, more rows or columns than :data:`LIMITS`, names and ids longer than
    ``LIMITS.max_text`` or holding control characters, empty ``model`` / ``y_true`` /
    ``y_pred``, NaN, infinite or non-numeric scores, ``score_<class>`` probabilities outside
    [0, 1], labels of ``y_true`` / ``y_pred`` that no ``score_<class>`` column declares (when
    two or more do), non-integer run columns, and the same (model, repeat, fold, seed,
    partition, image) twice.
    """
    if len(df.columns) > LIMITS.max_columns or len(df) > LIMITS.max_rows:
        _check_shape(Path(source), "predictions table", len(df), len(df.columns))
    df = df.copy()
    df.columns = [str(c).strip() for c in df.columns]
    long = [c for c in df.columns if len(c) > LIMITS.max_text or _CONTROL.search(c)]
    if long:
        raise UserError(
            f"{source}: a column name is longer than {LIMITS.max_text} characters or holds a "
            f"control character ({long[0][:40]!r}...). Name the columns as docs/design.md, 'The "
            "predictions table', does."
        )
    dup_cols = sorted({c for c in df.columns if list(df.columns).count(c) > 1})
    if dup_cols:
        raise UserError(f"{source}: column(s) {', '.join(dup_cols)} appear more than once.")
    missing = [c for c in ("model", "y_true") if c not in df.columns]
    if missing:
        raise UserError(
            f"{source} lacks the column(s) {', '.join(missing)}. Found: "
            f"{', '.join(df.columns[:30])}. See docs/design.md, 'The predictions table'."
        )
    scores = score_columns(df)
    if "y_pred" not in df.columns and not scores:
        raise UserError(
            f"{source} has neither 'y_pred' nor a 'score' / 'score_<class>' column: "
            "nothing to evaluate."
        )
    if len(df) == 0:
        raise UserError(
            f"{source} is empty: no model made a prediction, so there is nothing to evaluate. "
            "If `brainbench run` wrote it, its provenance.json lists the failed units."
        )
    for col in ["model", "y_true"]:
        if df[col].isna().any():
            raise UserError(
                f"{source}: column '{col}' is empty in data row {_first_row(df[col].isna())} "
                "(and maybe more)."
            )
    _check_text(df, source)
    for col in scores:
        values = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            row = _first_row(bad)
            raise UserError(
                f"{source}: column '{col}' has {int(bad.sum())} NaN, infinite or non-numeric "
                f"value(s), first in data row {row} (value {_show(df[col].iloc[row - 1])}). "
                "Scores must be finite numbers: drop or fix those rows."
            )
        if col != "score":
            # score_<class> is a probability (docs/design.md; the runner writes softmax outputs).
            out = (values < -_PROB_SLACK) | (values > 1 + _PROB_SLACK)
            if out.any():
                row = _first_row(out)
                raise UserError(
                    f"{source}: column '{col}' holds the probability of class "
                    f"'{col[len('score_') :]}', but data row {row} has {values[row - 1]:.6g}, "
                    f"outside [0, 1] ({int(out.sum())} row(s)). Give probabilities there (a "
                    "softmax of the logits), or put an unbounded score in the 'score' column."
                )
            values = np.clip(values, 0.0, 1.0)
        df[col] = values
    if "y_pred" in df.columns and df["y_pred"].isna().any():
        raise UserError(
            f"{source}: column 'y_pred' is empty in data row {_first_row(df['y_pred'].isna())}."
        )
    for col in RUN_COLUMNS:
        if col not in df.columns:
            df[col] = 0
            continue
        values = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        bad[~bad] = (np.mod(values[~bad], 1) != 0) | (np.abs(values[~bad]) > 2**31)
        if bad.any():
            row = _first_row(bad)
            raise UserError(
                f"{source}: column '{col}' must hold integers (below 2^31); data row {row} has "
                f"{_show(df[col].iloc[row - 1])}."
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
    _check_declared_classes(df, scores, source)
    _check_duplicates(df, source)
    return df


def _show(value: object) -> str:
    """A cell as the user wrote it (``1.5``, not ``np.float64(1.5)``), cut to 60 characters."""
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_text(df: pd.DataFrame, source: str) -> None:
    """Names, ids and labels: at most ``LIMITS.max_text`` characters, no control characters
    (they would break the report's tables and make every later step slow)."""
    for col in _TEXT_COLUMNS:
        if col not in df.columns or pd.api.types.is_numeric_dtype(df[col]):
            continue
        text = df[col].astype(str)
        too_long = (text.str.len() > LIMITS.max_text).to_numpy()
        if too_long.any():
            row = _first_row(too_long)
            raise UserError(
                f"{source}: column '{col}' holds a value of {len(text.iloc[row - 1]):,} "
                f"characters in data row {row}; names, ids and labels are at most "
                f"{LIMITS.max_text} characters. Shorten it (a model name is an identifier)."
            )
        ctrl = text.str.contains(_CONTROL).to_numpy()
        if ctrl.any():
            row = _first_row(ctrl)
            raise UserError(
                f"{source}: column '{col}' holds a control character (tab, newline, escape...) "
                f"in data row {row} ({_show(text.iloc[row - 1])}). Remove it."
            )


def _check_declared_classes(df: pd.DataFrame, scores: list[str], source: str) -> None:
    """Two or more ``score_<class>`` columns declare the classes: every label is one of them."""
    declared = [c[len("score_") :] for c in scores if c != "score"]
    if len(declared) < 2:
        return
    for col in ("y_true", "y_pred"):
        if col not in df.columns:
            continue
        labels = _label_strings(df[col])
        bad = ~labels.isin(declared).to_numpy()
        if bad.any():
            row = _first_row(bad)
            raise UserError(
                f"{source}: column '{col}' has the label {_show(labels.iloc[row - 1])} in data "
                f"row {row}, but the score columns declare the classes "
                f"{', '.join(declared)} only ({int(bad.sum())} row(s)). Map the labels to "
                "those class names (ClinicaDL's indices: `brainbench convert clinicadl "
                f"--classes {','.join(declared)}`), add the class's 'score_<class>' column, "
                "or drop those rows."
            )


def _check_duplicates(df: pd.DataFrame, source: str) -> None:
    """The same prediction twice would count twice in every metric (and pass unnoticed when
    images are averaged into subjects): refused whenever images are identified."""
    if "image" not in df.columns:
        return
    keys = ["model", *RUN_COLUMNS, "partition", *[lvl for lvl in LEVELS if lvl in df.columns]]
    rows = df[df["image"].notna()]
    dup = rows.duplicated(keys, keep=False).to_numpy()
    if not dup.any():
        return
    first = rows[dup].iloc[0]
    same = np.flatnonzero((rows[dup][keys] == first[keys]).all(axis=1).to_numpy())
    where = np.flatnonzero(df["image"].notna().to_numpy())[dup][same[:2]] + 1
    raise UserError(
        f"{source}: data rows {where[0]} and {where[1]} are the same prediction (model "
        f"{_show(first['model'])}, repeat {first['repeat']}, fold {first['fold']}, seed "
        f"{first['seed']}, image {_show(first['image'])}); {int(dup.sum())} rows are "
        "duplicated in all. Each (model, repeat, fold, seed, partition, image) must appear "
        "once: drop the repeated rows."
    )


def _normalise_labels(s: pd.Series) -> pd.Series:
    """Numbers that are integers (1.0) become integers, so '1' and 1.0 name the same class."""
    if not pd.api.types.is_float_dtype(s):
        return s
    v = s.to_numpy()
    if np.isfinite(v).all() and np.all(np.mod(v, 1) == 0) and np.all(np.abs(v) < 2**53):
        return s.astype(np.int64)
    return s


def _few(labels: list[str], n: int = 10) -> str:
    """At most ``n`` labels, for a message (a regression target has thousands)."""
    shown = ", ".join(_show(x) if len(str(x)) > 60 else str(x) for x in labels[:n])
    return shown + (f", ... ({len(labels)} in all)" if len(labels) > n else "")


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
                f"'y_true' holds label(s) {_few(unknown)} outside the task's classes "
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
                f"{did_you_mean(positive, found)} Labels found: {_few(found)}."
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
        f"Which class is positive? 'y_true' holds {_few(found)}: give --positive CLASS "
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
