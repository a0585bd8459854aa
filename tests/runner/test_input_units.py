"""Input units (slice, patch, roi): extraction as ClinicaDL's prepare-data, aggregation back to
images, the model's declared unit, and a run end to end on the tiny synthetic cohorts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

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


# -- end to end ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def unit_registry(tmp_path_factory) -> Path:
    """A registry with the real entries and two test entries: unit-logreg for slices (one
    channel) and unit-logreg-roi for regions."""
    root = tmp_path_factory.mktemp("unit-registry")
    models = root / "models"
    models.mkdir()
    voxel = HERE.parents[1] / "registry" / "models" / "voxel-linear"
    (models / "voxel-linear").symlink_to(voxel)
    template = (HERE / "registry" / "entry.yaml.in").read_text()
    for entry_id, unit in (("unit-logreg", "slice"), ("unit-logreg-roi", "roi")):
        folder = models / entry_id
        folder.mkdir()
        text = template.replace("{id}", entry_id).replace("unit: image", f"unit: {unit}")
        text = text.replace("{description}", f"Logistic regression on {unit} features.")
        (folder / "model.yaml").write_text(text)
        shutil.copy(HERE / "registry" / "unit_logreg.py", folder / "model.py")
    return root


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
    from brainbench.runner import run_benchmark

    spec = _spec(
        tmp_path,
        "slices",
        "{modality: T1w, unit: slice, slices: {direction: axial, discarded: [2, 3], mode: single}}",
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
    scored = set(preds.loc[preds["partition"] == "test", "image"])
    assert not scored & set(fitted["train_images"])  # no slice of a test image in training

    # each image's score is the mean of its slices' probabilities (recomputed from the image)
    plan_obj = UnitPlan.from_json(units)
    coef, b = np.array(fitted["coef"]), fitted["intercept"]
    mu, sd = np.array(fitted["mean"]), np.array(fitted["scale"])
    for _, row in preds[preds["partition"] == "test"].head(3).iterrows():
        path = cohort.loc[cohort["image"] == row["image"], "image_path"].iloc[0]
        image = _image(path, shape)
        z = np.stack(
            [
                (np.array([u.mean(), u.std()]) - mu) / sd
                for u in (extract_slice(image, plan_obj, j) for j in range(k))
            ]
        )
        p_ad = 1 / (1 + np.exp(-(z @ coef + b)))
        assert row["score_AD"] == pytest.approx(p_ad.mean(), rel=1e-6)
    log = next((out / "logs").glob("*.log")).read_text()
    assert f"aggregated {k} slices per image (mean)" in log

    # images then aggregate to subjects (protocol.unit_of_analysis: subject) as for any run
    from brainbench.stats import Task, model_data

    test = preds[preds["partition"] == "test"]
    md = model_data(test, "unit-logreg", Task("classification", ("CN", "AD")), "subject")
    assert len(md.frame) == test["subject"].nunique()
    by_subject = test.groupby("subject")["score_AD"].mean()
    np.testing.assert_allclose(np.sort(md.frame["score"]), np.sort(by_subject.to_numpy()))


def test_roi_run_weighted(cohorts, unit_registry, tmp_path):
    """Regions from an atlas, ClinicaDL's weighted soft vote."""
    import nibabel as nib

    from brainbench.runner import run_benchmark

    first = sorted((cohorts / "dev").rglob("*_T1w.nii.gz"))[0]
    ref = nib.load(str(first))
    atlas = np.zeros(ref.shape[:3], np.int16)
    x, y, z = (s // 2 for s in ref.shape[:3])
    atlas[x - 6 : x, y - 5 : y + 5, z - 4 : z + 4] = 17
    atlas[x : x + 5, y - 5 : y + 5, z - 4 : z + 4] = 53
    nib.save(nib.Nifti1Image(atlas, ref.affine), tmp_path / "atlas.nii.gz")
    spec = _spec(
        tmp_path,
        "roi",
        "{modality: T1w, unit: roi, roi: {atlas: atlas.nii.gz, labels: [17, 53]}, "
        "aggregation: weighted}",
    )
    out = tmp_path / "run"
    result = run_benchmark(
        spec, ["unit-logreg-roi"], out=out, seeds=1, device="cpu", registry_root=unit_registry
    )
    assert result.ok, result.failed
    units = json.loads((out / "plan.json").read_text())["input_units"]
    assert units["roi_names"] == ["label-17", "label-53"]
    assert units["unit_shape"] == [1, 6, 10, 8]  # the larger box of the two
    log = next((out / "logs").glob("*.log")).read_text()
    assert "aggregated 2 rois per image (weighted)" in log
    assert str(tmp_path) not in log  # the host never learns the atlas path

    # a label absent from the atlas is refused before any unit runs
    bad = _spec(
        tmp_path, "roi-bad", "{modality: T1w, unit: roi, roi: {atlas: atlas.nii.gz, labels: [9]}}"
    )
    with pytest.raises(UserError, match=r"label-9 .* is empty"):
        run_benchmark(bad, ["unit-logreg-roi"], out=tmp_path / "bad", registry_root=unit_registry)


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


def test_registry_check_feeds_units_to_a_unit_entry(unit_registry):
    """`brainbench registry check` runs a slice entry on slices (channels, X, Y)."""
    from brainbench.registry.check import run_probe
    from brainbench.registry.entries import find_entry

    result, output, code = run_probe(find_entry("unit-logreg", unit_registry), 120)
    assert code == 0, output
    assert {t: r.get("error") for t, r in result["tasks"].items()} == {
        "classification": None,
        "regression": None,
    }
