"""Running the rule catalogue over a spec (and optionally its data), applying waivers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from brainbench.errors import UserError
from brainbench.hashing import sha256_file
from brainbench.spec import LoadedSpec, SpecError, load_spec
from brainbench.spec.yaml_loader import YamlError
from brainbench.validate.findings import CheckResult, Finding, Severity, WaivedFinding
from brainbench.validate.rule import DataContext, SpecContext, get_rule, iter_rules

if TYPE_CHECKING:
    from brainbench.spec.models import Spec, Waiver

UNREADABLE = "E000"
INTERNAL = "E070"  # a bug in brainbench while checking this file (exit 70)
SPLIT_FILE = "E002"
WAIVER = "E003"


def run_spec_rules(loaded: LoadedSpec) -> list[Finding]:
    ctx = SpecContext(loaded)
    findings: list[Finding] = []
    for rule in iter_rules("spec"):
        findings.extend(rule.check(ctx))
    findings.extend(_check_split_file(loaded))
    return findings


def run_data_rules(ctx: DataContext) -> list[Finding]:
    from brainbench._memory import release_freed_memory

    findings: list[Finding] = []
    for rule in iter_rules("data"):
        findings.extend(rule.check(ctx))
        release_freed_memory()  # one rule's temporaries are not under the next one's
    return findings


def _check_split_file(loaded: LoadedSpec) -> list[Finding]:
    pinned = loaded.spec.splits.file
    if pinned is None:
        return []
    file, line, column = loaded.locate_full("splits.file.path")

    def finding(message: str, hint: str) -> Finding:
        return Finding(
            rule=SPLIT_FILE,
            severity=Severity.ERROR,
            message=message,
            file=file,
            path="splits.file",
            line=line,
            column=column,
            hint=hint,
            reference="brainbench split (frozen split files)",
        )

    try:
        path = loaded.resolve_path(pinned.path)
        exists = path.exists()  # a FIFO or folder: read_split_file says what it is
    except UserError as exc:  # an unset ${VAR}: this spec's finding, not the batch's end
        return [finding(exc.message, "set the variable, or give the path a default")]
    except OSError as exc:  # e.g. a name longer than the file system allows
        return [finding(f"split file {pinned.path[:80]!r}: {exc.strerror}", "fix the path")]
    if not exists:
        return [finding(f"pinned split file {path} does not exist", "run `brainbench split`")]
    from brainbench.split._files import read_split_file

    try:  # only a split table is hashed: never print the sha256 of any file a spec names
        read_split_file(path)
    except UserError as exc:
        return [
            finding(
                f"the pinned split file is not a split table: {exc.message}",
                "point splits.file.path at the file `brainbench split` wrote",
            )
        ]
    if pinned.sha256 is None:
        return [
            finding(
                f"split file {path} is not pinned by a sha256",
                f"add sha256: {sha256_file(path)}",
            )
        ]
    actual = sha256_file(path)
    if actual != pinned.sha256:
        return [
            finding(
                f"split file {path} has sha256 {actual[:12]}..., the spec pins "
                f"{pinned.sha256[:12]}...: the splits changed since they were frozen",
                "restore the frozen file, or re-split and bump the spec's major version",
            )
        ]
    return []


def covers(waiver: Waiver, finding: Finding) -> bool:
    """True when ``waiver`` silences ``finding``: same rule, and every scope the waiver gives
    holds (a finding naming no cohort or id is outside a cohort- or id-scoped waiver)."""
    if waiver.rule != finding.rule or not finding.waivable:
        return False
    if waiver.fingerprints is not None and finding.fingerprint not in waiver.fingerprints:
        return False
    if waiver.cohorts is not None and not (
        finding.cohorts and set(finding.cohorts) <= set(waiver.cohorts)
    ):
        return False
    return waiver.ids is None or bool(finding.ids and set(finding.ids) <= set(waiver.ids))


def waiver_covers(
    spec: Spec, rule: str, *, cohorts: Sequence[str] = (), ids: Sequence[str] = ()
) -> Waiver | None:
    """The first waiver of ``spec`` that silences a ``rule`` finding about ``cohorts``/``ids``
    (the runner's audit asks this for what it finds at run time)."""
    probe = Finding(
        rule=rule,
        severity=Severity.ERROR,
        message="",
        cohorts=tuple(sorted(cohorts)),
        ids=tuple(sorted(ids)),
    )
    return next((w for w in spec.waivers if covers(w, probe)), None)


def apply_waivers(
    loaded: LoadedSpec, findings: list[Finding], *, data_checked: bool = True
) -> CheckResult:
    """Move the findings a waiver covers to ``waived``; flag waivers of unknown rules (error)
    and waivers that silenced nothing (warning). A data-rule waiver is not called unused when
    the data were not read (``data_checked`` False: a spec-only validation)."""
    waivers = loaded.spec.waivers
    result = CheckResult(files=[str(loaded.file)], data_checked=data_checked)
    used: set[int] = set()
    for finding in findings:
        i = next((i for i, w in enumerate(waivers) if covers(w, finding)), None)
        if i is None:
            result.findings.append(finding)
        else:
            result.waived.append(WaivedFinding(finding, waivers[i].reason))
            used.add(i)
    for i, waiver in enumerate(waivers):
        file, line, column = loaded.locate_full(f"waivers.{i}.rule")
        try:
            rule = get_rule(waiver.rule)
        except UserError as exc:
            result.findings.append(
                Finding(
                    rule=WAIVER,
                    severity=Severity.ERROR,
                    message=f"waiver for unknown rule: {exc.message}",
                    file=file,
                    path=f"waivers.{i}.rule",
                    line=line,
                    column=column,
                    hint="see `brainbench rules`",
                )
            )
            continue
        if i in used or (rule.kind == "data" and not data_checked):
            continue
        scoped = any(x is not None for x in (waiver.cohorts, waiver.ids, waiver.fingerprints))
        result.findings.append(
            Finding(
                rule=WAIVER,
                severity=Severity.WARNING,
                message=f"waiver for {waiver.rule} is unused: "
                + (
                    "no finding of the rule lies within its scope"
                    if scoped
                    else "the rule raised nothing"
                ),
                file=file,
                path=f"waivers.{i}",
                line=line,
                column=column,
                hint="remove the waiver" + (", or fix its scope" if scoped else ""),
            )
        )
    return result


def validate_path(
    path: Path, *, data: bool = False, against: Path | None = None
) -> tuple[CheckResult, bool]:
    """Validate one spec file; returns the result and whether an input was unreadable.

    A problem with any input (this spec, the files it extends, ``against``, the cohorts) is a
    finding ``E000`` of this file's result, never an exception, so a batch goes on to the next.
    """
    try:
        loaded = load_spec(path)
    except SpecError as exc:
        return CheckResult(files=[str(path)], findings=list(exc.findings)), False
    except UserError as exc:
        return CheckResult(files=[str(path)], findings=[unreadable_finding(path, exc)]), True
    try:
        findings = run_spec_rules(loaded)
        if against is not None:
            from brainbench.validate.versioning import check_version

            findings.extend(check_version(load_spec(against), loaded))
        if data:
            from brainbench.validate.data_rules import load_data_context

            findings.extend(run_data_rules(load_data_context(loaded)))
    except UserError as exc:
        return CheckResult(files=[str(path)], findings=[unreadable_finding(path, exc)]), True
    return apply_waivers(loaded, findings, data_checked=data), False


def unreadable_finding(path: Path, exc: UserError) -> Finding:
    """The finding ``E000`` for an input that cannot be read, located when the error says where.

    A problem in another file (one the spec extends) stays this file's finding, its message
    naming the other file, line and column.
    """
    if isinstance(exc, YamlError) and exc.file == str(path):
        return Finding(
            rule=UNREADABLE,
            severity=Severity.ERROR,
            message=exc.reason,
            file=exc.file,
            line=exc.line,
            column=exc.column,
        )
    return Finding(rule=UNREADABLE, severity=Severity.ERROR, message=exc.message, file=str(path))
