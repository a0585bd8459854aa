"""YAML loading that remembers where every value came from (file, line, column).

``yaml.SafeLoader`` composes a node tree whose nodes carry start marks; we build the Python data
from that tree ourselves and keep a map from each document path (a tuple of keys and indices)
to its 1-based line and column, so that a schema error can name ``model.yaml:12:3``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

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


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _build(node: yaml.Node, loc: Loc, doc: MarkedDocument, loader: yaml.SafeLoader) -> Any:
    doc.marks.setdefault(loc, _mark(node))
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool) and key is not None:
                line, col = _mark(key_node)
                raise YamlLoadError("a mapping key must be a scalar", doc.file, line, col)
            if key in out:
                line, col = _mark(key_node)
                raise YamlLoadError(f"duplicate key '{key}'", doc.file, line, col)
            child = (*loc, key if isinstance(key, str | int) else str(key))
            doc.marks[child] = _mark(key_node)
            out[key] = _build(value_node, child, doc, loader)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            items.append(_build(item, (*loc, i), doc, loader))
        return items
    return loader.construct_object(node, deep=True)


def load_marked(path: str | Path) -> MarkedDocument:
    """Read ``path`` as one YAML document with positions.

    Raises
    ------
    YamlLoadError
        When the file cannot be read or parsed; ``line``/``column`` point at the problem.
    """
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise YamlLoadError(f"cannot read the file: {exc}", file, None, None) from None
    doc = MarkedDocument(file=file, data=None)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            doc.data = _build(node, (), doc, loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        problem = exc.problem or str(exc)
        if exc.context:
            problem = f"{problem} ({exc.context})"
        raise YamlLoadError(f"malformed YAML: {problem}", file, line, col) from None
    except yaml.YAMLError as exc:
        raise YamlLoadError(f"malformed YAML: {exc}", file, None, None) from None
    finally:
        loader.dispose()
    return doc
