"""Run by ``brainbench registry check`` in the sandbox: import an entry, fit, predict.

Started as ``python -m brainbench.sandbox POLICY brainbench.registry._probe:main FD`` (see
:func:`brainbench.registry.check.run_probe`): the same sandbox as the runner's model processes,
a scrubbed environment, a channel (:mod:`brainbench.sandbox.channel`) on descriptor ``FD``.
The checker sends ``probe`` (the entry folder, the sizes, the tasks); this process answers one
``result``: per task the phase reached (``import``, ``entrypoint``, ``factory``, ``fit``,
``predict``, ``predicted``), the error and the model's traceback, and the predictions as
arrays ``scores.<task>``. The checker judges the predictions itself; nothing here is trusted
to say "done". The model's own output goes to this process's stdout/stderr, which the checker
keeps as evidence.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np


def _probe_unit_shape(inp: Any) -> tuple[int, ...]:
    """The input shape a slice, patch or roi entry is checked with: ``(channels, X, Y)`` of
    ``spatial_shape`` for slices, ``(channels, *spatial_shape)`` otherwise; () for images."""
    if inp.unit == "image":
        return ()
    spatial = tuple(inp.spatial_shape)
    return (inp.channels, *(spatial[:2] if inp.unit == "slice" else spatial))


def _random_sets(task: Any, n_train: int, n_val: int, n_test: int, seed: int):
    import pandas as pd

    from brainbench.registry.interface import (
        LabelledImageSet,
        SegmentationSet,
        UnlabelledImageSet,
    )

    rng = np.random.default_rng(seed)
    n = n_train + n_val + n_test
    shape = task.unit_shape or task.image_shape
    images = rng.normal(1.0, 0.5, size=(n, *shape)).astype(np.float32)
    covariates = pd.DataFrame(
        {
            "dataset": "probe",
            "site": [f"site-{i % 2}" for i in range(n)],
            "scanner": "scanner-0",
            "subject": [f"sub-{i:03d}" for i in range(n)],
            "session": "ses-1",
            "image": [f"img-{i:03d}" for i in range(n)],
            "age": rng.uniform(55, 90, n),
            "sex": rng.choice(["F", "M"], n),
        }
    )
    a, b = n_train, n_train + n_val
    if task.type == "segmentation":  # random label values, every label in every mask
        values = np.array([0, *task.label_values], dtype=np.uint8)
        masks = values[rng.integers(0, len(values), size=(n, *task.spatial_shape))]
        train = SegmentationSet(images[:a], covariates.iloc[:a], masks[:a])
        val = SegmentationSet(images[a:b], covariates.iloc[a:b], masks[a:b]) if n_val else None
        return train, val, UnlabelledImageSet(images[b:], covariates.iloc[b:])
    if task.type == "classification":
        labels = np.arange(n) % task.n_classes  # every class in every partition
        rng.shuffle(labels[:n_train])
    else:
        labels = rng.normal(70, 8, n)
    train = LabelledImageSet(images[:a], covariates.iloc[:a], labels[:a])
    val = LabelledImageSet(images[a:b], covariates.iloc[a:b], labels[a:b]) if n_val else None
    test = UnlabelledImageSet(images[b:], covariates.iloc[b:])
    return train, val, test


def probe_task(loaded: Any, task_type: str) -> Any:
    """The probe's task of ``task_type`` for an entry (the checker builds the same one)."""
    from brainbench.registry.interface import TaskInfo

    classes = ("negative", "positive") if task_type == "classification" else ()
    segmentation = task_type == "segmentation"
    return TaskInfo(
        type=task_type,
        classes=classes,
        labels=("structure", "lesion") if segmentation else (),
        label_values=(1, 2) if segmentation else (),
        spatial_shape=tuple(loaded.entry.input.spatial_shape),
        voxel_spacing=tuple(loaded.entry.input.voxel_spacing),
        channels=loaded.entry.input.channels,
        unit=loaded.entry.input.unit,
        modality=loaded.entry.input.modality,
        unit_shape=_probe_unit_shape(loaded.entry.input),
    )


def probe(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Import, build, fit and predict per task; (result, predictions by ``scores.<task>``)."""
    from brainbench.registry.entries import import_entry_module, model_traceback, read_entry
    from brainbench.registry.interface import FitContext
    from brainbench.registry.loading import resolve_hyperparameters

    result: dict[str, Any] = {"phase": "import", "tasks": {}, "seconds": {}}
    arrays: dict[str, np.ndarray] = {}
    loaded = read_entry(Path(config["folder"]))
    t0 = time.perf_counter()
    try:
        module = import_entry_module(loaded)
    except BaseException as exc:
        result.update(
            error=f"{type(exc).__name__}: {exc}",
            traceback=model_traceback(exc, skip_files=(__file__,)),
        )
        return result, arrays
    result["seconds"]["import"] = time.perf_counter() - t0
    result["phase"] = "entrypoint"
    factory = getattr(module, loaded.entry.factory, None)
    if factory is None or not callable(factory):
        result["error"] = f"the module has no callable '{loaded.entry.factory}'"
        return result, arrays
    result["phase"] = "tasks"
    hp = resolve_hyperparameters(loaded)
    for task_type in loaded.entry.task_types:
        task = probe_task(loaded, task_type)
        out: dict[str, Any] = {"phase": "factory"}
        result["tasks"][task_type] = out
        train, val, test = _random_sets(
            task, config["n_train"], config["n_val"], config["n_test"], seed=0
        )
        try:
            t0 = time.perf_counter()
            model = factory(task, dict(hp))
            if not (
                callable(getattr(model, "fit", None)) and callable(getattr(model, "predict", None))
            ):
                out["error"] = (
                    f"the factory returned {type(model).__name__}, without fit()/predict()"
                )
                continue
            out["phase"] = "fit"
            model.fit(train, val, FitContext(device="cpu", seed=0, max_epochs=1))
            out["fit_seconds"] = time.perf_counter() - t0
            out["phase"] = "predict"
            t0 = time.perf_counter()
            scores = model.predict(test)
            out["predict_seconds"] = time.perf_counter() - t0
        except BaseException as exc:
            out.update(
                error=f"{type(exc).__name__}: {exc}",
                traceback=model_traceback(exc, skip_files=(__file__,)),
            )
            continue
        try:
            scores = np.asarray(scores)
            # masks stay integers (the checker refuses float masks); scores become float64
            exact = task_type == "segmentation" and scores.dtype.kind in "iub"
            arrays[f"scores.{task_type}"] = scores.astype(np.int64 if exact else np.float64)
        except (TypeError, ValueError) as exc:
            out["error"] = f"predict returned {type(scores).__name__}, not numbers: {exc}"
            continue
        out["phase"] = "predicted"
    result["phase"] = "done"
    return result, arrays


def main(args: list[str], layers: list[str]) -> int:
    """Receive the probe's configuration, run it, send the result and the predictions."""
    import socket

    from brainbench.sandbox import channel

    sock = socket.socket(fileno=int(args[0]))
    channel.send(sock, "hello", {"layers": layers})
    msg = channel.recv(sock, max_array_bytes=0, kinds={"probe"})
    result, arrays = probe(msg.data)
    channel.send(sock, "result", result, arrays)
    return 0
