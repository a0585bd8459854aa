"""The cohort table: raw rows of one source mapped onto the hierarchy, then checked.

Columns, in order: ``dataset``, ``site``, ``scanner``, ``subject``, ``session``, ``image`` (the
hierarchy ids, text, missing where a level is undeclared), ``cohort``, ``role``, ``image_path``
(absolute path or missing), ``session_index`` (0 for each subject's first session), the source's
own columns (participants, sessions, scans, sidecar fields, manifest columns), and
``cohort_file``/``cohort_row`` (file and 1-based line each row came from; header = line 1).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from brainbench.cohort._bids import SCANNER_FIELDS, read_bids_raw
from brainbench.cohort._findings import cohort_finding
from brainbench.cohort._io import read_delimited
from brainbench.errors import UserError
from brainbench.registry_base import did_you_mean
from brainbench.validate.findings import Finding, Severity

if TYPE_CHECKING:
    import pandas as pd

Level = Union[str, Sequence[str], None]  # noqa: UP007 (a runtime alias, Python 3.10)
LEVELS: tuple[str, ...] = ("dataset", "site", "scanner", "subject", "session", "image")
ID_SEPARATOR = "|"
IMAGE_COLUMN_CANDIDATES = ("image", "image_path", "path", "filename", "file", "t1w", "nifti")
SUBJECT_CANDIDATES = ("participant_id", "subject_id", "subject", "participant", "sub")
SESSION_CANDIDATES = ("session_id", "session", "ses", "visit")
BASELINE_WORDS = frozenset(
    {"baseline", "bl", "base", "screening", "sc", "pre", "test", "first", "initial", "m0", "m00"}
)


@dataclass(frozen=True)
class Hierarchy:
    """Where each level's id comes from: a column / sidecar field, a list of them, or None.

    ``subject`` and ``session`` default to the BIDS and ClinicaDL names (``participant_id``,
    ``session_id``); ``dataset`` defaults to the cohort id; ``site`` and ``scanner`` default to
    a ``site`` / ``scanner`` column, else the sidecar fields ``InstitutionName`` and
    ``Manufacturer | ManufacturersModelName | MagneticFieldStrength`` where present.
    """

    dataset: Level = None
    site: Level = None
    scanner: Level = None
    subject: Level = None
    session: Level = None

    @classmethod
    def from_spec(cls, spec_hierarchy: Any) -> Hierarchy:
        if spec_hierarchy is None:
            return cls()
        return cls(**{lvl: getattr(spec_hierarchy, lvl, None) for lvl in LEVELS[:5]})

    def fields(self) -> list[str]:
        out: list[str] = []
        for lvl in LEVELS[:5]:
            out.extend(_as_list(getattr(self, lvl)))
        return out


@dataclass
class CohortTable:
    """A cohort table with the findings and files of its reading (see the module doc)."""

    table: pd.DataFrame
    findings: list[Finding] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.table)


def _as_list(level: Level) -> list[str]:
    if level is None:
        return []
    if isinstance(level, str):
        return [level]
    return [str(x) for x in level]


def detect_format(path: Path) -> str:
    if not path.exists():
        raise UserError(f"{path}: cohort not found (no such file or folder).")
    if path.is_dir():
        return "bids"
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".tsv", ".txt", ".tab"):
        return "tsv"
    raise UserError(
        f"{path}: cannot tell the cohort format from the name; expected a BIDS folder, "
        "a .tsv or a .csv file."
    )


def read_tabular_raw(
    path: Path, *, sep: str, image_column: str | None, id_columns: Sequence[str] = ()
) -> tuple[pd.DataFrame, list[Finding]]:
    """A ClinicaDL-style TSV or a manifest: one row per session (or per image, with a path)."""
    import pandas as pd

    findings: list[Finding] = []
    keep = (*SUBJECT_CANDIDATES, *SESSION_CANDIDATES, *IMAGE_COLUMN_CANDIDATES, *id_columns)
    if image_column:
        keep = (*keep, image_column)
    df = read_delimited(path, sep, keep_text=keep)
    if df.empty:
        raise UserError(f"{path}: the file has a header but no rows.")
    df["cohort_file"] = str(path)
    df["cohort_row"] = pd.array(range(2, len(df) + 2), dtype="Int64")
    if image_column is not None and image_column not in df.columns:
        raise UserError(
            f"{path}:1: image column '{image_column}' not found."
            f"{did_you_mean(image_column, list(df.columns))} Columns: {', '.join(df.columns)}."
        )
    col = image_column or next((c for c in IMAGE_COLUMN_CANDIDATES if c in df.columns), None)
    if col is not None:
        values = df[col].astype("string")
        if values.str.contains("\\", regex=False).any():  # a scan is cheaper than a copy
            values = values.str.replace("\\", "/", regex=False)
        base = str(path.parent.resolve()).replace("\\", "/")
        df["image_path"] = _under(base, values)
        if col != "image":
            if "image" in df.columns:
                df = df.drop(columns=["image"])
            df["image"] = values
        else:
            df["image"] = values
        blank = df["image"].isna()
        if blank.any():
            lines = df.loc[blank, "cohort_row"].tolist()
            findings.append(
                cohort_finding(
                    "missing-image",
                    f"{int(blank.sum())} row(s) have no image path in column '{col}'",
                    file=str(path),
                    line=int(lines[0]),
                    severity=Severity.WARNING,
                )
            )
    else:
        df["image"] = pd.array([pd.NA] * len(df), dtype="string")
        df["image_path"] = pd.array([pd.NA] * len(df), dtype="string")
    return df, findings


def _under(base: str, values: pd.Series) -> pd.Series:
    """Each path as it is when absolute (``/...`` or ``C:/...``), else ``base/path``; missing
    stays missing. One Arrow pass each (at a million rows, pandas' ``where`` cost 10x more)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pc.cast(pa.array(values.array), pa.large_string())
    absolute = pc.fill_null(pc.match_substring_regex(text, r"^(/|[A-Za-z]:/)"), False)
    below = pc.binary_join_element_wise(
        pa.scalar(base + "/", pa.large_string()), text, pa.scalar("", pa.large_string())
    )
    joined = pc.if_else(absolute, text, below)
    return pd.Series(pd.arrays.ArrowStringArray(joined), index=values.index)


def _id_strings(s: pd.Series) -> pd.Series:
    """Text ids from any column: integral floats lose their ``.0``; missing stays missing."""
    import pandas as pd

    if s.dtype.kind == "f":
        # 3.0 -> "3", 1.5 -> "1.5": the same scanner whatever the other rows hold.
        return s.astype("string").str.replace(r"\.0$", "", regex=True)
    if s.dtype == object:
        s = s.map(_scalar_id, na_action="ignore")
    return s.astype("string").str.strip().replace("", pd.NA)


def _scalar_id(v: Any) -> Any:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def map_level(
    raw: pd.DataFrame, level: str, spec: Level, *, source: str
) -> tuple[pd.Series, list[Finding]]:
    """The id column of one hierarchy level from the raw table (fields joined by ``|``)."""
    import pandas as pd

    findings: list[Finding] = []
    fields = _as_list(spec)
    present = [f for f in fields if f in raw.columns]
    absent = [f for f in fields if f not in raw.columns]
    if absent:
        cols = [c for c in raw.columns if not c.startswith("_")]
        hints = "".join(did_you_mean(f, cols) for f in absent)
        findings.append(
            cohort_finding(
                "missing-column",
                f"hierarchy.{level} names {', '.join(repr(f) for f in absent)}, which no column "
                f"or sidecar field of {source} provides.{hints}",
                file=source,
                line=1 if not source.endswith(("/", "\\")) else None,
                hint=f"Available columns: {', '.join(cols[:40])}.",
                path=f"hierarchy.{level}",
            )
        )
    if not present:
        return pd.Series(pd.NA, index=raw.index, dtype="string"), findings
    parts = [_id_strings(raw[f]) for f in present]
    if len(parts) == 1:
        return parts[0], findings
    all_na = pd.concat([p.isna() for p in parts], axis=1).all(axis=1)
    joined = parts[0].fillna("n/a")
    for p in parts[1:]:
        joined = joined + ID_SEPARATOR + p.fillna("n/a")
    return joined.mask(all_na), findings


def default_hierarchy(raw: pd.DataFrame, declared: Hierarchy) -> Hierarchy:
    """Fill undeclared levels with the conventional columns present in ``raw``."""

    def has(col: str) -> bool:
        return col in raw.columns and raw[col].notna().any()

    subject = declared.subject
    if subject is None or (subject == "participant_id" and subject not in raw.columns):
        subject = next((c for c in SUBJECT_CANDIDATES if c in raw.columns), subject)
    session = declared.session
    if session is None or (session == "session_id" and not has("session_id")):
        # The spec's default names a column that this source lacks: a cohort without sessions.
        session = next((c for c in SESSION_CANDIDATES if has(c)), None)
    site = declared.site
    if site is None:
        site = "site" if has("site") else ("InstitutionName" if has("InstitutionName") else None)
    scanner = declared.scanner
    if scanner is None:
        if has("scanner"):
            scanner = "scanner"
        else:
            fields = [f for f in SCANNER_FIELDS[:3] if has(f)]
            scanner = fields or None
    return Hierarchy(declared.dataset, site, scanner, subject, session)


def natural_key(label: str) -> tuple:
    """Sort key of session labels: baseline words first, then numbers compared as numbers."""
    text = str(label)
    bare = text[4:] if text.startswith("ses-") else text
    if bare.lower() in BASELINE_WORDS:
        return (0, ())
    pieces = re.split(r"(\d+)", bare.lower())
    return (1, tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pieces if p))


