"""The model host: a child process where registry code runs, away from the labels it must not see.

The runner starts one host per worker (``python -m brainbench.runner._host FD``) with:

* a scrubbed environment (no ``BRAINBENCH_*`` variable, nothing that names a cohort, the spec or
  the run folder) and an empty scratch folder as working directory;
* one socket (file descriptor ``FD``) to the runner, and nothing else.

Over the socket the host receives, per unit, the task, hyper-parameters, the fit context, and
for each partition the anonymous image keys and the whitelisted covariates
(:func:`brainbench.registry.interface.covariate_frame`); labels come only with the training
and validation partitions. Images arrive as decoded float32 arrays when the model first touches
them (``("need", keys)`` -> ``("images", arrays, errors)``) and stay cached here for the rest of
the run: each volume is decoded once per host. The host answers ``("epoch", ...)`` messages
while fitting and ends the unit with ``("done", ...)`` or ``("error", ...)``.

What the host never holds: test or external-test labels, the cohort tables, their paths, the
image paths, the spec or the run folder. The model's stdout, stderr and ``FitContext.logger``
go to ``unit.log`` in the scratch folder, which the runner copies into ``logs/<unit>.log``.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from brainbench.runner._input_units import HostUnits

LOG_NAME = "unit.log"
_CHUNK = 32


class ImageUnavailable(RuntimeError):
    """An image the runner could not provide (its log names the file)."""


class _Link:
    """The host's end of the socket plus its image cache."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.cache: dict[int, np.ndarray] = {}

    def fetch(self, wanted: list[int]) -> None:
        self.conn.send(("need", wanted))
        kind, arrays, errors = self.conn.recv()
        assert kind == "images"
        for k, arr in arrays.items():
            arr.setflags(write=False)
            self.cache[int(k)] = arr
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


def _redirect_output(path: str) -> logging.Logger:
    """Send fd 1 and 2 and the model logger to ``path`` (truncated)."""
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
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


def run_unit(msg: dict[str, Any], link: _Link) -> tuple:
    """Fit and predict one unit; returns the final message to send."""
    from brainbench.registry import (
        FitContext,
        LabelledImageSet,
        TaskInfo,
        UnlabelledImageSet,
        check_predictions,
        load_model,
    )
    from brainbench.registry.entries import find_entry

    logger = _redirect_output(LOG_NAME)
    stage = "load"
    start = time.perf_counter()
    try:
        task = TaskInfo(**msg["task"])
        units = HostUnits(msg["input_units"]) if msg.get("input_units") else None
        if units is not None:
            task = units.task(task)
        loaded = find_entry(msg["model"], msg["registry_root"])
        model = load_model(loaded, task, msg["hyperparameters"])
        stage = "fit"

        def labelled(keys: np.ndarray, cov: Any, labels: np.ndarray) -> Any:
            if units is not None:
                return units.labelled(HostImages(keys, link), cov, labels)
            return LabelledImageSet(HostImages(keys, link), cov, labels)

        def unlabelled(keys: np.ndarray, cov: Any) -> Any:
            if units is not None:
                return units.unlabelled(HostImages(keys, link), cov)
            return UnlabelledImageSet(HostImages(keys, link), cov)

        train_keys, train_cov, train_labels = msg["train"]
        train = labelled(train_keys, train_cov, train_labels)
        validation = None
        if msg.get("validation") is not None:
            vk, vc, vl = msg["validation"]
            validation = labelled(vk, vc, vl)

        clock = [time.perf_counter(), time.process_time()]
        epoch_times: list[tuple[float, float]] = []

        def on_epoch(epoch: int, loss: float, val: float | None) -> None:
            wall, cpu = time.perf_counter(), time.process_time()
            epoch_times.append((round(wall - clock[0], 4), round(cpu - clock[1], 4)))
            clock[:] = [wall, cpu]
            link.conn.send(("epoch", epoch, loss, val))

        ctx = FitContext(
            device=msg["device"],
            seed=int(msg["seed"]),
            deterministic=bool(msg["deterministic"]),
            max_epochs=msg["max_epochs"],
            amp=bool(msg["amp"]),
            num_threads=msg["num_threads"],
            on_epoch=on_epoch,
            logger=logger,
        )
        _seed(ctx.seed, ctx.deterministic)
        what = "training images" if units is None else f"training {units.plan.unit}s"
        logger.info("fit %s on %d %s", msg["model"], len(train), what)
        model.fit(train, validation, ctx)
        stage = "predict"
        scores: dict[str, np.ndarray] = {}
        for name, keys, cov in msg["predict"]:
            inputs = unlabelled(keys, cov)
            out = model.predict(inputs)
            problem = check_predictions(out, task, len(inputs))
            if problem is not None:
                return ("error", "bad-output", f"{name}: {problem}", "")
            scores[name] = np.asarray(out, dtype=np.float64)
        if units is not None:
            scores = _aggregate_units(units, scores, msg, logger)
        history = getattr(model, "history_", None)
        info = {
            "seconds": time.perf_counter() - start,
            "history": history.to_dict() if hasattr(history, "to_dict") else None,
            # per epoch: (wall seconds, CPU seconds of this process), epoch 1 includes loading
            "epoch_times": epoch_times,
        }
        return ("done", scores, info)
    except ImageUnavailable as exc:
        return ("error", "image", str(exc), traceback.format_exc())
    except BaseException as exc:
        kind = "cuda-oom" if _is_oom(exc) else ("model-load" if stage == "load" else "model")
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        if kind == "cuda-oom":
            torch = sys.modules.get("torch")
            if torch is not None and torch.cuda.is_available():
                torch.cuda.empty_cache()
        return ("error", kind, f"during {stage}: {message}", traceback.format_exc())
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for h in logger.handlers:
            h.flush()


def _die_with_parent() -> None:
    """Linux: get SIGKILL when the runner dies (a killed run leaves no training orphan)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def main(fd: int) -> int:
    """Serve units until the runner closes the socket or says ``stop``."""
    _die_with_parent()
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the runner, which stops us
    if os.getppid() == 1:  # the runner died before we could ask
        return 0
    conn = Connection(fd)
    link = _Link(conn)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return 0
        if msg[0] == "stop":
            return 0
        if msg[0] == "ping":
            conn.send(("pong", os.getpid()))
            continue
        if msg[0] == "unit":
            reply = run_unit(msg[1], link)
            try:
                conn.send(reply)
            except (BrokenPipeError, OSError):
                return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
