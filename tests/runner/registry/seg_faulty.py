"""A segmentation entry that breaks the output contract on purpose (mode from its folder name:
seg-faulty-<mode>): float masks, a label value the task does not have, or the wrong shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

MODE = Path(__file__).resolve().parent.name.removeprefix("seg-faulty-")


class Faulty:
    def __init__(self, task: Any) -> None:
        self.task = task

    def fit(self, train: Any, validation: Any, ctx: Any) -> None:
        assert np.asarray(train.masks[0]).dtype == np.uint8

    def predict(self, inputs: Any) -> np.ndarray:
        shape = (len(inputs), *self.task.spatial_shape)
        if MODE == "float":
            return np.full(shape, 0.5, dtype=np.float32)
        if MODE == "label":
            return np.full(shape, 9, dtype=np.uint8)
        return np.zeros((len(inputs), 3, 3, 3), dtype=np.uint8)  # "shape"


def build(task: Any, hyperparameters: dict[str, Any]) -> Faulty:
    return Faulty(task)
