"""The model process: a sandboxed child where registry code runs, away from the labels.

The runner starts one model process per unit (:class:`brainbench.runner._execute.ModelHost`)
through :mod:`brainbench.sandbox` (``python -m brainbench.sandbox POLICY
brainbench.runner._host:main FD``) with a scrubbed environment, the unit's empty scratch folder
as working directory, one socket (file descriptor ``FD``) to the runner, and nothing else. The
sandbox is complete before this module imports any registry code.

Over the socket (:mod:`brainbench.sandbox.channel`: JSON headers and raw numeric arrays, never
pickles) the process first says ``hello`` (its sandbox layers), then receives the ``unit``:
the task, hyper-parameters, the entry's folder, the fit context, and for each partition the
anonymous image keys and the whitelisted covariates
(:func:`brainbench.registry.interface.covariate_frame`); labels come only with the training
and validation partitions (a segmentation task: their reference masks, fetched like images
under the keys ``-(key + 1)``; the runner refuses any other mask). Images arrive as decoded
float32 arrays when the model first touches them (``need`` -> ``images``) and stay cached for
the unit. The process reports ``epoch``
messages while fitting and ends the unit with ``done`` (the scores) or ``error``.

What it never holds: test or external-test labels, the cohort tables, their paths, the image
paths, the spec or the run folder. The model's stdout, stderr and ``FitContext.logger`` go to
the output file the runner gave this process, which the runner copies into ``logs/<unit>.log``.
"""

from __future__ import annotations

import logging
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from brainbench.runner._input_units import HostUnits
from brainbench.sandbox import channel

_CHUNK = 32


class ImageUnavailable(RuntimeError):
    """An image the runner could not provide (its log names the file)."""


class _Link:
    """The host's end of the socket plus its image cache."""

    def __init__(self, sock: socket.socket, image_bytes: int) -> None:
        self.sock = sock
        self.image_bytes = image_bytes
        self.cache: dict[int, np.ndarray] = {}

    def send(self, kind: str, data: Any = None, arrays: dict[str, Any] | None = None) -> None:
        channel.send(self.sock, kind, data, arrays)

    def fetch(self, wanted: list[int]) -> None:
        self.send("need", arrays={"keys": np.asarray(wanted, dtype=np.int64)})
        msg = channel.recv(
            self.sock, max_array_bytes=len(wanted) * self.image_bytes, kinds={"images"}
        )
        for name, arr in msg.arrays.items():
            arr.setflags(write=False)
            self.cache[int(name)] = arr
        errors = msg.data or {}
        if errors:
            first = sorted(errors)[0]
            raise ImageUnavailable(
                f"image #{first} could not be loaded ({len(errors)} image(s) failed; the "
                "runner's log of this unit names the file)"
            )


class HostImages:
    """An :class:`~brainbench.registry.interface.ImageSource` over anonymous image keys.

    Holds integer keys and a link to the runner; no path, no label. Missing images are fetched
    in chunks (the requested one first) and cached for the whole run.
    """

    __slots__ = ("_keys", "_link")

    def __init__(self, keys: np.ndarray, link: _Link) -> None:
        self._keys = np.asarray(keys, dtype=np.int64)
        self._link = link

    def __getitem__(self, i: int) -> np.ndarray:
        n = len(self._keys)
        if not -n <= i < n:
            raise IndexError(f"image index {i} out of range for {n} images")
        key = int(self._keys[i])
        cache = self._link.cache
        hit = cache.get(key)
        if hit is None:
            rest = [int(k) for k in self._keys[i + 1 :] if int(k) not in cache]
            rest += [int(k) for k in self._keys[:i] if int(k) not in cache]
            wanted = list(dict.fromkeys([key, *rest]))[:_CHUNK]
            self._link.fetch(wanted)
            hit = cache[key]
        return hit

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"HostImages(n={len(self._keys)})"


def _model_logger() -> logging.Logger:
    """The model's logger, writing to stderr (the runner's output file of this unit)."""
    logger = logging.getLogger("brainbench.model")
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger


