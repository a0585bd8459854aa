"""Labels derived from the longitudinal diagnosis: stable vs progressive MCI within a horizon.

The rules are ClinicaDL's (``clinicadl tsvtools get-labels``: ``infer_or_drop_diagnosis``,
``mci_stability`` and ``diagnosis_removal`` in ``clinicadl/tsvtools/getlabels/getlabels.py``),
which reproduce the sMCI/pMCI definition of Wen et al. 2020 (Convolutional neural networks for
classification of Alzheimer's disease: overview and reproducible evaluation, Medical Image
Analysis 63:101694, section 4.2.1). For each subject, sessions ordered by month:

1. the subject's first session is its baseline; its diagnosis must be in ``baseline`` (MCI);
2. a missing diagnosis is filled when the previous and the next known diagnoses agree; otherwise
   (or on the last session) the session is dropped;
3. a subject whose diagnosis changes more than once (MCI -> AD -> MCI) is *unstable*: excluded;
4. with ``h`` = baseline month + horizon: the diagnosis at ``h`` when a session falls on it;
   after the last session, the last diagnosis; otherwise the diagnosis of the last session
   before ``h``, and if that is still MCI, the first one after ``h``. Progressed (AD) at ``h`` is
   *progressive* (pMCI), MCI is *stable* (sMCI), reverted (CN) is *reverting* (excluded). An MCI
   last seen before ``h`` is a *too-short follow-up*; a change seen only at the first session
   after ``h`` is *converted between visits* (ClinicaDL's uMCI; both excluded);
5. a stable subject whose last MCI session is itself labelled progressive or reverting (a change
   after the horizon) is excluded from sMCI, as ClinicaDL's ``diagnosis_removal`` does.

The kept subjects contribute their baseline session only: it is the input image.
"""

from __future__ import annotations

import re
from collections import Counter
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from brainbench.cohort._findings import cohort_finding
from brainbench.errors import UserError
from brainbench.validate.findings import Finding, Severity

if TYPE_CHECKING:
    import pandas as pd

STABLE, PROGRESSIVE = "stable", "progressive"
EXCLUSIONS: dict[str, str] = {
    "not-baseline": "not {baseline} at baseline",
    "other-diagnosis": "a diagnosis outside the rule",
    "unstable": "unstable (more than one change of diagnosis)",
    "reverting": "reverting to {reverted} by the horizon",
    "too-short": "follow-up shorter than the horizon",
    "between-visits": "changed between the visits around the horizon",
    "later-change": "stable at the horizon but converting or reverting later",
}
_MONTHS = re.compile(r"M(\d+)$", re.IGNORECASE)


def session_months(session: Any) -> float | None:
    """Months encoded in a ClinicaDL session id: ``ses-M036`` -> 36.0; None otherwise."""
    match = _MONTHS.search(str(session))
    return float(match.group(1)) if match else None


def _category(dx: Any, rule: Any) -> str | None:
    if dx is None or dx != dx:
        return None
    text = str(dx).strip()
    if text in rule.baseline:
        return "M"
    if text in rule.progressed:
        return "P"
    if text in rule.reverted:
        return "R"
    return "?"


def _fill_missing(months: list[float], cats: list[str | None]) -> tuple[list[float], list[str]]:
    """ClinicaDL's infer_or_drop_diagnosis: fill a gap when both neighbours agree, else drop."""
    keep_m: list[float] = []
    keep_c: list[str] = []
    for i, c in enumerate(cats):
        if c is None:
            prev = next((x for x in reversed(cats[:i]) if x is not None), None)
            post = next((x for x in cats[i + 1 :] if x is not None), None)
            if i == len(cats) - 1 or prev is None or prev != post:
                continue
            c = prev
        keep_m.append(months[i])
        keep_c.append(c)
    return keep_m, keep_c


def _at_horizon(months: list[float], cats: list[str], start: int, horizon: float) -> str:
    """'P', 'M', 'R' (the diagnosis that decides), 'too-short' or 'between-visits'."""
    h = months[start] + horizon
    if h in months:
        return cats[months.index(h)]
    if h > months[-1]:
        return cats[-1] if cats[-1] != "M" else "too-short"
    before = max(i for i, m in enumerate(months) if m < h)
    if cats[before] != "M":
        return cats[before]
    return "M" if cats[before + 1] == "M" else "between-visits"


