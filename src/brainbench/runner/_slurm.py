"""SLURM bookkeeping of a run: the job journal, queue polling without accounting, task records.

submitit asks ``sacct`` for every job's state, which fails (with two warnings a poll) on the
many clusters that run without accounting storage. A unit's own files say whether it finished,
so the driver only needs to know whether its array task is still *queued*: ``squeue`` answers
that on every cluster. ``sacct`` is asked once, for the final state of a task that ended
without a result, and only when the cluster has accounting.

The journal (``RUN_DIR/slurm/jobs.json``) records which array task runs which unit, so a driver
that died can be followed by ``brainbench run --resume``: units still queued are adopted (waited
for), not submitted twice.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from brainbench.runner._io import atomic_write_json, read_json

JOURNAL = Path("slurm") / "jobs.json"
# squeue without accounting answers for jobs in these states; any other means "not queued".
_QUEUED = {
    "PENDING",
    "RUNNING",
    "CONFIGURING",
    "COMPLETING",
    "REQUEUED",
    "REQUEUE_HOLD",
    "REQUEUE_FED",
    "RESIZING",
    "SIGNALING",
    "STAGE_OUT",
    "SUSPENDED",
    "STOPPED",
}
# slurmstepd writes why it ended a job into the job's stderr.
_STEPD_REASON = re.compile(r"\*\*\* JOB \S+ ON \S+ CANCELLED AT \S+(?: DUE TO ([A-Z ]+))? \*\*\*")


def read_journal(run_dir: Path) -> dict[str, dict[str, Any]]:
    path = run_dir / JOURNAL
    if not path.is_file():
        return {}
    try:
        data = read_json(path)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_journal(run_dir: Path, journal: dict[str, dict[str, Any]]) -> None:
    atomic_write_json(run_dir / JOURNAL, journal)


def queued_tasks(job_ids: list[str]) -> dict[str, str] | None:
    """State of each queued array task among ``job_ids`` (``"12_3"``), from squeue.

    Returns None when squeue itself fails (controller unreachable): the caller keeps waiting.
    """
    if not job_ids:
        return {}
    arrays = sorted({j.split("_", 1)[0] for j in job_ids})
    try:
        out = subprocess.run(
            ["squeue", "-h", "-r", "-j", ",".join(arrays), "-o", "%i|%T"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        # squeue -j on jobs the controller has purged fails with "Invalid job id": none queued.
        return {} if "Invalid job id" in out.stderr else None
    states: dict[str, str] = {}
    for line in out.stdout.splitlines():
        jid, _, state = line.strip().partition("|")
        if state in _QUEUED:
            states[jid] = state
    return states


def has_accounting() -> bool:
    """True when ``sacct`` works on this cluster (asked once per driver)."""
    try:
        out = subprocess.run(
            ["sacct", "-n", "-X", "-j", "1", "-o", "State"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0


def final_state(job_id: str, stderr_log: Path | None, accounting: bool) -> str:
    """Why an array task ended without a unit record, in a few words."""
    if accounting:
        try:
            out = subprocess.run(
                ["sacct", "-n", "-X", "-P", "-j", job_id, "-o", "State"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            state = out.stdout.strip().splitlines()[0].strip() if out.stdout.strip() else ""
            if state:
                return state
        except (OSError, subprocess.TimeoutExpired):
            pass
    if stderr_log is not None and stderr_log.is_file():
        tail = stderr_log.read_bytes()[-8192:].decode("utf-8", "replace")
        found = _STEPD_REASON.findall(tail)
        if found:
            return "CANCELLED" + (f" ({found[-1].strip().lower()})" if found[-1] else "")
        lines = [ln.strip() for ln in tail.splitlines() if ln.strip()]
        if lines:
            return f"ended without a result: {lines[-1][:300]}"
    return "ended without a result (no accounting on this cluster, no log line)"


def task_context() -> dict[str, Any]:
    """What an array task knows of itself from SLURM's environment (provenance per unit)."""
    env = os.environ
    array_job = env.get("SLURM_ARRAY_JOB_ID")
    array_task = env.get("SLURM_ARRAY_TASK_ID")
    job_id = f"{array_job}_{array_task}" if array_job and array_task else env.get("SLURM_JOB_ID")
    return {
        "job_id": job_id,
        "array_job_id": array_job,
        "array_task_id": int(array_task) if array_task and array_task.isdigit() else None,
        "node": env.get("SLURMD_NODENAME") or socket.gethostname(),
        "requeues": int(env.get("SLURM_RESTART_COUNT", "0") or 0),
        "started": time.time(),
    }


__all__ = [
    "JOURNAL",
    "final_state",
    "has_accounting",
    "queued_tasks",
    "read_journal",
    "task_context",
    "write_journal",
]
