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


def collect(
    run_dir: Path, units: list[Unit], expected: dict[str, str | None] | None = None
) -> tuple[pd.DataFrame, list[dict[str, Any]], list[str]]:
    """The predictions of every complete unit, one record per planned unit, and the integrity
    problems: unit outputs that are not what the runner wrote (its journal, and ``expected``:
    the output hashes of the units this process ran, from memory)."""
    from brainbench.runner import _journal

    journal = _journal.read(run_dir)
    problems = [f"{k}: unreadable journal line" for k, v in journal.items() if v.get("unreadable")]
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
            "seal": info.get("seal"),
            "seal_layers": info.get("seal_layers"),
        }
        if isinstance(info.get("slurm"), dict):  # job, array task, node, requeues, queue time
            rec["slurm"] = info["slurm"]
        tampered = _journal.check_unit(run_dir, u.id, journal, expected)
        if tampered is not None:
            problems.append(f"{u.id}: {tampered}")
            rec.update(status="failed", error_kind="tampered", error=tampered)
        elif rec["status"] == "ok":
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
    return df, records, problems


CASE_METRICS = "case_metrics.parquet"


def mask_hashes(run_dir: Path, df: pd.DataFrame, problems: list[str]) -> dict[str, str]:
    """Run-folder path -> sha256 of every predicted mask the table names; a mask missing or
    changed since its unit wrote it is an integrity problem."""
    out: dict[str, str] = {}
    if df.empty:
        return out
    for rel, sha in df[["mask", "mask_sha256"]].drop_duplicates().itertuples(index=False):
        path = run_dir / str(rel)
        if not path.is_file() or sha256_file(path) != sha:
            problems.append(f"{rel}: the predicted mask is missing or differs from its sha256")
        out[str(rel)] = str(sha)
    return out


def run_seal(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The sandbox layers that held for every unit that ran (their intersection)."""
    from brainbench import sandbox

    ran = [r for r in records if r.get("seal") is not None]
    if not ran:
        none = "unsealed: no unit ran in a model process"
        return {"summary": none, "layers": [], "level": "none"}
    common = set.intersection(*(set(r.get("seal_layers") or []) for r in ran))
    layers = sorted(common, key=sandbox.LAYERS.index)
    reason = next((r["seal"][len("unsealed: ") :] for r in ran if not r.get("seal_layers")), None)
    if not layers and reason is None:
        reason = "the units did not share a sandbox layer"
    return {
        "summary": sandbox.describe(layers, reason),
        "layers": layers,
        "level": sandbox.level_of(layers),
    }


def finalize_run(
    run_dir: str | Path,
    *,
    device: str = "cpu",
    executor: str = "local",
    expected: dict[str, str | None] | None = None,
) -> dict:
    """Write ``predictions.parquet`` (``case_metrics.parquet`` and the masks' hashes for a
    segmentation task) and ``provenance.json``; return the provenance.

    ``expected``: unit id -> output sha256 of the units this process ran (the runner's own
    record); a unit output that differs from it or from the journal fails its unit
    (``tampered``) and sets ``integrity.ok`` to false.
    """
    from brainbench import __version__

    run_dir = Path(run_dir)
    plan = read_json(run_dir / PLAN_FILE)
    units = plan_units(plan)
    df, records, problems = collect(run_dir, units, expected)
    segmentation = plan["task"]["type"] == "segmentation"
    if segmentation:  # per-case metrics, one row per image x label x metric (docs/design.md)
        from brainbench.runner._segmentation import case_metrics_frame

        df = case_metrics_frame(df if len(df) else pd.DataFrame())
        df = df.sort_values([*SORT, "label_value", "metric"], kind="stable").reset_index(drop=True)
        table = {"case_metrics_sha256": atomic_write_parquet(run_dir / CASE_METRICS, df)}
        table["masks"] = mask_hashes(run_dir, df, problems)
    else:
        table = {"predictions_sha256": atomic_write_parquet(run_dir / "predictions.parquet", df)}
    dev = device_info(device)
    if executor == "slurm":  # the driver ran no unit: report the compute nodes' device
        for u in units:
            meta = run_dir / "units" / f"{u.id}.json"
            info = read_json(meta) if meta.is_file() else {}
            if info.get("status") == "ok" and isinstance(info.get("device"), dict):
                dev = info["device"]
                break
    hosts = sorted({r["host"] for r in records if r.get("host")})
    seal = run_seal(records)
    provenance = {
        "brainbench_version": __version__,
        "git_commit": git_commit(),
        "spec": plan["spec"],
        "split_sha256": plan["split_sha256"],
        "split_origin": plan.get("split_origin"),
        "cohort_sha256": plan["cohort_sha256"],
        **table,
        "models": plan["models"],
        "registry_root": plan.get("registry_root"),
        "task": plan["task"],
        "packages": package_versions(),
        "device": dev,
        "executor": executor,
        "seal": seal,
        "integrity": {"ok": not problems, "problems": problems},
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


__all__ = [
    "collect",
    "device_info",
    "finalize_run",
    "git_commit",
    "package_versions",
    "run_seal",
]
