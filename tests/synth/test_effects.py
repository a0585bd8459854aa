"""The effects are in the images and agree with the recorded truth."""

import nibabel as nib
import numpy as np
import pytest

from brainbench.synth import SynthConfig, generate_cohort, load_truth
from brainbench.synth._render import roi_masks
from brainbench.synth._templates import prepare_grid


def _roi_contrast(root, table, roi):
    """Mean intensity in a region over mean brain intensity, per image."""
    mask = roi_masks(prepare_grid(4.0))[roi]
    out = []
    for path in table["image"]:
        data = np.asarray(nib.load(root / path).dataobj, dtype=float)
        out.append(data[mask].mean() / data[data > 0].mean())
    return np.asarray(out)


def test_ad_loses_medial_temporal_grey_matter(tiny):
    _, table = load_truth(tiny.path)
    base = table[table["session_id"] == "ses-M000"].reset_index(drop=True)
    ad = (base["diagnosis"] == "AD").to_numpy()
    # in the truth ...
    assert base.loc[ad, "mta_gm_ml"].mean() < base.loc[~ad, "mta_gm_ml"].mean()
    assert (base.loc[~ad, "ad_atrophy"] == 0).all() and (base.loc[ad, "ad_atrophy"] > 0).all()
    # ... and in the images: grey matter replaced by dark CSF
    contrast = _roi_contrast(tiny.path, base, "mta")
    assert contrast[ad].mean() < contrast[~ad].mean()


def test_atrophy_grows_across_sessions(tiny):
    _, table = load_truth(tiny.path)
    wide = table.pivot(index="participant_id", columns="session_id", values="ad_atrophy")
    affected = table.groupby("participant_id")["affected"].first()
    assert (wide.loc[affected, "ses-M012"] > wide.loc[affected, "ses-M000"]).all()
    gm = table.pivot(index="participant_id", columns="session_id", values="mta_gm_ml")
    assert (gm.loc[affected, "ses-M012"] < gm.loc[affected, "ses-M000"]).all()
    # ageing: the ventricles grow and grey matter shrinks in everyone
    csf = table.pivot(index="participant_id", columns="session_id", values="csf_ml")
    assert (csf["ses-M012"] > csf["ses-M000"]).all()


def test_pd_pattern_differs_from_ad(tmp_path):
    cfg = SynthConfig(subjects=12, sites=1, sessions=1, disease="both", seed=5)
    result = generate_cohort(tmp_path / "both", cfg)
    truth, table = load_truth(result.path)
    assert truth["classes"] == ["CN", "AD", "PD"]
    assert set(table["diagnosis"]) == {"CN", "AD", "PD"}
    by = table.groupby("diagnosis")
    assert by["basal_ganglia_gm_ml"].mean()["PD"] < by["basal_ganglia_gm_ml"].mean()["CN"]
    assert by["mta_gm_ml"].mean()["AD"] < by["mta_gm_ml"].mean()["CN"]
    assert (table.loc[table["diagnosis"] == "PD", "ad_atrophy"] == 0).all()
    assert (table.loc[table["diagnosis"] == "PD", "pd_atrophy"] > 0).all()
    contrast = _roi_contrast(result.path, table, "basal_ganglia")
    pd_ = (table["diagnosis"] == "PD").to_numpy()
    cn = (table["diagnosis"] == "CN").to_numpy()
    assert contrast[pd_].mean() < contrast[cn].mean()


def test_sex_changes_head_size(tiny):
    truth, table = load_truth(tiny.path)
    # head scale is recorded, and larger heads hold more tissue
    base = table[table["session_id"] == "ses-M000"]
    r = np.corrcoef(base["head_scale"], base["tiv_ml"])[0, 1]
    assert r > 0.9
    assert "sex" in truth["effects"]


def test_no_effect_when_turned_off(tmp_path):
    cfg = SynthConfig(subjects=4, sites=1, sessions=1, ad_effect=0.0, ad_progression=0.0)
    _, table = load_truth(generate_cohort(tmp_path / "null", cfg).path)
    assert (table["ad_atrophy"] == 0).all()


@pytest.mark.parametrize("resolution, shape", [(2.0, (99, 117, 95)), (8.0, (25, 30, 24))])
def test_resolution(tmp_path, resolution, shape):
    cfg = SynthConfig(subjects=1, sites=1, sessions=1, resolution=resolution)
    result = generate_cohort(tmp_path / "res", cfg)
    img = nib.load(result.path / result.images["image"][0])
    assert img.shape == shape
    np.testing.assert_allclose(np.diag(img.affine)[:3], [resolution] * 3)
    assert result.truth["grid"]["shape"] == list(shape)
