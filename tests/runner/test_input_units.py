"""Input units (slice, patch, roi): extraction as ClinicaDL's prepare-data, aggregation back to
images, the model's declared unit, and a run end to end on the tiny synthetic cohorts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from brainbench.errors import UserError
from brainbench.runner._input_units import (
    UnitImages,
    UnitPlan,
    aggregate,
    extract_patch,
    extract_slice,
    position_weights,
)

HERE = Path(__file__).resolve().parent
TINY_SPEC = HERE / "data" / "tiny.yaml"


# -- extraction, against ClinicaDL's own tensor code (prepare_data_utils.py) -------------------
def _clinicadl_slices(image: np.ndarray, direction: int, discarded: tuple[int, int], rgb: bool):
    """ClinicaDL's extract_slices / extract_slice_tensor on a (1, X, Y, Z) tensor."""
    t = torch.from_numpy(image)
    out = []
    for index in range(discarded[0], t.shape[direction + 1] - discarded[1]):
        idx = tuple([slice(None)] * (direction + 1) + [index] + [slice(None)] * (2 - direction))
        s = t[idx]
        out.append(torch.cat((s, s, s)) if rgb else s)
    return [o.numpy() for o in out]


def _clinicadl_patches(image: np.ndarray, size: int, stride: int):
    """ClinicaDL's extract_patches: unfold on the three axes, then view(-1, p, p, p)."""
    t = torch.from_numpy(image)
    p = t.unfold(1, size, stride).unfold(2, size, stride).unfold(3, size, stride).contiguous()
    p = p.view(-1, size, size, size)
    return [p[i].unsqueeze(0).numpy() for i in range(p.shape[0])]


@pytest.mark.parametrize(
    ("direction", "discarded", "rgb"), [(0, (0, 0), True), (1, (2, 1), False), (2, (3, 3), True)]
)
def test_slices_match_clinicadl(direction, discarded, rgb):
    image = np.random.default_rng(0).normal(size=(1, 9, 10, 11)).astype(np.float32)
    plan = UnitPlan("slice", image.shape, direction=direction, discarded=discarded, rgb=rgb)
    ref = _clinicadl_slices(image, direction, discarded, rgb)
    assert plan.count == len(ref)
    for k, r in enumerate(ref):
        got = extract_slice(image, plan, k)
        assert got.shape == plan.unit_shape == r.shape
        np.testing.assert_array_equal(got, r)


@pytest.mark.parametrize(("size", "stride"), [(4, 4), (4, 3), (5, 2)])
def test_patches_match_clinicadl(size, stride):
    image = np.random.default_rng(1).normal(size=(1, 9, 10, 11)).astype(np.float32)
    plan = UnitPlan("patch", image.shape, patch_size=size, stride=stride)
    ref = _clinicadl_patches(image, size, stride)
    assert plan.count == len(ref)
    for k, r in enumerate(ref):
        np.testing.assert_array_equal(extract_patch(image, plan, k), r)


@settings(max_examples=30, deadline=None)
@given(
    shape=st.tuples(*[st.integers(3, 9)] * 3),
    size=st.integers(1, 5),
    stride=st.integers(1, 5),
    direction=st.integers(0, 2),
    discarded=st.tuples(st.integers(0, 2), st.integers(0, 2)),
)
def test_units_match_clinicadl_for_any_geometry(shape, size, stride, direction, discarded):
    image = np.arange(np.prod(shape), dtype=np.float32).reshape(1, *shape)
    plan = UnitPlan("patch", image.shape, patch_size=size, stride=stride)
    ref = _clinicadl_patches(image, size, stride) if size <= min(shape) else []
    assert plan.count == len(ref)
    for k in (0, len(ref) - 1) if ref else ():
        np.testing.assert_array_equal(extract_patch(image, plan, k), ref[k])
    plan = UnitPlan("slice", image.shape, direction=direction, discarded=discarded, rgb=False)
    ref = _clinicadl_slices(image, direction, discarded, False)
    assert plan.count == len(ref)
    for k in (0, len(ref) - 1) if ref else ():
        np.testing.assert_array_equal(extract_slice(image, plan, k), ref[k])


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 4),
    k=st.integers(1, 5),
    c=st.integers(2, 4),
    seed=st.integers(0, 2**16),
)
def test_aggregated_probabilities_stay_probabilities(n, k, c, seed):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(c), size=n * k)
    labels = rng.integers(0, c, size=n)
    w = position_weights(p, labels, k)
    assert np.isclose(w.sum(), 1.0) and (w >= 0).all()
    out = aggregate(p, k, w)
    assert out.shape == (n, c)
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    assert (out >= p.reshape(n, k, c).min(axis=1) - 1e-12).all()  # a mean: within the units
    assert (out <= p.reshape(n, k, c).max(axis=1) + 1e-12).all()


