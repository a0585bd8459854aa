"""Finishing a run: the predictions table from the unit outputs, and ``provenance.json``."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import socket
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd

from brainbench.hashing import sha256_file
from brainbench.runner._io import atomic_write_json, atomic_write_parquet, read_json
from brainbench.runner._prepare import PLAN_FILE, plan_units, utc_now
from brainbench.runner._units import Unit

PACKAGES = (
    "numpy",
    "scipy",
    "pandas",
    "pyarrow",
    "scikit-learn",
    "torch",
    "monai",
    "nibabel",
    "statsmodels",
    "submitit",
    "pydantic",
)
SORT = ["model", "repeat", "fold", "seed", "partition", "cohort", "subject", "session", "image"]


def git_commit() -> str | None:
    """The commit of the brainbench source tree (with ``+dirty`` if modified), or None."""
    src = Path(__file__).resolve().parents[3]
    try:
        commit = subprocess.run(
            ["git", "-C", str(src), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no", "--", "src"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "") if commit else None


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def device_info(device: str) -> dict[str, Any]:
    """Device type, name and CUDA / cuDNN versions as torch reports them."""
    info: dict[str, Any] = {"type": device, "name": platform.processor() or platform.machine()}
    info["cpu_count"] = os.cpu_count()
    try:
        import torch

        info["cuda"] = torch.version.cuda
        if device == "cuda" and torch.cuda.is_available():
            info["name"] = torch.cuda.get_device_name(0)
            info["cudnn"] = torch.backends.cudnn.version()
            info["gpu_count"] = torch.cuda.device_count()
    except ImportError:
        info["cuda"] = None
    return info


def collect(run_dir: Path, units: list[Unit]) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The predictions of every complete unit and one record per planned unit."""
    frames, records = [], []
    for u in units:
        meta = run_dir / "units" / f"{u.id}.json"
        parquet = run_dir / "units" / f"{u.id}.parquet"
        base = {
            "id": u.id,
            "model": u.model,
            "repeat": u.repeat,
            "fold": u.fold,
            "seed": u.seed,
            "rng_seed": u.rng_seed,
        }
        if not meta.is_file():
            records.append(
                {
                    **base,
                    "status": "skipped",
                    "seconds": None,
                    "log": None,
                    "error": "not run",
                    "output_sha256": None,
                }
            )
            continue
        info = read_json(meta)
        rec = {
            **base,
            "status": info.get("status", "failed"),
            "seconds": info.get("seconds"),
            "log": info.get("log"),
            "error": info.get("error"),
            "error_kind": info.get("error_kind"),
            "output_sha256": info.get("output_sha256"),
            "started": info.get("started"),
            "finished": info.get("finished"),
            "n_rows": info.get("n_rows"),
            "images_sent": info.get("images_sent"),
            "host": info.get("host"),
            "device": (info.get("device") or {}).get("name"),
        }
        if isinstance(info.get("slurm"), dict):  # job, array task, node, requeues, queue time
            rec["slurm"] = info["slurm"]
        if rec["status"] == "ok":
            if not parquet.is_file() or sha256_file(parquet) != rec["output_sha256"]:
                rec["status"] = "failed"
                rec["error"] = f"{parquet.name} is missing or does not match its recorded sha256"
            else:
                frames.append(pd.read_parquet(parquet))
        records.append(rec)
    if frames:
        df = pd.concat(frames, ignore_index=True)
        df = df.sort_values(SORT, kind="stable", na_position="first").reset_index(drop=True)
    else:
        df = pd.DataFrame(columns=[*SORT, "y_true", "y_pred"])
    return df, records


def finalize_run(run_dir: str | Path, *, device: str = "cpu", executor: str = "local") -> dict:
    """Write ``predictions.parquet`` and ``provenance.json``; return the provenance."""
    from brainbench import __version__

    run_dir = Path(run_dir)
    plan = read_json(run_dir / PLAN_FILE)
    units = plan_units(plan)
    df, records = collect(run_dir, units)
    predictions_sha = atomic_write_parquet(run_dir / "predictions.parquet", df)
    dev = device_info(device)
    if executor == "slurm":  # the driver ran no unit: report the compute nodes' device
        for u in units:
            meta = run_dir / "units" / f"{u.id}.json"
            info = read_json(meta) if meta.is_file() else {}
            if info.get("status") == "ok" and isinstance(info.get("device"), dict):
                dev = info["device"]
                break
    hosts = sorted({r["host"] for r in records if r.get("host")})
    provenance = {
        "brainbench_version": __version__,
        "git_commit": git_commit(),
        "spec": plan["spec"],
        "split_sha256": plan["split_sha256"],
        "split_origin": plan.get("split_origin"),
        "cohort_sha256": plan["cohort_sha256"],
        "predictions_sha256": predictions_sha,
        "models": plan["models"],
        "registry_root": plan.get("registry_root"),
        "task": plan["task"],
        "packages": package_versions(),
        "device": dev,
        "executor": executor,
        "host": socket.gethostname(),
        "unit_hosts": hosts,
        "platform": platform.platform(),
        "seeds": {
            "count": plan["seeds"],
            "split_seed": units[0].split_seed if units else None,
            "per_unit": "rng_seed = sha256('split_seed:repeat:fold:seed') mod 2^31-1",
        },
        "deterministic": plan["options"]["deterministic"],
        "amp": bool(plan.get("amp", True)) and dev.get("type") == "cuda",
        "max_epochs": plan["options"]["max_epochs"],
        "hyperparameters": plan["options"]["hyperparameters"],
        "deviations": plan.get("deviations", []),
        "started": plan["started"],
        "finished": utc_now(),
        "units": records,
    }
    atomic_write_json(run_dir / "provenance.json", provenance)
    return provenance


__all__ = ["collect", "device_info", "finalize_run", "git_commit", "package_versions"]
