"""Running the rule catalogue over a spec (and optionally its data), applying waivers."""

from __future__ import annotations

from pathlib import Path

from brainbench.errors import UserError
from brainbench.hashing import sha256_file
from brainbench.spec import LoadedSpec, SpecError, load_spec
from brainbench.spec.yaml_loader import YamlError
from brainbench.validate.findings import CheckResult, Finding, Severity, WaivedFinding
from brainbench.validate.rule import DataContext, SpecContext, get_rule, iter_rules

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
    findings: list[Finding] = []
    for rule in iter_rules("data"):
        findings.extend(rule.check(ctx))
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
        exists = path.is_file()
    except UserError as exc:  # an unset ${VAR}: this spec's finding, not the batch's end
        return [finding(exc.message, "set the variable, or give the path a default")]
    except OSError as exc:  # e.g. a name longer than the file system allows
        return [finding(f"split file {pinned.path[:80]!r}: {exc.strerror}", "fix the path")]
    if not exists:
        return [finding(f"pinned split file {path} does not exist", "run `brainbench split`")]
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


def apply_waivers(loaded: LoadedSpec, findings: list[Finding]) -> CheckResult:
    waivers = {w.rule: (i, w.reason) for i, w in enumerate(loaded.spec.waivers)}
    result = CheckResult(files=[str(loaded.file)])
    used: set[str] = set()
    for finding in findings:
        if finding.rule in waivers and finding.rule[0] in "LSD":
            result.waived.append(WaivedFinding(finding, waivers[finding.rule][1]))
            used.add(finding.rule)
        else:
            result.findings.append(finding)
    for rule_id, (i, _) in waivers.items():
        file, line, column = loaded.locate_full(f"waivers.{i}.rule")
        try:
            get_rule(rule_id)
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
        if rule_id not in used:
            result.findings.append(
                Finding(
                    rule=WAIVER,
                    severity=Severity.WARNING,
                    message=f"waiver for {rule_id} is unused: the rule raised nothing",
                    file=file,
                    path=f"waivers.{i}",
                    line=line,
                    column=column,
                    hint="remove the waiver",
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
    return apply_waivers(loaded, findings), False


def unreadable_finding(path: Path, exc: UserError) -> Finding:
    """The finding ``E000`` for an input that cannot be read, located when the error says where."""
    if isinstance(exc, YamlError):  # the file may be one that the spec extends
        return Finding(
            rule=UNREADABLE,
            severity=Severity.ERROR,
            message=exc.reason,
            file=exc.file,
            line=exc.line,
            column=exc.column,
        )
    return Finding(rule=UNREADABLE, severity=Severity.ERROR, message=exc.message, file=str(path))
