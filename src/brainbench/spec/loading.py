"""Loading a spec file: YAML with positions, ``extends`` merging, format version, validation.

Errors in the spec itself (unknown keys, wrong types) become findings of rule ``E001`` with the
file, line and column and a "did you mean" for misspelt keys; a file that cannot be read or
parsed is a :class:`~brainbench.errors.UserError` (exit 2).
"""

from __future__ import annotations

import hashlib
import os
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from brainbench._files import UnreadableFile, check_regular_file
from brainbench.errors import UserError
from brainbench.registry_base import did_you_mean
from brainbench.spec.models import FORMAT_VERSION, Spec
from brainbench.spec.yaml_loader import MAX_BYTES, PathKey, Position, load_yaml_mapping
from brainbench.validate.findings import Finding, Severity

SCHEMA_RULE = "E001"
MAX_EXTENDS_DEPTH = 16
MAX_EXTENDS_FILES = 64  # files read for one spec, extends included (a diamond reads one twice)
MAX_EXTENDS_BYTES = MAX_BYTES  # bytes read for one spec, extends included, checked before reading
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class SpecError(UserError):
    """A spec that cannot be used: unreadable (exit 2) or invalid against the schema (exit 1)."""

    def __init__(self, findings: list[Finding], file: str) -> None:
        lines = [
            f"{f.location()}: {f.message}" + (f" ({f.hint})" if f.hint else "") for f in findings
        ]
        super().__init__(f"{file} is not a valid spec:\n  " + "\n  ".join(lines), exit_code=1)
        self.findings = findings
        self.file = file


@dataclass
class LoadedSpec:
    """A validated spec with where each of its values came from."""

    spec: Spec
    file: Path
    data: dict[str, Any]
    positions: dict[PathKey, Position] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)  # this file, then every file it extends

    def locate_full(self, path: str | PathKey) -> tuple[str, int | None, int | None]:
        """File, line and column of a dotted path (``splits.group``, ``cohorts.0.id``).

        Falls back to the nearest located parent, then to the spec file itself.
        """
        key = _as_key(path)
        while key:
            if key in self.positions:
                return self.positions[key]
            key = key[:-1]
        return (str(self.file), None, None)

    def locate(self, path: str | PathKey) -> tuple[int | None, int | None]:
        _, line, column = self.locate_full(path)
        return line, column

    def resolve_path(self, text: str) -> Path:
        """A path from the spec: ``${VAR}`` expanded, relative to the spec's folder."""
        path = Path(expand_env(text, where=str(self.file)))
        return path if path.is_absolute() else (self.file.parent / path)

    def snapshot(self) -> dict[str, bytes]:
        """The files a run folder keeps so that the spec loads there alone, by relative name.

        Without ``extends``, ``spec.yaml`` is the file's bytes. With it, ``spec.yaml`` is the
        resolved spec (every file merged, ``extends`` dropped: it would name files outside the
        run folder), ``spec.parts/`` holds a copy of each file and ``spec.parts.json`` their
        original paths and sha256.
        """
        if len(self.files) == 1:
            return {"spec.yaml": self.file.read_bytes()}
        import json

        import yaml

        header = (
            f"# The spec {self.file} resolved by brainbench: it and the files it extends merged\n"
            "# (see spec.parts.json). Its sha256 (resolved) is that of the original.\n"
        )
        resolved = {k: v for k, v in self.data.items() if k != "extends"}
        out = {"spec.yaml": (header + yaml.safe_dump(resolved, sort_keys=False)).encode()}
        parts = []
        for i, path in enumerate(self.files):
            raw = path.read_bytes()
            copy = f"spec.parts/{i:02d}-{path.name}"
            out[copy] = raw
            digest = hashlib.sha256(raw).hexdigest()
            parts.append({"file": str(path), "copy": copy, "sha256": digest})
        index = {"resolved_sha256": self.sha256, "parts": parts}
        out["spec.parts.json"] = (json.dumps(index, indent=2) + "\n").encode()
        return out

    @property
    def sha256(self) -> str:
        """Hash of the resolved spec (after ``extends``), independent of formatting."""
        canonical = self.spec.model_dump_json(exclude={"extends"})
        return hashlib.sha256(canonical.encode()).hexdigest()


