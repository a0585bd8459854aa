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
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from brainbench import sandbox
from brainbench.errors import UserError
from brainbench.hashing import sha256_file
from brainbench.runner import _journal as journal
from brainbench.runner import _segmentation as seg
from brainbench.runner._data import ImageError, ImageLoader
from brainbench.runner._input_units import input_units_message
from brainbench.runner._io import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_parquet,
    read_json,
)
from brainbench.runner._prepare import PLAN_FILE, join_keys, plan_units, utc_now
from brainbench.runner._threads import available_cores, thread_budget
from brainbench.runner._units import Unit
from brainbench.sandbox import channel


def image_cache_bytes() -> int:
    """Decoded images the runner keeps for the next units (model processes live for one unit):
    half the machine's memory (4 GiB where it cannot be read), so a cohort that fits is decoded
    once per run."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (ValueError, OSError, AttributeError):
        return 4 << 30


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
            labels=tuple(t.get("labels", ())),
            label_values=tuple(t.get("label_values", ())),
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
        """Encoded labels of ``rows`` and a mask of the usable ones (segmentation: no label
        travels, the rows with a reference mask are usable)."""
        if self.task.type == "segmentation":
            ok = self.cohort["reference_path"].iloc[rows].notna().to_numpy()
            return np.zeros(len(rows)), ok
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


# -- the model process ----------------------------------------------------------------------
class HostDied(RuntimeError):
    pass


class UnitTimeout(RuntimeError):
    pass


#: The most model output (stdout, stderr, log) copied into ``logs/<unit>.log``.
MAX_LOG_BYTES = 2 << 20
#: The most image keys one ``need`` message may ask for.
MAX_NEED = 4096
_ERROR_KINDS = frozenset({"image", "model", "model-load", "cuda-oom", "memory", "bad-output"})


class ModelHost:
    """One unit's model process (:mod:`brainbench.runner._host`), sandboxed, and its socket.

    ``seal``: run it in :mod:`brainbench.sandbox` (Landlock, namespaces, limits); False runs
    it with the scrubbed environment and the data-only channel only (``--no-seal``).
    """

    def __init__(self, threads: int, *, seal: bool = True, memory: int | None = None) -> None:
        self.threads = threads
        self.seal = seal
        #: RLIMIT_DATA of the model process, bytes (None: none)
        self.memory = memory
        self.proc: sandbox.Sandboxed | None = None
        self.sock: socket.socket | None = None
        self.scratch: Path | None = None
        self.output: Any = None
        self.layers: list[str] = []

    def start(self, entry_folder: Path) -> None:
        """A fresh process for one unit, with an empty scratch folder of its own."""
        self.close()
        self.scratch = Path(tempfile.mkdtemp(prefix="brainbench-unit-"))
        (self.scratch / "tmp").mkdir()
        policy = (
            sandbox.default_policy(
                entry_folder, self.scratch, fsize=sandbox.DEFAULT_FSIZE, data=self.memory
            )
            if self.seal
            else sandbox.off_policy("the run was started with --no-seal")
        )
        # the runner's own file for the process's output: read back by descriptor, never by path
        self.output = tempfile.TemporaryFile(prefix="brainbench-unit-", suffix=".log")  # noqa: SIM115
        parent, child = socket.socketpair()
        fd = child.fileno()
        try:
            self.proc = sandbox.Sandboxed(
                policy,
                "brainbench.runner._host:main",
                [str(fd)],
                cwd=self.scratch,
                env=sandbox.scrubbed_env(self.scratch, self.threads),
                pass_fds=(fd,),
                output=self.output,
            )
        finally:
            child.close()
        self.sock = parent
        try:
            hello = channel.recv(
                parent, max_array_bytes=0, kinds={"hello"}, deadline=time.monotonic() + 300
            )
        except (channel.ChannelClosed, channel.ProtocolError, TimeoutError):
            raise HostDied(f"the model process did not start ({self._exit()})") from None
        layers = (hello.data or {}).get("layers", [])
        self.layers = [x for x in layers if x in sandbox.LAYERS]
        self.proc.contained = "pidns" in self.layers

    def _exit(self) -> str:
        code = self.proc.wait(timeout=30) if self.proc is not None else None
        return f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"

    def exchange(
        self,
        kind: str,
        data: dict[str, Any],
        arrays: dict[str, np.ndarray],
        provide: Callable[[list[int]], tuple[dict[str, np.ndarray], dict[str, str]]],
        on_epoch: Callable[[int, float, float | None], None] | None,
        *,
        reply_bytes: int,
        timeout_s: float | None = None,
    ) -> channel.Message:
        """Send a unit, serve image requests and epochs, return the final message.

        Raises HostDied when the process dies, UnitTimeout after ``timeout_s`` seconds,
        ProtocolError for a message that is not what the runner asked for.
        """
        assert self.sock is not None
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        channel.send(self.sock, kind, data, arrays)
        limit = max(reply_bytes, 8 * MAX_NEED)
        while True:
            try:
                msg = channel.recv(
                    self.sock,
                    max_array_bytes=limit,
                    kinds={"need", "epoch", "done", "error"},
                    deadline=deadline,
                )
            except TimeoutError:
                raise UnitTimeout(f"the unit ran longer than {timeout_s:g} s: stopped") from None
            except channel.ChannelClosed:
                raise HostDied(f"the model process died ({self._exit()})") from None
            if msg.kind == "need":
                keys = channel.expect_array(msg, "keys", "<i8", (None,))
                if len(keys) > MAX_NEED:
                    raise channel.ProtocolError(f"asked for {len(keys)} images at once")
                images, errors = provide([int(k) for k in keys])
                channel.send(self.sock, "images", errors, images)
            elif msg.kind == "epoch":
                e = msg.data if isinstance(msg.data, dict) else {}
                val = e.get("val")
                if not isinstance(e.get("epoch"), int) or not isinstance(e.get("loss"), float):
                    raise channel.ProtocolError("an epoch message without epoch and loss")
                if on_epoch is not None:
                    on_epoch(e["epoch"], e["loss"], val if isinstance(val, float) else None)
            else:
                return msg

    def log_text(self) -> str:
        """The model process's output (the last MAX_LOG_BYTES), read through the runner's own
        file descriptor: nothing the model can redirect by a path or a symbolic link."""
        if self.output is None:
            return ""
        self.output.flush()
        size = self.output.seek(0, os.SEEK_END)
        self.output.seek(max(0, size - MAX_LOG_BYTES))
        return self.output.read(MAX_LOG_BYTES).decode("utf-8", errors="replace")

    def kill(self) -> None:
        """Stop the process and everything it started, then clean up."""
        if self.proc is not None:
            self.proc.kill()
        self.close()

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError, channel.ProtocolError):
                channel.send(self.sock, "stop")
            self.sock.close()
            self.sock = None
        if self.proc is not None:
            self.proc.finish(timeout=10)
            self.proc = None
        if self.output is not None:
            self.output.close()
            self.output = None
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None


# -- one unit -------------------------------------------------------------------------------
def unit_paths(run_dir: Path, unit: Unit) -> tuple[Path, Path, Path]:
    return (
        run_dir / "units" / f"{unit.id}.parquet",
        run_dir / "units" / f"{unit.id}.json",
        run_dir / "logs" / f"{unit.id}.log",
    )


def unit_complete(run_dir: Path, unit: Unit) -> bool:
    """True when the unit's JSON says ok, its Parquet file has the recorded hash, and both are
    what the runner's journal says it wrote."""
    parquet, meta, _ = unit_paths(run_dir, unit)
    if not meta.is_file() or not parquet.is_file():
        return False
    try:
        info = read_json(meta)
    except (OSError, ValueError):
        return False
    if info.get("status") != "ok" or info.get("output_sha256") != sha256_file(parquet):
        return False
    return journal.check_unit(Path(run_dir), unit.id, journal.read(Path(run_dir))) is None


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


