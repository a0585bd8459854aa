"""Executing units: the runner's side of the model host, and the unit outputs.

One unit: build the partitions of its (repeat, fold) from the frozen split table, send the
model host the training and validation images (with labels) and the images to score (without),
receive the scores, join the labels the runner kept, write ``units/<unit>.parquet`` then
``units/<unit>.json`` (each atomically: the JSON, written last, marks the unit complete).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from brainbench.hashing import sha256_file
from brainbench.runner._data import ImageLoader
from brainbench.runner._input_units import input_units_message
from brainbench.runner._io import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_parquet,
    read_json,
)
from brainbench.runner._prepare import PLAN_FILE, join_keys, plan_units, utc_now
from brainbench.runner._units import Unit

HIERARCHY = ("dataset", "site", "scanner", "subject", "session", "image")
TRAIN, VALIDATION, TEST = "train", "validation", "test"


# -- the run's tables ------------------------------------------------------------------------------
@dataclass
class RunState:
    """What a worker reads from the run folder to execute units."""

    run_dir: Path
    plan: dict[str, Any]
    task: Any  # TaskInfo
    cohort: pd.DataFrame
    splits: pd.DataFrame  # with a 'key' column: the cohort row of each split row

    @classmethod
    def load(cls, run_dir: str | Path) -> RunState:
        from brainbench.registry.interface import TaskInfo
        from brainbench.split import read_split_file

        run_dir = Path(run_dir)
        plan = read_json(run_dir / PLAN_FILE)
        t = plan["task"]
        task = TaskInfo(
            type=t["type"],
            classes=tuple(t["classes"]),
            spatial_shape=tuple(t["spatial_shape"]),
            voxel_spacing=tuple(t["voxel_spacing"]),
            channels=int(t["channels"]),
            unit=t["unit"],
            modality=t["modality"],
            target=t["target"],
            covariates=tuple(c["name"] for c in t.get("covariates", ())),
        )
        cohort = pd.read_parquet(run_dir / "cohort.parquet")
        splits = read_split_file(run_dir / "splits.tsv", sha256=plan["split_sha256"])
        index = pd.Series(np.arange(len(cohort)), index=join_keys(cohort).to_numpy())
        index = index[~index.index.duplicated(keep="first")]
        keys = join_keys(splits)
        missing = ~keys.isin(index.index)
        if missing.any():
            first = splits[missing.to_numpy()].iloc[0]
            raise RuntimeError(
                f"{run_dir / 'splits.tsv'}: {int(missing.sum())} split row(s) match no cohort "
                f"row (first: cohort {first['cohort']}, subject {first['subject']}, session "
                f"{first['session']}, image {first['image']})"
            )
        splits = splits.assign(key=index.loc[keys.to_numpy()].to_numpy())
        return cls(run_dir=run_dir, plan=plan, task=task, cohort=cohort, splits=splits)

    @property
    def target(self) -> str:
        return self.task.target

    def partitions(self, unit: Unit) -> dict[str, np.ndarray]:
        """Cohort rows of each partition of the unit's (repeat, fold), in split-file order."""
        s = self.splits
        part = s[(s["repeat"] == unit.repeat) & (s["fold"] == unit.fold)]
        out: dict[str, np.ndarray] = {}
        for name in dict.fromkeys(part["partition"].astype(str)):
            out[name] = part.loc[part["partition"].astype(str) == name, "key"].to_numpy(np.int64)
        return out

    def labels(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Encoded labels of ``rows`` and a mask of the usable ones."""
        values = self.cohort[self.target].iloc[rows] if self.target in self.cohort else None
        if values is None:
            return np.zeros(len(rows)), np.zeros(len(rows), bool)
        if self.task.type == "classification":
            index = {c: k for k, c in enumerate(self.task.classes)}
            text = values.astype("string")
            enc = np.array([index.get(str(v), -1) if v is not pd.NA else -1 for v in text])
            return enc.astype(np.int64), enc >= 0
        num = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
        return num, np.isfinite(num)


# -- the model host ----------------------------------------------------------------------------
def _clean_env(sensitive: Sequence[str], threads: int) -> dict[str, str]:
    """The host's environment: no BRAINBENCH_* variable, nothing naming a sensitive path."""
    env = {}
    needles = [s for s in sensitive if s and len(s) > 1]
    for k, v in os.environ.items():
        if k.startswith("BRAINBENCH_") or k in ("PWD", "OLDPWD"):
            continue
        if any(n in v for n in needles):
            continue
        env[k] = v
    src = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(threads)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class HostDied(RuntimeError):
    pass


class UnitTimeout(RuntimeError):
    pass


class ModelHost:
    """A model host child process (:mod:`brainbench.runner._host`) and its socket."""

    def __init__(self, sensitive: Sequence[str], threads: int) -> None:
        self.sensitive = list(sensitive)
        self.threads = threads
        self.proc: subprocess.Popen | None = None
        self.conn: Connection | None = None
        self.scratch: Path | None = None

    def start(self) -> None:
        self.scratch = Path(tempfile.mkdtemp(prefix="brainbench-host-"))
        parent, child = socket.socketpair()
        fd = child.fileno()
        with open(self.scratch / "host.out", "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "brainbench.runner._host", str(fd)],
                pass_fds=(fd,),
                cwd=self.scratch,
                env=_clean_env(self.sensitive, self.threads),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                close_fds=True,
            )
        child.close()
        self.conn = Connection(parent.detach())

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ensure(self) -> None:
        if not self.alive():
            self.close()
            self.start()

    def exchange(
        self,
        message: dict[str, Any],
        provide: Callable[[list[int]], tuple[dict[int, np.ndarray], dict[int, str]]],
        on_epoch: Callable[[int, float, float | None], None] | None,
        timeout_s: float | None = None,
    ) -> tuple:
        """Send a unit, serve image requests and epochs, return the final message.

        Raises HostDied when the process dies, UnitTimeout after ``timeout_s`` seconds.
        """
        assert self.conn is not None
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        if self.scratch is not None:
            (self.scratch / "unit.log").unlink(missing_ok=True)  # no stale log of a prior unit
        self.conn.send(("unit", message))
        while True:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0 or not self.conn.poll(left):
                    raise UnitTimeout(f"the unit ran longer than {timeout_s:g} s: stopped")
            try:
                msg = self.conn.recv()
            except (EOFError, OSError, ConnectionResetError):
                code = self.proc.wait(timeout=30) if self.proc is not None else None
                why = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
                raise HostDied(f"the model process died ({why})") from None
            kind = msg[0]
            if kind == "need":
                arrays, errors = provide(list(msg[1]))
                self.conn.send(("images", arrays, errors))
            elif kind == "epoch":
                if on_epoch is not None:
                    on_epoch(int(msg[1]), float(msg[2]), msg[3])
            else:
                return msg

    def log_text(self, name: str = "unit.log") -> str:
        """The model's output of the current unit (or the host's own output: ``host.out``)."""
        if self.scratch is None:
            return ""
        try:
            return (self.scratch / name).read_text(errors="replace")
        except OSError:
            return ""

    def kill(self) -> None:
        """Stop a process that does not answer (timeout), then clean up."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.close()

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(OSError):
                self.conn.send(("stop",))
            self.conn.close()
            self.conn = None
        if self.proc is not None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None


def sensitive_paths(state: RunState) -> list[str]:
    """Paths the model host must not learn: run folder, spec, cohort sources, image folders."""
    out = {str(state.run_dir.resolve()), str(Path(state.plan["spec"]["file"]))}
    out.add(str(Path(state.plan["spec"]["file"]).parent))
    for col in ("cohort_file",):
        if col in state.cohort:
            for f in state.cohort[col].dropna().astype(str).unique():
                out.add(str(Path(f).parent))
    if "image_path" in state.cohort:
        roots = state.cohort["image_path"].dropna().astype(str).map(lambda p: str(Path(p).parent))
        out.update(roots.unique())
    return sorted(out)


# -- one unit -------------------------------------------------------------------------------
def unit_paths(run_dir: Path, unit: Unit) -> tuple[Path, Path, Path]:
    return (
        run_dir / "units" / f"{unit.id}.parquet",
        run_dir / "units" / f"{unit.id}.json",
        run_dir / "logs" / f"{unit.id}.log",
    )


def unit_complete(run_dir: Path, unit: Unit) -> bool:
    """True when the unit's JSON says ok and its Parquet file has the recorded hash."""
    parquet, meta, _ = unit_paths(run_dir, unit)
    if not meta.is_file() or not parquet.is_file():
        return False
    try:
        info = read_json(meta)
    except (OSError, ValueError):
        return False
    return info.get("status") == "ok" and info.get("output_sha256") == sha256_file(parquet)


def _covariates(state: RunState, rows: np.ndarray) -> pd.DataFrame:
    """The whitelisted covariates; image ids reduced to file names (a manifest's image id is
    its path, which would show the model where the cohort's tables live)."""
    from brainbench.registry.interface import covariate_frame

    declared = [(c["name"], c["type"]) for c in state.plan["task"].get("covariates", ())]
    cov = covariate_frame(state.cohort.iloc[rows], declared)
    # Covariates carrying the target never reach a model (rule L107; see runner/_audit.py).
    cov = cov.drop(columns=state.plan.get("withheld_covariates", []), errors="ignore")
    if "image" in cov.columns:
        cov["image"] = cov["image"].str.replace(r"^.*[/\\]", "", regex=True)
    return cov


def _prediction_rows(
    state: RunState, unit: Unit, partition: str, rows: np.ndarray, scores: np.ndarray
) -> pd.DataFrame:
    c = state.cohort.iloc[rows].reset_index(drop=True)
    n = len(rows)
    df = pd.DataFrame(
        {
            "model": pd.Series([unit.model] * n, dtype="string"),
            "repeat": np.full(n, unit.repeat, np.int64),
            "fold": np.full(n, unit.fold, np.int64),
            "seed": np.full(n, unit.seed, np.int64),
            "partition": pd.Series([partition] * n, dtype="string"),
            "cohort": c["cohort"].astype("string"),
        }
    )
    for level in HIERARCHY:
        df[level] = c[level].astype("string") if level in c else pd.Series([pd.NA] * n, "string")
    task = state.task
    if task.type == "classification":
        truth = c[state.target].astype("string") if state.target in c else None
        df["y_true"] = truth if truth is not None else pd.Series([pd.NA] * n, dtype="string")
        classes = list(task.classes)
        df["y_pred"] = pd.Series([classes[k] for k in np.argmax(scores, axis=1)], dtype="string")
        for k, name in enumerate(classes):
            df[f"score_{name}"] = scores[:, k].astype(np.float64)
        df["score"] = scores[:, -1].astype(np.float64)
    else:
        y = c[state.target] if state.target in c else pd.Series([np.nan] * n)
        df["y_true"] = pd.to_numeric(y, errors="coerce").astype(np.float64).to_numpy()
        df["y_pred"] = np.asarray(scores, dtype=np.float64)
    return df


def execute_unit(
    state: RunState,
    unit: Unit,
    host: ModelHost,
    loader: ImageLoader,
    *,
    device: str,
    num_threads: int | None,
    on_epoch: Callable[[int, float, float | None], None] | None = None,
    where: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run one unit in ``host`` and write its outputs; returns its JSON record."""
    parquet, meta, log_path = unit_paths(state.run_dir, unit)
    started = utc_now()
    t0 = time.perf_counter()
    log: list[str] = [f"unit {unit.id} (rng seed {unit.rng_seed}) started {started}"]
    record: dict[str, Any] = {
        **unit.to_dict(),
        "status": "failed",
        "started": started,
        "log": str(Path("logs") / log_path.name),
        "error": None,
        "error_kind": None,
        "output_sha256": None,
        **(where or {}),
    }
    image_errors: dict[int, str] = {}
    sent = [0]
    model_log: str | None = None

    allowed: set[int] = set()  # the images of this unit's partitions, nothing else

    def provide(keys: list[int]) -> tuple[dict[int, np.ndarray], dict[int, str]]:
        foreign = [k for k in keys if k not in allowed]
        if foreign:
            log.append(f"the model asked for {len(foreign)} image(s) outside its partitions")
            return {}, {int(k): "not an image of this unit" for k in foreign}
        paths = state.cohort["image_path"].iloc[keys].astype("string").fillna("").tolist()
        arrays, errors = {}, {}
        missing = [i for i, p in enumerate(paths) if not p]
        for i in missing:
            row = state.cohort.iloc[keys[i]]
            errors[keys[i]] = (
                f"image {row.get('image')} of subject {row.get('subject')} has no image file "
                "in the cohort table"
            )
        todo = [i for i in range(len(paths)) if paths[i]]
        got, errs = loader.load_many([paths[i] for i in todo])
        for j, arr in got.items():
            arrays[keys[todo[j]]] = arr
        sent[0] += len(got)
        for j, err in errs.items():
            errors[keys[todo[j]]] = str(err)
        for k, msg in errors.items():
            log.append(f"image error: {msg}")
            image_errors[k] = msg
        return arrays, errors

    try:
        parts = state.partitions(unit)
        allowed.update(int(k) for rows in parts.values() for k in rows)
        train_rows = parts.get(TRAIN, np.zeros(0, np.int64))
        y_train, ok_train = state.labels(train_rows)
        if not ok_train.all():
            log.append(f"{int((~ok_train).sum())} training image(s) without a usable label dropped")
        train_rows, y_train = train_rows[ok_train], y_train[ok_train]
        if len(train_rows) == 0:
            raise RuntimeError("the training partition is empty")
        val = None
        val_rows = parts.get(VALIDATION)
        if val_rows is not None and len(val_rows):
            y_val, ok_val = state.labels(val_rows)
            val_rows, y_val = val_rows[ok_val], y_val[ok_val]
            val = (val_rows, _covariates(state, val_rows), y_val)
        to_score = [(n, r) for n, r in parts.items() if n != TRAIN and len(r)]
        message = {
            "model": unit.model,
            "registry_root": state.plan.get("registry_root"),
            "task": {
                "type": state.task.type,
                "classes": state.task.classes,
                "spatial_shape": state.task.spatial_shape,
                "voxel_spacing": state.task.voxel_spacing,
                "channels": state.task.channels,
                "unit": state.task.unit,
                "modality": state.task.modality,
                "target": state.task.target,
            },
            "hyperparameters": dict(state.plan["options"]["hyperparameters"].get(unit.model, {})),
            "train": (train_rows, _covariates(state, train_rows), y_train),
            "validation": val,
            "predict": [(n, r, _covariates(state, r)) for n, r in to_score],
            "device": device,
            "seed": unit.rng_seed,
            "deterministic": bool(state.plan["options"]["deterministic"]),
            "max_epochs": state.plan["options"]["max_epochs"],
            "amp": bool(state.plan.get("amp", True)) and device == "cuda",
            "num_threads": num_threads,
            "input_units": input_units_message(state.plan.get("input_units")),
        }
        if message["registry_root"] is not None:
            message["registry_root"] = Path(message["registry_root"])
        host.ensure()
        timeout = state.plan.get("unit_timeout_s")
        reply = host.exchange(message, provide, on_epoch, timeout_s=timeout)
        if reply[0] == "done":
            scores, info = reply[1], reply[2]
            frames = [
                _prediction_rows(state, unit, n, r, scores[n]) for n, r in to_score if n in scores
            ]
            df = pd.concat(frames, ignore_index=True)
            record["output_sha256"] = atomic_write_parquet(parquet, df)
            record["n_rows"] = len(df)
            record["history"] = info.get("history")
            record["epoch_times"] = info.get("epoch_times")
            record["status"] = "ok"
        else:
            _, kind, text, tb = reply
            if kind == "image" and image_errors:
                first = image_errors[sorted(image_errors)[0]]
                more = len(image_errors) - 1
                text = first + (f" (and {more} more image(s): see the log)" if more else "")
            record["error_kind"] = kind
            record["error"] = text
            if tb:
                log.append(tb.rstrip())
            if kind == "cuda-oom":
                model_log = host.log_text()
                host.close()
    except UnitTimeout as exc:
        record["error_kind"] = "timeout"
        record["error"] = str(exc)
        model_log = host.log_text()
        host.kill()
    except HostDied as exc:
        record["error_kind"] = "crash"
        record["error"] = str(exc)
        model_log = host.log_text()
        early = host.log_text("host.out").strip()
        if early:  # the process died before or outside the unit (import error, killed...)
            log.append("model process output:\n" + early[-20000:])
        host.close()
    except Exception as exc:  # a runner-side problem with this unit: record it, go on
        record["error_kind"] = "runner"
        record["error"] = f"{type(exc).__name__}: {exc}"
        log.append(traceback.format_exc().rstrip())
    record["images_sent"] = sent[0]  # decoded images sent to the host (0: all cached there)
    record["seconds"] = round(time.perf_counter() - t0, 3)
    record["finished"] = utc_now()
    if model_log is None:
        model_log = host.log_text()
    status_line = f"status: {record['status']}" + (
        f" ({record['error_kind']}): {record['error']}" if record["error"] else ""
    )
    text = "\n".join(
        [
            *log[:1],
            "--- model output ---",
            model_log.rstrip(),
            "--- runner ---",
            *log[1:],
            status_line,
            "",
        ]
    )
    atomic_write_bytes(log_path, text.encode("utf-8"))
    if record["status"] != "ok":
        parquet.unlink(missing_ok=True)
    atomic_write_json(meta, record)
    return record


# -- many units --------------------------------------------------------------------------------
def resolve_device(device: str) -> str:
    if device == "auto":
        try:
            import torch

            return "cuda" if torch.cuda.is_available() else "cpu"
        except ImportError:
            return "cpu"
    return device


def run_units(
    run_dir: str | Path,
    unit_ids: Sequence[str] | None = None,
    *,
    workers: int = 1,
    progress: Any = None,
    skip_complete: bool = True,
    disk_cache: bool = False,
    context: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Execute units of a prepared run folder (all of the plan's, or ``unit_ids``).

    ``workers`` model hosts run units in parallel (threads in this process drive them; the
    models run in their own processes). Units already complete are skipped when
    ``skip_complete``. ``disk_cache`` keeps decoded images in ``RUN_DIR/cache/`` for other
    processes (SLURM array tasks). ``context`` is added to each unit's record (a SLURM task's
    job id, node, requeues). Returns the JSON records of the units executed.
    """
    state = RunState.load(run_dir)
    units = plan_units(state.plan)
    if unit_ids is not None:
        wanted = set(unit_ids)
        units = [u for u in units if u.id in wanted]
    if skip_complete:
        units = [u for u in units if not unit_complete(state.run_dir, u)]
    if not units:
        return []
    device = resolve_device(state.plan.get("device", "auto"))
    workers = max(1, min(int(workers), len(units)))
    cores = os.cpu_count() or 1
    threads = max(1, cores // workers)
    shape = (state.task.channels, *state.task.spatial_shape)
    cache = 0 if workers == 1 else 4 << 30
    loader = ImageLoader(
        shape,
        cache_bytes=cache,
        threads=min(4, cores),
        disk_cache=state.run_dir / "cache" if disk_cache else None,
    )
    sensitive = sensitive_paths(state)
    from brainbench.runner._finalize import device_info

    where = {"host": socket.gethostname(), "device": device_info(device), **(context or {})}
    hosts = [ModelHost(sensitive, threads) for _ in range(workers)]
    records: list[dict[str, Any]] = []
    lock = threading.Lock()
    queue = list(units)

    def worker(host: ModelHost) -> None:
        try:
            while True:
                with lock:
                    if not queue:
                        return
                    unit = queue.pop(0)
                task_id = progress.start_unit(unit) if progress is not None else None

                def on_epoch(e: int, loss: float, val: float | None, _t: Any = task_id) -> None:
                    if progress is not None:
                        progress.epoch(_t, e, loss, val)

                rec = execute_unit(
                    state,
                    unit,
                    host,
                    loader,
                    device=device,
                    num_threads=threads,
                    on_epoch=on_epoch,
                    where=where,
                )
                with lock:
                    records.append(rec)
                if progress is not None:
                    progress.end_unit(task_id, rec)
        finally:
            host.close()

    if workers == 1:
        worker(hosts[0])
    else:
        threads_ = [threading.Thread(target=worker, args=(h,), daemon=True) for h in hosts]
        for t in threads_:
            t.start()
        for t in threads_:
            t.join()
    return records


def execute_slurm_task(
    run_dir: str, unit_id: str, submitted: float | None = None
) -> dict[str, Any]:
    """Entry point of one SLURM array task (one unit); skips a unit already complete.

    The unit's record gets the task's SLURM identity (job and array ids, node, requeues) and
    its queue time (``submitted`` is when the driver submitted the array).
    """
    from brainbench.runner._slurm import task_context

    slurm = task_context()
    if submitted is not None:
        slurm["queue_s"] = round(max(0.0, slurm["started"] - submitted), 3)
    recs = run_units(run_dir, [unit_id], workers=1, disk_cache=True, context={"slurm": slurm})
    if recs:
        return recs[0]
    return {"id": unit_id, "status": "ok", "skipped": True}


__all__ = [
    "ModelHost",
    "RunState",
    "execute_slurm_task",
    "execute_unit",
    "resolve_device",
    "run_units",
    "sensitive_paths",
    "unit_complete",
    "unit_paths",
]
