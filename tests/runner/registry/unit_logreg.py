"""A scikit-learn test entry for slice, patch and roi input: logistic regression (or ridge) on
two features of each unit, its mean and standard deviation.

It checks the runner's side of the contract (every input has ``task.unit_shape``; an image's
units arrive together, in order) and exposes what it learned and saw in ``history_``, so that
the tests can recompute each image's aggregated prediction from the images.
"""

from __future__ import annotations

import itertools

import numpy as np


def features(unit: np.ndarray) -> np.ndarray:
    return np.array([unit.mean(), unit.std()], dtype=np.float64)


class _History:
    def __init__(self, data: dict) -> None:
        self.data = data

    def to_dict(self) -> dict:
        return self.data


class UnitLogReg:
    def __init__(self, task):
        self.task = task

    def _matrix(self, data) -> np.ndarray:
        rows = []
        for i in range(len(data)):
            unit = data.images[i]
            if unit.shape != self.task.unit_shape:
                raise ValueError(f"unit {i} has shape {unit.shape}, not {self.task.unit_shape}")
            rows.append(features(unit))
        return np.stack(rows)

    def fit(self, train, validation, ctx):
        from sklearn.linear_model import LogisticRegression, Ridge

        x = self._matrix(train)
        self.mean_, self.scale_ = x.mean(axis=0), x.std(axis=0) + 1e-12
        z = (x - self.mean_) / self.scale_
        if self.task.type == "classification":
            self.est_ = LogisticRegression(C=1.0, max_iter=1000).fit(z, train.labels)
            coef, intercept = self.est_.coef_.ravel(), float(self.est_.intercept_[0])
        else:
            self.est_ = Ridge(alpha=1.0).fit(z, train.labels)
            coef, intercept = self.est_.coef_.ravel(), float(self.est_.intercept_)
        images = train.covariates["image"].astype(str).tolist()
        runs = [images[0]] + [b for a, b in itertools.pairwise(images) if a != b]
        self.history_ = _History(
            {
                "mean": self.mean_.tolist(),
                "scale": self.scale_.tolist(),
                "coef": coef.tolist(),
                "intercept": intercept,
                "train_units": len(train),
                "train_images": sorted(set(images)),
                "grouped": len(runs) == len(set(images)),
            }
        )

    def predict(self, inputs):
        z = (self._matrix(inputs) - self.mean_) / self.scale_
        if self.task.type == "classification":
            return self.est_.predict_proba(z)
        return self.est_.predict(z)


def build(task, hyperparameters):
    return UnitLogReg(task)
