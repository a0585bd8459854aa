"""Per-case segmentation metrics: closed forms, empty masks, metadata."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brainbench.errors import UserError
from brainbench.segmentation import SEGMENTATION_METRICS, SegmentationMetric, case_metrics
from brainbench.stats import metric_info
from brainbench.stats._metrics import SEGMENTATION_INFO

ALL = [SegmentationMetric(n) for n in SEGMENTATION_METRICS if n != "nsd"] + [
    SegmentationMetric("nsd", tolerance_mm=1.0)
]


def cube(shape, lo, hi, value=1):
    a = np.zeros(shape, dtype=np.uint8)
    a[tuple(slice(a_, b_) for a_, b_ in zip(lo, hi, strict=True))] = value
    return a


def values(ref, pred, spacing=(1.0, 1.0, 1.0), labels=None, metrics=ALL):
    rows = case_metrics(ref, pred, spacing=spacing, labels=labels or {1: "l"}, metrics=metrics)
    return {(r["label"], r["metric"]): r for r in rows}


def test_offset_cubes_closed_forms():
    # Reference: a 6^3 cube; prediction: the same cube shifted by 2 voxels along x.
    # |A∩B| = 4*6*6 = 144, |A| = |B| = 216: Dice = 288/432 = 2/3, IoU = 144/288 = 1/2.
    ref = cube((16, 16, 16), (4, 4, 4), (10, 10, 10))
    pred = cube((16, 16, 16), (6, 4, 4), (12, 10, 10))
    v = values(ref, pred, spacing=(1.5, 1.0, 1.0))
    # MONAI reduces in float32: 1e-6 covers its rounding.
    assert v["l", "dice"]["value"] == pytest.approx(2 / 3, abs=1e-6)
    assert v["l", "iou"]["value"] == pytest.approx(1 / 2, abs=1e-6)
    # Same volumes: both volume errors vanish; 216 voxels of 1.5 mm^3 = 0.324 mL each.
    assert v["l", "volume-error"]["value"] == pytest.approx(0.0)
    assert v["l", "relative-volume-error"]["value"] == pytest.approx(0.0)
    # Each face of the shifted cube lies 2 voxels = 3 mm from its counterpart along x: the
    # largest surface distance is 3 mm.
    assert v["l", "hd"]["value"] == pytest.approx(3.0)
    assert v["l", "lesion-f1"]["value"] == 1.0
    assert all(r["status"] == "ok" for r in v.values())


def test_volume_errors_in_millilitres():
    ref = cube((10, 10, 10), (0, 0, 0), (4, 4, 4))  # 64 voxels
    pred = cube((10, 10, 10), (0, 0, 0), (4, 4, 6))  # 96 voxels
    v = values(ref, pred, spacing=(2.0, 2.0, 2.0))  # 8 mm^3 per voxel
    assert v["l", "volume-error"]["value"] == pytest.approx(32 * 8 / 1000)
    assert v["l", "abs-volume-error"]["value"] == pytest.approx(32 * 8 / 1000)
    assert v["l", "relative-volume-error"]["value"] == pytest.approx(0.5)
    v = values(pred, ref, spacing=(2.0, 2.0, 2.0))
    assert v["l", "volume-error"]["value"] == pytest.approx(-32 * 8 / 1000)


@pytest.mark.parametrize(
    ("ref_on", "pred_on", "status"),
    [
        (False, False, "both-empty"),
        (False, True, "empty-reference"),
        (True, False, "empty-prediction"),
    ],
)
def test_empty_masks_follow_metrics_reloaded(ref_on, pred_on, status):
    shape = (6, 8, 10)
    spacing = (1.0, 2.0, 0.5)
    on = cube(shape, (1, 1, 1), (3, 3, 3))
    off = np.zeros(shape, dtype=np.uint8)
    v = values(on if ref_on else off, on if pred_on else off, spacing=spacing)
    assert {r["status"] for r in v.values()} == {status}
    assert len(v) == len(ALL)  # never dropped
    diagonal = np.sqrt(6**2 + 16**2 + 5**2)
    if status == "both-empty":
        expected = {"dice": 1, "iou": 1, "nsd": 1, "lesion-f1": 1, "hd95": 0, "hd": 0}
        expected |= {"assd": 0, "volume-error": 0, "relative-volume-error": 0}
    else:
        expected = {"dice": 0, "iou": 0, "nsd": 0, "lesion-f1": 0}
        expected |= {"hd95": diagonal, "hd": diagonal, "assd": diagonal}
    for name, want in expected.items():
        assert v["l", name]["value"] == pytest.approx(want), name
    if status == "empty-reference":
        assert np.isnan(v["l", "relative-volume-error"]["value"])
    if status == "empty-prediction":
        assert v["l", "relative-volume-error"]["value"] == -1.0


def test_multilabel_rows_and_counts():
    ref = cube((12, 12, 12), (1, 1, 1), (5, 5, 5), 1) + cube(
        (12, 12, 12), (7, 7, 7), (10, 10, 10), 2
    )
    pred = cube((12, 12, 12), (1, 1, 1), (5, 5, 5), 1)
    rows = case_metrics(
        ref, pred, spacing=(1, 1, 1), labels={1: "a", 2: "b"}, metrics=[SegmentationMetric("dice")]
    )
    assert [(r["label"], r["label_value"], r["status"]) for r in rows] == [
        ("a", 1, "ok"),
        ("b", 2, "empty-prediction"),
    ]
    assert rows[0]["value"] == 1.0 and rows[1]["value"] == 0.0
    assert rows[0]["reference_voxels"] == 64 and rows[1]["reference_voxels"] == 27
    assert rows[1]["predicted_voxels"] == 0


def test_bad_inputs_are_user_errors():
    a = np.zeros((4, 4, 4), dtype=np.uint8)
    with pytest.raises(UserError, match="same shape"):
        case_metrics(a, a[:3], spacing=(1, 1, 1), labels={1: "l"}, metrics=ALL)
    with pytest.raises(UserError, match="spacing"):
        case_metrics(a, a, spacing=(1, 0, 1), labels={1: "l"}, metrics=ALL)
    with pytest.raises(UserError, match="non-integer"):
        case_metrics(a + 0.5, a, spacing=(1, 1, 1), labels={1: "l"}, metrics=ALL)
    with pytest.raises(UserError, match="tolerance"):
        SegmentationMetric("nsd")
    with pytest.raises(UserError, match="Unknown"):
        SegmentationMetric("dsc")


def test_metadata_registered_for_every_metric():
    assert set(SEGMENTATION_INFO) == set(SEGMENTATION_METRICS)
    for name in ("dice", "iou", "nsd", "lesion-f1"):
        info = metric_info(name)
        assert info.higher_is_better and info.bounds == (0.0, 1.0), name
    for name in ("hd95", "hd", "assd"):
        info = metric_info(name)
        assert not info.higher_is_better and info.units == "mm", name
    assert metric_info("abs-volume-error").units == "mL"
    signed = metric_info("volume-error")
    assert signed.direction == "closer to 0 is better" and signed.units == "mL"
    assert signed.better(-1.0, 2.0) and not signed.better(3.0, -2.0)
    with pytest.raises(ValueError, match="closest to 0"):
        signed.gain(1.0)
    # The classification/regression metrics keep their behaviour.
    assert metric_info("mae").better(1.0, 2.0) and metric_info("auroc").gain(0.1) == 0.1


masks = st.lists(st.booleans(), min_size=64, max_size=64).map(
    lambda b: np.array(b, dtype=np.uint8).reshape(4, 4, 4)
)


@settings(max_examples=25, deadline=None)
@given(a=masks, b=masks)
def test_overlap_properties(a, b):
    pair = [SegmentationMetric("dice"), SegmentationMetric("iou")]
    ab = values(a, b, metrics=pair)
    ba = values(b, a, metrics=pair)
    d, j = ab["l", "dice"]["value"], ab["l", "iou"]["value"]
    assert 0.0 <= d <= 1.0 and 0.0 <= j <= 1.0
    assert d == pytest.approx(ba["l", "dice"]["value"], abs=1e-7)  # symmetric
    assert j == pytest.approx(d / (2 - d), abs=1e-6)  # IoU = D / (2 - D)
    assert values(a, a, metrics=pair)["l", "dice"]["value"] == 1.0  # also when a is empty


def test_lesion_f1_closed_form_and_26_connectivity():
    from brainbench.segmentation import lesion_counts

    shape = (20, 20, 20)
    ref = cube(shape, (1, 1, 1), (3, 3, 3)) + cube(shape, (8, 8, 8), (10, 10, 10))
    pred = np.zeros(shape, dtype=np.uint8)
    pred[2, 2, 2] = 1  # one voxel inside the first lesion
    pred[15, 15, 15] = pred[16, 16, 16] = 1  # touch by a corner: one component (26-conn.)
    c = lesion_counts(ref.astype(bool), pred.astype(bool))
    assert c == {"n_reference": 2, "n_predicted": 2, "detected": 1, "true_positive_predicted": 1}
    # R = 1/2, P = 1/2: F1 = 1/2.
    v = values(ref, pred, metrics=[SegmentationMetric("lesion-f1")])
    assert v["l", "lesion-f1"]["value"] == pytest.approx(0.5)
    # Requiring 2 overlapping voxels: the single-voxel hit no longer detects the lesion.
    v = values(ref, pred, metrics=[SegmentationMetric("lesion-f1", min_overlap=2)])
    assert v["l", "lesion-f1"]["value"] == 0.0