def test_roi_crop_and_pad():
    image = np.arange(6 * 6 * 6, dtype=np.float32).reshape(1, 6, 6, 6)
    a = np.zeros((6, 6, 6), bool)
    a[1:3, 1:4, 2] = True  # box 2 x 3 x 1
    b = np.zeros((6, 6, 6), bool)
    b[4, 0:2, 0:2] = True  # box 1 x 2 x 2
    plan = UnitPlan("roi", image.shape, roi_names=("a", "b"), roi_box=(2, 3, 2))
    units = UnitImages(np.stack([image]), plan, [a, b])
    assert len(units) == 2 and plan.unit_shape == (1, 2, 3, 2)
    first, second = units[0], units[1]
    assert first.shape == second.shape == (1, 2, 3, 2)
    np.testing.assert_array_equal(first[0, :, :, 0], image[0, 1:3, 1:4, 2])
    assert not first[0, :, :, 1].any()  # zero padding past the region's own box
    np.testing.assert_array_equal(second[0, 0, :2, :2], image[0, 4, 0:2, 0:2])
    uncropped = UnitPlan("roi", image.shape, roi_names=("a",), roi_box=(2, 3, 1), crop=False)
    whole = UnitImages(np.stack([image]), uncropped, [a])[0]
    assert whole.shape == image.shape and whole.sum() == image[0][a].sum()


def test_mean_and_clinicadl_weighted_soft_vote():
    # two images, three units each, two classes
    p = np.array(
        [[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.3, 0.7], [0.4, 0.6], [0.1, 0.9]], dtype=float
    )
    mean = aggregate(p, 3, np.full(3, 1 / 3))
    np.testing.assert_allclose(mean, [[1.7 / 3, 1.3 / 3], [0.8 / 3, 2.2 / 3]])
    # validation labels 0 and 1: unit 0 right on both, unit 1 right on both, unit 2 on one
    w = position_weights(p, np.array([0, 1]), 3)
    np.testing.assert_allclose(w, [1 / 2.5, 1 / 2.5, 0.5 / 2.5])
    np.testing.assert_allclose(aggregate(p, 3, w).sum(axis=1), 1.0)
    np.testing.assert_allclose(aggregate(p, 3, w)[0, 0], 0.4 * 0.9 + 0.4 * 0.6 + 0.2 * 0.2)
    # regression: the mean value
    values = np.array([1.0, 2, 3, 10, 20, 30])
    np.testing.assert_allclose(aggregate(values, 3, np.full(3, 1 / 3)), [2, 20])
    assert np.allclose(position_weights(np.tile([[0.0, 1.0]], (6, 1)), np.array([0, 0]), 3), 1 / 3)


def test_host_weights_from_the_labelled_validation_images():
    """The model process scores every validation image but only the labelled ones (and in
    their own order) give ClinicaDL's weights."""
    import logging

    from brainbench.runner._host import _aggregate_units
    from brainbench.runner._input_units import HostUnits

    plan = UnitPlan("slice", (1, 4, 4, 3), aggregation="weighted", rgb=False, direction=2)
    units = HostUnits({"plan": plan.to_json()})
    # validation images 10, 11, 12 scored (3 slices each); 12 has no label; 11 listed first
    p1 = np.array([[0.9, 0.2, 0.6], [0.1, 0.7, 0.4], [0.5, 0.5, 0.5]])  # P(class 1) per slice
    scored = np.stack([1 - p1.ravel(), p1.ravel()], axis=1)
    msg = {
        "validation": (np.array([11, 10]), None, np.array([1, 1])),
        "predict": [("validation", np.array([10, 11, 12]), None), ("test", np.array([5]), None)],
    }
    test = np.array([[0.2, 0.8], [0.6, 0.4], [0.5, 0.5]])
    out = _aggregate_units(units, {"validation": scored, "test": test}, msg, logging.getLogger("t"))
    # positions right on images 10 and 11 (label 1): slice 0 on 10, slice 1 on 11, slice 2 on 10
    w = np.array([0.5, 0.5, 0.5]) / 1.5
    np.testing.assert_allclose(out["test"], [[w @ test[:, 0], w @ test[:, 1]]])
    assert out["validation"].shape == (3, 2)


