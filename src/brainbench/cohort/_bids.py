"""Reading a BIDS folder into a raw cohort table (one row per image file).

What is read: ``participants.tsv``, ``sub-*/sub-*_sessions.tsv``, ``*_scans.tsv`` and the JSON
sidecars of each image, with the BIDS inheritance principle: a sidecar at an upper level
(``T1w.json`` at the root, ``sub-01/sub-01_T1w.json``) applies to every image below it whose
entities it matches; the nearest level wins. Image contents are never opened.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from brainbench.cohort._findings import cohort_finding
from brainbench.cohort._io import read_delimited, to_numbers
from brainbench.errors import UserError
from brainbench.validate.findings import Finding, Severity

if TYPE_CHECKING:
    import pandas as pd

SCANNER_FIELDS: tuple[str, ...] = (
    "Manufacturer",
    "ManufacturersModelName",
    "MagneticFieldStrength",
    "InstitutionName",
    "DeviceSerialNumber",
    "StationName",
)
IMAGE_EXTENSIONS: tuple[str, ...] = (".nii.gz", ".nii", ".mgz", ".mgh", ".mnc", ".mnc.gz")


def split_name(name: str) -> tuple[dict[str, str], str, str]:
    """``sub-01_ses-1_T1w.nii.gz`` -> ({'sub': '01', 'ses': '1'}, 'T1w', '.nii.gz')."""
    stem, ext = name, ""
    for candidate in (*IMAGE_EXTENSIONS, ".json", ".tsv"):
        if name.endswith(candidate):
            stem, ext = name[: -len(candidate)], candidate
            break
    parts = stem.split("_")
    suffix = parts[-1] if parts and "-" not in parts[-1] else ""
    entities: dict[str, str] = {}
    for part in parts if not suffix else parts[:-1]:
        key, sep, value = part.partition("-")
        if sep:
            entities[key] = value
    return entities, suffix, ext


@dataclass
class _SidecarIndex:
    """Sidecar JSON files per folder, parsed once; bad JSON becomes a finding."""

    fields: tuple[str, ...]
    findings: list[Finding] = field(default_factory=list)
    _by_dir: dict[str, list[tuple[dict[str, str], str, str]]] = field(default_factory=dict)
    _content: dict[str, dict[str, Any]] = field(default_factory=dict)

    def sidecars(self, folder: str) -> list[tuple[dict[str, str], str, str]]:
        if folder not in self._by_dir:
            found = []
            try:
                with os.scandir(folder) as it:
                    for entry in it:
                        if entry.name.endswith(".json") and entry.is_file():
                            ents, suffix, _ = split_name(entry.name)
                            found.append((ents, suffix, entry.path))
            except OSError:
                pass
            found.sort(key=lambda t: (len(t[0]), t[2]))
            self._by_dir[folder] = found
        return self._by_dir[folder]

    def content(self, path: str) -> dict[str, Any]:
        if path not in self._content:
            self._content[path] = self._parse(path)
        return self._content[path]

    def _parse(self, path: str) -> dict[str, Any]:
        try:
            with open(path, "rb") as fh:
                raw = fh.read()
            data = json.loads(raw.decode("utf-8-sig"))
        except UnicodeDecodeError as exc:
            self.findings.append(
                cohort_finding(
                    "sidecar-not-json",
                    f"sidecar is not valid UTF-8 (offset {exc.start}); its fields are ignored",
                    file=path,
                    line=raw.count(b"\n", 0, exc.start) + 1,
                    hint="Save the sidecar as UTF-8 JSON.",
                    severity=Severity.WARNING,
                )
            )
            return {}
        except json.JSONDecodeError as exc:
            self.findings.append(
                cohort_finding(
                    "sidecar-not-json",
                    f"sidecar is not valid JSON ({exc.msg}); its fields are ignored",
                    file=path,
                    line=exc.lineno,
                    hint="Fix the JSON syntax (a validator such as `python -m json.tool` helps).",
                    severity=Severity.WARNING,
                )
            )
            return {}
        except OSError as exc:
            self.findings.append(
                cohort_finding(
                    "sidecar-not-json",
                    f"sidecar cannot be read ({exc.strerror}); its fields are ignored",
                    file=path,
                    severity=Severity.WARNING,
                )
            )
            return {}
        if not isinstance(data, dict):
            self.findings.append(
                cohort_finding(
                    "sidecar-not-json",
                    "sidecar is JSON but not an object ({...}); its fields are ignored",
                    file=path,
                    line=1,
                    severity=Severity.WARNING,
                )
            )
            return {}
        return {k: data[k] for k in self.fields if k in data}

    def fields_for(self, folders: list[str], entities: dict[str, str], suffix: str) -> dict:
        """Merged sidecar fields for an image, upper folders first (nearest wins)."""
        merged: dict[str, Any] = {}
        for folder in folders:
            for ents, sc_suffix, path in self.sidecars(folder):
                if sc_suffix != suffix:
                    continue
                if all(entities.get(k) == v for k, v in ents.items()):
                    merged.update(self.content(path))
        return merged


def _subdirs(folder: str, prefix: str) -> list[str]:
    try:
        with os.scandir(folder) as it:
            return sorted(e.name for e in it if e.name.startswith(prefix) and e.is_dir())
    except OSError:
        return []


def _image_files(folder: str) -> list[str]:
    try:
        with os.scandir(folder) as it:
            return sorted(
                e.name
                for e in it
                if e.name.endswith(IMAGE_EXTENSIONS) and not e.name.startswith(".")
            )
    except OSError:
        return []


def _read_optional_tsv(path: Path, findings: list[Finding], key: str) -> pd.DataFrame | None:
    """A side TSV (sessions, scans): unreadable or keyless files become findings."""
    if not path.is_file():
        return None
    try:
        df = read_delimited(path, "\t", keep_text=(key,), numbers=False)
    except UserError as exc:
        findings.append(
            cohort_finding(
                "unreadable-file",
                exc.message + " Its columns are ignored.",
                file=str(path),
                severity=Severity.WARNING,
            )
        )
        return None
    if key not in df.columns:
        findings.append(
            cohort_finding(
                "missing-column",
                f"no '{key}' column (columns: {', '.join(df.columns)}); the file is ignored",
                file=str(path),
                line=1,
                severity=Severity.WARNING,
            )
        )
        return None
    df.insert(0, "_line", range(2, len(df) + 2))
    return df


def read_bids_raw(
    root: Path,
    *,
    suffixes: tuple[str, ...] | None = None,
    sidecar_fields: tuple[str, ...] = SCANNER_FIELDS,
    entities: dict[str, str] | None = None,
) -> tuple[pd.DataFrame, list[Finding], list[str]]:
    """Walk a BIDS folder; return (raw table, findings, files read).

    ``entities`` keeps only images with these entity values (``{"space": "MNI152NLin2009cSym",
    "desc": "preproc"}``). In a derivative dataset (``DatasetType: derivative`` in
    ``dataset_description.json``) a session with several images of one suffix keeps the first
    by name, and a warning says which it took and how to choose.

    Raw columns: ``participant_id``, ``session_id``, ``image`` (path relative to ``root``,
    POSIX separators), ``image_path`` (absolute), ``datatype``, ``suffix``, the columns of
    ``participants.tsv``, ``sessions.tsv`` and ``scans.tsv``, the sidecar fields, and
    ``cohort_file``/``cohort_row`` (participants.tsv and its 1-based line, header = line 1).
    """
    import pandas as pd

    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root}: BIDS folder not found.")
    findings: list[Finding] = []
    files: list[str] = []
    index = _SidecarIndex(tuple(dict.fromkeys(sidecar_fields)))
    root_s = str(root)

    participants_path = root / "participants.tsv"
    participants: pd.DataFrame | None = None
    if participants_path.is_file():
        files.append(str(participants_path))
        participants = read_delimited(participants_path, "\t", keep_text=("participant_id",))
        if "participant_id" not in participants.columns:
            raise UserError(
                f"{participants_path}:1: no 'participant_id' column (columns: "
                f"{', '.join(participants.columns)}); BIDS requires it."
            )
        participants.insert(0, "_line", range(2, len(participants) + 2))
        ids = participants["participant_id"].astype("string")
        bare = ids.notna() & ~ids.str.startswith("sub-").fillna(True)
        if bare.any():
            participants["participant_id"] = ids.where(~bare, "sub-" + ids)
            findings.append(
                cohort_finding(
                    "participant-id-without-prefix",
                    f"{int(bare.sum())} participant_id value(s) lack the 'sub-' prefix (e.g. "
                    f"'{ids[bare].iloc[0]}'); read as 'sub-{ids[bare].iloc[0]}'",
                    file=str(participants_path),
                    line=int(participants.loc[bare, "_line"].iloc[0]),
                    severity=Severity.WARNING,
                    hint="BIDS participant_id values are the folder names: sub-<label>.",
                )
            )
        dup = participants[participants["participant_id"].duplicated(keep=False)]
        if len(dup):
            first = dup.iloc[0]
            count = int((dup["participant_id"] == first["participant_id"]).sum())
            findings.append(
                cohort_finding(
                    "duplicate-row",
                    f"participant '{first['participant_id']}' appears {count} times in "
                    f"participants.tsv ({len(dup)} duplicated rows); the first row is used",
                    file=str(participants_path),
                    line=int(first["_line"]),
                )
            )
            participants = participants.drop_duplicates("participant_id", keep="first")
    else:
        findings.append(
            cohort_finding(
                "missing-file",
                "no participants.tsv: subjects have no demographic columns",
                file=str(participants_path),
                severity=Severity.WARNING,
                hint="Add participants.tsv with participant_id and the covariates (age, sex...).",
            )
        )

    rows: list[dict[str, Any]] = []
    session_tables: list[pd.DataFrame] = []
    scan_tables: list[pd.DataFrame] = []
    for sub in _subdirs(root_s, "sub-"):
        sub_dir = os.path.join(root_s, sub)
        sessions = _subdirs(sub_dir, "ses-")
        ses_path = Path(sub_dir) / f"{sub}_sessions.tsv"
        st = _read_optional_tsv(ses_path, findings, "session_id")
        if st is not None:
            files.append(str(ses_path))
            st = st.rename(columns={"_line": "_ses_line"})
            st["participant_id"] = sub
            st["_ses_file"] = str(ses_path)
            session_tables.append(st)
        for ses in sessions or [None]:
            ses_dir = os.path.join(sub_dir, ses) if ses else sub_dir
            scans_name = f"{sub}_{ses}_scans.tsv" if ses else f"{sub}_scans.tsv"
            sc = _read_optional_tsv(Path(ses_dir) / scans_name, findings, "filename")
            if sc is not None:
                files.append(str(Path(ses_dir) / scans_name))
                rel = os.path.relpath(ses_dir, root_s).replace(os.sep, "/")
                sc["image"] = rel + "/" + sc["filename"].astype(str).str.replace("\\", "/")
                scan_tables.append(sc.drop(columns=["filename", "_line"]))
            upper = [root_s, sub_dir] + ([ses_dir] if ses else [])
            for datatype in _subdirs(ses_dir, ""):
                if datatype.startswith(("ses-", ".")):
                    continue
                dt_dir = os.path.join(ses_dir, datatype)
                for name in _image_files(dt_dir):
                    ents, suffix, _ = split_name(name)
                    if suffixes is not None and suffix not in suffixes:
                        continue
                    if entities and any(ents.get(k) != v for k, v in entities.items()):
                        continue
                    fields = index.fields_for([*upper, dt_dir], ents, suffix)
                    path = os.path.join(dt_dir, name)
                    rows.append(
                        {
                            "participant_id": sub,
                            "session_id": ses,
                            "image": os.path.relpath(path, root_s).replace(os.sep, "/"),
                            "image_path": os.path.abspath(path),
                            "datatype": datatype,
                            "suffix": suffix,
                            **{k: _scalar(v) for k, v in fields.items()},
                        }
                    )
    findings.extend(index.findings)
    if rows and _is_derivative(root):
        rows, more = _one_per_session(rows, root)
        findings.extend(more)
    if not rows:
        wanted = f" with suffix {', '.join(suffixes)}" if suffixes else ""
        if entities:
            wanted += " and " + ", ".join(f"{k}-{v}" for k, v in entities.items())
        raise UserError(
            f"{root}: no image files{wanted} found under sub-*/[ses-*/]<datatype>/ "
            f"(extensions {', '.join(IMAGE_EXTENSIONS)}). Is this a BIDS folder?"
        )
    table = pd.DataFrame(rows)
    table["cohort_file"] = str(participants_path)
    table["cohort_row"] = pd.array([pd.NA] * len(table), dtype="Int64")

    if participants is not None:
        known = set(participants["participant_id"])
        missing = sorted(set(table["participant_id"]) - known)
        if missing:
            findings.append(
                cohort_finding(
                    "subject-not-in-participants",
                    f"{len(missing)} subject folder(s) have no row in participants.tsv "
                    f"({', '.join(missing[:5])}{'...' if len(missing) > 5 else ''}); their "
                    "covariates are missing",
                    file=str(participants_path),
                    severity=Severity.WARNING,
                )
            )
        no_images = sorted(known - set(table["participant_id"]))
        if no_images:
            findings.append(
                cohort_finding(
                    "subject-without-images",
                    f"{len(no_images)} participant(s) have no image file "
                    f"({', '.join(map(str, no_images[:5]))}{'...' if len(no_images) > 5 else ''})",
                    file=str(participants_path),
                    severity=Severity.WARNING,
                )
            )
        cols = [c for c in participants.columns if c not in table.columns or c == "participant_id"]
        table = table.merge(participants[cols], on="participant_id", how="left", sort=False)
        table["cohort_row"] = table.pop("_line").astype("Int64")

    if session_tables:
        st = to_numbers(pd.concat(session_tables, ignore_index=True))
        st = st.drop_duplicates(["participant_id", "session_id"])
        table = _merge_specific(table, st, ["participant_id", "session_id"])
    if scan_tables:
        sc = to_numbers(pd.concat(scan_tables, ignore_index=True).drop_duplicates("image"))
        table = _merge_specific(table, sc, ["image"])
    absent = [f for f in SCANNER_FIELDS if f not in table.columns]
    if absent:
        table = pd.concat([table, pd.DataFrame(None, index=table.index, columns=absent)], axis=1)
    return table, findings, files


def _is_derivative(root: Path) -> bool:
    try:
        info = json.loads((root / "dataset_description.json").read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        return False
    return isinstance(info, dict) and str(info.get("DatasetType", "")).lower() == "derivative"


def _one_per_session(rows: list[dict], root: Path) -> tuple[list[dict], list[Finding]]:
    """A derivative's first image (by name) per session and suffix, and a warning if any other
    was left out: several outputs of one pipeline (spaces, resolutions) are not several scans."""
    kept: dict[tuple, dict] = {}
    left: dict[tuple, list[str]] = {}
    for row in sorted(rows, key=lambda r: r["image"]):
        key = (row["participant_id"], row["session_id"], row["suffix"])
        if key in kept:
            left.setdefault(key, []).append(row["image"].rsplit("/", 1)[-1])
        else:
            kept[key] = row
    if not left:
        return rows, []
    key, others = next(iter(left.items()))
    took = kept[key]["image"].rsplit("/", 1)[-1]
    finding = cohort_finding(
        "several-images",
        f"derivative dataset: {len(left)} session(s) hold several {key[2]} images; the first by "
        f"name is taken (e.g. {key[0]} {key[1] or ''}: took {took}, left {', '.join(others)})",
        file=str(root / "dataset_description.json"),
        severity=Severity.WARNING,
        hint="Choose one with source.space / source.desc / source.res in the spec.",
    )
    order = {id(r): i for i, r in enumerate(rows)}
    return sorted(kept.values(), key=lambda r: order[id(r)]), [finding]


_RESERVED = frozenset(
    {"participant_id", "session_id", "image", "image_path", "datatype", "suffix"}
    | {"cohort_file", "cohort_row"}
)


def _merge_specific(table: pd.DataFrame, other: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Left-join ``other`` on ``keys``; a column in both takes the more specific value (the
    session's age over the participant's), as BIDS inheritance does for sidecars."""
    shared = [c for c in other.columns if c in table.columns and c not in keys]
    overriding = [c for c in shared if c not in _RESERVED]
    renamed = other.drop(columns=[c for c in shared if c in _RESERVED])
    renamed = renamed.rename(columns={c: f"__{c}" for c in overriding})
    merged = table.merge(renamed, on=keys, how="left")
    for c in overriding:
        specific = merged.pop(f"__{c}")
        merged[c] = specific.where(specific.notna(), merged[c])
    return merged


def _scalar(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    return value
