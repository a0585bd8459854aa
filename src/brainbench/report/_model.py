"""What a report section produces, and the section registry (STYLE.md convention 4).

A section is a small function ``build(ctx) -> Section`` registered with :func:`section`. It
reads the run (:class:`~brainbench.report._run.RunData`) and the shared analysis
(:class:`~brainbench.report._analysis.Analysis`) from the context, and returns text, tables,
figures and a JSON-ready ``data`` dict. Renderers (HTML, Markdown, JSON) never compute.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from brainbench.registry_base import Registry

if TYPE_CHECKING:
    from brainbench.report._context import ReportContext

#: Section status: everything it needs was there, part of it, or nothing.
OK, PARTIAL, UNAVAILABLE = "ok", "partial", "unavailable"


@dataclass
class Table:
    """A table of formatted cells; ``columns`` are its header cells (rendered as ``<th>``)."""

    id: str
    caption: str
    columns: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "caption": self.caption,
            "columns": list(self.columns),
            "rows": [list(r) for r in self.rows],
            "notes": list(self.notes),
        }


@dataclass
class Figure:
    """A figure written as ``figures/<id>.png`` and ``.svg``; ``alt`` describes it in words."""

    id: str
    title: str
    alt: str
    caption: str
    png: str  # path relative to the report folder
    svg: str
    svg_text: str = field(default="", repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "alt": self.alt,
            "caption": self.caption,
            "png": self.png,
            "svg": self.svg,
        }


@dataclass
class Section:
    """One section of the evidence sheet.

    Attributes
    ----------
    id, number, title
        Stable id (anchor, JSON key), position and heading.
    status
        ``ok``, ``partial`` (some inputs missing) or ``unavailable`` (nothing to show).
    missing
        What was missing, in words ("provenance.json (not in the run directory)").
    text
        Paragraphs, plain text.
    tables, figures
        What the section shows.
    data
        The section's numbers, JSON-ready (``evidence.json``).
    """

    id: str
    number: int
    title: str
    status: str = OK
    missing: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "number": self.number,
            "title": self.title,
            "status": self.status,
            "missing": list(self.missing),
            "text": list(self.text),
            "tables": [t.to_dict() for t in self.tables],
            "figures": [f.to_dict() for f in self.figures],
            "data": json_ready(self.data),
        }


@dataclass(frozen=True)
class SectionSpec:
    """A registered section: its id, position, title and builder."""

    id: str
    number: int
    title: str
    build: Callable[[ReportContext], Section]

    def new(self, **kwargs: Any) -> Section:
        return Section(id=self.id, number=self.number, title=self.title, **kwargs)


SECTIONS: Registry[SectionSpec] = Registry("report section")


def section(id: str, number: int, title: str) -> Callable:
    """Decorator registering ``build(ctx, sec) -> Section`` as report section ``id``.

    The builder receives an empty :class:`Section` (id, number and title set) to fill.
    """

    def decorator(fn: Callable) -> Callable:
        def build(ctx: ReportContext) -> Section:
            sec = Section(id=id, number=number, title=title)
            return fn(ctx, sec) or sec

        SECTIONS.add(id, SectionSpec(id, number, title, build))
        return fn

    return decorator


def ordered_sections() -> list[SectionSpec]:
    """Registered sections in report order."""
    _load()
    return sorted((SECTIONS.get(n) for n in SECTIONS), key=lambda s: s.number)


def _load() -> None:
    import brainbench.report._sections_meta
    import brainbench.report._sections_results  # noqa: F401


def json_ready(value: Any, digits: int = 6) -> Any:
    """Floats rounded to ``digits`` significant decimals, NaN/inf as None, numpy unwrapped."""
    if isinstance(value, dict):
        return {str(k): json_ready(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v, digits) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (ValueError, AttributeError):
            return str(value)
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        rounded = round(value, digits)
        return 0.0 if rounded == 0 else rounded
    return str(value)
