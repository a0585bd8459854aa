"""A registry entry that fails on purpose; its id says how (``faulty-<mode>``).

Modes: ``fit-error`` (raises in fit), ``oom`` (a CUDA out-of-memory error), ``crash`` (the
process dies: SIGKILL to itself), ``bad-output`` (probabilities that do not sum to one),
``images`` (touches every image, so a broken image fails it), ``hang`` (never returns),
``memory`` (allocates 1 GiB: past ``--model-memory-gb``);
``quick`` does not fail: a unit of milliseconds (no image, nothing imported but NumPy), the
companion whose success no machine load can turn into a timeout.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np

MODE = Path(__file__).resolve().parent.name.removeprefix("faulty-")
#: How long ``hang`` sleeps: a unit stopped before this was stopped by the runner.
HANG_SECONDS = 600


class Faulty:
    def __init__(self, task):
        self.task = task

    def fit(self, train, validation, ctx):
        if MODE == "fit-error":
            raise ValueError("the faulty model failed on purpose")
        if MODE == "oom":
            import torch

            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if MODE == "crash":
            os.kill(os.getpid(), signal.SIGKILL)
        if MODE == "hang":
            import time

            time.sleep(HANG_SECONDS)
        if MODE == "quick":
            return
        if MODE == "memory":
            self.hoard = bytearray(1 << 30)
        for i in range(len(train)):
            train.images[i]

    def predict(self, inputs):
        n, k = len(inputs), max(self.task.n_classes, 1)
        if MODE == "bad-output":
            return np.full((n, k), 0.9)
        for i in range(len(inputs) if MODE != "quick" else 0):
            inputs.images[i]
        if self.task.type == "regression":
            return np.zeros(n)
        return np.full((n, k), 1.0 / k)


def build(task, hyperparameters):
    return Faulty(task)