def expand_env(text: str, *, where: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = os.environ.get(name)
        if value is None:
            if default is None:
                raise UserError(
                    f"{where}: the path '{text}' uses ${{{name}}}, which is not set. Set it "
                    f"(export {name}=...) or write ${{{name}:-default}}."
                )
            return default
        return value

    return _ENV.sub(replace, text)


def _as_key(path: str | PathKey) -> PathKey:
    if isinstance(path, tuple):
        return path
    return tuple(int(p) if p.isdigit() else p for p in path.split(".") if p)


def _copy_positions(
    value: Any, here: PathKey, source: dict[PathKey, Position], out: dict[PathKey, Position]
) -> None:
    """Copy the positions of ``value``'s subtree (at ``here``) from ``source``: one walk."""
    if here in source:
        out[here] = source[here]
    if isinstance(value, dict):
        for key, item in value.items():
            _copy_positions(item, (*here, key), source, out)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _copy_positions(item, (*here, i), source, out)


def _merge(
    base: dict[str, Any],
    base_pos: dict[PathKey, Position],
    child: dict[str, Any],
    child_pos: dict[PathKey, Position],
    out_pos: dict[PathKey, Position],
    prefix: PathKey = (),
) -> dict[str, Any]:
    """Child overrides base: mappings merged key by key, anything else replaced.

    Positions of the result go to ``out_pos``, each from the file that supplied the value. Every
    value is visited once, so merging is linear in the size of the two documents.
    """
    out: dict[str, Any] = {}
    for key, value in base.items():
        if key not in child:
            out[key] = value
            _copy_positions(value, (*prefix, key), base_pos, out_pos)
    for key, value in child.items():
        here = (*prefix, key)
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            out[key] = _merge(base[key], base_pos, value, child_pos, out_pos, here)
            if here in child_pos:
                out_pos[here] = child_pos[here]
        else:
            out[key] = value
            _copy_positions(value, here, child_pos, out_pos)
    # keep the base's key order, then the child's new keys (as a plain dict update would)
    order = [*base, *(k for k in child if k not in base)]
    return {key: out[key] for key in order}


@dataclass
class _Budget:
    """What one spec and everything it extends may read, summed over the whole tree."""

    files: int = 0
    bytes: int = 0


def _extends_target(parent: str, path: Path, where: str) -> Path:
    """The file an ``extends`` entry names, checked by ``stat`` before anything reads it."""
    shown = parent if len(parent) <= 80 else parent[:77] + "..."
    target = Path(expand_env(parent, where=str(path)))
    target = target if target.is_absolute() else path.parent / target
    if any(len(part.encode()) > 255 for part in target.parts) or "\x00" in parent:
        raise UserError(
            f"{where}: 'extends' target {shown!r} is not a usable file name (a name over 255 "
            "bytes, or a NUL character). Give the path of a spec file."
        )
    try:
        check_regular_file(target, limit=MAX_EXTENDS_BYTES, what="spec file")
    except UnreadableFile as exc:
        missing = not os.path.lexists(target)
        reason = "does not exist" if missing else exc.reason.rstrip(".")
        raise UserError(
            f"{where}: 'extends' target {shown!r} ({target}) {reason}. Check the path "
            "(relative to this spec's folder)."
        ) from None
    return target


def _load_raw(
    path: Path, chain: tuple[Path, ...], budget: _Budget
) -> tuple[dict[str, Any], dict[PathKey, Position], list[Path]]:
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop on Python 3.10-3.12
        raise UserError(f"{path}: cannot resolve the path ({exc}).") from None
    if resolved in chain:
        cycle = " -> ".join(str(p) for p in (*chain, resolved))
        raise UserError(f"{path}: 'extends' forms a cycle: {cycle}.")
    if len(chain) > MAX_EXTENDS_DEPTH:
        raise UserError(f"{path}: 'extends' is nested more than {MAX_EXTENDS_DEPTH} levels deep.")
    budget.files += 1
    if budget.files > MAX_EXTENDS_FILES:
        raise UserError(
            f"{path}: the spec and the files it extends add up to more than "
            f"{MAX_EXTENDS_FILES} files (the same file extended many times?)."
        )
    doc = load_yaml_mapping(path)
    budget.bytes += doc.size
    if budget.bytes > MAX_EXTENDS_BYTES:
        raise UserError(
            f"{path}: the spec and the files it extends add up to more than "
            f"{MAX_EXTENDS_BYTES} bytes; a spec is a few kilobytes."
        )
    data, positions = doc.data, doc.positions
    parents = data.get("extends")
    if parents is None:
        return data, positions, [path]
    if isinstance(parents, str):
        parents = [parents]
    if not isinstance(parents, list) or not all(isinstance(p, str) for p in parents):
        _, line, col = positions[("extends",)]
        raise UserError(f"{path}:{line}:{col}: 'extends' must be a path or a list of paths.")
    merged: dict[str, Any] = {}
    merged_pos: dict[PathKey, Position] = {}
    files = [path]
    for i, parent in enumerate(parents):
        _, line, col = positions.get(("extends", i), positions[("extends",)])
        target = _extends_target(parent, path, f"{path}:{line}:{col}")
        pdata, ppos, pfiles = _load_raw(target, (*chain, resolved), budget)
        merged_pos, previous = {}, merged_pos
        merged = _merge(merged, previous, pdata, ppos, merged_pos)
        files.extend(pfiles)
    own = {k: v for k, v in data.items() if k != "extends"}
    out_pos: dict[PathKey, Position] = {}
    merged = _merge(merged, merged_pos, own, positions, out_pos)
    merged["extends"] = parents
    _copy_positions(parents, ("extends",), positions, out_pos)
    if () in positions:
        out_pos[()] = positions[()]
    return merged, out_pos, files


def load_spec(path: str | Path) -> LoadedSpec:
    """Read, merge and validate a spec file.

    Raises
    ------
    UserError
        The file (or a file it extends) cannot be read or parsed (exit 2).
    SpecError
        The spec is readable but does not follow the schema (exit 1); ``.findings`` locates
        every problem.
    """
    path = Path(path)
    data, positions, files = _load_raw(path, (), _Budget())
    file = str(path)
    version = data.get("brainbench")
    if version != FORMAT_VERSION:
        where = positions.get(("brainbench",), (file, 1, 1))
        if version is None:
            message = "'brainbench: 1' (the format version) is missing at the top of the spec"
        else:
            message = (
                f"format version {version!r} is not supported: this brainbench reads format "
                f"{FORMAT_VERSION}. Upgrade brainbench or set 'brainbench: {FORMAT_VERSION}'"
            )
        raise SpecError([_schema_finding(where, "brainbench", message, None)], file)
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        findings = [_error_finding(err, positions, file, data) for err in exc.errors()]
        raise SpecError(findings, file) from None
    return LoadedSpec(spec=spec, file=path, data=data, positions=positions, files=files)


def _schema_finding(where: Position, path: str, message: str, hint: str | None) -> Finding:
    file, line, column = where
    return Finding(
        rule=SCHEMA_RULE,
        severity=Severity.ERROR,
        message=message,
        file=file,
        path=path or None,
        line=line,
        column=column,
        hint=hint,
        reference="brainbench schema (spec/schema/brainbench-1.schema.json)",
    )


def _error_finding(
    err: Any, positions: dict[PathKey, Position], file: str, data: dict[str, Any]
) -> Finding:
    loc = _data_loc(err["loc"], data)
    dotted = ".".join(str(p) for p in loc)
    where: Position = (file, None, None)  # type: ignore[assignment]
    key = loc
    while key:
        if key in positions:
            where = positions[key]
            break
        key = key[:-1]
    kind = err["type"]
    hint = None
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        name = str(loc[-1])
        message = f"unknown key '{name}'.{did_you_mean(name, allowed)}"
        hint = f"allowed here: {', '.join(allowed)}" if allowed else None
    elif kind == "missing":
        message = f"'{loc[-1]}' is required here" if loc else "a required key is missing"
    else:
        msg = err["msg"].removeprefix("Value error, ")
        given = err.get("input")
        shown = "" if isinstance(given, dict | list) else f" (got {_short_repr(given)})"
        message = f"{dotted or 'spec'}: {msg}{shown}"
    return _schema_finding(where, dotted, message, hint)


def _data_loc(loc: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    """Pydantic's error location without the union members' names it inserts ('str', 'int',
    'list[str]'), following the data so that a key the user named ``int`` is kept."""
    out: list[Any] = []
    node = data
    for part in loc:
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            node = node[part]  # type: ignore[index]
        elif _is_union_tag(part):
            continue
        else:
            node = None
        out.append(part)
    return tuple(out)


def _is_union_tag(part: Any) -> bool:
    return isinstance(part, str) and (part in {"str", "int", "float"} or "[" in part)


def _short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """Field names of the model found at ``loc`` inside :class:`Spec`."""
    model: Any = Spec
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        info = model.model_fields.get(str(part))
        if info is None:
            return []
        model = _model_in(info.annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
