"""``brainbench registry check``: what a maintainer wants verified before merging an entry.

Every check yields findings (``brainbench.validate.findings``), never raises on a bad entry.
The entry's code runs only in a child process (:mod:`brainbench.registry._probe`) in the same
sandbox as the runner's model processes (:mod:`brainbench.sandbox`), with a scrubbed environment
and a time limit that kills its whole process tree; its traceback becomes the evidence of the
finding. The check judges the predictions it receives over the data-only channel itself: the
entry cannot report its own success.

Checks (rule ids; CONTRIBUTING.md explains each):

====  ==============================  ==================================================
R401  entry-unreadable                model.yaml missing, not YAML, or not a mapping
R402  entry-schema                    a field is missing, unknown or invalid
R403  required-file-missing           README.md, CHANGELOG.md or the entrypoint module
R404  id-not-folder-name              ``id`` differs from the folder name (or is duplicated)
R405  version-not-bumped              the entry changed since REF, its version did not grow
R406  changelog-missing-version       CHANGELOG.md has no section for the current version
R407  entrypoint-import-failed        the module does not import, or lacks the factory
R408  fit-or-predict-failed           the factory, fit or predict raised on random data
R409  output-contract-broken          wrong output shape, NaN, probabilities not summing to 1
R410  check-timed-out                 the import + fit + predict probe ran out of time
R411  license-missing                 no licence, or an unrecognised one without a LICENSE file
R412  file-too-large                  a file of the entry exceeds 25 MB
R413  training-data-undeclared        no ``pretraining`` declaration
R414  model-card-incomplete           README.md lacks a section (warning)
R415  file-not-regular                a file of the entry is a symbolic link, FIFO or device
====  ==============================  ==================================================
"""

from __future__ import annotations

import math
import os
import re
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from brainbench.registry._probe import probe_task
from brainbench.registry._yaml import YamlLoadError, load_marked
from brainbench.registry.entries import (
    ENTRY_FILE,
    LoadedEntry,
    entry_folders,
    parse_entry,
)
from brainbench.registry.interface import check_predictions
from brainbench.registry.schema import SEMVER, parse_version
from brainbench.validate.findings import CheckResult, Finding, Severity

MAX_FILE_BYTES = 25_000_000
REQUIRED_FILES = ("README.md", "CHANGELOG.md")
CARD_SECTIONS = ("expected cost", "training data", "references")
LICENSE_FILES = ("LICENSE", "LICENSE.txt", "LICENSE.md", "COPYING")
DEFAULT_TIMEOUT = 300.0
PROBE_SIZES = {"n_train": 4, "n_val": 2, "n_test": 3}

#: Common SPDX licence ids (https://spdx.org/licenses/); others need a LICENSE file.
KNOWN_SPDX = frozenset(
    {
        "0BSD",
        "AFL-3.0",
        "AGPL-3.0-only",
        "AGPL-3.0-or-later",
        "Apache-2.0",
        "Artistic-2.0",
        "BSD-2-Clause",
        "BSD-3-Clause",
        "BSD-3-Clause-Clear",
        "BSD-4-Clause",
        "BSL-1.0",
        "CC-BY-4.0",
        "CC-BY-NC-4.0",
        "CC-BY-NC-SA-4.0",
        "CC-BY-SA-4.0",
        "CC0-1.0",
        "CECILL-2.1",
        "CECILL-B",
        "CECILL-C",
        "EPL-2.0",
        "EUPL-1.2",
        "GPL-2.0-only",
        "GPL-2.0-or-later",
        "GPL-3.0-only",
        "GPL-3.0-or-later",
        "ISC",
        "LGPL-2.1-only",
        "LGPL-2.1-or-later",
        "LGPL-3.0-only",
        "LGPL-3.0-or-later",
        "MIT",
        "MIT-0",
        "MPL-2.0",
        "NCSA",
        "OSL-3.0",
        "PostgreSQL",
        "Python-2.0",
        "Unlicense",
        "Zlib",
    }
)
SPDX_OPERATORS = frozenset({"AND", "OR", "WITH"})


