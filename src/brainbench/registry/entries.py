"""Finding, reading and importing registry entries (``registry/models/<id>/``).

Reading an entry never imports its code; :func:`import_factory` does, under a private package
name per entry folder (``_brainbench_models.<id>_<hash>``), so every entry may call its module
``model.py`` and import sibling files relatively (``from . import blocks``), without installing
anything and without touching ``sys.path``.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import os
import sys
import traceback
import types
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from brainbench.errors import UserError
from brainbench.registry._yaml import Loc, MarkedDocument, YamlLoadError, load_marked
from brainbench.registry.schema import ModelEntry
from brainbench.validate.findings import Finding, Severity

ENTRY_FILE = "model.yaml"
ENV_ROOT = "BRAINBENCH_REGISTRY"
_PACKAGE = "_brainbench_models"


@dataclass(frozen=True)
class LoadedEntry:
    """A parsed entry and where it lives."""

    entry: ModelEntry
    folder: Path
    doc: MarkedDocument

    @property
    def file(self) -> Path:
        return self.folder / ENTRY_FILE

    @property
    def id(self) -> str:
        return self.entry.id

    def module_file(self) -> Path | None:
        """The file of the entrypoint module (``a.b`` -> ``a/b.py`` or ``a/b/__init__.py``)."""
        rel = Path(*self.entry.module.split("."))
        for candidate in (self.folder / rel.with_suffix(".py"), self.folder / rel / "__init__.py"):
            if candidate.is_file():
                return candidate
        return None


# -- where the registry is --
def default_root() -> Path:
    """The registry folder: ``$BRAINBENCH_REGISTRY``, else the nearest ``registry/`` above the
    working directory that holds ``models/``, else the one of the source tree."""
    env = os.environ.get(ENV_ROOT)
    if env:
        return Path(env)
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "registry" / "models").is_dir():
            return folder / "registry"
    return Path(__file__).resolve().parents[3] / "registry"


def entry_folders(root: Path | None = None) -> list[Path]:
    """Every folder of ``root/models`` that holds a ``model.yaml``, sorted by name."""
    models = (root or default_root()) / "models"
    if not models.is_dir():
        return []
    return sorted(p for p in models.iterdir() if (p / ENTRY_FILE).is_file())


def resolve_entry_path(path: str | Path) -> Path:
    """The entry folder of ``path`` (a folder or its ``model.yaml``); UserError otherwise."""
    p = Path(path)
    if p.is_file() and p.name == ENTRY_FILE:
        return p.parent
    if p.is_dir() and (p / ENTRY_FILE).is_file():
        return p
    if not p.exists():
        raise UserError(f"'{path}' does not exist: give a registry entry folder or its model.yaml.")
    raise UserError(
        f"'{path}' is not a registry entry: an entry is a folder with a {ENTRY_FILE} "
        "(see CONTRIBUTING.md)."
    )


# -- reading --
def _allowed_keys(loc: Loc) -> list[str]:
    """Field names (aliases) accepted at ``loc`` in the entry schema, for "did you mean"."""
    model: Any = ModelEntry
    for part in loc:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        fields = {(f.alias or name): f for name, f in model.model_fields.items()}
        field = fields.get(str(part))
        if field is None:
            return []
        model = _inner_model(field.annotation)
        if model is None:
            return []
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [(f.alias or name) for name, f in model.model_fields.items()]
    return []


def _inner_model(annotation: Any) -> Any:
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# Missing fields with a check of their own (CONTRIBUTING.md explains each).
_MISSING_RULES = {"license": "R411", "pretraining": "R413", "entrypoint": "R407"}


def _clean_loc(doc: MarkedDocument, loc: tuple[Any, ...]) -> Loc:
    """Keep the parts of a pydantic error location that are keys or indices of the document
    (drops union member names such as ``list[...]`` or ``function-after[...]``)."""
    out: list[str | int] = []
    node = doc.data
    for i, part in enumerate(loc):
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            out.append(part)
            node = node[part]
        elif (
            i == len(loc) - 1
            and isinstance(node, dict)
            and isinstance(part, str)
            and not any(c in part for c in "[(")
        ):
            out.append(part)  # a missing field
    return tuple(out)


def validation_findings(doc: MarkedDocument, exc: ValidationError) -> list[Finding]:
    """One finding per invalid location, at the YAML line and column."""
    groups: dict[Loc, list[dict[str, Any]]] = {}
    for err in exc.errors(include_url=False):
        groups.setdefault(_clean_loc(doc, tuple(err["loc"])), []).append(err)
    findings = []
    for loc, errs in groups.items():
        err = errs[0]
        kind = err["type"]
        rule = "R402"
        hint = None
        if kind == "extra_forbidden":
            key = str(loc[-1]) if loc else "?"
            allowed = _allowed_keys(loc[:-1])
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            message = f"unknown key '{key}'"
            if close:
                message += f"; did you mean '{close[0]}'?"
            hint = f"allowed keys here: {', '.join(allowed)}" if allowed else None
        elif kind == "missing":
            key = str(loc[-1]) if loc else "?"
            message = f"missing required field '{_dotted(loc)}'"
            if len(loc) == 1:
                rule = _MISSING_RULES.get(key, rule)
        else:
            msgs = []
            for e in errs:
                m = e["msg"].removeprefix("Value error, ")
                if m not in msgs:
                    msgs.append(m)
            message = f"{_dotted(loc) or 'model.yaml'}: " + "; or ".join(msgs[:3])
            if len(msgs) > 1 or kind == "string_pattern_mismatch":
                message += f" (got {err.get('input')!r})"
        line, column = doc.locate(loc)
        if line is None:
            line, column = 1, 1
        findings.append(
            Finding(
                rule=rule,
                severity=Severity.ERROR,
                message=message,
                file=doc.file,
                path=_dotted(loc) or None,
                line=line,
                column=column,
                hint=hint or "see spec/schema/model-1.schema.json for every field",
            )
        )
    return findings


def parse_entry(folder: Path) -> tuple[LoadedEntry | None, list[Finding]]:
    """Read and validate ``folder/model.yaml``; findings instead of exceptions."""
    file = folder / ENTRY_FILE
    try:
        doc = load_marked(file)
    except YamlLoadError as exc:
        return None, [
            Finding(
                rule="R401",
                severity=Severity.ERROR,
                message=exc.message,
                file=exc.file,
                line=exc.line,
                column=exc.column,
                hint="fix the YAML syntax (a YAML linter or your editor's YAML mode helps)",
            )
        ]
    if not isinstance(doc.data, dict):
        got = "an empty file" if doc.data is None else type(doc.data).__name__
        return None, [
            Finding(
                rule="R401",
                severity=Severity.ERROR,
                message=f"model.yaml must hold a mapping of fields, got {got}",
                file=str(file),
                line=1,
                column=1,
            )
        ]
    try:
        entry = ModelEntry.model_validate(doc.data)
    except ValidationError as exc:
        return None, validation_findings(doc, exc)
    return LoadedEntry(entry=entry, folder=folder, doc=doc), []


def read_entry(folder: Path) -> LoadedEntry:
    """Read an entry; UserError naming file, line and column when it is invalid."""
    loaded, findings = parse_entry(folder)
    if loaded is None:
        first = findings[0]
        more = f" (and {len(findings) - 1} more problem(s))" if len(findings) > 1 else ""
        raise UserError(
            f"{first.location()}: {first.message}{more}. "
            f"Run 'brainbench registry check {folder}' for every finding."
        )
    return loaded


def all_entries(root: Path | None = None) -> list[LoadedEntry]:
    """Every readable entry of the registry (invalid ones are skipped: use ``check``)."""
    out = []
    for folder in entry_folders(root):
        loaded, _ = parse_entry(folder)
        if loaded is not None:
            out.append(loaded)
    return out


def find_entry(entry_id: str, root: Path | None = None) -> LoadedEntry:
    """The entry with id ``entry_id`` (or at that path); UserError with "did you mean"."""
    candidate = Path(entry_id)
    if candidate.exists() and ("/" in entry_id or candidate.is_dir()):
        return read_entry(resolve_entry_path(candidate))
    root = root or default_root()
    folder = root / "models" / entry_id
    if (folder / ENTRY_FILE).is_file():
        return read_entry(folder)
    ids = [p.name for p in entry_folders(root)]
    close = difflib.get_close_matches(entry_id, ids, n=1, cutoff=0.6)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise UserError(
        f"Unknown model '{entry_id}' in the registry at {root}.{hint} "
        f"Available: {', '.join(ids) or 'none'}."
    )


def pretraining_conflicts(loaded: LoadedEntry, cohorts: Iterable[str]) -> list[str]:
    """Cohorts among ``cohorts`` (e.g. a benchmark's test and external-test cohort ids or
    dataset names) that the entry declares it saw before the benchmark (case-insensitive).

    The runner and ``validate`` (rule L104, biased transfer learning) use it to refuse a model
    whose pretraining data overlaps a benchmark's test data.
    """
    seen = {c.strip().lower() for c in loaded.entry.pretraining.cohorts}
    return [c for c in cohorts if c.strip().lower() in seen]


# -- importing --
class ModelLoadError(UserError):
    """An entry's code could not be imported or its factory failed; carries the model's
    traceback (``model_traceback``) as evidence."""

    def __init__(self, message: str, model_traceback: str = "") -> None:
        text = message if not model_traceback else f"{message}\n{model_traceback.rstrip()}"
        super().__init__(text)
        self.model_traceback = model_traceback


def model_traceback(exc: BaseException, *, skip_files: tuple[str, ...] = ()) -> str:
    """The traceback of ``exc`` without importlib's and brainbench's loading frames."""
    te = traceback.TracebackException.from_exception(exc)
    own = {__file__, *skip_files}
    te.stack = traceback.StackSummary.from_list(
        [f for f in te.stack if f.filename not in own and not f.filename.startswith("<frozen")]
    )
    return "".join(te.format())


def _package_name(folder: Path, entry_id: str) -> str:
    digest = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:10]
    return f"{_PACKAGE}.{entry_id.replace('-', '_')}_{digest}"


def import_entry_module(loaded: LoadedEntry) -> types.ModuleType:
    """Import the entrypoint module from the entry folder (exceptions propagate)."""
    if _PACKAGE not in sys.modules:
        root_pkg = types.ModuleType(_PACKAGE)
        root_pkg.__path__ = []
        sys.modules[_PACKAGE] = root_pkg
    pkg_name = _package_name(loaded.folder, loaded.id)
    if pkg_name not in sys.modules:
        pkg = types.ModuleType(pkg_name)
        pkg.__path__ = [str(loaded.folder.resolve())]
        pkg.__package__ = pkg_name
        sys.modules[pkg_name] = pkg
    return importlib.import_module(f"{pkg_name}.{loaded.entry.module}")


def import_factory(loaded: LoadedEntry) -> Any:
    """The entry's factory callable; ModelLoadError with the model's traceback on failure."""
    where = loaded.module_file()
    if where is None:
        raise ModelLoadError(
            f"{loaded.file}: the entrypoint module '{loaded.entry.module}' has no file "
            f"{loaded.entry.module.replace('.', '/')}.py in {loaded.folder}."
        )
    try:
        module = import_entry_module(loaded)
    except Exception as exc:
        raise ModelLoadError(
            f"{where}: importing the model code of '{loaded.id}' failed "
            f"({type(exc).__name__}: {exc}).",
            model_traceback(exc),
        ) from exc
    factory = getattr(module, loaded.entry.factory, None)
    if factory is None or not callable(factory):
        raise ModelLoadError(
            f"{where}: the entrypoint '{loaded.entry.entrypoint}' names no callable "
            f"'{loaded.entry.factory}' in the module."
        )
    return factory


__all__ = [
    "ENTRY_FILE",
    "ENV_ROOT",
    "LoadedEntry",
    "ModelLoadError",
    "all_entries",
    "default_root",
    "entry_folders",
    "find_entry",
    "import_entry_module",
    "import_factory",
    "model_traceback",
    "parse_entry",
    "pretraining_conflicts",
    "read_entry",
    "resolve_entry_path",
]