def conversion_outcome(months: list[float], diagnoses: list[Any], rule: Any) -> str:
    """One subject's outcome: ``stable``, ``progressive`` or an exclusion key of EXCLUSIONS.

    ``months`` and ``diagnoses`` are the subject's sessions in time order (the first is the
    baseline); ``rule`` has ``baseline``, ``progressed``, ``reverted`` and ``horizon_months``.
    """
    cats = [_category(d, rule) for d in diagnoses]
    if not cats or cats[0] != "M":
        return "not-baseline"
    if "?" in cats:
        return "other-diagnosis"
    months, filled = _fill_missing(list(months), cats)
    changes = sum(1 for a, b in pairwise(filled) if a != b)
    if changes > 1:
        return "unstable"
    at = _at_horizon(months, filled, 0, rule.horizon_months)
    if at == "P":
        return PROGRESSIVE
    if at == "R":
        return "reverting"
    if at != "M":
        return at
    last_mci = max(i for i, c in enumerate(filled) if c == "M")
    if _at_horizon(months, filled, last_mci, rule.horizon_months) in ("P", "R"):
        return "later-change"
    return STABLE


def derive_conversion_label(
    table: pd.DataFrame, rule: Any, *, cohort_id: str, source: str, keep_excluded: bool = False
) -> tuple[pd.DataFrame, list[Finding]]:
    """The baseline row of every subject with its label in column ``rule.name``.

    Excluded subjects are dropped (kept with a missing label when ``keep_excluded``); a warning
    finding counts the kept classes and every exclusion reason. Months come from the column
    ``rule.months`` or, by default, from the session ids (``ses-M036``).
    """
    import pandas as pd

    column = rule.from_
    if column not in table.columns:
        raise UserError(
            f"{source}: label '{rule.name}' reads the diagnosis from column '{column}', which "
            f"this cohort lacks. Columns: {', '.join(map(str, table.columns[:40]))}."
        )
    if rule.months is not None:
        if rule.months not in table.columns:
            raise UserError(
                f"{source}: label '{rule.name}' reads months from column '{rule.months}', which "
                "this cohort lacks."
            )
        months = pd.to_numeric(table[rule.months], errors="coerce")
    else:
        months = table["session"].map(session_months, na_action="ignore").astype("float64")
    bad = months.isna()
    if bad.any():
        row = table[bad].iloc[0]
        line = row.get("cohort_row")
        where = f"{source}:{int(line)}" if line is not None and not pd.isna(line) else source
        raise UserError(
            f"{where}: label '{rule.name}' needs the month of every session, but session "
            f"'{row['session']}' of {row['subject']} "
            + (
                f"has no number in column '{rule.months}'."
                if rule.months
                else "does not encode it (expected ses-M<months>, e.g. ses-M036). Name a "
                "column of months since baseline in the label's `months`."
            )
        )
    work = table.assign(_months=months.to_numpy())
    work = work.sort_values(["subject", "_months"], kind="stable")
    outcomes: dict[Any, str] = {}
    first_rows: list[Any] = []
    for subject, part in work.groupby("subject", sort=False):
        outcomes[subject] = conversion_outcome(
            part["_months"].tolist(), part[column].tolist(), rule
        )
        first_rows.append(part.index[0])
    base = table.loc[first_rows].copy()
    outcome = base["subject"].map(outcomes)
    names = {STABLE: rule.stable, PROGRESSIVE: rule.progressive}
    base[rule.name] = pd.array(outcome.map(names), dtype="string")
    counts = Counter(outcomes.values())
    if not keep_excluded:
        base = base[outcome.isin(list(names)).to_numpy()]
    base = base.sort_index().reset_index(drop=True)
    words = {"baseline": "/".join(rule.baseline), "reverted": "/".join(rule.reverted) or "-"}
    excluded = [f"{counts[k]} {EXCLUSIONS[k].format(**words)}" for k in EXCLUSIONS if counts.get(k)]
    kept = counts.get(STABLE, 0) + counts.get(PROGRESSIVE, 0)
    message = (
        f"cohort '{cohort_id}': label '{rule.name}' (baseline {words['baseline']}; "
        f"{rule.progressive}: {'/'.join(rule.progressed)} within {rule.horizon_months} months; "
        f"{rule.stable}: still {words['baseline']}; ClinicaDL rules): {kept} subject(s) kept "
        f"({counts.get(STABLE, 0)} {rule.stable}, {counts.get(PROGRESSIVE, 0)} "
        f"{rule.progressive}), baseline session as input; "
        f"{sum(counts.values()) - kept} excluded" + (f": {', '.join(excluded)}" if excluded else "")
    )
    finding = cohort_finding(
        "derived-label",
        message,
        file=source,
        severity=Severity.WARNING,
        hint="Counts of the label derivation; nothing to fix unless they surprise you.",
    )
    return base, [finding]


__all__ = ["EXCLUSIONS", "conversion_outcome", "derive_conversion_label", "session_months"]
