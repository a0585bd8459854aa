"""The model interface: what models receive, and that test partitions carry no labels."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from brainbench.errors import UserError
from brainbench.registry import (
    ArrayImages,
    CachedImages,
    FitContext,
    LabelledImageSet,
    Model,
    TaskInfo,
    UnlabelledImageSet,
    check_predictions,
    covariate_frame,
    load_model,
    resolve_hyperparameters,
)
from brainbench.registry.entries import ModelLoadError, read_entry
from brainbench.registry.features import VoxelFeatures, block_mean, demographic_matrix
from brainbench.registry.normalisation import IntensityNormaliser

from .conftest import write_entry

TASK = TaskInfo("classification", ("CN", "AD"), spatial_shape=(6, 7, 5))


def _table(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "subject": [f"s{i}" for i in range(n)],
            "site": ["a", "b"] * (n // 2),
            "age": np.linspace(60, 80, n),
            "sex": ["female", "M"] * (n // 2),
            "diagnosis": ["CN", "AD"] * (n // 2),
            "path": [f"/data/{i}.nii.gz" for i in range(n)],
        }
    )


def _images(n: int) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, 1, 6, 7, 5)).astype(np.float32)


def test_unlabelled_set_has_no_labels_anywhere():
    test = UnlabelledImageSet(_images(4), _table(4))
    assert not hasattr(test, "labels")
    assert not hasattr(test, "_labels")
    assert not hasattr(test, "__dict__")
    with pytest.raises(AttributeError):
        test.labels = np.zeros(4)  # type: ignore[attr-defined]
    assert "diagnosis" not in test.covariates.columns
    assert "path" not in test.covariates.columns
    assert list(test.covariates.columns) == ["site", "subject", "age", "sex"]


def test_numpy_images_are_wrapped_read_only_float32():
    raw = np.zeros((2, 1, 3, 3, 3), dtype=np.float64)
    data = UnlabelledImageSet(raw)
    assert isinstance(data.images, ArrayImages)
    assert data.images[0].dtype == np.float32
    with pytest.raises(ValueError):
        data.images[0][0, 0, 0, 0] = 7.0
    same = UnlabelledImageSet(raw.astype(np.float32))
    with pytest.raises(ValueError):
        same.images[1][0, 0, 0, 0] = 7.0  # a read-only view of the caller's buffer
    assert raw.max() == 0.0


def test_without_labels_and_subset_keep_images_drop_labels():
    train = LabelledImageSet(_images(4), _table(4), [0, 1, 0, 1])
    assert train.labels.dtype == np.int64 and not train.labels.flags.writeable
    unlabelled = train.without_labels()
    assert isinstance(unlabelled, UnlabelledImageSet) and not hasattr(unlabelled, "labels")
    sub = train.subset([3, 1])
    np.testing.assert_array_equal(sub.labels, [1, 1])
    np.testing.assert_array_equal(sub.images[0], train.images[3])
    assert list(sub.covariates["subject"]) == ["s3", "s1"]
    assert not hasattr(unlabelled.subset([0]), "labels")


def test_covariates_are_a_copy_and_sex_is_normalised():
    data = UnlabelledImageSet(_images(2), _table(2))
    cov = data.covariates
    cov.loc[0, "age"] = -1
    assert data.covariates.loc[0, "age"] == 60
    assert list(data.covariates["sex"]) == ["F", "M"]
    assert covariate_frame(pd.DataFrame({"sex": ["x", None]}))["sex"].isna().all()


def test_labels_from_names_and_errors():
    train = LabelledImageSet.from_names(_images(2), None, ["AD", "CN"], TASK)
    np.testing.assert_array_equal(train.labels, [1, 0])
    with pytest.raises(ValueError, match="not among"):
        LabelledImageSet.from_names(_images(2), None, ["AD", "MCI"], TASK)
    with pytest.raises(ValueError, match="dtype"):
        LabelledImageSet(_images(2), None, ["AD", "CN"])
    with pytest.raises(ValueError, match="covariate rows"):
        UnlabelledImageSet(_images(2), _table(4))


def test_cached_images_load_once_and_are_read_only():
    calls = []

    def load(i):
        calls.append(i)
        return np.full((1, 2, 2, 2), i, dtype=np.float64)

    images = CachedImages(load, 3)
    assert images[1].dtype == np.float32 and images[-1][0, 0, 0, 0] == 2
    images[1]
    assert calls == [1, 2]
    with pytest.raises(ValueError):
        images[1][0, 0, 0, 0] = 5
    with pytest.raises(IndexError):
        images[3]
    shared: dict = {}
    a = CachedImages(load, 2, cache=shared, keys=["x", "y"])
    b = CachedImages(load, 1, cache=shared, keys=["y"])
    a[1]
    b[0]
    assert calls == [1, 2, 1]


def test_task_info_validation_and_shapes():
    assert TASK.output_shape(5) == (5, 2) and TASK.image_shape == (1, 6, 7, 5)
    reg = TaskInfo("regression", spatial_shape=(4, 4, 4))
    assert reg.output_shape(3) == (3,) and reg.n_outputs == 1
    with pytest.raises(ValueError):
        TaskInfo("classification", ("one",))
    with pytest.raises(ValueError):
        TaskInfo("segmentation")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        FitContext(device="tpu")  # type: ignore[arg-type]


def test_fit_context_caps_epochs_and_reports():
    seen = []
    ctx = FitContext(
        max_epochs=2, on_epoch=lambda *a: seen.append(a), logger=logging.getLogger("t")
    )
    assert ctx.epochs(30) == 2 and FitContext().epochs(30) == 30
    ctx.report_epoch(1, 0.5, None)
    assert seen == [(1, 0.5, None)]


def test_check_predictions():
    good = np.array([[0.2, 0.8], [0.5, 0.5]])
    assert check_predictions(good, TASK, 2) is None
    assert "shape" in check_predictions(good[:, :1], TASK, 2)
    assert "sum to 1" in check_predictions(good * 0.5, TASK, 2)
    assert "NaN" in check_predictions(np.full((2, 2), np.nan), TASK, 2)
    assert "numpy array" in check_predictions([[0.5, 0.5]], TASK, 1)


def test_load_model_from_folder_with_overrides(entry):
    model = load_model(entry, TASK, {"smoothing": 0.0})
    assert isinstance(model, Model)
    train = LabelledImageSet(_images(4), _table(4), [0, 0, 0, 1])
    model.fit(train, None, FitContext())
    np.testing.assert_allclose(model.predict(train.without_labels())[0], [0.75, 0.25])
    with pytest.raises(UserError, match="Did you mean 'smoothing'"):
        resolve_hyperparameters(read_entry(entry), {"smoothin": 1})
    with pytest.raises(UserError, match="channel"):
        load_model(entry, TaskInfo("classification", ("a", "b"), channels=2))


def test_load_model_unknown_id_suggests(tmp_path, entry):
    root = entry.parent.parent
    with pytest.raises(UserError, match="Did you mean 'prior'"):
        load_model("prio", TASK, root=root)


def test_load_model_import_error_carries_model_traceback(tmp_path):
    folder = write_entry(
        tmp_path, model_py="import numpy\nraise RuntimeError('broken on purpose')\n"
    )
    with pytest.raises(ModelLoadError) as info:
        load_model(folder, TASK)
    assert "broken on purpose" in info.value.message
    assert "model.py" in info.value.model_traceback and "line 2" in info.value.model_traceback


def test_two_entries_with_the_same_module_name_do_not_collide(tmp_path):
    a = write_entry(tmp_path / "a", model_py="def build(task, hp):\n    return 'A'\n")
    b = write_entry(tmp_path / "b", model_py="def build(task, hp):\n    return 'B'\n")
    from brainbench.registry.entries import import_factory

    assert import_factory(read_entry(a))(TASK, {}) == "A"
    assert import_factory(read_entry(b))(TASK, {}) == "B"


def test_normaliser_statistics_come_from_train_only():
    rng = np.random.default_rng(1)
    train = rng.normal(5.0, 2.0, size=(6, 1, 4, 4, 4)).astype(np.float32)
    norm = IntensityNormaliser("zscore-train").fit(ArrayImages(train))
    assert abs(float(norm.mean_[0]) - train.mean()) < 1e-4
    out = norm(np.full((1, 1, 4, 4, 4), 5.0, np.float32))
    assert np.allclose(out, (5.0 - train.mean()) / train.std(), atol=1e-4)
    z = IntensityNormaliser("zscore-image")(train)
    assert np.allclose(z.mean(axis=(2, 3, 4)), 0, atol=1e-5)


def test_voxel_features_mask_from_train_and_shapes():
    images = np.zeros((3, 1, 8, 8, 8), np.float32)
    images[:, :, 2:6, 2:6, 2:6] = 1.0
    feats = VoxelFeatures(factor=2, mask_threshold=0.5, normalisation="none").fit(
        ArrayImages(images)
    )
    assert feats.mask_.shape == (1, 4, 4, 4) and feats.n_features == 8
    assert feats.transform(ArrayImages(images)).shape == (3, 8)
    assert block_mean(np.ones((1, 5, 5, 5)), 2).shape == (1, 2, 2, 2)
    with pytest.raises(ValueError, match="unlike the training images"):
        feats.transform(ArrayImages(np.zeros((1, 1, 4, 4, 4), np.float32)))


def test_demographic_matrix_codes_sex():
    cov = covariate_frame(pd.DataFrame({"age": [70, None], "sex": ["F", "male"]}))
    m = demographic_matrix(cov)
    assert m[0].tolist() == [70.0, 1.0] and np.isnan(m[1, 0]) and m[1, 1] == 0.0


def test_pretraining_conflicts(tmp_path):
    from brainbench.registry import pretraining_conflicts

    text = (
        (write_entry(tmp_path / "x") / "model.yaml")
        .read_text()
        .replace("  cohorts: []", "  cohorts: [UKBB, adni]")
        .replace(
            "sklearn", "sklearn\nweights: {url: 'https://x.org/w.pt', sha256: '" + "a" * 64 + "'}"
        )
    )
    folder = write_entry(tmp_path / "y", yaml_text=text)
    loaded = read_entry(folder)
    assert pretraining_conflicts(loaded, ["aibl", "ADNI", "ukbb"]) == ["ADNI", "ukbb"]
