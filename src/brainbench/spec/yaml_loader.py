"""Safe YAML loading that remembers where every value came from.

PyYAML's ``SafeLoader`` composes the node graph (no python tags can construct objects); we then
convert nodes to plain Python ourselves so that we can (a) record the file, line and column of
every key, (b) bound alias expansion and depth, refusing "billion laughs" documents, and (c)
reject duplicate keys, which YAML 1.2 forbids but PyYAML silently accepts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from brainbench._files import UnreadableFile, check_regular_file
from brainbench.errors import UserError

MAX_NODES = 100_000  # values of one document, counted while composing and with aliases expanded
MAX_ALIASES = 1_000
MAX_DEPTH = 64
MAX_BYTES = 5_000_000

Position = tuple[str, int, int]  # file, 1-based line, 1-based column
PathKey = tuple[str | int, ...]


class YamlError(UserError):
    """A YAML file that cannot be read or parsed; ``line``/``column`` (1-based) when known."""

    def __init__(self, file: str, reason: str, mark: Any = None) -> None:
        self.file = file
        self.reason = reason
        self.line = None if mark is None else mark.line + 1
        self.column = None if mark is None else mark.column + 1
        super().__init__(f"{_where(file, mark)}: {reason}")


@dataclass
class YamlDocument:
    """A parsed YAML mapping with the position of every key and sequence item."""

    file: str
    data: Any
    positions: dict[PathKey, Position] = field(default_factory=dict)
    size: int = 0  # bytes of the file's text


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that counts aliases while composing."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.alias_count = 0
        self.node_count = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        # Counted while composing: PyYAML's nodes cost about 600 bytes each, so a 5 MB file of
        # short values would take 1.5 GiB before the converter could count them.
        self.node_count += 1
        if self.node_count > MAX_NODES:
            event = self.peek_event()
            raise _Refused(f"more than {MAX_NODES} YAML values", event.start_mark)
        if self.check_event(yaml.AliasEvent):
            self.alias_count += 1
            if self.alias_count > MAX_ALIASES:
                event = self.peek_event()
                raise _Refused(f"more than {MAX_ALIASES} YAML aliases", event.start_mark)
        return super().compose_node(parent, index)


class _Refused(Exception):
    def __init__(self, reason: str, mark: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.mark = mark


def _where(file: str, mark: Any) -> str:
    if mark is None:
        return file
    return f"{file}:{mark.line + 1}:{mark.column + 1}"


# What YAML 1.1 (and PyYAML's reader) accepts: tab, newlines and printable characters.
_NON_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


def read_text(path: Path) -> str:
    """Read a YAML file as UTF-8 text, with one-paragraph errors for every way that fails."""
    file = str(path)
    try:
        check_regular_file(path, limit=MAX_BYTES, what="YAML file")
    except UnreadableFile as exc:
        raise YamlError(exc.file, exc.reason) from None
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)  # the file may have grown since stat
    except OSError as exc:
        raise YamlError(file, f"cannot be read ({exc.strerror}).") from None
    if len(raw) > MAX_BYTES:
        raise YamlError(file, f"is larger than the limit of {MAX_BYTES} bytes.")
    if b"\x00" in raw:
        raise YamlError(file, "is a binary file, not YAML.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlError(file, f"is not UTF-8 text (byte {exc.start}); save it as UTF-8.") from None
    bad = _NON_PRINTABLE.search(text)
    if bad:
        line = text.count("\n", 0, bad.start())
        column = bad.start() - (text.rfind("\n", 0, bad.start()) + 1)
        raise YamlError(
            file,
            f"control character U+{ord(bad.group()):04X} is not allowed in YAML. Delete it (an "
            "editor's 'show invisibles' finds it), or write it as an escape such as \"\\e\" "
            "inside a double-quoted string.",
            yaml.Mark(file, bad.start(), line, column, None, None),
        )
    return text


def load_yaml_document(path: Path) -> YamlDocument:
    """Parse one YAML file (any top-level value; ``None`` when empty) with positions.

    Raises
    ------
    YamlError
        Unreadable, not YAML, a bomb, too deep, or duplicate keys; names the file, line, column.
    """
    text = read_text(path)
    file = str(path)
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
    except _Refused as exc:
        raise YamlError(
            file, f"refused: {exc.reason} (a YAML bomb or a generated file?).", exc.mark
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        raise YamlError(file, f"not valid YAML: {problem}.", mark) from None
    except yaml.YAMLError as exc:
        raise YamlError(file, f"not valid YAML: {exc}.") from None
    except RecursionError:
        raise YamlError(file, f"nesting is too deep (limit {MAX_DEPTH} levels).") from None
    finally:
        loader.dispose()
    doc = YamlDocument(file=file, data=None, size=len(text.encode("utf-8")))
    if node is not None:
        doc.data = _Converter(file, loader, doc.positions).convert(node, (), 0)
        doc.positions.setdefault((), (file, node.start_mark.line + 1, node.start_mark.column + 1))
    return doc


def load_yaml_mapping(path: Path) -> YamlDocument:
    """Parse a spec file, whose top level must be a mapping (see :func:`load_yaml_document`)."""
    doc = load_yaml_document(path)
    if doc.data is None:
        raise YamlError(doc.file, "the file is empty; a spec starts with 'brainbench: 1'.")
    if not isinstance(doc.data, dict):
        _, line, column = doc.positions[()]
        raise UserError(
            f"{doc.file}:{line}:{column}: the top level must be a mapping (key: value lines), "
            f"not a {type(doc.data).__name__}."
        )
    return doc


class _Converter:
    def __init__(self, file: str, loader: yaml.SafeLoader, positions: dict) -> None:
        self.file = file
        self.loader = loader
        self.positions = positions
        self.count = 0

    def convert(self, node: yaml.Node, path: PathKey, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise YamlError(
                self.file,
                f"refused: the document expands to more than {MAX_NODES} values (a YAML bomb?).",
                node.start_mark,
            )
        if depth > MAX_DEPTH:
            raise YamlError(
                self.file, f"nesting is too deep (limit {MAX_DEPTH} levels).", node.start_mark
            )
        if isinstance(node, yaml.MappingNode):
            try:
                self.loader.flatten_mapping(node)  # merge keys (<<)
            except yaml.constructor.ConstructorError as exc:
                raise YamlError(
                    self.file,
                    f"a merge key '<<' {exc.problem} (write '<<: *anchor' of a mapping).",
                    exc.problem_mark,
                ) from None
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = self._scalar(key_node)
                if not isinstance(key, str | int | float | bool) or key is None:
                    raise YamlError(
                        self.file, "a mapping key must be a plain scalar.", key_node.start_mark
                    )
                key = str(key)
                if key in out:
                    raise YamlError(
                        self.file,
                        f"duplicate key '{key}' (YAML forbids it; the second value would "
                        "silently win).",
                        key_node.start_mark,
                    )
                child = (*path, key)
                mark = key_node.start_mark
                self.positions[child] = (self.file, mark.line + 1, mark.column + 1)
                out[key] = self.convert(value_node, child, depth + 1)
            return out
        if isinstance(node, yaml.SequenceNode):
            items = []
            for i, item in enumerate(node.value):
                child = (*path, i)
                mark = item.start_mark
                self.positions[child] = (self.file, mark.line + 1, mark.column + 1)
                items.append(self.convert(item, child, depth + 1))
            return items
        return self._scalar(node)

    def _scalar(self, node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise YamlError(self.file, "a mapping key must be a plain scalar.", node.start_mark)
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            raise YamlError(
                self.file,
                f"{exc.problem} (only plain YAML values are allowed here).",
                node.start_mark,
            ) from None
        except (ValueError, OverflowError, TypeError) as exc:
            # e.g. 2024-13-45 looks like a date to YAML but is none: quote it to keep it text
            raise YamlError(
                self.file,
                f"the value {node.value[:60]!r} cannot be read as its YAML type ({exc}); put it "
                "in quotes to keep it as text.",
                node.start_mark,
            ) from None