@dataclass
class CheckOptions:
    """How ``check`` runs.

    Parameters
    ----------
    changed_since
        Git ref to compare against for the version-bump check; None skips it.
    run_code
        Import the entry and fit/predict on random data in a child process.
    timeout
        Seconds allowed to that child process per entry.
    jobs
        Entries checked at the same time (each in its own process).
    """

    changed_since: str | None = None
    run_code: bool = True
    timeout: float = DEFAULT_TIMEOUT
    jobs: int = 1
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def display(path: Path | str) -> str:
    """``path`` relative to the working directory when it lies below it."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


def _finding(
    rule: str,
    message: str,
    file: Path | str,
    *,
    severity: Severity = Severity.ERROR,
    hint: str | None = None,
    line: int | None = None,
    column: int | None = None,
    path: str | None = None,
) -> Finding:
    return Finding(
        rule=rule,
        severity=severity,
        message=message,
        file=display(file),
        path=path,
        line=line,
        column=column,
        hint=hint,
        reference="CONTRIBUTING.md#what-the-checks-say",
    )


def _evidence(text: str, limit: int = 30) -> str:
    """The last ``limit`` lines of a traceback or log, indented under the message."""
    lines = [ln for ln in text.rstrip().splitlines() if ln.strip()]
    if len(lines) > limit:
        lines = ["...", *lines[-limit:]]
    return "\n".join("      | " + ln for ln in lines)


# -- static checks --
def check_files(folder: Path, loaded: LoadedEntry | None) -> Iterable[Finding]:
    """Required files present; no file over 25 MB."""
    for name in REQUIRED_FILES:
        if not (folder / name).is_file():
            yield _finding(
                "R403",
                f"missing {name}: the entry folder {display(folder)} has no {name}",
                folder / ENTRY_FILE,
                hint="README.md is the model card, CHANGELOG.md lists every version "
                "(see registry/models/cnn3d-small for an example)",
            )
    if loaded is not None and loaded.module_file() is None:
        module = loaded.entry.module.replace(".", "/")
        line, col = loaded.doc.locate(("entrypoint",))
        yield _finding(
            "R403",
            f"the entrypoint '{loaded.entry.entrypoint}' needs {module}.py in the entry folder, "
            "which does not exist",
            loaded.file,
            line=line,
            column=col,
            path="entrypoint",
            hint="put the model code next to model.yaml, or fix 'entrypoint: module:factory'",
        )
    for path in _entry_paths(folder):
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode) or not (stat.S_ISREG(info.st_mode) or path.is_dir()):
            yield _not_regular(folder, path, info)
            continue
        size = info.st_size
        if stat.S_ISREG(info.st_mode) and size > MAX_FILE_BYTES:
            yield _finding(
                "R412",
                f"{path.relative_to(folder)} is {size / 1e6:.1f} MB, over the 25 MB limit",
                path,
                hint="host weights elsewhere and declare them under 'weights' (url + sha256)",
            )


def _entry_paths(folder: Path) -> list[Path]:
    """Every file and folder of the entry, without following symbolic links."""
    out = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        out += [Path(root) / n for n in (*dirs, *files)]
    return sorted(out)


def _not_regular(folder: Path, path: Path, info: os.stat_result) -> Finding:
    rel = path.relative_to(folder)
    if stat.S_ISLNK(info.st_mode):
        target = os.readlink(path)
        resolved = path.resolve()
        outside = not resolved.is_relative_to(folder.resolve())
        what = f"a symbolic link to {target!r}" + (", outside the entry" if outside else "")
    else:
        what = "a FIFO, socket or device"
    return _finding(
        "R415",
        f"{rel} is {what}: an entry holds regular files only",
        path,
        hint="commit the file itself (git stores a link as a link, and a reviewer would not "
        "see what it points to)",
    )


def entry_text(path: Path) -> str | None:
    """A text file of the entry, or None when it is not a regular file or is over the size
    limit (R415 and R412 say so): checked by ``lstat`` before a byte is read, so a 3 GB
    CHANGELOG.md or a link to /etc/passwd is never read."""
    try:
        info = path.lstat()
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE_BYTES:
        return None
    with open(path, "rb") as fh:
        return fh.read(MAX_FILE_BYTES).decode("utf-8", errors="replace")


def _spdx_ids(expression: str) -> list[str]:
    tokens = expression.replace("(", " ").replace(")", " ").split()
    return [t.removesuffix("+") for t in tokens if t not in SPDX_OPERATORS]


def check_license(loaded: LoadedEntry) -> Iterable[Finding]:
    """The licence is a known SPDX id, or a LICENSE file holds the text."""
    unknown = [i for i in _spdx_ids(loaded.entry.license) if i not in KNOWN_SPDX]
    has_file = any((loaded.folder / n).is_file() for n in LICENSE_FILES)
    if unknown and not has_file:
        line, col = loaded.doc.locate(("license",))
        yield _finding(
            "R411",
            f"licence {', '.join(repr(u) for u in unknown)} is not a recognised SPDX id and "
            "the entry has no LICENSE file",
            loaded.file,
            line=line,
            column=col,
            path="license",
            hint="use an id from https://spdx.org/licenses/ (e.g. Apache-2.0, MIT), or add "
            "the licence text as LICENSE",
        )


def check_identity(loaded: LoadedEntry) -> Iterable[Finding]:
    if loaded.entry.id != loaded.folder.name:
        line, col = loaded.doc.locate(("id",))
        yield _finding(
            "R404",
            f"id '{loaded.entry.id}' differs from the folder name '{loaded.folder.name}'",
            loaded.file,
            line=line,
            column=col,
            path="id",
            hint=f"rename the folder to registry/models/{loaded.entry.id}/ or change the id",
        )


_HEADING = re.compile(r"^#{1,6}\s+(.*\S)\s*$")


def changelog_versions(text: str) -> list[str]:
    """Versions named in CHANGELOG headings (``## [1.2.0] - 2026-01-01``, ``## 1.2.0``)."""
    out = []
    for line in text.splitlines():
        m = _HEADING.match(line)
        if not m:
            continue
        for token in re.findall(
            r"v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)", m[1]
        ):
            if SEMVER.match(token):
                out.append(token)
    return out


def check_changelog(loaded: LoadedEntry) -> Iterable[Finding]:
    path = loaded.folder / "CHANGELOG.md"
    text = entry_text(path)
    if text is None:
        return
    versions = changelog_versions(text)
    if loaded.entry.version not in versions:
        yield _finding(
            "R406",
            f"CHANGELOG.md has no section for version {loaded.entry.version}",
            path,
            hint=f"add a heading '## [{loaded.entry.version}] - YYYY-MM-DD' saying what changed",
        )


def check_model_card(loaded: LoadedEntry) -> Iterable[Finding]:
    path = loaded.folder / "README.md"
    text = entry_text(path)
    if text is None:
        return
    headings = [m[1].lower() for line in text.splitlines() if (m := _HEADING.match(line))]
    missing = [s for s in CARD_SECTIONS if not any(s in h for h in headings)]
    if missing:
        yield _finding(
            "R414",
            f"the model card lacks section(s): {', '.join(missing)}",
            path,
            severity=Severity.WARNING,
            hint="a model card says what the model is, its expected cost, the data it saw "
            "before the benchmark and what to cite",
        )


# -- the version bump --
def _git(args: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def git_ref_exists(ref: str, cwd: Path) -> bool:
    try:
        proc = _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], cwd)
    except (OSError, subprocess.SubprocessError):
        return False
    return proc.returncode == 0


