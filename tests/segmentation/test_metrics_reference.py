"""Per-case metrics against MONAI called directly and two independent implementations.

References (test-only dependencies, the ``test`` extra):

* MONAI's metric functions called directly on the same masks: equal up to float32 rounding
  (MONAI reduces in float32): ``rel = 1e-6``.
* medpy (``medpy.metric.binary``: ``dc``, ``hd``, ``assd`` and its directed surface distances
  for HD95 and NSD). medpy extracts the same surface voxels as MONAI (the mask minus its
  erosion, face connectivity) and measures Euclidean distances with the voxel spacing, so it
  must agree up to MONAI's float32 distances: ``rel = 1e-5``. medpy's own ``hd95`` takes the
  95th percentile of the *pooled* distances of both directions, whereas MONAI (and
  surface-distance, and Metrics Reloaded) take the larger of the two directed 95th
  percentiles; we compare with the latter, built from medpy's directed distances.
* DeepMind's surface-distance: a different discretisation. It measures distances between
  *surfels* (the faces between a foreground and a background voxel, placed on the voxel
  corners, each weighted by its area) instead of surface voxel centres, so boundary metrics
  differ by a fraction of a voxel. Documented tolerances, from that geometry: Dice exact;
  HD equal on these shapes; HD95 within one voxel size (the percentile of area-weighted
  surfel distances moves by at most one voxel step); ASSD within half the largest voxel size
  plus 20% (the surfel surface lies half a voxel outside the voxel-centre surface, and the
  mean weighs a surfel by its area where MONAI weighs each surface voxel once, so edge and
  corner voxels count differently when the distances vary along the surface; the largest
  gap here, 18%, is the two-lesions case); NSD within 0.2 for
  structures of more than a few voxels (a surface voxel inside the tolerance counts whole,
  a surfel by its area). Single voxels are left out of the NSD comparison: there the two
  surfaces differ by a whole voxel.

The references are imported, not skipped when absent: the ``test`` extra installs them.
"""

from __future__ import annotations

import warnings

import medpy.metric.binary as medpy_binary
import numpy as np
import pytest
import surface_distance

from brainbench.segmentation import SegmentationMetric, case_metrics

# medpy's directed surface distances (module-level helper; its public hd95 pools directions).
medpy_surface = getattr(medpy_binary, "__surface_distances")

METRICS = [
    SegmentationMetric("dice"),
    SegmentationMetric("iou"),
    SegmentationMetric("hd95"),
    SegmentationMetric("hd"),
    SegmentationMetric("assd"),
    SegmentationMetric("nsd", tolerance_mm=1.0),
    SegmentationMetric("nsd", tolerance_mm=2.0),
]
SHAPE = (20, 20, 20)


def _sphere(center, radius, spacing=(1.0, 1.0, 1.0)):
    g = np.indices(SHAPE).astype(float)
    return sum(((g[i] - center[i]) * spacing[i]) ** 2 for i in range(3)) <= radius**2


def _box(lo, hi):
    a = np.zeros(SHAPE, dtype=bool)
    a[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]] = True
    return a


def _voxel(i, j, k):
    a = np.zeros(SHAPE, dtype=bool)
    a[i, j, k] = True
    return a


CASES = {
    "shifted-cubes": (_box((5, 5, 5), (12, 12, 12)), _box((7, 5, 5), (14, 12, 12)), (1, 1, 1)),
    "shifted-cubes-anisotropic": (
        _box((5, 5, 5), (12, 12, 12)),
        _box((7, 5, 5), (14, 12, 12)),
        (0.8, 1.0, 2.5),
    ),
    "spheres": (_sphere((10, 10, 10), 6), _sphere((11, 10, 9), 5), (1, 1, 1)),
    "spheres-anisotropic": (
        _sphere((10, 10, 10), 6, (1, 1, 2)),
        _sphere((10, 11, 10), 5, (1, 1, 2)),
        (1.0, 1.0, 2.0),
    ),
    "single-voxels": (_voxel(5, 5, 5), _voxel(5, 5, 8), (1, 1, 1)),
    "same-voxel": (_voxel(5, 5, 5), _voxel(5, 5, 5), (1, 1, 1)),
    "two-lesions-vs-one": (
        _box((2, 2, 2), (6, 6, 6)) | _box((13, 13, 13), (18, 18, 18)),
        _box((4, 4, 4), (9, 9, 9)),
        (1, 1, 1),
    ),
}


def _ours(ref, pred, spacing):
    rows = case_metrics(
        ref.astype(np.uint8),
        pred.astype(np.uint8),
        spacing=spacing,
        labels={1: "l"},
        metrics=METRICS,
    )
    out = {}
    for r in rows:
        tol = r["tolerance_mm"]
        out[r["metric"] if np.isnan(tol) else f"nsd@{tol:g}"] = r["value"]
    return out


