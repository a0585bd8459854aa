"""Converting other tools' predictions into the predictions table (docs/design.md).

ClinicaDL writes one TSV per split, selection metric and data group, in one of two layouts:

* ClinicaDL 1.x (MAPS):
  ``<MAPS>/split-<N>/best-<metric>/<group>/<group>_<level>_level_prediction.tsv``
* ClinicaDL 0.x (AD-DL, before MAPS):
  ``<out>/fold-<N>/cnn_classification/best_<metric>/<group>_<level>_level_prediction.tsv``

with columns ``participant_id``, ``session_id``, ``<mode>_id`` (``image_id`` is 0; the
image-level file of a slice/patch/roi model keeps a ``<mode>_id`` column of zeros: its rows are
images), ``true_label``, ``predicted_label`` and, for classification, ``proba0``, ``proba1``...
(softmax outputs; ``ClassificationManager.columns`` / ``generate_test_row``). 0.x image-level
files have no ``proba`` columns. ``clinicadl predict --no_labels`` writes ``true_label`` -1
(``CapsDataset._get_meta_data``).

**Label codes.** ``true_label`` and ``predicted_label`` are class indices. ClinicaDL 1.x numbers
the classes of the training TSV's label column in sorted order
(``ClassificationManager.generate_label_code``: ``sorted(set(labels))``), so AD=0, CN=1 and
pMCI=0, sMCI=1; ClinicaDL 0.x used a fixed code (``MRIDataset.diagnosis_code``): CN=0, AD=1,
sMCI=0, pMCI=1, MCI=1. ``classes`` names the diagnoses in any order; the code of the file's
layout turns indices into names (a file outside both layouts follows 1.x). ``positive`` names the
positive class: the binary ``score`` column is its probability. Without ``classes`` the labels
stay the indices ("0", "1", ...) and ``score`` is the probability of index 1 (ClinicaDL's own
metrics take 1 as positive: under 1.x, CN of AD-vs-CN; name the classes).

=================================  =========================================================
ClinicaDL                          brainbench predictions table
=================================  =========================================================
``participant_id``, ``session_id`` ``subject``, ``session`` (text, as written)
``<level>_id`` (slice, patch, roi  part of ``image``: ``<subject>_<session>_<level>-<id>``;
level files)                       ``<subject>_<session>`` for image-level files
``true_label``                     ``y_true``: class name; -1 (``--no_labels``): empty, or
                                   filled from ``labels_from`` (a get-labels / split TSV)
``predicted_label``                ``y_pred``
``proba<i>``                       ``score_<class i>``; binary with ``positive``: ``score``
``split-<N>`` / ``fold-<N>``       ``fold`` = N (``repeat`` 0; ``seed`` from ``--seed``)
``<group>``                        ``partition``: ``test`` -> test, ``validation`` ->
                                   validation, any other group (e.g. an external cohort) ->
                                   that name, unless ``--partition`` is given
MAPS / output folder name          ``model`` (unless ``--model``)
=================================  =========================================================

Site, scanner and dataset are not in ClinicaDL's TSVs: ``hierarchy`` (a TSV with
``participant_id``, optionally ``session_id``, and ``site`` / ``scanner`` / ``dataset``
columns, e.g. the cohort's participants.tsv) attaches them, as text (site ``002`` stays
``002``). Two rows for one (model, fold, seed, partition, image) are refused: they come from
two selection metrics (``best-loss`` and ``best-BA``) or the same file given twice.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from brainbench.errors import UserError

REQUIRED = ("participant_id", "session_id", "true_label", "predicted_label")
LEVELS = ("slice", "patch", "roi")
#: ClinicaDL 0.x's fixed label code (AD-DL ``MRIDataset.diagnosis_code``; 'unlabeled' is -1).
LEGACY_CODE = {"CN": 0, "AD": 1, "sMCI": 0, "pMCI": 1, "MCI": 1}
UNLABELLED = -1
_SPLIT = re.compile(r"^split-(\d+)$")
_FOLD = re.compile(r"^fold-(\d+)$")
_PROBA = re.compile(r"^proba(\d+)$")
_FILE = re.compile(r"^(?P<group>.+)_(?P<level>image|slice|patch|roi)_level_prediction\.tsv$")
_MISSING = ["", "n/a", "N/A", "NaN", "nan", "NA"]


@dataclass(frozen=True)
class Origin:
    """What a prediction file's path says: layout ('maps', 'legacy' or ''), fold, model,
    data group and level."""

    layout: str
    fold: int | None
    model: str
    group: str
    level: str


def file_origin(path: Path) -> Origin:
    """Layout, fold and model from the folders; group and level from the file name."""
    parts = path.resolve().parts
    layout, fold, model = "", None, path.stem.replace("_prediction", "")
    for i in range(len(parts) - 1, 0, -1):
        split = _SPLIT.match(parts[i])
        legacy = _FOLD.match(parts[i])
        if split:
            layout, fold, model = "maps", int(split.group(1)), parts[i - 1]
            break
        if legacy and i + 1 < len(parts) and parts[i + 1] == "cnn_classification":
            layout, fold, model = "legacy", int(legacy.group(1)), parts[i - 1]
            break
    m = _FILE.match(path.name)
    if m:
        group, level = m.group("group"), m.group("level")
    else:
        group = path.name.split("_")[0] if "_" in path.name else path.parent.name
        level = ""
    return Origin(layout, fold, model, group, level)


def class_order(classes: Sequence[str], layout: str, n: int | None, path: Path) -> list[str]:
    """Class names by ClinicaDL label code (index 0 first) for the file's layout."""
    names = [str(c) for c in dict.fromkeys(classes)]
    if layout == "legacy":
        unknown = [c for c in names if c not in LEGACY_CODE]
        codes = sorted(LEGACY_CODE[c] for c in names if c in LEGACY_CODE)
        if unknown or len(set(codes)) != len(codes):
            raise UserError(
                f"{path} is in ClinicaDL 0.x's layout (fold-N/cnn_classification), whose label "
                "code is fixed (CN=0, AD=1, sMCI=0, pMCI=1, MCI=1): the classes "
                f"{', '.join(names)} do not map to distinct codes there. Give two classes "
                "of that code (e.g. --classes CN,AD or sMCI,pMCI)."
            )
        ordered = sorted(names, key=lambda c: LEGACY_CODE[c])
    else:
        ordered = sorted(names)  # ClinicaDL 1.x: sorted(set(labels)) -> 0, 1, ...
    if n is not None and len(ordered) != n:
        raise UserError(
            f"--classes names {len(ordered)} class(es) ({', '.join(ordered)}) but {path} has "
            f"{n} probability column(s) (proba0..proba{n - 1})."
        )
    return ordered


