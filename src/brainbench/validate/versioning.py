"""Version discipline: does a spec's semver bump match what changed since an older version?

Cohorts, splits or the task (target, classes, type) changed: the benchmark measures something
else, a major bump. The hierarchy, training constraints or statistical protocol changed: minor.
Only text (title, description, reporting, waivers): patch. The same discipline a model zoo's CI
applies to bundles (MONAI model-zoo ``ci/verify_bundle.py``).
"""

from __future__ import annotations

from typing import Any, Literal

from brainbench.spec import LoadedSpec
from brainbench.validate.findings import Finding, Severity

Bump = Literal["major", "minor", "patch", "none"]
_SECTIONS: dict[str, Bump] = {
    "task": "major",
    "cohorts": "major",
    "splits": "major",
    "hierarchy": "minor",
    "training": "minor",
    "protocol": "minor",
    "id": "major",
    "title": "patch",
    "description": "patch",
    "reporting": "patch",
    "waivers": "patch",
}
_ORDER: dict[str, int] = {"none": 0, "patch": 1, "minor": 2, "major": 3}


def required_bump(old: LoadedSpec, new: LoadedSpec) -> tuple[Bump, list[str]]:
    """The smallest bump the change needs, and the sections that changed."""
    a = old.spec.model_dump(exclude={"extends", "version"})
    b = new.spec.model_dump(exclude={"extends", "version"})
    changed = [key for key in _SECTIONS if a.get(key) != b.get(key)]
    bump: Bump = "none"
    for key in changed:
        if _ORDER[_SECTIONS[key]] > _ORDER[bump]:
            bump = _SECTIONS[key]
    return bump, changed


def actual_bump(old_version: str, new_version: str) -> Bump | None:
    """The bump between two semvers; None when the new version is not greater."""
    o = tuple(int(x) for x in old_version.split("."))
    n = tuple(int(x) for x in new_version.split("."))
    if n <= o:
        return "none" if n == o else None
    if n[0] > o[0]:
        return "major"
    if n[1] > o[1]:
        return "minor"
    return "patch"


def check_version(old: LoadedSpec, new: LoadedSpec) -> list[Finding]:
    needed, changed = required_bump(old, new)
    got = actual_bump(old.spec.version, new.spec.version)
    file, line, column = new.locate_full("version")
    base: dict[str, Any] = {
        "rule": "V001",
        "severity": Severity.ERROR,
        "file": file,
        "path": "version",
        "line": line,
        "column": column,
        "reference": "https://semver.org; brainbench spec versioning (README)",
    }
    what = ", ".join(changed) if changed else "nothing"
    if got is None:
        return [
            Finding(
                message=f"version {new.spec.version} is lower than {old.spec.version}",
                hint="versions only go up",
                **base,
            )
        ]
    if _ORDER[got] < _ORDER[needed]:
        return [
            Finding(
                message=f"changed: {what}; this needs a {needed} bump but the version went "
                f"{old.spec.version} -> {new.spec.version} ({got})",
                hint=f"bump the {needed} version",
                **base,
            )
        ]
    return []