# -- end to end ---------------------------------------------------------------------------------
def _spec(tmp: Path, name: str, input_yaml: str, group: str = "subject") -> Path:
    path = tmp / f"{name}.yaml"
    path.write_text(
        f"extends: {TINY_SPEC}\nbrainbench: 1\nid: units-{name}\n"
        f"task:\n  input: {input_yaml}\nsplits:\n  group: {group}\n"
    )
    return path


def _image(path: str, shape: tuple[int, ...]) -> np.ndarray:
    from brainbench.runner._data import ImageLoader

    return ImageLoader(shape).load(path)


def test_slice_run_end_to_end(cohorts, unit_registry, tmp_path):
    """Slices of the tiny BIDS cohorts, ClinicaDL's weighted soft vote; every image's score is
    recomputed from its image, the fitted model and the validation accuracies."""
    from brainbench.runner import run_benchmark

    spec = _spec(
        tmp_path,
        "slices",
        "{modality: T1w, unit: slice, slices: {direction: axial, discarded: [2, 3], mode: single},"
        " aggregation: weighted}",
    )
    out = tmp_path / "run"
    result = run_benchmark(
        spec, ["unit-logreg"], out=out, seeds=1, device="cpu", registry_root=unit_registry
    )
    assert result.ok, result.failed
    plan = json.loads((out / "plan.json").read_text())
    units = plan["input_units"]
    shape = (1, *plan["task"]["spatial_shape"])
    assert units["unit"] == "slice" and units["count"] == shape[3] - 5
    assert units["unit_shape"] == [1, shape[1], shape[2]]

    preds = pd.read_parquet(out / "predictions.parquet")
    cohort = pd.read_parquet(out / "cohort.parquet")
    # one row per image and partition, probabilities that sum to one
    assert not preds.duplicated(["fold", "seed", "partition", "image"]).any()
    np.testing.assert_allclose(preds["score_CN"] + preds["score_AD"], 1.0)

    record = json.loads(next((out / "units").glob("*.json")).read_text())
    fitted = record["history"]
    assert fitted["grouped"]  # an image's slices arrive together
    k = units["count"]
    assert fitted["train_units"] == k * len(fitted["train_images"])
    scored = set(preds.loc[preds["partition"] != "validation", "image"])
    assert not scored & set(fitted["train_images"])  # no slice of a test image in training

    # recompute each slice's P(AD) from the image and the fitted model
    plan_obj = UnitPlan.from_json(units)
    coef, b = np.array(fitted["coef"]), fitted["intercept"]
    mu, sd = np.array(fitted["mean"]), np.array(fitted["scale"])

    def slice_p_ad(image_id: str) -> np.ndarray:
        path = cohort.loc[cohort["image"] == image_id, "image_path"].iloc[0]
        image = _image(path, shape)
        feats = [[u.mean(), u.std()] for u in (extract_slice(image, plan_obj, j) for j in range(k))]
        return 1 / (1 + np.exp(-(((np.array(feats) - mu) / sd) @ coef + b)))

    # weights: accuracy of each slice position on the validation images (ClinicaDL)
    val = preds[preds["partition"] == "validation"]
    p_val = np.stack([slice_p_ad(i) for i in val["image"]])
    truth = (val["y_true"] == "AD").to_numpy()
    accuracy = ((p_val > 0.5) == truth[:, None]).mean(axis=0)
    # (the tiny cohort's validation may be too small for any position to be right: equal weights)
    weights = accuracy / accuracy.sum() if accuracy.sum() else np.full(k, 1 / k)
    for _, row in preds[preds["partition"] == "test"].head(3).iterrows():
        assert row["score_AD"] == pytest.approx(slice_p_ad(row["image"]) @ weights, rel=1e-6)
    log = next((out / "logs").glob("*.log")).read_text()
    assert f"aggregated {k} slices per image (weighted)" in log

    # images then aggregate to subjects (protocol.unit_of_analysis: subject) as for any run
    from brainbench.stats import Task, model_data

    test = preds[preds["partition"] == "test"]
    md = model_data(test, "unit-logreg", Task("classification", ("CN", "AD")), "subject")
    assert len(md.frame) == test["subject"].nunique()
    by_subject = test.groupby("subject")["score_AD"].mean()
    np.testing.assert_allclose(np.sort(md.frame["score"]), np.sort(by_subject.to_numpy()))

    # the evidence sheet states the aggregation rule
    from brainbench.report import write_report

    write_report([out], tmp_path / "report", resamples=20)
    doc = json.loads((tmp_path / "report" / "evidence.json").read_text())
    protocol = {s["id"]: s for s in doc["sections"]}["protocol"]
    assert any("ClinicaDL's weighted soft vote" in t for t in protocol["text"]), protocol["text"]