def _codes(raw: pd.DataFrame, col: str, n: int, path: Path, *, allow_unlabelled: bool) -> Any:
    codes = pd.to_numeric(raw[col], errors="coerce")
    ok = codes.isin(range(n)) | (allow_unlabelled & (codes == UNLABELLED))
    if not ok.all():
        row = int(np.flatnonzero(~ok.to_numpy())[0])
        raise UserError(
            f"{path}, data row {row + 1}: {col} {raw[col].iloc[row]!r} is not a class index "
            f"0..{n - 1}" + (" (or -1, unlabelled)." if allow_unlabelled else ".")
        )
    return codes.astype(int).to_numpy()


def _read_one(
    path: Path,
    *,
    model: str | None,
    classes: Sequence[str] | None,
    positive: str | None,
    partition: str | None,
    fold: int | None,
    seed: int,
) -> pd.DataFrame:
    if not path.exists():
        raise UserError(f"The ClinicaDL prediction file {path} does not exist.")
    try:
        raw = pd.read_csv(
            path,
            sep="\t",
            dtype={"participant_id": str, "session_id": str},
            keep_default_na=False,
            na_values=_MISSING,
        )
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise UserError(f"Cannot read {path} as a tab-separated file: {exc}") from None
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise UserError(
            f"{path} lacks the ClinicaDL column(s) {', '.join(missing)}. Found: "
            f"{', '.join(map(str, raw.columns))}. Expected a <group>_<level>_level_prediction.tsv "
            "written by ClinicaDL."
        )
    if raw.empty:
        raise UserError(f"{path} has no prediction rows.")
    for col in ("participant_id", "session_id"):
        empty = raw[col].isna()
        if empty.any():
            row = int(np.flatnonzero(empty.to_numpy())[0])
            raise UserError(f"{path}, data row {row + 1}: the {col} cell is empty.")
    origin = file_origin(path)
    probas = sorted(
        (c for c in raw.columns if _PROBA.match(str(c))),
        key=lambda c: int(_PROBA.match(c).group(1)),
    )
    out = pd.DataFrame(
        {
            "model": model or origin.model,
            "repeat": 0,
            "fold": fold if fold is not None else (origin.fold or 0),
            "seed": seed,
            "partition": partition
            or {"test": "test", "validation": "validation", "train": "train"}.get(
                origin.group, origin.group
            ),
            "subject": raw["participant_id"].astype(str),
            "session": raw["session_id"].astype(str),
        }
    )
    level = origin.level or next((lv for lv in LEVELS if f"{lv}_id" in raw.columns), "image")
    image = out["subject"] + "_" + out["session"]
    if level != "image":
        if f"{level}_id" not in raw.columns:
            raise UserError(f"{path} is a {level}-level file without a {level}_id column.")
        image = image + f"_{level}-" + raw[f"{level}_id"].astype(str)
    out["image"] = image
    out["_file"] = str(path)
    out["_row"] = np.arange(1, len(raw) + 1)
    classification = bool(probas) or bool(classes) or origin.layout == "legacy"
    if classification:
        n = len(probas) if probas else (len(set(classes)) if classes else 2)
        labels = (
            class_order(classes, origin.layout, n, path) if classes else [str(i) for i in range(n)]
        )
        if positive is not None and positive not in labels:
            raise UserError(
                f"--positive {positive!r} is not one of the classes of {path}: "
                f"{', '.join(labels)}" + ("" if classes else " (name them with --classes)") + "."
            )
        truth = _codes(raw, "true_label", n, path, allow_unlabelled=True)
        pred = _codes(raw, "predicted_label", n, path, allow_unlabelled=False)
        out["y_true"] = pd.Series(
            [labels[c] if c != UNLABELLED else pd.NA for c in truth], dtype="string"
        )
        out["y_pred"] = [labels[c] for c in pred]
        for i, col in enumerate(probas):
            out[f"score_{labels[i]}"] = pd.to_numeric(raw[col], errors="coerce").astype(float)
        if probas and n == 2:
            if positive is not None:
                out["score"] = out[f"score_{positive}"]
            elif not classes:
                out["score"] = out["score_1"]  # ClinicaDL's metrics: index 1 is positive
    else:
        truth = pd.to_numeric(raw["true_label"], errors="coerce")
        out["y_pred"] = pd.to_numeric(raw["predicted_label"], errors="coerce")
        if truth.isna().any() or out["y_pred"].isna().any():
            raise UserError(f"{path}: without proba columns, labels must be numbers (regression).")
        # --no_labels writes -1 for every row: no truth, not a value of -1
        out["y_true"] = np.nan if (truth == UNLABELLED).all() else truth
    return out