def _registry_root(state: RunState) -> Path | None:
    root = state.plan.get("registry_root")
    return Path(root) if root else None


def _unit_message(
    state: RunState,
    unit: Unit,
    sets: dict[str, tuple[np.ndarray, np.ndarray | None]],
    to_score: list[str],
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The ``unit`` message: keys, covariates and (training/validation) labels per partition."""
    t = state.task
    arrays: dict[str, np.ndarray] = {}
    partitions: dict[str, Any] = {}
    for name, (rows, labels) in sets.items():
        desc, cov = channel.frame_to_wire(_covariates(state, rows), f"{name}.cov")
        arrays.update(cov)
        arrays[f"{name}.keys"] = np.asarray(rows, dtype=np.int64)
        if labels is not None:
            arrays[f"{name}.labels"] = np.asarray(labels)
        partitions[name] = {"covariates": desc}
    data = {
        "task": {
            "type": t.type,
            "classes": list(t.classes),
            "spatial_shape": list(t.spatial_shape),
            "voxel_spacing": list(t.voxel_spacing),
            "channels": t.channels,
            "unit": t.unit,
            "modality": t.modality,
            "target": t.target,
            "covariates": list(t.covariates),
            "labels": list(t.labels),
            "label_values": list(t.label_values),
        },
        "hyperparameters": dict(state.plan["options"]["hyperparameters"].get(unit.model, {})),
        "partitions": partitions,
        "predict": to_score,
        "seed": unit.rng_seed,
        "deterministic": bool(state.plan["options"]["deterministic"]),
        "max_epochs": state.plan["options"]["max_epochs"],
        "image_bytes": 4 * int(np.prod((t.channels, *t.spatial_shape))),
    }
    units = input_units_message(state.plan.get("input_units"))
    if units is not None:  # slices, patches or ROIs: the plan, and the ROI masks as arrays
        masks = units.get("masks") or []
        data["input_units"] = {"plan": units["plan"], "n_masks": len(masks)}
        arrays.update({f"mask.{i}": np.asarray(m) for i, m in enumerate(masks)})
    return data, arrays


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
    runner_layers: Sequence[str] = (),
) -> dict[str, Any]:
    """Run one unit in a fresh process of ``host`` and write its outputs; its JSON record."""
    from brainbench.registry import check_predictions
    from brainbench.registry.entries import find_entry

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
    decoded = loader.decoded

    allowed: set[int] = set()  # the images of this unit's partitions, nothing else

    def provide(keys: list[int]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        if any(k < 0 for k in keys):  # reference masks (segmentation): fit partitions only
            return provide_masks(keys)
        foreign = [k for k in keys if k not in allowed]
        if foreign:
            log.append(f"the model asked for {len(foreign)} image(s) outside its partitions")
            return {}, {str(k): "not an image of this unit" for k in foreign}
        paths = state.cohort["image_path"].iloc[keys].astype("string").fillna("").tolist()
        arrays: dict[str, np.ndarray] = {}
        errors: dict[int, str] = {}
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
            arrays[str(keys[todo[j]])] = arr
        sent[0] += len(got)
        for j, err in errs.items():
            errors[keys[todo[j]]] = str(err)
        for k, msg in errors.items():
            log.append(f"image error: {msg}")
            image_errors[k] = msg
        return arrays, {str(k): "could not be loaded" for k in errors}

    fit_rows: set[int] = set()  # rows whose reference masks the model may receive

    def provide_masks(keys: list[int]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        arrays: dict[str, np.ndarray] = {}
        errors: dict[str, str] = {}
        for key in keys:
            row = seg.mask_row(key)
            if row is None or row not in fit_rows:
                log.append(f"the model asked for a reference mask it may not see (key {key})")
                errors[str(key)] = "not a training or validation mask of this unit"
                continue
            try:
                arrays[str(key)] = seg.read_mask(
                    str(state.cohort["reference_path"].iloc[row]),
                    tuple(state.task.spatial_shape),
                    state.plan.get("orientation"),
                    state.task.label_values,
                )
            except ImageError as exc:
                log.append(f"image error: {exc}")
                image_errors[row] = str(exc)
                errors[str(key)] = "could not be loaded"
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
        # fit:* carry labels (training, validation); predict:* are scored, without labels
        segmentation = state.task.type == "segmentation"
        sets: dict[str, tuple[np.ndarray, np.ndarray | None]] = {
            "fit:train": (train_rows, None if segmentation else y_train)
        }
        val_rows = parts.get(VALIDATION)
        if val_rows is not None and len(val_rows):
            y_val, ok_val = state.labels(val_rows)
            sets["fit:validation"] = (val_rows[ok_val], None if segmentation else y_val[ok_val])
        if segmentation:
            fit_rows.update(int(k) for name, (r, _) in sets.items() for k in r)
        to_score = [(n, r) for n, r in parts.items() if n != TRAIN and len(r)]
        sets.update({f"predict:{n}": (r, None) for n, r in to_score})
        data, arrays = _unit_message(state, unit, sets, [n for n, _ in to_score])
        amp = bool(state.plan.get("amp", True)) and device == "cuda"
        data.update(device=device, num_threads=num_threads, amp=amp)
        entry = find_entry(unit.model, _registry_root(state))
        shapes = {n: state.task.output_shape(len(r)) for n, r in to_score}
        wire = "|u1" if segmentation else "<f8"  # masks travel as uint8, scores as float64
        data["entry_folder"] = str(entry.folder.resolve())
        host.start(entry.folder)
        layers = [*host.layers, *runner_layers] if host.seal else []
        if "pidns" in layers:
            layers = [x for x in layers if x != "session-sweep"]
        record["seal"] = sandbox.describe(layers, "the run was started with --no-seal")
        record["seal_layers"] = sorted(set(layers), key=sandbox.LAYERS.index)
        timeout = state.plan.get("unit_timeout_s")
        reply = host.exchange(
            "unit",
            data,
            arrays,
            provide,
            on_epoch,
            reply_bytes=sum(np.dtype(wire).itemsize * int(np.prod(v)) for v in shapes.values()),
            timeout_s=timeout,
        )
        if reply.kind == "done":
            scores = {
                n: channel.expect_array(reply, f"score.{n}", wire, shapes[n]) for n, _ in to_score
            }
            for n, sc in scores.items():  # the runner's own check, whatever the process said
                problem = check_predictions(sc, state.task, shapes[n][0])
                if problem is not None:
                    raise channel.ProtocolError(f"{n}: {problem}")
            info = reply.data if isinstance(reply.data, dict) else {}
            rows_of = seg.score_partition if segmentation else _prediction_rows
            frames = [rows_of(state, unit, n, r, scores[n]) for n, r in to_score]
            df = pd.concat(frames, ignore_index=True)
            record["output_sha256"] = atomic_write_parquet(parquet, df)
            record["n_rows"] = len(df)
            history = info.get("history")
            record["history"] = history if isinstance(history, dict) else None
            times = info.get("epoch_times")
            record["epoch_times"] = times if isinstance(times, list) else None
            record["status"] = "ok"
        else:
            err = reply.data if isinstance(reply.data, dict) else {}
            kind = err.get("kind") if err.get("kind") in _ERROR_KINDS else "model"
            text = str(err.get("text", ""))[:4000]
            tb = str(err.get("traceback", ""))[-20000:]
            if kind == "image" and image_errors:
                first = image_errors[sorted(image_errors)[0]]
                more = len(image_errors) - 1
                text = first + (f" (and {more} more image(s): see the log)" if more else "")
            record["error_kind"] = kind
            record["error"] = text
            if tb:
                log.append(tb.rstrip())
    except UnitTimeout as exc:
        record["error_kind"] = "timeout"
        record["error"] = str(exc)
    except HostDied as exc:
        record["error_kind"] = "crash"
        record["error"] = str(exc)
    except channel.ProtocolError as exc:
        record["error_kind"] = "protocol"
        record["error"] = f"the model process sent a message the runner did not ask for: {exc}"
    except Exception as exc:  # a runner-side problem with this unit: record it, go on
        record["error_kind"] = "runner"
        record["error"] = f"{type(exc).__name__}: {exc}"
        log.append(traceback.format_exc().rstrip())
    model_log = host.log_text()
    host.kill()  # the process, its descendants and its scratch folder end with the unit
    record["images_sent"] = sent[0]  # images sent to the model process
    record["images_decoded"] = loader.decoded - decoded  # 0: all in the runner's cache
    record["seconds"] = round(time.perf_counter() - t0, 3)
    record["finished"] = utc_now()
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
    record_sha = atomic_write_json(meta, record)
    journal.append(
        state.run_dir,
        {
            "unit": unit.id,
            "status": record["status"],
            "output_sha256": record["output_sha256"],
            "record_sha256": record_sha,
            "written": record["finished"],
        },
    )
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


def model_memory_limit(declared: int | None, device: str, workers: int) -> int | None:
    """RLIMIT_DATA of each model process in bytes, or None for no limit.

    ``declared`` is ``--model-memory-gb`` in bytes (0: no limit). Without it, CPU runs get
    three quarters of the machine's memory shared by the workers; CUDA runs get none until the
    limit is checked on a GPU (pinned host buffers of the CUDA driver may count against it),
    and the seal then lists no ``memory-limit`` layer, so the sheet says so.
    """
    if declared is not None:
        return int(declared) or None
    return None if device == "cuda" else sandbox.default_memory_limit(workers)


def run_units(
    run_dir: str | Path,
    unit_ids: Sequence[str] | None = None,
    *,
    workers: int = 1,
    progress: Any = None,
    skip_complete: bool = True,
    disk_cache: bool | None = None,
    context: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Execute units of a prepared run folder (all of the plan's, or ``unit_ids``).

    ``workers`` model hosts run units in parallel (threads in this process drive them; the
    models run in their own processes). Units already complete are skipped when
    ``skip_complete``. ``disk_cache`` keeps decoded images in ``RUN_DIR/cache/`` for other
    processes (SLURM array tasks, a resumed run); None: as the plan says (on unless the run
    was started with ``--no-cache``). ``context`` is added to each unit's record (a SLURM
    task's job id, node, requeues). Returns the JSON records of the units executed.
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
    cores = max(1, int(available_cores()))
    threads = thread_budget(workers)
    shape = (state.task.channels, *state.task.spatial_shape)
    cap = state.plan.get("image_cache_bytes")
    on = cap != 0 if disk_cache is None else disk_cache
    seal = bool(state.plan.get("seal", True))
    check_seal(state.plan.get("require_seal") or "none", seal)
    # model processes live for one unit: the runner keeps the decoded images for the next ones
    loader = ImageLoader(
        shape,
        cache_bytes=image_cache_bytes(),
        threads=min(4, cores),
        disk_cache=state.run_dir / "cache" if on else None,
        disk_cache_bytes=cap or None,
        orientation=state.plan.get("orientation"),
    )
    from brainbench.runner._finalize import device_info

    where = {"host": socket.gethostname(), "device": device_info(device), **(context or {})}
    memory = model_memory_limit(state.plan.get("model_memory_bytes"), device, workers)
    hosts = [ModelHost(threads, seal=seal, memory=memory) for _ in range(workers)]
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
                    runner_layers=runner_layers,
                )
                with lock:
                    records.append(rec)
                if progress is not None:
                    progress.end_unit(task_id, rec)
        finally:
            host.close()

    runner_layers: list[str] = []
    with sandbox.runner_guard(seal) as held:
        runner_layers.extend(held)
        if workers == 1:
            worker(hosts[0])
        else:
            threads_ = [threading.Thread(target=worker, args=(h,), daemon=True) for h in hosts]
            for t in threads_:
                t.start()
            for t in threads_:
                t.join()
    return records


def check_seal(level: str, seal: bool) -> None:
    """UserError when model processes cannot be sealed to ``level`` here (``--require-seal``)."""
    if level == "none":
        return
    missing = sandbox.missing_for_level(level, sandbox.available_layers() if seal else ())
    if not missing:
        return
    if not seal:
        raise UserError(f"--require-seal {level} cannot be met with --no-seal: drop one of them.")
    raise UserError(
        f"--require-seal {level}: this machine cannot seal the model processes that far; "
        f"missing: {'; '.join(missing)} (available here: "
        f"{sandbox.describe(sandbox.available_layers())}). Landlock needs Linux >= 5.13 with "
        "'landlock' in /sys/kernel/security/lsm (TCP rules: >= 6.7); the PID namespace needs "
        "unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, "
        "user.max_user_namespaces > 0). Run on such a machine, or lower --require-seal."
    )


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
    recs = run_units(run_dir, [unit_id], workers=1, context={"slurm": slurm})
    if recs:
        return recs[0]
    return {"id": unit_id, "status": "ok", "skipped": True}


__all__ = [
    "ModelHost",
    "RunState",
    "check_seal",
    "execute_slurm_task",
    "execute_unit",
    "resolve_device",
    "run_units",
    "unit_complete",
    "unit_paths",
]