def _seed(seed: int, deterministic: bool) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    if "torch" in sys.modules:
        from brainbench.registry.torch_training import seed_everything

        seed_everything(seed, deterministic)


def _is_oom(exc: BaseException) -> bool:
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(exc, getattr(torch.cuda, "OutOfMemoryError", ())):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def _partition(msg: channel.Message, name: str) -> tuple[np.ndarray, Any, np.ndarray | None] | None:
    """Keys, covariates and (training/validation only) labels of a partition of ``msg``."""
    desc = msg.data["partitions"].get(name)
    if desc is None:
        return None
    keys = msg.arrays[f"{name}.keys"]
    cov = channel.frame_from_wire(desc["covariates"], msg.arrays)
    labels = msg.arrays.get(f"{name}.labels")
    return keys, cov, labels


def _aggregate_units(
    units: HostUnits, scores: dict[str, np.ndarray], msg: dict[str, Any], logger: logging.Logger
) -> dict[str, np.ndarray]:
    """Per-unit outputs to one output per image, by the spec's aggregation rule."""
    val_scores, val_labels = None, None
    val = msg.get("validation")
    scored = {name: keys for name, keys, _ in msg["predict"]}
    if val is not None and "validation" in scored:
        # the labelled validation images among the scored ones (unlabelled ones were dropped)
        where = {int(k): i for i, k in enumerate(scored["validation"])}
        rows = np.array([where[int(k)] for k in val[0]], dtype=np.int64)
        per_unit = scores["validation"].reshape(len(scored["validation"]), units.per_image, -1)
        val_scores = per_unit[rows].reshape(len(rows) * units.per_image, -1)
        val_labels = np.asarray(val[2])
    weights = units.weights(val_scores, val_labels)
    logger.info(
        "aggregated %d %ss per image (%s); weights %s",
        units.per_image,
        units.plan.unit,
        units.plan.aggregation,
        np.array2string(weights, precision=3, threshold=12),
    )
    return {name: units.aggregate(s, weights) for name, s in scores.items()}


def _input_units(msg: channel.Message) -> HostUnits | None:
    """The slice/patch/ROI plan of the unit and its masks (arrays ``mask.<i>``), if any."""
    spec = msg.data.get("input_units")
    if not spec:
        return None
    masks = [msg.arrays[f"mask.{i}"] for i in range(int(spec.get("n_masks", 0)))]
    return HostUnits({"plan": spec["plan"], "masks": masks or None})