@pytest.fixture(scope="module")
def ours():
    return {name: _ours(*case) for name, case in CASES.items()}


@pytest.mark.parametrize("name", list(CASES))
def test_equals_monai_called_directly(name, ours):
    import torch
    from monai import metrics as mm

    ref, pred, spacing = CASES[name]
    y = torch.from_numpy(ref.astype(np.float32))[None, None]
    yp = torch.from_numpy(pred.astype(np.float32))[None, None]
    sp = list(map(float, spacing))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        direct = {
            "dice": mm.compute_dice(yp, y, ignore_empty=False),
            "iou": mm.compute_iou(yp, y, ignore_empty=False),
            "hd95": mm.compute_hausdorff_distance(
                yp, y, include_background=True, percentile=95, spacing=sp
            ),
            "hd": mm.compute_hausdorff_distance(yp, y, include_background=True, spacing=sp),
            "assd": mm.compute_average_surface_distance(
                yp, y, include_background=True, symmetric=True, spacing=sp
            ),
            "nsd@1": mm.compute_surface_dice(
                yp, y, class_thresholds=[1.0], include_background=True, spacing=sp
            ),
            "nsd@2": mm.compute_surface_dice(
                yp, y, class_thresholds=[2.0], include_background=True, spacing=sp
            ),
        }
    for key, value in direct.items():
        assert ours[name][key] == pytest.approx(float(value.reshape(-1)[0]), rel=1e-6), key


@pytest.mark.parametrize("name", list(CASES))
def test_equals_medpy(name, ours):
    ref, pred, spacing = CASES[name]
    v = ours[name]
    assert v["dice"] == pytest.approx(medpy_binary.dc(pred, ref), rel=1e-6)
    assert v["iou"] == pytest.approx(medpy_binary.jc(pred, ref), rel=1e-6)
    assert v["hd"] == pytest.approx(medpy_binary.hd(pred, ref, voxelspacing=spacing), rel=1e-5)
    assert v["assd"] == pytest.approx(medpy_binary.assd(pred, ref, voxelspacing=spacing), rel=1e-5)
    d_pred = medpy_surface(pred, ref, spacing, 1)  # prediction surface -> reference
    d_ref = medpy_surface(ref, pred, spacing, 1)
    hd95 = max(np.percentile(d_pred, 95), np.percentile(d_ref, 95))
    assert v["hd95"] == pytest.approx(hd95, rel=1e-5, abs=1e-6)
    for tol in (1.0, 2.0):
        # NSD on surface voxels: the share of both surfaces within tol of the other.
        nsd = ((d_pred <= tol).sum() + (d_ref <= tol).sum()) / (len(d_pred) + len(d_ref))
        assert v[f"nsd@{tol:g}"] == pytest.approx(nsd, abs=1e-6)


@pytest.mark.parametrize("name", list(CASES))
def test_close_to_surface_distance(name, ours):
    ref, pred, spacing = CASES[name]
    v = ours[name]
    d = surface_distance.compute_surface_distances(ref, pred, spacing)
    step = max(spacing)
    assert v["dice"] == pytest.approx(
        surface_distance.compute_dice_coefficient(ref, pred), rel=1e-6
    )
    assert v["hd"] == pytest.approx(surface_distance.compute_robust_hausdorff(d, 100), rel=1e-5)
    assert abs(v["hd95"] - surface_distance.compute_robust_hausdorff(d, 95)) <= step
    assd = np.mean(surface_distance.compute_average_surface_distance(d))
    assert abs(v["assd"] - assd) <= step / 2 + 0.2 * assd
    if ref.sum() > 1:
        for tol in (1.0, 2.0):
            nsd = surface_distance.compute_surface_dice_at_tolerance(d, tol)
            assert abs(v[f"nsd@{tol:g}"] - nsd) <= 0.2, tol


def test_closed_forms_of_single_voxels():
    # Two voxels 3 steps apart along z: every distance is 3 steps, whatever the definition.
    for spacing, step in (((1.0, 1.0, 1.0), 3.0), ((1.0, 1.0, 2.5), 7.5)):
        v = _ours(_voxel(5, 5, 5), _voxel(5, 5, 8), spacing)
        assert v["hd"] == pytest.approx(step, rel=1e-6)
        assert v["hd95"] == pytest.approx(step, rel=1e-6)
        assert v["assd"] == pytest.approx(step, rel=1e-6)
        assert v["dice"] == 0.0 and v["nsd@1"] == 0.0
