"""Each reference model fits and predicts on tiny random data with the right outputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from brainbench.registry import (
    FitContext,
    LabelledImageSet,
    TaskInfo,
    UnlabelledImageSet,
    check_predictions,
    load_model,
)

from .conftest import REFERENCE_IDS, REPO

ROOT = REPO / "registry"
SHAPE = (16, 16, 16)
QUICK = {"epochs": 1, "batch_size": 4}


def _data(task: TaskInfo, n_train=12, n_val=4, n_test=5, seed=0):
    rng = np.random.default_rng(seed)
    n = n_train + n_val + n_test
    if task.type == "classification":
        labels = np.arange(n) % task.n_classes
    else:
        labels = rng.normal(70, 8, n)
    images = rng.normal(size=(n, 1, *SHAPE)).astype(np.float32)
    signal = labels if task.type == "classification" else (labels - 70) / 8
    images[:, :, 4:12, 4:12, 4:12] += 1.0 + 0.5 * np.asarray(signal)[:, None, None, None, None]
    cov = pd.DataFrame(
        {
            "subject": [f"s{i}" for i in range(n)],
            "age": rng.uniform(55, 90, n),
            "sex": rng.choice(["F", "M"], n),
        }
    )
    a, b = n_train, n_train + n_val
    return (
        LabelledImageSet(images[:a], cov[:a], labels[:a]),
        LabelledImageSet(images[a:b], cov[a:b], labels[a:b]),
        UnlabelledImageSet(images[b:], cov[b:]),
    )


def _overrides(entry_id):
    if entry_id == "resnet3d":
        # a narrow ResNet-10: the same code path, a sixteenth of the weights (CPU test time)
        return {**QUICK, "widen_factor": 0.25}
    return QUICK if entry_id == "cnn3d-small" else {}


@pytest.mark.parametrize("entry_id", REFERENCE_IDS)
@pytest.mark.parametrize("classes", [("CN", "AD"), ("CN", "MCI", "AD")])
def test_classification_fit_predict(entry_id, classes):
    task = TaskInfo("classification", classes, spatial_shape=SHAPE)
    train, val, test = _data(task)
    model = load_model(entry_id, task, _overrides(entry_id), root=ROOT)
    epochs = []
    model.fit(train, val, FitContext(seed=1, on_epoch=lambda *a: epochs.append(a)))
    scores = model.predict(test)
    assert check_predictions(scores, task, len(test)) is None
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-6)
    if entry_id in ("cnn3d-small", "resnet3d"):
        assert len(epochs) == 1 and epochs[0][0] == 1 and epochs[0][2] is not None


@pytest.mark.parametrize("entry_id", REFERENCE_IDS)
def test_regression_fit_predict(entry_id):
    task = TaskInfo("regression", spatial_shape=SHAPE)
    train, _val, test = _data(task)
    model = load_model(entry_id, task, _overrides(entry_id), root=ROOT)
    model.fit(train, None, FitContext(seed=1))
    scores = model.predict(test)
    assert check_predictions(scores, task, len(test)) is None
    assert scores.shape == (len(test),)


def test_cnn_same_seed_same_predictions_and_max_epochs():
    task = TaskInfo("classification", ("CN", "AD"), spatial_shape=SHAPE)
    train, val, test = _data(task)
    runs = []
    for _ in range(2):
        model = load_model("cnn3d-small", task, {"epochs": 5, "batch_size": 4}, root=ROOT)
        model.fit(train, val, FitContext(seed=7, max_epochs=2))
        runs.append(model.predict(test))
        assert len(model.history_.train_loss) == 2
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-5, atol=1e-6)


def test_cnn_early_stopping_restores_best_epoch():
    task = TaskInfo("classification", ("CN", "AD"), spatial_shape=SHAPE)
    train, val, _test = _data(task)
    model = load_model(
        "cnn3d-small",
        task,
        {"epochs": 4, "batch_size": 4, "patience": 1, "learning_rate": 0.05},
        root=ROOT,
    )
    model.fit(train, val, FitContext(seed=0))
    h = model.history_
    assert h.best_epoch == int(np.argmin(h.val_loss)) + 1
    if h.stopped_early:
        assert len(h.val_loss) == h.best_epoch + 1
    # the restored weights give the best validation loss again
    loss = model._eval_loss(val, model._loss_fn(train))
    assert loss == pytest.approx(min(h.val_loss), rel=1e-4)


def test_voxel_linear_selects_c_on_validation():
    task = TaskInfo("classification", ("CN", "AD"), spatial_shape=SHAPE)
    train, val, _test = _data(task)
    model = load_model("voxel-linear", task, root=ROOT)
    model.fit(train, val, FitContext())
    assert set(model.validation_scores_) == {0.0001, 0.001, 0.01, 0.1, 1.0}
    assert model.selected_ == min(model.validation_scores_, key=model.validation_scores_.get)
    no_val = load_model("voxel-linear", task, root=ROOT)
    no_val.fit(train, None, FitContext())
    assert no_val.selected_ == 0.01


def test_voxel_linear_svm_and_single_class_training():
    task = TaskInfo("classification", ("CN", "AD"), spatial_shape=SHAPE)
    train, val, test = _data(task)
    svm = load_model("voxel-linear", task, {"estimator": "svm"}, root=ROOT)
    svm.fit(train, val, FitContext())
    assert check_predictions(svm.predict(test), task, len(test)) is None
    only_cn = train.subset(np.flatnonzero(train.labels == 0))
    model = load_model("demographics-logreg", task, root=ROOT)
    model.fit(only_cn, None, FitContext())
    np.testing.assert_array_equal(model.predict(test), np.tile([1.0, 0.0], (len(test), 1)))


def test_demographics_ignores_images_and_uses_age():
    task = TaskInfo("classification", ("CN", "AD"), spatial_shape=SHAPE)
    train, _val, _test = _data(task)
    cov = train.covariates
    cov["age"] = np.where(train.labels == 1, 80.0, 60.0)
    train = LabelledImageSet(np.zeros((len(train), 1, 1, 1, 1), np.float32), cov, train.labels)
    model = load_model("demographics-logreg", task, root=ROOT)
    model.fit(train, None, FitContext())
    old = pd.DataFrame({"age": [85.0, 55.0], "sex": ["F", None]})
    scores = model.predict(UnlabelledImageSet(np.zeros((2, 1, 1, 1, 1), np.float32), old))
    assert scores[0, 1] > 0.5 > scores[1, 1]


@pytest.mark.parametrize("kind", ["none", "zscore-image", "minmax-image", "zscore-train"])
def test_torch_normalisation_matches_numpy(kind):
    import torch

    from brainbench.registry.interface import ArrayImages
    from brainbench.registry.normalisation import IntensityNormaliser

    x = np.random.default_rng(0).normal(3, 2, size=(3, 2, 5, 6, 7)).astype(np.float32)
    norm = IntensityNormaliser(kind).fit(ArrayImages(x))
    np.testing.assert_allclose(norm.apply_torch(torch.from_numpy(x)).numpy(), norm(x), atol=1e-5)