def changed_paths(ref: str, folder: Path) -> list[str] | None:
    """Paths under ``folder`` (relative to it) that differ from the merge base with ``ref``
    (committed, staged, unstaged or untracked); None when git cannot tell."""
    try:
        base = _git(["merge-base", ref, "HEAD"], folder)
        base_ref = base.stdout.strip() if base.returncode == 0 else ref
        diff = _git(["diff", "--name-only", "--relative", base_ref, "--", "."], folder)
        untracked = _git(["ls-files", "--others", "--exclude-standard", "--", "."], folder)
    except (OSError, subprocess.SubprocessError):
        return None
    if diff.returncode != 0:
        return None
    return (diff.stdout + untracked.stdout).split()


def changed_entry_folders(ref: str, root: Path) -> list[Path] | None:
    """Entry folders under ``root/models`` that differ from the merge base with ``ref``
    (committed, staged, unstaged or untracked); None when git cannot tell."""
    models = root / "models"
    paths = changed_paths(ref, models if models.is_dir() else root)
    if paths is None:
        return None
    names = {p.split("/")[0] for p in paths if "/" in p}
    return sorted(models / n for n in names if (models / n / ENTRY_FILE).is_file())


def check_version_bump(loaded: LoadedEntry, ref: str) -> Iterable[Finding]:
    """When the entry differs from ``ref`` (merge base), its version must be greater."""
    folder = loaded.folder.resolve()
    try:
        top = _git(["rev-parse", "--show-toplevel"], folder)
        if top.returncode != 0:
            return
        base = _git(["merge-base", ref, "HEAD"], folder)
        base_ref = base.stdout.strip() if base.returncode == 0 else ref
        diff = _git(["diff", "--quiet", base_ref, "--", "."], folder)
        untracked = _git(["ls-files", "--others", "--exclude-standard", "--", "."], folder)
        changed = diff.returncode == 1 or bool(untracked.stdout.strip())
        if not changed:
            return
        rel = folder.relative_to(Path(top.stdout.strip()).resolve()).as_posix()
        old = _git(["show", f"{base_ref}:{rel}/{ENTRY_FILE}"], folder)
    except (OSError, subprocess.SubprocessError, ValueError):
        return
    if old.returncode != 0:
        return  # a new entry: R406 already asks for its CHANGELOG section
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as tmp:
        tmp.write(old.stdout)
    try:
        old_doc = load_marked(tmp.name)
    except YamlLoadError:
        return
    finally:
        os.unlink(tmp.name)
    old_version = old_doc.data.get("version") if isinstance(old_doc.data, dict) else None
    try:
        grew = parse_version(loaded.entry.version) > parse_version(str(old_version))
    except ValueError:
        return
    if not grew:
        line, col = loaded.doc.locate(("version",))
        yield _finding(
            "R405",
            f"the entry changed since {ref} but its version is still {loaded.entry.version} "
            f"(was {old_version})",
            loaded.file,
            line=line,
            column=col,
            path="version",
            hint="bump the version (major if predictions change, minor for new options, patch "
            "for fixes) and add a CHANGELOG.md section for it",
        )