def session_order(table: pd.DataFrame) -> pd.Series:
    """0-based order of each row's session within its (cohort, subject), by session label.

    ``groupby(["cohort", "subject"], dropna=False)`` dense rank of the labels' natural order
    (missing labels first), on integer codes: only the distinct labels are sorted in Python
    (tests/cohort/test_codes.py compares it with the groupby).
    """
    import numpy as np
    import pandas as pd

    from brainbench.cohort._codes import factorised_codes, first_of_runs

    sessions = table["session"]
    if sessions.isna().all():
        return pd.Series(np.zeros(len(table), dtype=np.int64), index=table.index)
    codes, uniques = pd.factorize(sessions, use_na_sentinel=True)
    ordered = sorted(range(len(uniques)), key=lambda i: (natural_key(uniques[i]), str(uniques[i])))
    rank = np.empty(len(uniques) + 1, dtype=np.int64)
    rank[ordered] = np.arange(len(uniques))
    rank[-1] = -1  # missing: before every label
    label = rank[codes]
    group = np.zeros(len(table), dtype=np.int64)
    for col in ("cohort", "subject"):  # missing ids are a group of their own (-1 + 1)
        c = factorised_codes(table[col]) + 1
        group = pd.factorize(group * (int(c.max()) + 1) + c)[0]
    order = np.lexsort((label, group))
    g, lab = group[order], label[order]
    new_group = first_of_runs(g)
    new_label = new_group | first_of_runs(lab)
    dense = np.cumsum(new_label)
    dense -= np.maximum.accumulate(np.where(new_group, dense, 0))
    out = np.empty(len(table), dtype=np.int64)
    out[order] = dense
    return pd.Series(out, index=table.index)