def test_roi_from_an_atlas_is_planned_and_sent_without_its_path(cohorts, unit_registry, tmp_path):
    import nibabel as nib

    from brainbench.runner._input_units import HostUnits, input_units_message, plan_input_units
    from brainbench.runner._prepare import RunOptions, plan_only
    from brainbench.spec import load_spec

    first = sorted((cohorts / "dev").rglob("*_T1w.nii.gz"))[0]
    ref = nib.load(str(first))
    atlas = np.zeros(ref.shape[:3], np.int16)
    x, y, z = (s // 2 for s in ref.shape[:3])
    atlas[x - 6 : x, y - 5 : y + 5, z - 4 : z + 4] = 17
    atlas[x : x + 5, y - 5 : y + 5, z - 4 : z + 4] = 53
    nib.save(nib.Nifti1Image(atlas, ref.affine), tmp_path / "atlas.nii.gz")
    spec = _spec(
        tmp_path, "roi", "{modality: T1w, unit: roi, roi: {atlas: atlas.nii.gz, labels: [17, 53]}}"
    )
    options = RunOptions(models=["unit-logreg-roi"], registry_root=str(unit_registry))
    _, _, task = plan_only(spec, options)
    assert task.unit_shape == (1, 6, 10, 8)  # the larger box of the two regions
    plan = plan_input_units(load_spec(spec), task)
    assert plan["roi_names"] == ["label-17", "label-53"]
    message = input_units_message(plan)
    assert str(tmp_path) not in repr(message["plan"])  # the model process gets no path
    host = HostUnits(message)
    image = np.asarray(ref.get_fdata(), np.float32)[None]
    units = host.unlabelled(np.stack([image, image]), pd.DataFrame(index=range(2))).images
    assert len(units) == 4 and units[1].shape == (1, 6, 10, 8)
    np.testing.assert_array_equal(
        units[1][0, :5], image[0, x : x + 5, y - 5 : y + 5, z - 4 : z + 4]
    )
    assert not units[1][0, 5:].any()  # zero padding of the smaller box

    # a label absent from the atlas is refused before any unit runs
    bad = _spec(
        tmp_path, "roi-bad", "{modality: T1w, unit: roi, roi: {atlas: atlas.nii.gz, labels: [9]}}"
    )
    with pytest.raises(UserError, match=r"label-9 .* is empty"):
        plan_only(bad, options)


def test_roi_names_find_clinicadl_masks_in_the_caps_folder(tmp_path, monkeypatch):
    """roi.names: ClinicaDL's find_mask_path in <CAPS>/masks/tpl-<template>/."""
    from brainbench.runner._input_units import clinicadl_masks
    from brainbench.spec import load_spec

    folder = tmp_path / "caps" / "masks" / "tpl-MNI152NLin2009cSym"
    folder.mkdir(parents=True)
    for name in (
        "tpl-MNI152NLin2009cSym_desc-Crop_res-1x1x1_roi-leftHippocampusBox_mask.nii.gz",
        "tpl-MNI152NLin2009cSym_desc-Crop_res-1x1x1_acq-x_roi-leftHippocampusBox_mask.nii.gz",
        "tpl-MNI152NLin2009cSym_res-1x1x1_roi-leftHippocampusBox_mask.nii.gz",
    ):
        (folder / name).write_bytes(b"")
    monkeypatch.setenv("ADNI_CAPS", str(tmp_path / "caps"))
    base = HERE.parents[1] / "spec" / "benchmarks" / "smci-vs-pmci-caps.yaml"
    spec = tmp_path / "roi.yaml"
    spec.write_text(
        f"extends: {base}\nbrainbench: 1\n"
        "task: {input: {unit: roi, roi: {names: [leftHippocampusBox]}}}\n"
    )
    loaded = load_spec(spec)
    [(name, path)] = clinicadl_masks(loaded, ["leftHippocampusBox"], "MNI152NLin2009cSym")
    assert name == "leftHippocampusBox"  # cropped images: the shortest desc-Crop mask
    assert path.name == (
        "tpl-MNI152NLin2009cSym_desc-Crop_res-1x1x1_roi-leftHippocampusBox_mask.nii.gz"
    )
    with pytest.raises(UserError, match=r"No mask of the region 'rightHippocampusBox'"):
        clinicadl_masks(loaded, ["rightHippocampusBox"], "MNI152NLin2009cSym")


def test_unit_mismatch_and_l101_refused_before_any_unit(cohorts, unit_registry, tmp_path, capsys):
    from brainbench.runner import run_benchmark
    from brainbench.runner._prepare import InvalidSpec

    spec = _spec(tmp_path, "s", "{modality: T1w, unit: slice, slices: {mode: single}}")
    with pytest.raises(UserError, match=r"takes input unit 'image'.*gives 'slice'"):
        run_benchmark(spec, ["voxel-linear"], out=tmp_path / "a", registry_root=unit_registry)
    assert not (tmp_path / "a" / "units").exists()
    from brainbench.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["run", str(spec), "-m", "unit-logreg", "--dry-run", "--registry", str(unit_registry)])
    assert exc.value.code == 0
    assert "cut into slices of [1, " in capsys.readouterr().out
    img = _spec(tmp_path, "i", "{modality: T1w, unit: image}")
    with pytest.raises(UserError, match=r"takes input unit 'slice'.*gives 'image'"):
        run_benchmark(img, ["unit-logreg"], out=tmp_path / "b", registry_root=unit_registry)
    rgb = _spec(tmp_path, "rgb", "{modality: T1w, unit: slice}")  # ClinicaDL's default: rgb
    with pytest.raises(UserError, match=r"expects 1 channel.*has 3"):
        run_benchmark(rgb, ["unit-logreg"], out=tmp_path / "c", registry_root=unit_registry)
    novalidation = tmp_path / "nv.yaml"
    novalidation.write_text(
        f"extends: {tmp_path / 's.yaml'}\nbrainbench: 1\n"
        "task: {input: {aggregation: weighted}}\nsplits: {validation: {method: none}}\n"
        "training: {model_selection: none}\n"
    )
    with pytest.raises(UserError, match="'weighted' weighs each unit position"):
        run_benchmark(
            novalidation, ["unit-logreg"], out=tmp_path / "f", registry_root=unit_registry
        )
    big = _spec(tmp_path, "p", "{modality: T1w, unit: patch}")  # 50-voxel patches: too big
    with pytest.raises(UserError, match="Patches of 50 voxels do not fit"):
        run_benchmark(big, ["unit-logreg"], out=tmp_path / "d", registry_root=unit_registry)

    # L101: slices split by image (slices of one image on both sides) never run
    leaky = _spec(
        tmp_path, "leaky", "{modality: T1w, unit: slice, slices: {mode: single}}", group="image"
    )
    with pytest.raises(InvalidSpec) as info:
        run_benchmark(leaky, ["unit-logreg"], out=tmp_path / "e", registry_root=unit_registry)
    found = [f for f in info.value.result.findings if f.rule == "L101"]
    assert any("slices are split by image" in f.message for f in found)
    assert not (tmp_path / "e" / "units").exists()


def test_registry_check_feeds_unit_shaped_inputs():
    """`brainbench registry check` probes a slice entry with (channels, X, Y) inputs, a patch
    or roi entry with (channels, X, Y, Z), an image entry with whole images."""
    from types import SimpleNamespace

    from brainbench.registry._probe import _probe_unit_shape

    def entry(unit: str, channels: int = 1) -> SimpleNamespace:
        return SimpleNamespace(unit=unit, channels=channels, spatial_shape=(20, 24, 18))

    assert _probe_unit_shape(entry("slice", 3)) == (3, 20, 24)
    assert _probe_unit_shape(entry("patch")) == (1, 20, 24, 18)
    assert _probe_unit_shape(entry("roi")) == (1, 20, 24, 18)
    assert _probe_unit_shape(entry("image")) == ()
