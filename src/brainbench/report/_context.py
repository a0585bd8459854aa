"""What every section builder receives, and the number formatting they share."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from brainbench.report._analysis import Analysis
from brainbench.report._figures import FigureWriter
from brainbench.report._model import Section
from brainbench.report._run import RunData


@dataclass
class ReportContext:
    """The run, the shared analysis, the figure writer, and the sections built so far."""

    run: RunData
    analysis: Analysis
    figures: FigureWriter
    sections: dict[str, Section] = field(default_factory=dict)


def num(x: Any, digits: int = 3) -> str:
    """A number for a table cell; ``n/a`` when missing or not finite."""
    if x is None:
        return "n/a"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if not math.isfinite(v):
        return "n/a"
    out = f"{v:.{digits}f}"
    return "0." + "0" * digits if out == "-0." + "0" * digits else out


def interval(lo: Any, hi: Any, digits: int = 3) -> str:
    if num(lo) == "n/a" or num(hi) == "n/a":
        return "n/a"
    return f"[{num(lo, digits)}, {num(hi, digits)}]"


def pval(p: Any) -> str:
    if p is None:
        return "n/a"
    try:
        v = float(p)
    except (TypeError, ValueError):
        return str(p)
    if not math.isfinite(v):
        return "n/a"
    return "<0.001" if v < 0.001 else f"{v:.3f}"


def pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def metric_label(name: str) -> str:
    return name.replace("_", " ")


class Footnotes:
    """Warnings of a table's rows as numbered notes, each message once."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def mark(self, messages: list[str]) -> str:
        marks = []
        for m in messages:
            if m not in self.items:
                self.items.append(m)
            marks.append(f"[{self.items.index(m) + 1}]")
        return " ".join(dict.fromkeys(marks))

    def notes(self) -> list[str]:
        return [f"[{i + 1}] {m}" for i, m in enumerate(self.items)]
