"""Converting other tools' predictions into the predictions table (docs/design.md).

ClinicaDL (``clinicadl predict`` / the MAPS folders of ``clinicadl train``) writes one TSV per
split and data group, ``<MAPS>/split-<N>/best-<metric>/<group>/<group>_<mode>_level_prediction.tsv``
with columns ``participant_id``, ``session_id``, (``slice_id`` / ``patch_id`` / ``roi_id``
for 2D and patch modes), ``true_label``, ``predicted_label`` and ``proba0``, ``proba1``, ...
(classification) or no probability (regression). The mapping:

=================================  =========================================================
ClinicaDL                          brainbench predictions table
=================================  =========================================================
``participant_id``                 ``subject``
``session_id``                     ``session``
``<mode>_id`` (slice, patch, roi)  part of ``image``: ``<subject>_<session>_<mode>-<id>``
                                   (``<subject>_<session>`` for image mode)
``true_label`` (0, 1, ...)         ``y_true``: ``classes[label]`` when ``--classes`` is given
``predicted_label``                ``y_pred`` (same mapping)
``proba<i>``                       ``score_<class i>``; binary tasks also get ``score``
                                   (``proba`` of the last, positive class)
``split-<N>`` in the path          ``fold`` = N (``repeat`` 0; ``seed`` from ``--seed``)
``<group>`` folder / file prefix   ``partition``: ``test`` -> test, ``validation`` ->
                                   validation, any other group (e.g. an external cohort) ->
                                   that name, unless ``--partition`` is given
MAPS folder name                   ``model`` (unless ``--model``)
=================================  =========================================================

Site, scanner and dataset are not in ClinicaDL's TSVs: ``hierarchy`` (a TSV with
``participant_id``, optionally ``session_id``, and ``site`` / ``scanner`` / ``dataset``
columns, e.g. the cohort's participants.tsv) attaches them. Without them the report's per-site
sections say they are missing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from brainbench.errors import UserError

REQUIRED = ("participant_id", "session_id", "true_label", "predicted_label")
MODE_IDS = ("slice_id", "patch_id", "roi_id", "image_id")
_SPLIT = re.compile(r"^split-(\d+)$")
_PROBA = re.compile(r"^proba(\d+)$")


def _infer_fold(path: Path) -> int | None:
    for part in path.resolve().parts[::-1]:
        m = _SPLIT.match(part)
        if m:
            return int(m.group(1))
    return None


def _infer_model(path: Path) -> str:
    parts = path.resolve().parts
    for i in range(len(parts) - 1, 0, -1):
        if _SPLIT.match(parts[i]):
            return parts[i - 1]
    return path.stem.replace("_prediction", "")


def _infer_partition(path: Path) -> str:
    name = path.name
    group = name.split("_")[0] if "_" in name else path.parent.name
    return {"test": "test", "validation": "validation", "train": "train"}.get(group, group)


def _read_one(
    path: Path,
    *,
    model: str | None,
    classes: Sequence[str] | None,
    partition: str | None,
    fold: int | None,
    seed: int,
) -> pd.DataFrame:
    if not path.exists():
        raise UserError(f"The ClinicaDL prediction file {path} does not exist.")
    try:
        raw = pd.read_csv(path, sep="\t")
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise UserError(f"Cannot read {path} as a tab-separated file: {exc}") from None
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise UserError(
            f"{path} lacks the ClinicaDL column(s) {', '.join(missing)}. Found: "
            f"{', '.join(map(str, raw.columns))}. Expected a <group>_<mode>_level_prediction.tsv "
            "written by ClinicaDL."
        )
    if raw.empty:
        raise UserError(f"{path} has no prediction rows.")
    probas = sorted(
        (c for c in raw.columns if _PROBA.match(str(c))),
        key=lambda c: int(_PROBA.match(c).group(1)),
    )
    out = pd.DataFrame(
        {
            "model": model or _infer_model(path),
            "repeat": 0,
            "fold": fold if fold is not None else (_infer_fold(path) or 0),
            "seed": seed,
            "partition": partition or _infer_partition(path),
            "subject": raw["participant_id"].astype(str),
            "session": raw["session_id"].astype(str),
        }
    )
    mode_col = next((c for c in MODE_IDS if c in raw.columns), None)
    image = out["subject"] + "_" + out["session"]
    if mode_col is not None:
        image = image + f"_{mode_col[:-3]}-" + raw[mode_col].astype(str)
    out["image"] = image
    if probas:
        n_classes = len(probas)
        labels = list(classes) if classes else [str(i) for i in range(n_classes)]
        if len(labels) != n_classes:
            raise UserError(
                f"--classes names {len(labels)} class(es) ({', '.join(labels)}) but {path} has "
                f"{n_classes} probability column(s) ({', '.join(probas)})."
            )
        for col in ("true_label", "predicted_label"):
            codes = pd.to_numeric(raw[col], errors="coerce")
            bad = codes.isna() | ~codes.isin(range(n_classes))
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                raise UserError(
                    f"{path}, data row {row + 1}: {col} {raw[col].iloc[row]!r} is not a class "
                    f"index 0..{n_classes - 1}."
                )
            out["y_true" if col == "true_label" else "y_pred"] = [labels[int(c)] for c in codes]
        for i, col in enumerate(probas):
            out[f"score_{labels[i]}"] = pd.to_numeric(raw[col], errors="coerce").astype(float)
        if n_classes == 2:
            out["score"] = out[f"score_{labels[1]}"]
    else:
        out["y_true"] = pd.to_numeric(raw["true_label"], errors="coerce")
        out["y_pred"] = pd.to_numeric(raw["predicted_label"], errors="coerce")
        if out[["y_true", "y_pred"]].isna().any().any():
            raise UserError(f"{path}: without proba columns, labels must be numbers (regression).")
    return out


def convert_clinicadl(
    tsvs: Sequence[str | Path] | str | Path,
    out: str | Path,
    *,
    model: str | None = None,
    classes: Sequence[str] | None = None,
    partition: str | None = None,
    fold: int | None = None,
    seed: int = 0,
    hierarchy: str | Path | None = None,
) -> tuple[Path, int]:
    """Convert ClinicaDL prediction TSVs into one predictions table (see the module doc).

    Returns the written path and the number of rows.
    """
    if isinstance(tsvs, (str, Path)):
        tsvs = [tsvs]
    frames = [
        _read_one(Path(p), model=model, classes=classes, partition=partition, fold=fold, seed=seed)
        for p in tsvs
    ]
    df = pd.concat(frames, ignore_index=True)
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
    return out, len(df)


def _attach_hierarchy(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    if not path.exists():
        raise UserError(f"The hierarchy table {path} does not exist.")
    try:
        h = pd.read_csv(path, sep="\t" if path.suffix != ".csv" else ",")
    except (OSError, ValueError) as exc:
        raise UserError(f"Cannot read the hierarchy table {path}: {exc}") from None
    if "participant_id" not in h.columns:
        raise UserError(f"The hierarchy table {path} needs a 'participant_id' column.")
    cols = [c for c in ("dataset", "site", "scanner") if c in h.columns]
    if not cols:
        raise UserError(
            f"The hierarchy table {path} has none of the columns dataset, site, scanner."
        )
    keys = ["participant_id"] + (["session_id"] if "session_id" in h.columns else [])
    h = h[keys + cols].astype(str).drop_duplicates(keys)
    h = h.rename(columns={"participant_id": "subject", "session_id": "session"})
    on = ["subject"] + (["session"] if "session_id" in keys else [])
    merged = df.merge(h, on=on, how="left")
    missing = merged[cols[0]].isna()
    if missing.any():
        first = merged.loc[missing].iloc[0]
        raise UserError(
            f"{int(missing.sum())} prediction row(s) have no entry in {path} (first: "
            f"{first['subject']} {first['session']})."
        )
    return merged
