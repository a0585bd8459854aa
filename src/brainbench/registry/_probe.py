"""Run in a fresh process by ``brainbench registry check``: import an entry, fit, predict.

``python -m brainbench.registry._probe CONFIG.json RESULT.json``. CONFIG holds the entry folder
and the tasks to try; RESULT receives, per task, the phase reached (``import``, ``entrypoint``,
``factory``, ``fit``, ``predict``, ``done``), the error and the model's traceback. The model's
own output goes to this process's stdout/stderr, which the parent keeps as evidence.
"""

from __future__ import annotations

import json
import sys
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

    from brainbench.registry.interface import LabelledImageSet, UnlabelledImageSet

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
    if task.type == "classification":
        labels = np.arange(n) % task.n_classes  # every class in every partition
        rng.shuffle(labels[:n_train])
    else:
        labels = rng.normal(70, 8, n)
    a, b = n_train, n_train + n_val
    train = LabelledImageSet(images[:a], covariates.iloc[:a], labels[:a])
    val = LabelledImageSet(images[a:b], covariates.iloc[a:b], labels[a:b]) if n_val else None
    test = UnlabelledImageSet(images[b:], covariates.iloc[b:])
    return train, val, test


def probe(config: dict[str, Any]) -> dict[str, Any]:
    from brainbench.registry.entries import import_entry_module, model_traceback, read_entry
    from brainbench.registry.interface import FitContext, TaskInfo, check_predictions
    from brainbench.registry.loading import resolve_hyperparameters

    result: dict[str, Any] = {"phase": "import", "tasks": {}, "seconds": {}}
    loaded = read_entry(Path(config["folder"]))
    t0 = time.perf_counter()
    try:
        module = import_entry_module(loaded)
    except BaseException as exc:
        result.update(
            error=f"{type(exc).__name__}: {exc}",
            traceback=model_traceback(exc, skip_files=(__file__,)),
        )
        return result
    result["seconds"]["import"] = time.perf_counter() - t0
    result["phase"] = "entrypoint"
    factory = getattr(module, loaded.entry.factory, None)
    if factory is None or not callable(factory):
        result["error"] = f"the module has no callable '{loaded.entry.factory}'"
        return result
    result["phase"] = "tasks"
    hp = resolve_hyperparameters(loaded)
    for task_type in loaded.entry.task_types:
        classes = ("negative", "positive") if task_type == "classification" else ()
        task = TaskInfo(
            type=task_type,
            classes=classes,
            spatial_shape=tuple(loaded.entry.input.spatial_shape),
            voxel_spacing=tuple(loaded.entry.input.voxel_spacing),
            channels=loaded.entry.input.channels,
            unit=loaded.entry.input.unit,
            modality=loaded.entry.input.modality,
            unit_shape=_probe_unit_shape(loaded.entry.input),
        )
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
        problem = check_predictions(scores, task, len(test))
        out["output_shape"] = list(getattr(scores, "shape", ()))
        out["expected_shape"] = list(task.output_shape(len(test)))
        if problem is not None:
            out["phase"] = "output"
            out["error"] = problem
            continue
        out["phase"] = "done"
    result["phase"] = "done"
    return result


def main(argv: list[str]) -> int:
    config = json.loads(Path(argv[0]).read_text())
    result = probe(config)
    Path(argv[1]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
