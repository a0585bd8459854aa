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

from brainbench.errors import UserError
from brainbench.registry_base import did_you_mean
from brainbench.spec.models import FORMAT_VERSION, Spec
from brainbench.spec.yaml_loader import PathKey, Position, load_yaml_mapping
from brainbench.validate.findings import Finding, Severity

SCHEMA_RULE = "E001"
MAX_EXTENDS_DEPTH = 16
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


def _merge(
    base: dict[str, Any],
    base_pos: dict[PathKey, Position],
    child: dict[str, Any],
    child_pos: dict[PathKey, Position],
    prefix: PathKey = (),
) -> dict[str, Any]:
    """Child overrides base: mappings merged key by key, anything else replaced."""
    out = dict(base)
    for key, value in child.items():
        here = (*prefix, key)
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], base_pos, value, child_pos, here)
            base_pos[here] = child_pos[here]
            continue
        out[key] = value
        for k in [k for k in base_pos if k[: len(here)] == here]:
            del base_pos[k]
        for k, pos in child_pos.items():
            if k[: len(here)] == here:
                base_pos[k] = pos
    return out


def _load_raw(
    path: Path, chain: tuple[Path, ...]
) -> tuple[dict[str, Any], dict[PathKey, Position], list[Path]]:
    resolved = path.resolve()
    if resolved in chain:
        cycle = " -> ".join(str(p) for p in (*chain, resolved))
        raise UserError(f"{path}: 'extends' forms a cycle: {cycle}.")
    if len(chain) > MAX_EXTENDS_DEPTH:
        raise UserError(f"{path}: 'extends' is nested more than {MAX_EXTENDS_DEPTH} levels deep.")
    doc = load_yaml_mapping(path)
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
        target = Path(expand_env(parent, where=str(path)))
        target = target if target.is_absolute() else path.parent / target
        if not target.is_file():
            _, line, col = positions.get(("extends", i), positions[("extends",)])
            raise UserError(
                f"{path}:{line}:{col}: 'extends' target {target} does not exist. Check the "
                "path (relative to this spec's folder)."
            )
        pdata, ppos, pfiles = _load_raw(target, (*chain, resolved))
        merged = _merge(merged, merged_pos, pdata, ppos)
        files.extend(pfiles)
    own = {k: v for k, v in data.items() if k != "extends"}
    merged = _merge(merged, merged_pos, own, positions)
    merged["extends"] = parents
    merged_pos[("extends",)] = positions[("extends",)]
    return merged, merged_pos, files


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
    data, positions, files = _load_raw(path, ())
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
        findings = [_error_finding(err, positions, file) for err in exc.errors()]
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


def _error_finding(err: Any, positions: dict[PathKey, Position], file: str) -> Finding:
    loc = tuple(p for p in err["loc"] if not _is_union_tag(p))
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
        message = f"'{loc[-1]}' is required here"
    else:
        msg = err["msg"].removeprefix("Value error, ")
        given = err.get("input")
        shown = "" if isinstance(given, dict | list) else f" (got {given!r})"
        message = f"{dotted or 'spec'}: {msg}{shown}"
    return _schema_finding(where, dotted, message, hint)


def _is_union_tag(part: Any) -> bool:
    # pydantic inserts the union member's name (e.g. 'str', 'list[str]') into error locations
    return isinstance(part, str) and (part in {"str", "int", "float"} or "[" in part)


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
