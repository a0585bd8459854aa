"""Hierarchy checks of a cohort table: findings, never exceptions.

- ``duplicate-row``: the same (cohort, subject, session, image) twice;
- ``subject-in-several-sites``: a subject's sessions come from more than one site;
- ``scanner-in-several-sites``: a scanner id appears in several sites (a scanner model shared by
  sites is common; a device serial number shared by sites is a data error);
- ``subject-value-changes``: a per-subject value (sex, handedness, date of birth...) differs
  between a subject's rows;
- ``session-order``: the acquisition dates or ages contradict the order of the session labels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from brainbench.cohort._findings import cohort_finding, lines_text
from brainbench.validate.findings import Finding, Severity

if TYPE_CHECKING:
    import pandas as pd

PER_SUBJECT_COLUMNS: tuple[str, ...] = (
    "sex",
    "gender",
    "handedness",
    "dominant_hand",
    "race",
    "ethnicity",
    "birth_date",
    "date_of_birth",
    "dob",
    "apoe",
    "apoe4",
    "education",
    "education_years",
)
_LIMIT = 5


def _where(table: pd.DataFrame, mask: pd.Series) -> tuple[str | None, int | None, list[int]]:
    rows = table.loc[mask, ["cohort_file", "cohort_row"]]
    if rows.empty:
        return None, None, []
    file = rows["cohort_file"].iloc[0]
    same = rows[rows["cohort_file"] == file]["cohort_row"].dropna()
    lines = [int(x) for x in same.tolist()]
    return (None if file is None else str(file)), (lines[0] if lines else None), lines


def check_hierarchy(table: pd.DataFrame) -> list[Finding]:
    """All hierarchy checks of the module doc, over a cohort table (any number of cohorts)."""
    findings: list[Finding] = []
    if table.empty:
        return findings
    findings.extend(_duplicates(table))
    findings.extend(_nesting(table, "subject", "site", Severity.WARNING))
    findings.extend(_nesting(table, "scanner", "site", Severity.WARNING))
    findings.extend(_constant_values(table))
    findings.extend(_session_order(table))
    return findings


def _duplicates(table: pd.DataFrame) -> list[Finding]:
    from brainbench.cohort._codes import duplicated

    dup = duplicated(table, ["cohort", "subject", "session", "image"], keep=False)
    if not dup.any():
        return []
    out = []
    for cohort, part in table[dup].groupby("cohort", sort=True):
        file, line, lines = _where(table, dup & (table["cohort"] == cohort))
        first = part.iloc[0]
        what = (
            "image" if first["image"] is not None and str(first["image"]) != "<NA>" else "session"
        )
        out.append(
            cohort_finding(
                "duplicate-row",
                f"cohort '{cohort}': {len(part)} rows repeat the same subject/session/{what} "
                f"(e.g. subject {first['subject']}, session {first['session']}; "
                f"{lines_text(lines)})",
                file=file,
                line=line,
                hint="Remove the repeated rows: each image (or session) must appear once.",
            )
        )
    return out


def _nesting(table: pd.DataFrame, inner: str, outer: str, severity: Severity) -> list[Finding]:
    from brainbench.cohort._codes import varies

    if not varies(table, ["cohort", inner], outer):
        return []
    sub = table[["cohort", inner, outer]].dropna()
    if sub.empty:
        return []
    n = sub.groupby(["cohort", inner], sort=True)[outer].nunique()
    bad = n[n > 1]
    if bad.empty:
        return []
    out = []
    for cohort in bad.index.get_level_values(0).unique():
        ids = list(bad.loc[cohort].index)
        mask = (table["cohort"] == cohort) & table[inner].isin(ids)
        file, line, _ = _where(table, mask)
        example = ids[0]
        outers = sorted(
            map(str, sub.loc[(sub["cohort"] == cohort) & (sub[inner] == example), outer].unique())
        )
        if inner == "scanner":
            hint = (
                "If the scanner id is a model (vendor, model, field strength), this is expected; "
                "add DeviceSerialNumber to hierarchy.scanner to tell devices apart."
            )
        else:
            hint = "Check the site of these subjects: a subject normally belongs to one site."
        out.append(
            cohort_finding(
                f"{inner}-in-several-{outer}s",
                f"cohort '{cohort}': {len(ids)} {inner}(s) appear in several {outer}s "
                f"(e.g. {inner} {example} in {', '.join(outers[:_LIMIT])})",
                file=file,
                line=line,
                hint=hint,
                severity=severity,
            )
        )
    return out


def _constant_values(table: pd.DataFrame) -> list[Finding]:
    from brainbench.cohort._codes import varies

    out = []
    for col in PER_SUBJECT_COLUMNS:
        if col not in table.columns or not varies(table, ["cohort", "subject"], col):
            continue
        sub = table[["cohort", "subject", col]].dropna()
        if sub.empty:
            continue
        n = sub.groupby(["cohort", "subject"], sort=True)[col].nunique()
        bad = n[n > 1]
        if bad.empty:
            continue
        for cohort in bad.index.get_level_values(0).unique():
            subjects = list(bad.loc[cohort].index)
            example = subjects[0]
            rows = table[(table["cohort"] == cohort) & (table["subject"] == example)]
            values = []
            for value, part in rows.dropna(subset=[col]).groupby(col, sort=True):
                lines = [int(x) for x in part["cohort_row"].dropna().tolist()]
                values.append(f"{value} ({lines_text(lines, 3)})" if lines else str(value))
            mask = (table["cohort"] == cohort) & table["subject"].isin(subjects)
            file, line, _ = _where(table, mask)
            out.append(
                cohort_finding(
                    "subject-value-changes",
                    f"cohort '{cohort}': '{col}' changes between the rows of {len(subjects)} "
                    f"subject(s); e.g. subject {example}: {'; '.join(values)}",
                    file=file,
                    line=line,
                    hint=f"'{col}' is a per-subject value: correct the conflicting rows.",
                )
            )
    return out


def _sorted_by_session(sub: pd.DataFrame) -> pd.DataFrame:
    """``sub.sort_values(["cohort", "subject", "session_index"], kind="stable")`` (no missing
    ids), on integer codes: only the distinct ids are sorted."""
    import numpy as np

    from brainbench.cohort._codes import sorted_codes

    cohort, subject = (sorted_codes(sub[c])[0] for c in ("cohort", "subject"))
    return sub.iloc[np.lexsort((sub["session_index"].to_numpy(), subject, cohort))]


def _session_order(table: pd.DataFrame) -> list[Finding]:
    import pandas as pd

    out = []
    for col in ("acq_time", "age"):
        if col not in table.columns:
            continue
        sub = table[["cohort", "subject", "session", "session_index", col]].dropna()
        sub = sub.drop_duplicates(["cohort", "subject", "session"])
        if sub.empty:
            continue
        if col == "acq_time":
            values = pd.to_datetime(sub[col], errors="coerce", utc=True)
        else:
            values = pd.to_numeric(sub[col], errors="coerce")
        sub = sub.assign(_v=values).dropna(subset=["_v"])
        if sub.empty:
            continue
        sub = _sorted_by_session(sub)
        prev = sub.groupby(["cohort", "subject"], sort=False)["_v"].shift()
        bad = sub[prev.notna() & (sub["_v"] < prev)]
        if bad.empty:
            continue
        for cohort, part in bad.groupby("cohort", sort=True):
            example = part.iloc[0]
            mask = (table["cohort"] == cohort) & table["subject"].isin(part["subject"])
            file, line, _ = _where(table, mask)
            out.append(
                cohort_finding(
                    "session-order",
                    f"cohort '{cohort}': for {part['subject'].nunique()} subject(s) '{col}' "
                    f"decreases along the session order (e.g. subject {example['subject']}, "
                    f"session {example['session']})",
                    file=file,
                    line=line,
                    hint=(
                        "Session labels are ordered naturally (baseline, M06, M12...); rename "
                        "sessions or fix the dates so that the first session is the baseline."
                    ),
                    severity=Severity.WARNING,
                )
            )
    return out
