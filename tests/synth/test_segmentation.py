"""``synth --task segmentation``: reference masks that match the images voxel for voxel."""

import hashlib
import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage, stats

from brainbench.cli import cli, main
from brainbench.errors import UserError
from brainbench.synth import LABELS, LesionConfig, SynthConfig, generate_cohort, load_truth
from brainbench.synth._lesions import Lesion, occupancy, plan_lesions
from brainbench.synth._plan import build_plan

TWENTY_SIX = np.ones((3, 3, 3), dtype=bool)


def _load(root, rel):
    img = nib.load(root / rel)
    return img, np.asarray(img.dataobj)


def _lesions(result) -> pd.DataFrame:
    return pd.read_csv(result.truth_dir / "lesions.tsv", sep="\t")


def _observed_contrast(image: np.ndarray, labels: np.ndarray) -> float:
    """(mean over lesion voxels) / (mean over the white matter 2 voxels around them) - 1."""
    lesion = labels == 4
    near = ndimage.binary_dilation(lesion, iterations=2) & ~ndimage.binary_dilation(lesion)
    return float(image[lesion].mean() / image[near & (labels == 3)].mean() - 1.0)


def test_layout_matches_the_contract(tiny_seg):
    root = tiny_seg.path
    ref = root / "derivatives" / "reference"
    description = json.loads((ref / "dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative"
    assert (ref / "dseg.tsv").read_text().splitlines() == [
        "index\tname",
        "1\tcsf",
        "2\tgray-matter",
        "3\twhite-matter",
        "4\twmh",
    ]
    assert LABELS == {1: "csf", 2: "gray-matter", 3: "white-matter", 4: "wmh"}
    for row in tiny_seg.images.itertuples():
        sub, ses = row.participant_id, row.session_id
        assert row.reference == f"derivatives/reference/{sub}/{ses}/anat/{sub}_{ses}_dseg.nii.gz"
        assert row.flair == f"{sub}/{ses}/anat/{sub}_{ses}_FLAIR.nii.gz"
        t1, _ = _load(root, row.image)
        flair, _ = _load(root, row.flair)
        mask, labels = _load(root, row.reference)
        assert mask.get_data_dtype() == np.uint8
        assert mask.shape == t1.shape == flair.shape
        assert all(32 <= n <= 56 for n in mask.shape)
        assert np.array_equal(mask.affine, t1.affine) and np.array_equal(mask.affine, flair.affine)
        assert set(np.unique(labels)) <= {0, 1, 2, 3, 4}
        assert hashlib.sha256((root / row.reference).read_bytes()).hexdigest() == (
            row.reference_sha256
        )
        sidecar = json.loads((root / row.flair.replace(".nii.gz", ".json")).read_text())
        assert sidecar["PulseSequenceType"] == "3D FLAIR"
    assert tiny_seg.truth["config"]["segmentation"] == LesionConfig().to_dict()


def test_masks_align_with_the_images(tiny_seg):
    root = tiny_seg.path
    for row in tiny_seg.images.itertuples():
        _, t1 = _load(root, row.image)
        _, flair = _load(root, row.flair)
        _, labels = _load(root, row.reference)
        # Every labelled voxel has signal in both images; tissue classes order as on T1w, and
        # CSF is dark on FLAIR (grey matter, brighter than white matter there, mixes with CSF
        # at 4 mm so that its voxels' mean is close to white matter's).
        assert (t1[labels > 0] > 0).all() and (flair[labels > 0] > 0).all()
        t1_mean = [t1[labels == k].mean() for k in (1, 2, 3)]
        flair_mean = [flair[labels == k].mean() for k in (1, 2, 3)]
        assert t1_mean[0] < t1_mean[1] < t1_mean[2]
        assert flair_mean[0] < 0.6 * min(flair_mean[1:])
        # Lesions: bright on FLAIR, dark on T1w, by the declared contrast less partial volume
        # (a lesion voxel holds half to all of its lesion).
        assert row.lesion_voxels == (labels == 4).sum()
        if row.lesion_count == 0:
            continue
        declared_f, declared_t = row.lesion_contrast_flair, row.lesion_contrast_t1w
        assert 0.5 * declared_f < _observed_contrast(flair, labels) < declared_f
        assert declared_t < _observed_contrast(t1, labels) < 0.35 * declared_t
        assert flair[labels == 4].mean() > flair[labels == 2].mean()


def test_each_lesion_is_one_component(tiny_seg):
    root, lesions = tiny_seg.path, _lesions(tiny_seg)
    assert tiny_seg.images["lesion_count"].sum() > 10
    for row in tiny_seg.images.itertuples():
        _, labels = _load(root, row.reference)
        _, n = ndimage.label(labels == 4, structure=TWENTY_SIX)
        assert n == row.lesion_count == row.lesion_components
        mine = lesions[
            (lesions["participant_id"] == row.participant_id)
            & (lesions["session_id"] == row.session_id)
        ]
        assert len(mine) == row.lesion_count
        assert (mine["voxels"] > 0).all() and mine["voxels"].sum() == row.lesion_voxels


def test_lesions_grow_across_sessions(tiny_seg):
    lesions = _lesions(tiny_seg)
    images = tiny_seg.images
    for _, rows in images.groupby("participant_id"):
        rows = rows.sort_values("years_since_baseline")
        assert rows["lesion_count"].is_monotonic_increasing
    for _, rows in lesions.groupby(["participant_id", "lesion"]):
        assert rows.sort_values("session_id")["radius_mm"].is_monotonic_increasing
    # Over the cohort the lesion load grows from baseline to follow-up, new lesions included.
    first = images.sort_values("session_id").groupby("participant_id").first()
    last = images.sort_values("session_id").groupby("participant_id").last()
    assert (last["lesion_ml"] >= first["lesion_ml"]).all()
    assert last["lesion_voxels"].sum() > 1.3 * first["lesion_voxels"].sum()
    assert (lesions["onset_years"] > 0).any()


def test_a_flair_threshold_finds_the_lesions(tiny_seg):
    """The baseline that needs no training: FLAIR above 1.4 times the brain's median."""
    dice = []
    for row in tiny_seg.images.itertuples():
        if row.lesion_count == 0:
            continue
        _, flair = _load(tiny_seg.path, row.flair)
        _, labels = _load(tiny_seg.path, row.reference)
        predicted = flair > 1.4 * np.median(flair[flair > 0])
        reference = labels == 4
        dice.append(2 * (predicted & reference).sum() / (predicted.sum() + reference.sum()))
    assert np.mean(dice) > 0.5


@settings(max_examples=30, deadline=None)
@given(
    axes=st.tuples(*[st.floats(0.8, 1.25)] * 3),
    angles=st.tuples(*[st.floats(-np.pi, np.pi)] * 3),
    radius=st.floats(2.0, 9.0),
    growth=st.floats(0.0, 3.0),
    resolution=st.sampled_from([1.0, 2.0, 4.0]),
)
def test_occupancy_grows_with_the_radius(axes, angles, radius, growth, resolution):
    """A growing lesion never loses a voxel: its occupancy is monotone in the radius, 1 deep
    inside and 0 beyond half a voxel outside."""
    a, b, c = angles
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rx = np.array([[1, 0, 0], [0, np.cos(c), -np.sin(c)], [0, np.sin(c), np.cos(c)]])
    rotation = rz @ ry @ rx
    lesion = Lesion("L01", (1.0, -2.0, 3.0), axes, tuple(map(tuple, rotation)), radius, 0, 0, 1)
    axis = np.arange(-16.0, 16.5, 1.0)
    points = np.stack(np.meshgrid(axis + 1, axis - 2, axis + 3, indexing="ij")).astype(np.float32)
    before = occupancy(points, lesion, radius, resolution)
    after = occupancy(points, lesion, radius + growth, resolution)
    assert (after >= before - 1e-6).all()
    centre = (16, 16, 16)
    assert before[centre] == 1.0
    far = np.sqrt(((points - points[:, 16, 16, 16, None, None, None]) ** 2).sum(0))
    assert (before[far > 1.25 * radius + resolution] == 0).all()


@pytest.mark.parametrize(
    "lesions",
    [
        LesionConfig(),
        # The largest, fastest-growing and most numerous lesions the configuration allows:
        # some no longer fit apart and are not placed, none is placed wrongly.
        LesionConfig(
            lesion_load=12, new_lesions_per_year=5, lesion_radius_mm=8, lesion_growth_mm_per_year=3
        ),
    ],
)
def test_placed_lesions_lie_apart(lesions):
    plan = build_plan(SynthConfig.preset("tiny", sessions=5))
    placed = plan_lesions(plan, lesions)
    for subject in plan.subjects:
        mine = placed.lesions[subject.participant_id]
        assert len(mine) <= placed.requested[subject.participant_id] <= 12
        last = max(s.years for s in subject.sessions)
        for i, a in enumerate(mine):
            assert a.radius_mm >= 1.25 * plan.config.resolution
            for b in mine[i + 1 :]:
                gap = np.linalg.norm(np.subtract(a.center_mm, b.center_mm))
                reach = sum(max(x.axes) * x.radius_at(last) for x in (a, b))  # type: ignore[operator]
                assert gap >= reach + 2 * plan.config.resolution + 2 - 0.2  # centres rounded


def test_site_effect_on_lesion_contrast(tmp_path):
    design = {"subjects": 4, "sites": 2, "sessions": 1, "seed": 5}
    cfg = SynthConfig.preset("tiny", **design, segmentation=LesionConfig(lesion_load=6.0))
    alike = generate_cohort(tmp_path / "alike", cfg.replace(site_effect=0.0))
    varied = generate_cohort(tmp_path / "varied", cfg, layout="caps")
    gains = {s["scanner_id"]: s["lesion_gain"] for s in varied.truth["segmentation"]["scanners"]}
    strengths = {s["scanner_id"]: s["MagneticFieldStrength"] for s in varied.truth["scanners"]}
    assert {s["lesion_gain"] for s in alike.truth["segmentation"]["scanners"]} == {1.0}
    assert len(set(gains.values())) == len(gains)
    # The scanners' FLAIR tissue contrast varies too (grey matter against white matter).
    flair = [s["flair_contrast"] for s in varied.truth["segmentation"]["scanners"]]
    same = [s["flair_contrast"] for s in alike.truth["segmentation"]["scanners"]]
    assert len({f["gm"] for f in flair}) == len(flair) and len({f["gm"] for f in same}) == 1
    ratios, expected = [], []
    for a, v in zip(alike.images.itertuples(), varied.images.itertuples(), strict=True):
        assert a.lesion_count == v.lesion_count > 0
        gain = gains[v.scanner_id]
        assert v.lesion_contrast_flair == pytest.approx(a.lesion_contrast_flair * gain, abs=2e-3)
        _, labels_a = _load(alike.path, a.reference)
        _, labels_v = _load(varied.path, v.reference)
        observed = [
            _observed_contrast(_load(r.path, row.flair)[1], lab)
            for r, row, lab in ((alike, a, labels_a), (varied, v, labels_v))
        ]
        ratios.append(observed[1] / observed[0])
        expected.append(gains[v.scanner_id])
    # The CAPS copy holds the same masks (task.reference source caps).
    for row in varied.images.itertuples():
        sub, ses = row.participant_id, row.session_id
        linked = (
            varied.path / f"derivatives/caps/subjects/{sub}/{ses}/reference/{sub}_{ses}_dseg.nii.gz"
        )
        assert linked.read_bytes() == (varied.path / row.reference).read_bytes()
    # The image shows the scanner's gain: 1.5 T scanners have the dimmer lesions.
    np.testing.assert_allclose(ratios, expected, rtol=0.15)
    mean_gain = {t: np.mean([g for s, g in gains.items() if strengths[s] == t]) for t in (1.5, 3.0)}
    if len(set(strengths.values())) == 2:
        assert mean_gain[1.5] < mean_gain[3.0]


def test_declared_contrast_tracks_the_image(tiny_seg):
    root = tiny_seg.path
    declared, observed = [], []
    for row in tiny_seg.images.itertuples():
        if row.lesion_count:
            _, labels = _load(root, row.reference)
            declared.append(row.lesion_contrast_flair)
            observed.append(_observed_contrast(_load(root, row.flair)[1], labels))
    assert stats.spearmanr(declared, observed).statistic > 0.7


def test_same_seed_same_bytes_other_seed_other_masks(tiny_seg, tmp_path):
    again = generate_cohort(tmp_path / "again", tiny_seg.config)
    other_config = tiny_seg.config.replace(seed=1, subjects=2, sites=1)
    other = generate_cohort(tmp_path / "other", other_config)

    def digests(root):
        return {
            p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }

    first, second, third = digests(tiny_seg.path), digests(again.path), digests(other.path)
    assert first == second
    masks = [k for k in first if k.endswith("_dseg.nii.gz")]
    assert len(masks) == len(tiny_seg.images)
    shared = [k for k in masks if k in third]
    assert len(shared) == 4 and all(first[k] != third[k] for k in shared)


def test_classification_cohort_is_untouched(tiny):
    """The classification cohort has no segmentation part, and its bytes are those of the
    generator before segmentation existed (truth.tsv holds every image's sha256)."""
    assert not (tiny.path / "derivatives" / "reference").exists()
    assert not list(tiny.path.rglob("*_FLAIR.nii.gz"))
    assert "segmentation" not in tiny.truth and "segmentation" not in tiny.truth["config"]
    # Recomputed with brainbench.synth 1.0.0 before the segmentation task was added. A
    # deliberate change of the generator bumps GENERATOR_VERSION and updates this digest.
    digest = hashlib.sha256((tiny.truth_dir / "truth.tsv").read_bytes()).hexdigest()
    assert digest == TINY_TRUTH_TSV_SHA256


def test_empty_reference_cases_exist_without_lesions(tmp_path):
    cfg = SynthConfig.preset(
        "tiny",
        subjects=2,
        sites=1,
        sessions=2,
        segmentation=LesionConfig(lesion_load=0.0, new_lesions_per_year=0.0),
    )
    result = generate_cohort(tmp_path / "none", cfg)
    assert (result.images["lesion_count"] == 0).all()
    assert result.images["lesion_contrast_flair"].isna().all()
    for row in result.images.itertuples():
        _, labels = _load(result.path, row.reference)
        assert not (labels == 4).any() and (labels == 3).any()
    truth, table = load_truth(result.path)
    assert truth["segmentation"]["labels"]["4"] == "wmh" and len(table) == 4


def test_cli_segmentation_json(tmp_path):
    out = tmp_path / "seg"
    args = ["synth", str(out), "--preset", "tiny", "--task", "segmentation", "--subjects", "2"]
    args += ["--sites", "1", "--sessions", "1", "--lesion-load", "2", "--format", "json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["task"] == "segmentation"
    assert summary["reference"] == str(out / "derivatives" / "reference")
    truth = json.loads((out / "derivatives/brainbench-truth/truth.json").read_text())
    assert truth["config"]["segmentation"]["lesion_load"] == 2.0
    assert summary["lesions"] == sum(i["lesion_count"] for i in truth["segmentation"]["images"])


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--lesion-load", "3"], "--lesion-load: lesion options apply to --task segmentation"),
        (["--task", "segmentation", "--resolution", "6"], "at most 4 mm"),
        (["--task", "segmentation", "--lesion-contrast", "-1"], "'lesion_contrast' must be"),
        (["--task", "segmentation", "--lesion-radius", "20"], "'lesion_radius_mm' must be"),
    ],
)
def test_cli_bad_segmentation_input(tmp_path, capsys, extra, words):
    with pytest.raises(SystemExit) as info:
        main(["synth", str(tmp_path / "out"), "--preset", "tiny", *extra])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_lesion_config_checks():
    with pytest.raises(UserError, match="'new_lesions_per_year' must be between 0 and 5"):
        LesionConfig(new_lesions_per_year=7)
    with pytest.raises(UserError, match="'segmentation' must be a LesionConfig"):
        SynthConfig(segmentation={"lesion_load": 2})  # type: ignore[arg-type]
    assert SynthConfig(segmentation=LesionConfig()).task == "segmentation"
    assert SynthConfig().task == "classification"
    assert "segmentation" not in SynthConfig().to_dict()


TINY_TRUTH_TSV_SHA256 = "a3427fdaa7917b214b896db26a03cc9fd7b60b1dcbb7f8dab28b8908820a8322"