def convert_clinicadl(
    tsvs: Sequence[str | Path] | str | Path,
    out: str | Path,
    *,
    model: str | None = None,
    classes: Sequence[str] | None = None,
    positive: str | None = None,
    partition: str | None = None,
    fold: int | None = None,
    seed: int = 0,
    hierarchy: str | Path | None = None,
    labels_from: str | Path | None = None,
    label_column: str = "diagnosis",
) -> tuple[Path, int, int]:
    """Convert ClinicaDL prediction TSVs into one predictions table (see the module doc).

    Returns the written path, the number of rows and the number of rows without a true label
    (``--no_labels`` predictions not filled from ``labels_from``).
    """
    if isinstance(tsvs, (str, Path)):
        tsvs = [tsvs]
    frames = [
        _read_one(
            Path(p),
            model=model,
            classes=classes,
            positive=positive,
            partition=partition,
            fold=fold,
            seed=seed,
        )
        for p in tsvs
    ]
    df = pd.concat(frames, ignore_index=True)
    key = ["model", "repeat", "fold", "seed", "partition", "image"]
    dup = df.duplicated(key, keep=False)
    if dup.any():
        rows = df.loc[dup].sort_values([*key, "_file", "_row"])
        a, b = rows.iloc[0], rows.iloc[1]
        raise UserError(
            f"Duplicate prediction: image {a['image']} of model {a['model']}, fold {a['fold']}, "
            f"partition {a['partition']} is in {a['_file']} (data row {a['_row']}) and in "
            f"{b['_file']} (data row {b['_row']}); {int(dup.sum())} rows are duplicates. Give "
            "one selection metric's files (best-loss or best-<metric>), each file once, or "
            "name their models apart (--model, one conversion each)."
        )
    df = df.drop(columns=["_file", "_row"])
    if labels_from is not None:
        df = _fill_labels(df, Path(labels_from), label_column)
    if hierarchy is not None:
        df = _attach_hierarchy(df, Path(hierarchy))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = out.suffix.lower()
    if suffix == ".parquet":
        df.to_parquet(out, index=False)
    elif suffix in (".tsv", ".csv"):
        df.to_csv(out, sep="\t" if suffix == ".tsv" else ",", index=False)
    else:
        raise UserError(f"Cannot write {out}: use a .parquet, .tsv or .csv file name.")
    return out, len(df), int(df["y_true"].isna().sum())