def build_cohort_table(
    raw: pd.DataFrame,
    *,
    hierarchy: Hierarchy,
    cohort_id: str,
    role: str,
    source: str,
) -> tuple[pd.DataFrame, list[Finding]]:
    """Map a raw table onto the hierarchy; hierarchy columns first (see the module doc)."""
    import pandas as pd

    findings: list[Finding] = []
    h = default_hierarchy(raw, hierarchy)
    if h.subject is None:
        raise UserError(
            f"{source}: no subject column: expected one of {', '.join(SUBJECT_CANDIDATES)} or "
            f"hierarchy.subject in the spec. Columns: {', '.join(map(str, raw.columns[:40]))}."
        )
    ids: dict[str, pd.Series] = {}
    for level in LEVELS[:5]:
        spec = getattr(h, level)
        if level == "dataset" and spec is None:
            ids[level] = pd.Series(cohort_id, index=raw.index, dtype="string")
            continue
        series, f = map_level(raw, level, spec, source=source)
        if level == "subject" and f:
            raise UserError(f"{source}: {f[0].message}")
        findings.extend(f)
        ids[level] = series
    ids["image"] = (
        raw["image"].astype("string")
        if "image" in raw.columns
        else pd.Series(pd.NA, index=raw.index, dtype="string")
    )
    front = pd.DataFrame(ids)
    front["cohort"] = pd.Series(cohort_id, index=raw.index, dtype="string")
    front["role"] = pd.Series(role, index=raw.index, dtype="string")
    front["image_path"] = (
        raw["image_path"].astype("string")
        if "image_path" in raw.columns
        else pd.Series(pd.NA, index=raw.index, dtype="string")
    )
    front["session_index"] = session_order(front)
    rest = raw.drop(columns=[c for c in raw.columns if c in front.columns or c.startswith("_")])
    table = pd.concat([front, rest], axis=1)
    missing_subject = table["subject"].isna()
    if missing_subject.any():
        lines = table.loc[missing_subject, "cohort_row"].dropna().tolist()
        findings.append(
            cohort_finding(
                "missing-subject",
                f"{int(missing_subject.sum())} row(s) have no subject id; they are dropped",
                file=source,
                line=int(lines[0]) if lines else None,
            )
        )
        table = table[~missing_subject]
    return table.reset_index(drop=True), findings


def read_source(
    path: Path,
    *,
    format: str | None = None,
    image_column: str | None = None,
    suffixes: Sequence[str] | None = None,
    sidecar_fields: Sequence[str] = (),
    id_columns: Sequence[str] = (),
    entities: dict[str, str] | None = None,
) -> tuple[pd.DataFrame, list[Finding], list[str], str]:
    """Read one source: (raw table, findings, files read, source name for findings)."""
    path = Path(path)
    fmt = format or detect_format(path)
    if fmt == "bids":
        fields = tuple(dict.fromkeys((*SCANNER_FIELDS, *sidecar_fields)))
        raw, findings, files = read_bids_raw(
            path,
            suffixes=tuple(suffixes) if suffixes else None,
            sidecar_fields=fields,
            entities=entities,
        )
        return raw, findings, files, str(path / "participants.tsv")
    if fmt in ("tsv", "csv"):
        if path.is_dir():
            raise UserError(f"{path}: is a folder; source format '{fmt}' expects a file.")
        raw, findings = read_tabular_raw(
            path,
            sep="\t" if fmt == "tsv" else ",",
            image_column=image_column,
            id_columns=id_columns,
        )
        return raw, findings, [str(path)], str(path)
    raise UserError(f"Unknown cohort format '{fmt}'. Expected one of: bids, tsv, csv.")