# -- running the code --
def run_probe(loaded: LoadedEntry, timeout: float) -> tuple[Any, str, int | None]:
    """Run the probe in the sandbox (as the runner runs a model); (result message or None,
    captured output, exit code; None when it timed out, and then its whole process tree is
    killed). The environment is scrubbed (no inherited secret reaches the entry's code)."""
    from brainbench import sandbox
    from brainbench.sandbox import channel

    n_arrays = 8 * PROBE_SIZES["n_test"] * 64 * max(1, len(loaded.entry.task_types))
    if "segmentation" in loaded.entry.task_types:  # predicted masks: one value per voxel
        n_arrays += 8 * PROBE_SIZES["n_test"] * math.prod(loaded.entry.input.spatial_shape)
    with (
        tempfile.TemporaryDirectory(prefix="brainbench-probe-") as tmp,
        tempfile.TemporaryFile(prefix="brainbench-probe-", suffix=".log") as output,
    ):
        scratch = Path(tmp)
        (scratch / "tmp").mkdir()
        parent, child = socket.socketpair()
        with parent:
            try:
                proc = sandbox.Sandboxed(
                    sandbox.default_policy(
                        loaded.folder, scratch, data=sandbox.default_memory_limit()
                    ),
                    "brainbench.registry._probe:main",
                    [str(child.fileno())],
                    cwd=scratch,
                    env=sandbox.scrubbed_env(scratch, threads=1),
                    pass_fds=(child.fileno(),),
                    output=output,
                )
            finally:
                child.close()
            deadline = time.monotonic() + timeout
            config = {"folder": str(loaded.folder.resolve()), **PROBE_SIZES}
            result, note = None, ""
            try:
                hello = channel.recv(parent, max_array_bytes=0, kinds={"hello"}, deadline=deadline)
                proc.contained = "pidns" in (hello.data or {}).get("layers", [])
                channel.send(parent, "probe", config)
                result = channel.recv(
                    parent, max_array_bytes=n_arrays, kinds={"result"}, deadline=deadline
                )
            except TimeoutError:
                proc.kill()
                return None, _read_output(output), None
            except channel.ChannelClosed:
                pass
            except channel.ProtocolError as exc:
                note = f"\nthe probe sent a malformed or oversized message: {exc}"
            code = proc.finish(timeout=max(1.0, deadline - time.monotonic()))
        return result, _read_output(output) + note, code


def _read_output(output: IO[bytes], limit: int = 1 << 20) -> str:
    size = output.seek(0, os.SEEK_END)
    output.seek(max(0, size - limit))
    return output.read(limit).decode("utf-8", errors="replace")


