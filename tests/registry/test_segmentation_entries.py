"""The segmentation reference entries (threshold-seg, unet-seg-small): fit on masks, predict
masks of the task's labels; `brainbench registry check` on the baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from brainbench.registry import (
    FitContext,
    ModelLoadError,
    SegmentationSet,
    TaskInfo,
    UnlabelledImageSet,
    check_predictions,
    load_model,
)

from .conftest import REPO

ROOT = REPO / "registry"


def _task(shape):
    return TaskInfo(
        type="segmentation",
        labels=("tissue", "lesion"),
        label_values=(2, 5),
        spatial_shape=shape,
        voxel_spacing=(2.0, 2.0, 2.0),
    )


def _data(shape, n_train=6, n_val=2, n_test=3, seed=0):
    """Images whose intensity says the label (background 0, tissue 1, lesion 2, noisy) with
    masks in the task's values (2 tissue, 5 lesion)."""
    rng = np.random.default_rng(seed)
    n = n_train + n_val + n_test
    masks = np.zeros((n, *shape), np.uint8)
    masks[:, 3:-3, 3:-3, 3:-3] = 2
    for i in range(n):
        c = rng.integers(3, min(shape) - 5, 3)
        masks[i, c[0] : c[0] + 2, c[1] : c[1] + 2, c[2] : c[2] + 2] = 5
    level = np.zeros(256, np.float32)
    level[[2, 5]] = [1.0, 2.0]
    images = (level[masks] + rng.normal(0, 0.1, masks.shape)).astype(np.float32)[:, None]
    cov = pd.DataFrame({"subject": [f"s{i}" for i in range(n)]})
    a, b = n_train, n_train + n_val
    return (
        SegmentationSet(images[:a], cov[:a], masks[:a]),
        SegmentationSet(images[a:b], cov[a:b], masks[a:b]),
        UnlabelledImageSet(images[b:], cov[b:]),
        masks[b:],
    )


def _dice(pred, ref, value):
    p, r = pred == value, ref == value
    return 2 * (p & r).sum() / (p.sum() + r.sum())


def test_threshold_baseline_learns_the_label_intensities():
    shape = (16, 16, 16)
    task = _task(shape)
    train, val, test, truth = _data(shape)
    model = load_model("threshold-seg", task, root=ROOT)
    model.fit(train, val, FitContext(seed=0))
    pred = model.predict(test)
    assert check_predictions(pred, task, len(test)) is None
    assert pred.dtype == np.uint8
    assert _dice(pred, truth, 2) > 0.95 and _dice(pred, truth, 5) > 0.9


def test_unet_fits_on_any_shape_and_is_seeded():
    shape = (11, 13, 12)  # not a multiple of the U-Net's stride: padded and cropped back
    task = _task(shape)
    train, val, test, _ = _data(shape)
    runs = []
    for _ in range(2):
        quick = {"epochs": 2, "channels": [4, 8]}
        model = load_model("unet-seg-small", task, quick, root=ROOT)
        model.fit(train, val, FitContext(seed=3, num_threads=1))
        runs.append(model.predict(test))
    assert check_predictions(runs[0], task, len(test)) is None
    assert runs[0].shape == (len(test), *shape) and runs[0].dtype == np.uint8
    np.testing.assert_array_equal(runs[0], runs[1])
    assert len(model.history_.train_loss) == 2 and model.history_.val_loss


def test_unet_refuses_augmentation_that_would_misalign_masks():
    with pytest.raises(ModelLoadError, match="misalign them with their masks"):
        load_model("unet-seg-small", _task((8, 8, 8)), {"augmentation": ["flip-x"]}, root=ROOT)


def test_registry_check_passes_on_the_threshold_baseline():
    from brainbench.registry.check import CheckOptions, check_entries

    result = check_entries([ROOT / "models" / "threshold-seg"], CheckOptions(timeout=120))
    assert result.valid and not result.findings, result.findings


def test_threshold_baseline_on_background_only_masks_says_what_to_check():
    """All-zero reference masks (wrong files, or labels declared with other values): the
    baseline's failure names the declared values and the spec fields to check."""
    shape = (12, 12, 12)
    task = _task(shape)
    train, val, _, _ = _data(shape)
    empty = SegmentationSet(train.images, train.covariates, np.zeros_like(train.masks))
    model = load_model("threshold-seg", task, root=ROOT)
    with pytest.raises(
        ValueError, match=r"no voxel of any declared label.*values 2, 5.*task\.reference"
    ):
        model.fit(empty, val, FitContext(seed=0))
