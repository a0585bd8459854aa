"""model.yaml loading with positions: the spec language's bounded, safe YAML loader
(:mod:`brainbench.spec.yaml_loader`) seen through the registry's small interface."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from brainbench.spec.yaml_loader import YamlError, load_yaml_document

Loc = tuple[str | int, ...]


class YamlLoadError(Exception):
    """The file cannot be parsed as YAML (or holds duplicate keys); carries a position."""

    def __init__(self, message: str, file: str, line: int | None, column: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.column = column


@dataclass
class MarkedDocument:
    """Parsed YAML data plus the 1-based (line, column) of every key and value."""

    file: str
    data: Any
    marks: dict[Loc, tuple[int, int]] = field(default_factory=dict)

    def locate(self, loc: Loc) -> tuple[int | None, int | None]:
        """Position of ``loc``, or of its closest existing parent (``(None, None)`` if none)."""
        loc = tuple(loc)
        while True:
            if loc in self.marks:
                return self.marks[loc]
            if not loc:
                return None, None
            loc = loc[:-1]


def load_marked(path: str | Path) -> MarkedDocument:
    """Read ``path`` as one YAML document with positions.

    Raises
    ------
    YamlLoadError
        When the file cannot be read or parsed; ``line``/``column`` point at the problem.
    """
    try:
        doc = load_yaml_document(Path(path))
    except YamlError as exc:
        raise YamlLoadError(exc.reason, exc.file, exc.line, exc.column) from None
    marks = {loc: (line, column) for loc, (_, line, column) in doc.positions.items()}
    return MarkedDocument(file=str(path), data=doc.data, marks=marks)
