"""Clinical covariates declared in a spec reach the models (and the confound baseline)."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd

from brainbench.registry.interface import (
    LabelledImageSet,
    TaskInfo,
    UnlabelledImageSet,
    covariate_frame,
)
from brainbench.registry.sklearn_models import DemographicFeatures

TABLE = pd.DataFrame(
    {
        "subject": ["a", "b", "c", "d"],
        "age": [70, 71, 72, 73],
        "sex": ["F", "M", "F", "M"],
        "mmse": ["27", "n/a", "29", "30"],
        "apoe4": ["0", "1", "2", "1"],
        "diagnosis": ["AD", "CN", "AD", "CN"],
        "education": [12, 14, 16, 18],
    }
)
DECLARED = [("mmse", "numeric"), ("apoe4", "categorical")]


def test_declared_covariates_are_typed_and_the_rest_dropped():
    cov = covariate_frame(TABLE, DECLARED)
    assert list(cov.columns) == ["subject", "age", "sex", "mmse", "apoe4"]
    assert cov["mmse"].dtype == np.float64 and np.isnan(cov["mmse"][1])
    assert str(cov["apoe4"].dtype) == "string"
    assert "diagnosis" not in cov and "education" not in cov


def test_declared_covariates_survive_the_trip_to_the_model_process():
    cov = pickle.loads(pickle.dumps(covariate_frame(TABLE, DECLARED).iloc[[0, 2]]))
    images = np.zeros((2, 1, 2, 2, 2), np.float32)
    train = LabelledImageSet(images, cov, np.array([0, 1]))
    assert {"mmse", "apoe4"} <= set(train.covariates.columns)
    assert {"mmse", "apoe4"} <= set(train.without_labels().covariates.columns)
    assert {"mmse", "apoe4"} <= set(UnlabelledImageSet(images, cov).covariates.columns)


def test_the_confound_baseline_uses_numeric_and_categorical_covariates():
    cov = covariate_frame(TABLE, DECLARED)
    images = np.zeros((4, 1, 2, 2, 2), np.float32)
    train = LabelledImageSet(images, cov, np.array([1, 0, 1, 0]))
    features = DemographicFeatures(("age", "sex", "mmse", "apoe4")).fit(train)
    x = features.transform(train)
    # age, sex, mmse (missing -> training median 29), apoe4 one-hot on levels 0, 1, 2
    assert x.shape == (4, 6)
    assert x[1, 2] == 29.0
    assert x[:, 3:].tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 0]]
    unseen = covariate_frame(TABLE.assign(apoe4=["3", "0", "0", "0"]), DECLARED)
    assert features.transform(UnlabelledImageSet(images, unseen))[0, 3:].tolist() == [0, 0, 0]


def test_the_confound_baseline_defaults_to_the_declared_covariates():
    from brainbench.registry.entries import find_entry
    from brainbench.registry.loading import load_model

    task = TaskInfo(type="classification", classes=("CN", "AD"), covariates=("mmse",))
    model = load_model(find_entry("demographics-logreg"), task, {})
    assert model.features.columns == ("age", "sex", "mmse")
