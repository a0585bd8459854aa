"""The rule unit: one class per rule of the catalogue (STYLE.md convention 2).

A rule has an id (``L101``), a name that names the problem, a severity, a one-line summary, a
doc in five parts (what / why / example / use instead / references) and a ``check`` that yields
findings. Spec rules read only the spec; data rules (``D3xx``) also read the cohort table and the
split table. Rules never raise for a user's mistake.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from brainbench.registry_base import Registry
from brainbench.validate.findings import Finding, Severity

if TYPE_CHECKING:
    import pandas as pd

    from brainbench.spec import LoadedSpec


@dataclass
class SpecContext:
    """What a spec rule sees."""

    loaded: LoadedSpec


@dataclass
class DataContext(SpecContext):
    """What a data rule sees: the spec, the cohort table and (when frozen) the split table.

    ``cohort`` has one row per image with the hierarchy columns (``dataset``, ``site``,
    ``scanner``, ``subject``, ``session``, ``image``), the target and covariates, and
    ``cohort_file``/``cohort_row`` locating each row in its source file. ``splits`` is the frozen
    split table (columns ``cohort``, ``subject``, ``session``, ``image``, ``repeat``, ``fold``,
    ``partition``) or None when no split file exists yet.
    """

    cohort: pd.DataFrame
    splits: pd.DataFrame | None = None


class Rule:
    """Base class of every rule. Subclasses set the class attributes and implement ``check``."""

    id: ClassVar[str]
    name: ClassVar[str]
    kind: ClassVar[Literal["spec", "data"]] = "spec"
    severity: ClassVar[Severity] = Severity.ERROR
    summary: ClassVar[str]
    what: ClassVar[str]
    why: ClassVar[str]
    example: ClassVar[str]
    use_instead: ClassVar[str]
    references: ClassVar[tuple[str, ...]]
    hint: ClassVar[str]

    def check(self, ctx: Any) -> Iterable[Finding]:  # pragma: no cover - abstract
        raise NotImplementedError

    def finding(
        self,
        ctx: SpecContext,
        message: str,
        *,
        path: str | None = None,
        hint: str | None = None,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        severity: Severity | None = None,
        cohorts: Iterable[str] = (),
        ids: Iterable[str] = (),
    ) -> Finding:
        """A finding of this rule, located at ``path`` in the spec unless a file/line is given.

        ``cohorts`` and ``ids`` (subject or image ids) name what the finding is about, so that a
        waiver scoped to them covers it and no other finding of the rule."""
        if file is None:
            if path is not None and line is None:
                file, line, column = ctx.loaded.locate_full(path)
            else:
                file = str(ctx.loaded.file)
        return Finding(
            rule=self.id,
            severity=severity or self.severity,
            message=message,
            file=file,
            path=path,
            line=line,
            column=column,
            hint=hint or self.hint,
            reference=self.references[0] if self.references else None,
            cohorts=tuple(sorted({str(c) for c in cohorts})),
            ids=tuple(sorted({str(i) for i in ids})),
        )

    def doc(self) -> str:
        """The rule's documentation, as ``brainbench rules ID`` prints it."""
        refs = "\n".join(f"  - {r}" for r in self.references)
        return (
            f"{self.id} {self.name} ({self.kind} rule, {self.severity.value})\n"
            f"{self.summary}\n\n"
            f"What it does\n  {self.what}\n\n"
            f"Why is this bad?\n  {self.why}\n\n"
            f"Example\n{_indent(self.example)}\n\n"
            f"Use instead\n{_indent(self.use_instead)}\n\n"
            f"References\n{refs}\n"
        )


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.strip("\n").splitlines())


RULES: Registry[Rule] = Registry("rule")


def register_rule(cls: type[Rule]) -> type[Rule]:
    """Class decorator adding one instance of the rule to :data:`RULES`."""
    RULES.add(cls.id, cls())
    return cls


def iter_rules(kind: str | None = None) -> Iterator[Rule]:
    _load_catalogue()
    for rule_id in RULES:
        rule = RULES.get(rule_id)
        if kind is None or rule.kind == kind:
            yield rule


def get_rule(rule_id: str) -> Rule:
    _load_catalogue()
    return RULES.get(rule_id.upper())


def _load_catalogue() -> None:
    # Importing the modules registers their rules; data rules import pandas, so they are
    # loaded here too but only their module top level (cheap) runs.
    import brainbench.validate.data_rules
    import brainbench.validate.spec_rules  # noqa: F401
