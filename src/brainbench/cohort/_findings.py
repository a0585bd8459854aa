"""Findings of cohort reading and hierarchy checks (not rules of the catalogue).

Their ``rule`` field reads ``cohort/<name>`` so that they sort apart from the rule catalogue
(L1xx, S2xx, D3xx) in ``validate --data`` output.
"""

from __future__ import annotations

from brainbench.validate.findings import Finding, Severity

REFERENCE = "https://bids-specification.readthedocs.io/en/stable/"


def cohort_finding(
    name: str,
    message: str,
    *,
    file: str | None = None,
    line: int | None = None,
    hint: str | None = None,
    severity: Severity = Severity.ERROR,
    path: str | None = None,
) -> Finding:
    """A finding about a cohort file: ``rule`` is ``cohort/<name>``."""
    return Finding(
        rule=f"cohort/{name}",
        severity=severity,
        message=message,
        file=file,
        path=path,
        line=line,
        hint=hint,
    )


def lines_text(lines: list[int], limit: int = 5) -> str:
    """``"lines 3, 8, 9 and 4 more"``: the first few line numbers of a problem."""
    lines = sorted({int(x) for x in lines})
    head = ", ".join(str(x) for x in lines[:limit])
    more = f" and {len(lines) - limit} more" if len(lines) > limit else ""
    word = "line" if len(lines) == 1 else "lines"
    return f"{word} {head}{more}"
