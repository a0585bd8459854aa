"""``load_model``: from a registry id (or entry) and a task to a ready-to-fit model."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from brainbench.errors import UserError
from brainbench.registry.entries import (
    LoadedEntry,
    ModelLoadError,
    find_entry,
    import_factory,
    model_traceback,
)
from brainbench.registry.interface import Model, TaskInfo


def resolve_hyperparameters(
    loaded: LoadedEntry, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The flat dict the factory receives: recipe and defaults, overridden by ``overrides``.

    Raises UserError for a name the entry does not declare (with "did you mean").
    """
    params = loaded.entry.default_hyperparameters()
    for name, value in (overrides or {}).items():
        if name not in params:
            close = difflib.get_close_matches(name, list(params), n=1, cutoff=0.6)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise UserError(
                f"Model '{loaded.id}' has no hyper-parameter '{name}'.{hint} "
                f"Available: {', '.join(sorted(params)) or 'none'}."
            )
        params[name] = value
    return params


def check_task_fits(loaded: LoadedEntry, task: TaskInfo) -> None:
    """UserError when the entry cannot serve ``task`` (type, channels, exact shape)."""
    entry = loaded.entry
    if task.type not in entry.task_types:
        raise UserError(
            f"Model '{entry.id}' supports {', '.join(entry.task_types)} tasks, not {task.type}."
        )
    if task.unit != entry.input.unit:
        raise UserError(
            f"Model '{entry.id}' takes input unit '{entry.input.unit}' (input.unit of its "
            f"model.yaml), the benchmark gives '{task.unit}' (task.input.unit of the spec): "
            "choose a model made for that unit, or a benchmark with the model's unit."
        )
    channels = task.unit_shape[0] if task.unit_shape else task.channels
    if channels != entry.input.channels:
        raise UserError(
            f"Model '{entry.id}' expects {entry.input.channels} channel(s) per input, "
            f"the task has {channels}."
        )
    shape = tuple(task.unit_shape[1:]) if task.unit_shape else tuple(task.spatial_shape)
    if entry.input.shape_policy == "exact" and shape != tuple(entry.input.spatial_shape):
        raise UserError(
            f"Model '{entry.id}' needs images of shape {list(entry.input.spatial_shape)} "
            f"(shape_policy: exact), the task has {list(shape)}: resample or crop."
        )


def load_model(
    entry_or_id: str | Path | LoadedEntry,
    task: TaskInfo,
    hyperparameters: dict[str, Any] | None = None,
    *,
    root: Path | None = None,
) -> Model:
    """Build the model of a registry entry for ``task``.

    Parameters
    ----------
    entry_or_id
        A registry id (``"cnn3d-small"``), an entry folder, or a :class:`LoadedEntry`.
    task
        The task; its type must be among the entry's ``task_types``.
    hyperparameters
        Overrides of the recipe and hyper-parameter defaults (unknown names are an error).
    root
        Registry folder (default: :func:`~brainbench.registry.entries.default_root`).

    Returns
    -------
    Model
        A fresh, unfitted model: call ``fit`` then ``predict``.

    Raises
    ------
    UserError
        Unknown id, invalid entry, task the entry does not support, unknown hyper-parameter.
    ModelLoadError
        The entry's code fails to import, or its factory raises or returns no model (the
        message carries the model's traceback).
    """
    if isinstance(entry_or_id, LoadedEntry):
        loaded = entry_or_id
    else:
        loaded = find_entry(str(entry_or_id), root)
    check_task_fits(loaded, task)
    params = resolve_hyperparameters(loaded, hyperparameters)
    factory = import_factory(loaded)
    try:
        model = factory(task, dict(params))
    except Exception as exc:
        raise ModelLoadError(
            f"{loaded.module_file()}: the factory '{loaded.entry.entrypoint}' of '{loaded.id}' "
            f"raised {type(exc).__name__}: {exc}.",
            model_traceback(exc, skip_files=(__file__,)),
        ) from exc
    if not isinstance(model, Model):
        raise ModelLoadError(
            f"{loaded.module_file()}: the factory '{loaded.entry.entrypoint}' returned "
            f"{type(model).__name__}, which has no fit() and predict() methods."
        )
    return model


__all__ = ["check_task_fits", "load_model", "resolve_hyperparameters"]
