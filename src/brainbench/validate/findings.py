"""Findings: what a rule or a check reports, and how findings are rendered.

Rules collect findings; they never raise for a user's mistake (STYLE.md convention 3).
The same format serves ``validate`` and ``registry check``.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

FINGERPRINT_LENGTH = 12
_ABSOLUTE_DIRS = re.compile(r"(?<![\w.])(?:[A-Za-z]:)?[/\\](?:[^\s/\\,;:'\"()\[\]]+[/\\])+")


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    """One problem found in a spec, a cohort, a split or a registry entry.

    ``path`` is the dotted location inside the document (``splits.group``); ``line`` and
    ``column`` are 1-based positions in ``file`` when known.
    """

    rule: str
    severity: Severity
    message: str
    file: str | None = None
    path: str | None = None
    line: int | None = None
    column: int | None = None
    hint: str | None = None
    reference: str | None = None
    cohorts: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["severity"] = self.severity.value
        out["cohorts"] = list(self.cohorts)
        out["ids"] = list(self.ids)
        out["fingerprint"] = self.fingerprint
        return out

    @property
    def fingerprint(self) -> str:
        """A short stable id of what the finding is about, for a waiver's ``fingerprints``.

        sha256 of the rule, the spec path, and the cohorts and ids the finding names (its
        message when it names no id, with folders of absolute paths removed so that the same
        finding has the same fingerprint on every machine); the first 12 hex digits. A finding
        whose message carries measured values (a Cramér's V, a half-width) gets a new
        fingerprint when the data change, so a waiver by fingerprint never follows it silently.
        """
        if self.ids:
            what = "\x1f".join([*sorted(self.cohorts), "|", *sorted(self.ids)])
        else:
            what = _ABSOLUTE_DIRS.sub("", self.message)
        text = "\x1e".join([self.rule, self.path or "", what])
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:FINGERPRINT_LENGTH]

    @property
    def waivable(self) -> bool:
        """Rule findings (L, S, D) can be waived; engine findings (E, V) cannot."""
        return self.rule[:1] in "LSD" and self.rule[1:].isdigit()

    def location(self) -> str:
        where = self.file or "<input>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return where


@dataclass(frozen=True)
class WaivedFinding:
    """A finding silenced by a waiver, kept so every report can show it."""

    finding: Finding
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.finding.to_dict(), "waiver_reason": self.reason}


@dataclass
class CheckResult:
    """Findings of a check over one or more files.

    ``status`` is set when a file could not be checked at all: 2 an input is unreadable, 70 an
    internal error; it outranks the findings in :attr:`exit_code`. A result built by
    :meth:`extend` keeps each file's own result in ``parts``.
    """

    files: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    waived: list[WaivedFinding] = field(default_factory=list)
    status: int = 0
    parts: list[CheckResult] = field(default_factory=list)
    # None: unknown (a result built by hand); the evidence sheet tells "passed" from "not run"
    # for the data rules by it, since a clean cohort leaves no D finding to show they ran.
    data_checked: bool | None = None

    @property
    def valid(self) -> bool:
        return not any(f.severity is Severity.ERROR for f in self.findings)

    @property
    def exit_code(self) -> int:
        """0 valid, 1 an error finding remains, 2 an input is unreadable, 70 an internal error."""
        return self.status or (0 if self.valid else 1)

    def extend(self, other: CheckResult) -> None:
        self.files.extend(f for f in other.files if f not in self.files)
        self.findings.extend(other.findings)
        self.waived.extend(other.waived)
        self.status = max(self.status, other.status)
        self.parts.extend(other.parts or [other])
        if other.data_checked is not None:
            self.data_checked = bool(self.data_checked) or other.data_checked

    def _own(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "exit_code": self.exit_code,
            "findings": [f.to_dict() for f in self.findings],
            "waived": [w.to_dict() for w in self.waived],
            **({} if self.data_checked is None else {"data": self.data_checked}),
        }

    def to_dict(self) -> dict[str, Any]:
        out = {"files": list(self.files), **self._own()}
        if self.parts:
            # one entry per file checked, so a batch's consumer need not regroup the findings
            out["results"] = [{"file": ", ".join(p.files), **p._own()} for p in self.parts]
        return out


def render_json(result: CheckResult) -> str:
    return json.dumps(result.to_dict(), indent=2)


def _style(text: str, code: str, color: bool) -> str:
    return f"\033[{code}m{text}\033[0m" if color else text


def render_text(result: CheckResult, *, color: bool | None = None) -> str:
    """Findings grouped by file, one block per finding, with a closing summary line."""
    if color is None:
        color = sys.stdout.isatty()
    lines: list[str] = []
    by_file: dict[str, list[Finding]] = {}
    for finding in result.findings:
        by_file.setdefault(finding.file or "<input>", []).append(finding)
    for file in result.files:
        by_file.setdefault(file, [])
    for file, findings in by_file.items():
        if not findings:
            lines.append(f"{_style(file, '1', color)}: ok")
            continue
        lines.append(_style(file, "1", color))
        for f in sorted(findings, key=lambda x: (x.line or 0, x.rule)):
            sev = _style(f.severity.value, "31" if f.severity is Severity.ERROR else "33", color)
            where = "-" if f.line is None else str(f.line)
            if f.line is not None and f.column is not None:
                where += f":{f.column}"
            path = f" [{f.path}]" if f.path else ""
            lines.append(f"  {where}  {sev}  {_style(f.rule, '1', color)}  {f.message}{path}")
            if f.hint:
                lines.append(f"      hint: {f.hint}")
            if f.reference:
                lines.append(f"      see: {f.reference}")
            if f.waivable:
                lines.append(f"      fingerprint: {f.fingerprint}")
    for w in result.waived:
        f = w.finding
        lines.append(
            f"  waived {f.rule} in {f.location()} (fingerprint {f.fingerprint}): {w.reason}"
        )
    n_err = sum(f.severity is Severity.ERROR for f in result.findings)
    n_warn = len(result.findings) - n_err
    status = "valid" if result.valid else "invalid"
    lines.append(
        f"{len(result.files)} file(s): {n_err} error(s), {n_warn} warning(s), "
        f"{len(result.waived)} waived: {status}"
    )
    return "\n".join(lines)


__all__: Sequence[str] = [
    "CheckResult",
    "Finding",
    "Severity",
    "WaivedFinding",
    "render_json",
    "render_text",
]