def _read_table(path: Path, what: str) -> pd.DataFrame:
    if not path.exists():
        raise UserError(f"The {what} {path} does not exist.")
    try:
        # every cell as text: site 002 stays 002; only empty / n/a cells are missing
        return pd.read_csv(
            path,
            sep="\t" if path.suffix != ".csv" else ",",
            dtype=str,
            keep_default_na=False,
            na_values=_MISSING,
        )
    except (OSError, ValueError) as exc:
        raise UserError(f"Cannot read the {what} {path}: {exc}") from None


def _keyed(h: pd.DataFrame, path: Path, cols: list[str], what: str) -> tuple[pd.DataFrame, list]:
    """``h`` reduced to its keys and ``cols``: empty cells and conflicting rows refused."""
    if "participant_id" not in h.columns:
        raise UserError(f"The {what} {path} needs a 'participant_id' column.")
    keys = ["participant_id"] + (["session_id"] if "session_id" in h.columns else [])
    for col in cols:
        empty = h[col].isna()
        if empty.any():
            row = int(np.flatnonzero(empty.to_numpy())[0])
            raise UserError(
                f"{path}, data row {row + 1} (participant {h['participant_id'].iloc[row]}): "
                f"the '{col}' cell is empty ({int(empty.sum())} such row(s)). Fill it, or "
                f"drop the rows or the column."
            )
    h = h[keys + cols].drop_duplicates()
    clash = h.duplicated(keys, keep=False)
    if clash.any():
        first = h.loc[clash].iloc[0]
        raise UserError(
            f"The {what} {path} gives participant {first['participant_id']}"
            + (f" session {first['session_id']}" if "session_id" in keys else "")
            + f" two different values of {', '.join(cols)}"
            + ("" if "session_id" in keys else ": add a session_id column")
            + "."
        )
    h = h.rename(columns={"participant_id": "subject", "session_id": "session"})
    return h, ["subject"] + (["session"] if "session_id" in keys else [])


def _fill_labels(df: pd.DataFrame, path: Path, column: str) -> pd.DataFrame:
    """True labels of unlabelled rows (``--no_labels``) from a get-labels / split TSV."""
    h = _read_table(path, "label table")
    if column not in h.columns:
        raise UserError(
            f"The label table {path} has no '{column}' column (found: "
            f"{', '.join(h.columns)}); name it with --label-column."
        )
    h, on = _keyed(h, path, [column], "label table")
    merged = df.merge(h, on=on, how="left")
    empty = merged["y_true"].isna()
    if not pd.api.types.is_string_dtype(df["y_true"]) and df["y_true"].dtype != object:
        merged.loc[empty, "y_true"] = pd.to_numeric(merged.loc[empty, column], errors="coerce")
    else:
        names = [c[len("score_") :] for c in df.columns if c.startswith("score_")]
        known = set(names or df["y_pred"].astype(str))
        filled = merged.loc[empty, column].dropna()
        foreign = sorted(set(filled) - known)
        if foreign:
            raise UserError(
                f"The label table {path} gives {column} {', '.join(foreign)}, not among the "
                f"classes of the predictions ({', '.join(sorted(known))}); name the classes "
                "with --classes, or keep only the task's rows in the table."
            )
        merged.loc[empty, "y_true"] = filled
    still = merged["y_true"].isna()
    if still.any():
        first = merged.loc[still].iloc[0]
        raise UserError(
            f"{int(still.sum())} unlabelled prediction row(s) have no {column} in {path} "
            f"(first: {first['subject']} {first['session']})."
        )
    return merged.drop(columns=[column])


def _attach_hierarchy(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    h = _read_table(path, "hierarchy table")
    cols = [c for c in ("dataset", "site", "scanner") if c in h.columns]
    if not cols:
        raise UserError(
            f"The hierarchy table {path} has none of the columns dataset, site, scanner."
        )
    h, on = _keyed(h, path, cols, "hierarchy table")
    merged = df.merge(h, on=on, how="left")
    missing = merged[cols[0]].isna()
    if missing.any():
        first = merged.loc[missing].iloc[0]
        raise UserError(
            f"{int(missing.sum())} prediction row(s) have no entry in {path} (first: "
            f"{first['subject']} {first['session']})."
        )
    return merged
