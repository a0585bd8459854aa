"""An honest registry entry: it predicts the class frequencies of its training labels.

The hostile entries of the security tests try to overwrite its unit outputs and its folder.
"""

from __future__ import annotations

import numpy as np


class Prior:
    def __init__(self, task):
        self.task = task
        self.prior = None

    def fit(self, train, validation, ctx):
        k = max(self.task.n_classes, 1)
        counts = np.bincount(np.asarray(train.labels, dtype=np.int64), minlength=k)
        self.prior = (counts + 1) / (counts.sum() + k)

    def predict(self, inputs):
        return np.tile(self.prior, (len(inputs), 1))


def build(task, hyperparameters):
    return Prior(task)