def run_unit(msg: channel.Message, link: _Link) -> tuple[str, Any, dict[str, np.ndarray]]:
    """Fit and predict one unit; returns the final message (kind, data, arrays) to send."""
    from brainbench.registry import (
        FitContext,
        LabelledImageSet,
        SegmentationSet,
        TaskInfo,
        UnlabelledImageSet,
        check_predictions,
        load_model,
    )
    from brainbench.registry.entries import read_entry

    unit = msg.data
    logger = _model_logger()
    stage = "load"
    start = time.perf_counter()
    try:
        task = TaskInfo(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in unit["task"].items()}
        )
        units = _input_units(msg)
        if units is not None:
            task = units.task(task)
        loaded = read_entry(Path(unit["entry_folder"]))
        model = load_model(loaded, task, unit["hyperparameters"])
        stage = "fit"

        def labelled(keys: np.ndarray, cov: Any, labels: np.ndarray | None) -> Any:
            if task.type == "segmentation":  # reference masks, fetched like images
                masks = HostImages(-(np.asarray(keys, dtype=np.int64) + 1), link)
                return SegmentationSet(HostImages(keys, link), cov, masks)
            if units is not None:
                return units.labelled(HostImages(keys, link), cov, labels)
            return LabelledImageSet(HostImages(keys, link), cov, labels)

        def unlabelled(keys: np.ndarray, cov: Any) -> Any:
            if units is not None:
                return units.unlabelled(HostImages(keys, link), cov)
            return UnlabelledImageSet(HostImages(keys, link), cov)

        train_keys, train_cov, train_labels = _partition(msg, "fit:train")
        train = labelled(train_keys, train_cov, train_labels)
        validation = None
        val = _partition(msg, "fit:validation")
        if val is not None:
            validation = labelled(val[0], val[1], val[2])

        clock = [time.perf_counter(), time.process_time()]
        epoch_times: list[tuple[float, float]] = []

        def on_epoch(epoch: int, loss: float, val: float | None) -> None:
            wall, cpu = time.perf_counter(), time.process_time()
            epoch_times.append((round(wall - clock[0], 4), round(cpu - clock[1], 4)))
            clock[:] = [wall, cpu]
            link.send(
                "epoch",
                {
                    "epoch": int(epoch),
                    "loss": float(loss),
                    "val": None if val is None else float(val),
                },
            )

        ctx = FitContext(
            device=unit["device"],
            seed=int(unit["seed"]),
            deterministic=bool(unit["deterministic"]),
            max_epochs=unit["max_epochs"],
            amp=bool(unit["amp"]),
            num_threads=unit["num_threads"],
            on_epoch=on_epoch,
            logger=logger,
        )
        _seed(ctx.seed, ctx.deterministic)
        what = "training images" if units is None else f"training {units.plan.unit}s"
        logger.info("fit %s on %d %s", loaded.id, len(train), what)
        model.fit(train, validation, ctx)
        stage = "predict"
        scores: dict[str, np.ndarray] = {}
        scored = []
        for name in unit["predict"]:
            keys, cov, _ = _partition(msg, f"predict:{name}")
            scored.append((name, keys, cov))
            inputs = unlabelled(keys, cov)
            out = model.predict(inputs)
            problem = check_predictions(out, task, len(inputs))
            if problem is not None:
                return "error", {"kind": "bad-output", "text": f"{name}: {problem}"}, {}
            wire = np.uint8 if task.type == "segmentation" else np.float64
            scores[name] = np.asarray(out, dtype=wire)
        if units is not None:
            scores = _aggregate_units(units, scores, {"validation": val, "predict": scored}, logger)
        scores = {f"score.{name}": s for name, s in scores.items()}
        history = getattr(model, "history_", None)
        info = {
            "seconds": time.perf_counter() - start,
            "history": history.to_dict() if hasattr(history, "to_dict") else None,
            # per epoch: (wall seconds, CPU seconds of this process), epoch 1 includes loading
            "epoch_times": epoch_times,
        }
        return "done", info, scores
    except ImageUnavailable as exc:
        return "error", {"kind": "image", "text": str(exc), "traceback": traceback.format_exc()}, {}
    except BaseException as exc:
        kind = (
            "cuda-oom"
            if _is_oom(exc)
            else "memory"
            if isinstance(exc, MemoryError)
            else ("model-load" if stage == "load" else "model")
        )
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        if kind == "cuda-oom":
            torch = sys.modules.get("torch")
            if torch is not None and torch.cuda.is_available():
                torch.cuda.empty_cache()
        text = f"during {stage}: {message}"
        return "error", {"kind": kind, "text": text, "traceback": traceback.format_exc()}, {}
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for h in logger.handlers:
            h.flush()


def main(args: list[str], layers: list[str]) -> int:
    """Say hello (the sandbox layers), serve one unit, exit."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the runner, which stops us
    sock = socket.socket(fileno=int(args[0]))
    try:
        channel.send(sock, "hello", {"layers": layers})
        msg = channel.recv(sock, max_array_bytes=1 << 34, kinds={"unit", "stop"})
    except (channel.ChannelClosed, OSError):
        return 0
    if msg.kind == "stop":
        return 0
    link = _Link(sock, int(msg.data["image_bytes"]))
    kind, data, arrays = run_unit(msg, link)
    try:
        channel.send(sock, kind, data, arrays)
        channel.recv(sock, max_array_bytes=0, kinds={"stop"})
    except (channel.ChannelClosed, channel.ProtocolError, OSError):
        pass
    return 0
