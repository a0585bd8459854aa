"""Executors: ``local`` (this machine, N model hosts) and ``slurm`` (submitit job arrays).

Both run the same function per unit (:func:`brainbench.runner._execute.run_units`) on a run
folder prepared by :func:`brainbench.runner._prepare.prepare_run`; the driver then finalises
the folder. A SLURM array task reads everything from the run folder, so the folder must be on
a file system the compute nodes share.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from brainbench.errors import UserError
from brainbench.runner._execute import execute_slurm_task, run_units
from brainbench.runner._io import read_json
from brainbench.runner._slurm import (
    final_state,
    has_accounting,
    queued_tasks,
    read_journal,
    write_journal,
)

PROFILE_DIR = Path(__file__).resolve().parents[3] / "runner"


class SlurmProfile(BaseModel):
    """Resources of one array task (one unit) and how the array is scheduled."""

    model_config = ConfigDict(extra="forbid")

    cluster: Literal["slurm", "local", "debug"] | None = Field(
        None, description="submitit cluster: slurm (default when sbatch exists), local, debug."
    )
    partition: str | None = Field(None, description="SLURM partition (--partition).")
    account: str | None = Field(None, description="Project account to charge (--account).")
    qos: str | None = Field(None, description="Quality of service (--qos).")
    constraint: str | None = Field(None, description="Node features (--constraint), e.g. v100.")
    time_min: int = Field(60, ge=1, description="Wall-time limit of one unit, minutes.")
    gpus_per_node: int = Field(0, ge=0, description="GPUs per array task.")
    cpus_per_task: int = Field(4, ge=1, description="CPU cores per array task.")
    mem_gb: float | None = Field(None, gt=0, description="Host memory per array task, GiB.")
    array_parallelism: int = Field(16, ge=1, description="Array tasks running at once.")
    max_num_timeout: int = Field(
        3, ge=0, description="Requeues after pre-emption or time-out (units are atomic)."
    )
    signal_delay_s: int = Field(
        90,
        ge=0,
        description="Seconds before the time limit SLURM signals a task, which then requeues "
        "itself (max_num_timeout times); SLURM may signal up to a minute earlier.",
    )
    setup: list[str] = Field(
        default_factory=list, description="Shell lines run before python (module load...)."
    )
    container: str | None = Field(
        None,
        description="Command prefix that runs python in a container, e.g. "
        "'apptainer exec --nv --bind $WORK brainbench.sif'; the job runs '<prefix> python'.",
    )
    python: str = Field("python", description="Python executable (inside the container).")
    additional_parameters: dict[str, Any] = Field(
        default_factory=dict, description="Other sbatch options, e.g. {hint: nomultithread}."
    )


class Profile(BaseModel):
    """An execution profile (``runner/*.yaml``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Short name of the profile.")
    description: str | None = Field(None, description="What machine it is for.")
    executor: Literal["local", "slurm"] = Field("local", description="Default executor.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Default device.")
    workers: int = Field(1, ge=1, description="local: model processes running units in parallel.")
    require_seal: Literal["none", "fs", "full"] = Field(
        "none",
        description="Refuse to run unless model processes get this sandbox level "
        "(docs/security.md); checked on the machine that runs the units (compute nodes).",
    )
    slurm: SlurmProfile = Field(default_factory=SlurmProfile, description="slurm executor.")


def load_profile(path: str | Path | None) -> Profile:
    """Read a profile file, or a shipped one by name (``local``, ``jean-zay``...)."""
    import yaml

    if path is None:
        return Profile(name="default")
    p = Path(path)
    if not p.is_file():
        shipped = PROFILE_DIR / f"{path}.yaml"
        if shipped.is_file():
            p = shipped
        else:
            names = (
                sorted(f.stem for f in PROFILE_DIR.glob("*.yaml")) if PROFILE_DIR.is_dir() else []
            )
            raise UserError(
                f"Execution profile '{path}' not found: give a YAML file or one of "
                f"{', '.join(names) or 'the shipped profiles'}."
            )
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise UserError(f"{p}: not valid YAML: {exc}") from None
    try:
        return Profile.model_validate(data or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise UserError(
            f"{p}: {where}: {first['msg']} ({exc.error_count()} problem(s) in the profile)."
        ) from None


def run_local(
    run_dir: Path, unit_ids: list[str] | None, *, workers: int, progress: Any
) -> list[dict[str, Any]]:
    return run_units(run_dir, unit_ids, workers=workers, progress=progress)


class _UnitTask:
    """A submitit callable: one unit per array task; requeued on pre-emption or time-out."""

    def __call__(self, run_dir: str, unit_id: str, submitted: float | None = None) -> Any:
        return execute_slurm_task(run_dir, unit_id, submitted)

    def checkpoint(self, run_dir: str, unit_id: str, submitted: float | None = None) -> Any:
        # Units are atomic: a requeued task simply runs its unit again (or skips it if done).
        import submitit

        return submitit.helpers.DelayedSubmission(self, run_dir, unit_id, submitted)


def make_submitit_executor(run_dir: Path, profile: SlurmProfile) -> Any:
    import shutil

    import submitit

    if profile.cluster in (None, "slurm") and shutil.which("sbatch") is None:
        raise UserError(
            "--executor slurm: no SLURM here (sbatch is not on PATH). Run on a cluster's login "
            "node, or set 'cluster: local' under 'slurm:' in the profile to run the same job "
            "arrays on this machine."
        )
    cluster = profile.cluster or "slurm"

    python = profile.python
    if profile.container:
        python = f"{profile.container} {profile.python}"
    kwargs: dict[str, Any] = {}
    if cluster == "slurm":
        kwargs.update(slurm_python=python, slurm_max_num_timeout=profile.max_num_timeout)
    executor = submitit.AutoExecutor(
        folder=str(run_dir / "slurm" / "%j"), cluster=cluster, **kwargs
    )
    params: dict[str, Any] = {
        "name": f"brainbench-{run_dir.name}",
        "timeout_min": profile.time_min,
        "gpus_per_node": profile.gpus_per_node,
        "cpus_per_task": profile.cpus_per_task,
        "slurm_array_parallelism": profile.array_parallelism,
    }
    if cluster == "slurm":
        params["slurm_signal_delay_s"] = profile.signal_delay_s
    if profile.mem_gb is not None:
        params["mem_gb"] = profile.mem_gb
    for key in ("partition", "account", "qos", "constraint"):
        value = getattr(profile, key)
        if value is not None:
            params[f"slurm_{key}"] = value
    if profile.setup:
        params["slurm_setup"] = list(profile.setup)
    if profile.additional_parameters:
        params["slurm_additional_parameters"] = dict(profile.additional_parameters)
    executor.update_parameters(**params)
    return executor


def run_slurm(
    run_dir: Path,
    unit_ids: list[str],
    *,
    profile: SlurmProfile,
    progress: Any,
    poll_s: float = 2.0,
) -> list[dict[str, Any]]:
    """Submit one array task per unit, wait, and return the units' records.

    On a real cluster the units' array tasks are recorded in ``slurm/jobs.json``; a unit whose
    task is still queued from an earlier driver (``--resume`` after the driver died) is waited
    for, not submitted again. A task that ends without writing its unit's record (cancelled,
    time-out beyond the requeues, node failure) is recorded as failed with the reason and the
    submitit log folder.
    """
    if not unit_ids:
        return []
    executor = make_submitit_executor(run_dir, profile)
    on_cluster = executor.cluster == "slurm"
    journal = read_journal(run_dir) if on_cluster else {}
    adopted: list[str] = []
    if on_cluster:
        known = [journal[u]["job_id"] for u in unit_ids if u in journal]
        still = queued_tasks(known) or {}
        adopted = [u for u in unit_ids if u in journal and journal[u]["job_id"] in still]
        if adopted:
            print(
                f"slurm: {len(adopted)} unit(s) still queued from an earlier driver adopted "
                "(waited for, not submitted again)",
                file=sys.stderr,
                flush=True,
            )
    to_submit = [u for u in unit_ids if u not in adopted]
    submitted = time.time()
    jobs = (
        executor.map_array(
            _UnitTask(), [str(run_dir)] * len(to_submit), to_submit, [submitted] * len(to_submit)
        )
        if to_submit
        else []
    )
    if not on_cluster:
        return _wait_submitit(run_dir, dict(zip(to_submit, jobs, strict=True)), progress, poll_s)
    for uid, job in zip(to_submit, jobs, strict=True):
        journal[uid] = {
            "job_id": str(job.job_id),
            "submitted": submitted,
            "stderr": str(job.paths.stderr),
        }
    write_journal(run_dir, journal)
    return _wait_squeue(run_dir, {u: journal[u] for u in unit_ids}, progress, poll_s)


def _wait_units(
    unit_ids: list[str],
    ended: Callable[[list[str]], dict[str, dict[str, Any]]],
    progress: Any,
    poll_s: float,
) -> list[dict[str, Any]]:
    """Poll until every unit has ended; ``ended(pending)`` returns the records of those that
    ended since the last poll."""
    records: list[dict[str, Any]] = []
    pending = list(unit_ids)
    while pending:
        for uid, rec in ended(pending).items():
            pending.remove(uid)
            records.append(rec)
            if progress:
                progress.end_unit(None, rec)
        if pending:
            time.sleep(poll_s)
    return records


def _wait_squeue(
    run_dir: Path, entries: dict[str, dict[str, Any]], progress: Any, poll_s: float
) -> list[dict[str, Any]]:
    """Wait until no unit's task is queued; read each unit's record (never asks sacct per poll).

    A task must be missing from the queue on two polls in a row before its unit counts as
    ended: a requeued task passes briefly through states squeue may not list.
    """
    accounting: list[bool] = []  # asked once, on the first task that ends without a record
    missing: dict[str, int] = dict.fromkeys(entries, 0)

    def ended(pending: list[str]) -> dict[str, dict[str, Any]]:
        states = queued_tasks([entries[u]["job_id"] for u in pending])
        out: dict[str, dict[str, Any]] = {}
        for uid in pending:
            job_id = entries[uid]["job_id"]
            if states is None or job_id in states:
                missing[uid] = 0
                continue
            rec = _task_record(run_dir, uid, job_id)
            missing[uid] += 1
            if rec is None and missing[uid] < 2:
                continue
            if rec is None:
                if not accounting:
                    accounting.append(has_accounting())
                log = entries[uid].get("stderr")
                stderr = Path(log) if log else None
                reason = final_state(job_id, stderr, accounting[0])
                rec = _lost_unit(run_dir, uid, job_id, reason, stderr)
            out[uid] = rec
        return out

    return _wait_units(list(entries), ended, progress, poll_s)


def _task_record(run_dir: Path, uid: str, job_id: str) -> dict[str, Any] | None:
    """The unit's record if this array task (not an earlier attempt) wrote it."""
    meta = run_dir / "units" / f"{uid}.json"
    if not meta.is_file():
        return None
    try:
        rec = read_json(meta)
    except (OSError, ValueError):
        return None
    slurm = rec.get("slurm") if isinstance(rec, dict) else None
    if not isinstance(slurm, dict) or slurm.get("job_id") != job_id:
        return None
    return rec


def _wait_submitit(
    run_dir: Path, jobs: dict[str, Any], progress: Any, poll_s: float
) -> list[dict[str, Any]]:
    """submitit's own polling, for its ``local`` and ``debug`` clusters (no SLURM)."""

    def ended(pending: list[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for uid in pending:
            job = jobs[uid]
            if not job.done():
                continue
            meta = run_dir / "units" / f"{uid}.json"
            error = "no result"
            try:
                job.result()
            except Exception as exc:
                text = str(exc).strip()
                error = text.splitlines()[-1] if text else type(exc).__name__
            if meta.is_file():
                out[uid] = read_json(meta)
            else:
                folder = Path(str(job.paths.folder))
                out[uid] = _lost_unit(run_dir, uid, str(job.job_id), error, folder)
        return out

    return _wait_units(list(jobs), ended, progress, poll_s)


def _lost_unit(
    run_dir: Path, uid: str, job_id: str, reason: str, log: Path | None
) -> dict[str, Any]:
    from brainbench.runner._io import atomic_write_json
    from brainbench.runner._units import parse_unit_id

    model, repeat, fold, seed = parse_unit_id(uid)
    rec = {
        "id": uid,
        "model": model,
        "repeat": repeat,
        "fold": fold,
        "seed": seed,
        "status": "failed",
        "error_kind": "job",
        "error": f"SLURM job {job_id} {reason}" + (f" (log: {log})" if log else ""),
        "log": str(log) if log else None,
        "seconds": None,
        "output_sha256": None,
        "slurm": {"job_id": job_id, "final_state": reason},
    }
    from brainbench.runner import _journal

    record_sha = atomic_write_json(run_dir / "units" / f"{uid}.json", rec)
    _journal.append(
        run_dir,
        {"unit": uid, "status": "failed", "output_sha256": None, "record_sha256": record_sha},
    )
    return rec


__all__ = [
    "Profile",
    "SlurmProfile",
    "load_profile",
    "make_submitit_executor",
    "run_local",
    "run_slurm",
]