def check_code(loaded: LoadedEntry, options: CheckOptions) -> Iterable[Finding]:
    """Import the entrypoint and fit/predict on random data, in a child process."""
    if loaded.module_file() is None:
        return  # R403 already says so
    where = loaded.module_file() or loaded.file
    start = time.perf_counter()
    message, output, code = run_probe(loaded, options.timeout)
    options.timings[loaded.id] = time.perf_counter() - start
    result = message.data if message is not None and isinstance(message.data, dict) else None
    if result is None:
        if code is None:
            yield _finding(
                "R410",
                f"importing, fitting and predicting on random data took over {options.timeout:g}"
                f" s\n{_evidence(output)}",
                where,
                hint="make one epoch on a handful of images fast, or raise --timeout",
            )
        else:
            why = f"exit code {code}" if code is None or code >= 0 else f"signal {-code}"
            yield _finding(
                "R408",
                f"the model process ended ({why}) before reporting\n{_evidence(output)}",
                where,
                hint="the model's code crashed the interpreter (or called sys.exit)",
            )
        return
    if result.get("phase") in ("import", "entrypoint"):
        line, col = loaded.doc.locate(("entrypoint",))
        evidence = _evidence(result.get("traceback", ""))
        yield _finding(
            "R407",
            f"entrypoint '{loaded.entry.entrypoint}': {result.get('error')}"
            + (f"\n{evidence}" if evidence else ""),
            where if result["phase"] == "import" else loaded.file,
            line=None if result["phase"] == "import" else line,
            column=None if result["phase"] == "import" else col,
            hint="the module must import in a fresh Python with brainbench's dependencies only, "
            "and define the factory named after the colon",
        )
        return
    shape = list(loaded.entry.input.spatial_shape)
    tasks = result.get("tasks") if isinstance(result.get("tasks"), dict) else {}
    for task_type in loaded.entry.task_types:
        out = tasks.get(task_type) if isinstance(tasks.get(task_type), dict) else {}
        scores = message.arrays.get(f"scores.{task_type}") if message is not None else None
        if scores is not None:
            # the verdict is the checker's own, from the predictions it received
            task = probe_task(loaded, task_type)
            problem = check_predictions(scores, task, PROBE_SIZES["n_test"])
            if problem is None:
                continue
            yield _finding(
                "R409",
                f"{task_type}: {problem} (input: {PROBE_SIZES['n_test']} random images "
                f"of shape {[loaded.entry.input.channels, *shape]})",
                where,
                hint="predict returns (n, n_classes) probabilities in TaskInfo.classes order, "
                "(n,) values for regression, or (n, X, Y, Z) integer masks of "
                "TaskInfo.label_values for segmentation",
            )
            continue
        phase = out.get("phase", "factory")
        yield _finding(
            "R408",
            f"{task_type}: {phase} raised {out.get('error', 'an unknown error')} (random images "
            f"of shape {[loaded.entry.input.channels, *shape]}, one epoch)\n"
            f"{_evidence(str(out.get('traceback', '')))}",
            where,
            hint=f"run the entry on random data locally: brainbench registry check {loaded.folder}",
        )


# -- driver --
def check_entry(folder: Path, options: CheckOptions) -> CheckResult:
    """Every check on one entry folder."""
    result = CheckResult(files=[display(folder / ENTRY_FILE)])
    if (folder / ENTRY_FILE).is_symlink():
        result.findings.extend(check_files(folder, None))  # R415 names the link; not read
        return result
    loaded, findings = parse_entry(folder)
    result.findings.extend(replace(f, file=display(f.file or folder)) for f in findings)
    result.findings.extend(check_files(folder, loaded))
    if loaded is None:
        return result
    for check in (check_identity, check_license, check_changelog, check_model_card):
        result.findings.extend(check(loaded))
    if options.changed_since is not None:
        result.findings.extend(check_version_bump(loaded, options.changed_since))
    if options.run_code:
        result.findings.extend(check_code(loaded, options))
    return result


def check_duplicates(folders: Sequence[Path]) -> list[Finding]:
    """Two folders declaring the same id."""
    seen: dict[str, Path] = {}
    out = []
    for folder in folders:
        loaded, _ = parse_entry(folder)
        if loaded is None:
            continue
        if loaded.id in seen:
            line, col = loaded.doc.locate(("id",))
            out.append(
                _finding(
                    "R404",
                    f"id '{loaded.id}' is already used by {seen[loaded.id]}",
                    loaded.file,
                    line=line,
                    column=col,
                    path="id",
                )
            )
        else:
            seen[loaded.id] = folder
    return out


def check_entries(folders: Sequence[Path], options: CheckOptions) -> CheckResult:
    """Check several entry folders; one combined result."""
    result = CheckResult()
    if options.jobs > 1 and len(folders) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=options.jobs) as pool:
            results = list(pool.map(lambda f: check_entry(f, options), folders))
    else:
        results = [check_entry(f, options) for f in folders]
    for one in results:
        result.extend(one)
    result.findings.extend(check_duplicates(folders))
    return result


def unreadable(result: CheckResult) -> bool:
    """True when some entry could not be read at all (exit code 2)."""
    return any(f.rule == "R401" for f in result.findings)


__all__ = [
    "MAX_FILE_BYTES",
    "CheckOptions",
    "changed_entry_folders",
    "changelog_versions",
    "check_entries",
    "check_entry",
    "entry_folders",
    "git_ref_exists",
    "run_probe",
    "unreadable",
]
