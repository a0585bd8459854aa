"""The runner's journal of unit outputs: what it wrote, checked again at finalisation.

After writing ``units/<unit>.parquet`` and ``units/<unit>.json`` the runner appends one line to
``journal.jsonl``: the unit id, its status, the sha256 of both files, the time. Model processes
cannot write the run folder when sealed; the journal, and the runner's in-memory record of the
units it ran itself, are the second line of defence: at finalisation every unit output must
still hash to what the runner wrote, or the run is void (:class:`RunTampered`), whatever a
unit's JSON says about itself.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from brainbench.errors import UserError
from brainbench.hashing import sha256_file

JOURNAL_FILE = "journal.jsonl"
_lock = threading.Lock()


class RunTampered(UserError):
    """A unit output changed after the runner wrote it."""


def append(run_dir: Path, entry: dict[str, Any]) -> None:
    """Append one line (``O_APPEND``: whole lines, also from SLURM array tasks)."""
    line = (json.dumps(entry, sort_keys=True) + "\n").encode("utf-8")
    with _lock:
        fd = os.open(run_dir / JOURNAL_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)


def read(run_dir: Path) -> dict[str, dict[str, Any]]:
    """The last entry of each unit (an unreadable line is itself a sign of tampering)."""
    path = run_dir / JOURNAL_FILE
    out: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return out
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            entry = json.loads(line)
            out[str(entry["unit"])] = entry
        except (ValueError, KeyError, TypeError):
            out[f"line {n}"] = {"unit": f"line {n}", "unreadable": True}
    return out


def check_unit(
    run_dir: Path,
    unit_id: str,
    journal: dict[str, dict[str, Any]],
    expected: dict[str, str | None] | None = None,
) -> str | None:
    """Why a unit's outputs are not what the runner wrote (None: they are)."""
    units = run_dir / "units"
    parquet, meta = units / f"{unit_id}.parquet", units / f"{unit_id}.json"
    entry = journal.get(unit_id)
    if entry is None:
        if expected is not None and unit_id in expected:
            return f"{meta.name} exists but the runner's journal has no record of writing it"
        return None if not journal else f"{meta.name} is not in the runner's journal"
    if not meta.is_file() or sha256_file(meta) != entry.get("record_sha256"):
        return f"{meta.name} changed after the runner wrote it"
    want = entry.get("output_sha256")
    if expected is not None and unit_id in expected and expected[unit_id] != want:
        return f"the journal's hash of {parquet.name} differs from the runner's own record"
    if want is not None and (not parquet.is_file() or sha256_file(parquet) != want):
        return f"{parquet.name} changed after the runner wrote it"
    return None


__all__ = ["JOURNAL_FILE", "RunTampered", "append", "check_unit", "read"]
