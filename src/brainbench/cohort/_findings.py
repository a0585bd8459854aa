"""Findings of cohort reading and hierarchy checks (not rules of the catalogue).

Their ``rule`` field reads ``cohort/<name>`` so that they sort apart from the rule catalogue
(L1xx, S2xx, D3xx) in ``validate --data`` output.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from brainbench.validate.findings import Finding, Severity

if TYPE_CHECKING:
    import numpy as np

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


def lines_text(lines: Sequence[int] | np.ndarray, limit: int = 5) -> str:
    """``"lines 3, 8, 9 and 4 more"``: the first few line numbers of a problem."""
    import numpy as np

    distinct = np.asarray(lines, dtype=np.int64)
    if len(distinct) > 1 and not bool((distinct[1:] > distinct[:-1]).all()):
        # sorted and distinct (np.unique hashes: slower on the usual ascending file lines)
        distinct = np.sort(distinct)
        distinct = distinct[np.r_[True, distinct[1:] != distinct[:-1]]]
    n = len(distinct)
    head = ", ".join(str(int(x)) for x in distinct[:limit])
    more = f" and {n - limit} more" if n > limit else ""
    word = "line" if n == 1 else "lines"
    return f"{word} {head}{more}"
