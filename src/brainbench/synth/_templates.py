"""The MNI152 2009 templates shipped inside nilearn, loaded without network and cached.

The 1 mm T1, grey-matter and white-matter templates are read straight from nilearn's package
data (importing nilearn itself takes over a second); a cerebrospinal-fluid map is the brain mask
less grey and white matter. For an output resolution of ``r`` mm the maps are block-averaged and
smoothed to a Gaussian blur of full width ``r`` mm, so that sampling them does not alias.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

FILES = {
    "t1": "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
    "gm": "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
    "wm": "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz",
}
CROP_MARGIN = 12  # voxels kept around the brain (room for smoothing and deformation)
TEMPLATE_NAME = "MNI152NLin2009aSym (nilearn package data)"


@dataclass(frozen=True, eq=False)
class Templates:
    """The 1 mm maps (values 0-1), their affine and provenance."""

    gm: np.ndarray
    wm: np.ndarray
    csf: np.ndarray
    residual: np.ndarray  # T1 texture not explained by the three tissue intensities
    affine: np.ndarray  # of the cropped arrays (1 mm)
    full_shape: tuple[int, int, int]  # of the template before cropping
    full_origin: np.ndarray  # mm coordinates of the template's first voxel
    tissue_fit: tuple[float, float, float]  # template T1 intensity of CSF, GM, WM
    sha256: dict[str, str]


@dataclass(frozen=True, eq=False)
class Grid:
    """The output grid at one resolution and the maps smoothed for sampling on it."""

    resolution: float
    shape: tuple[int, int, int]
    affine: np.ndarray
    axes_mm: tuple[np.ndarray, np.ndarray, np.ndarray]
    maps: np.ndarray  # (4, X, Y, Z) float32: gm, wm, csf, residual, smoothed
    maps_origin: np.ndarray  # mm coordinates of the maps' first voxel
    maps_step: float  # mm between the maps' voxels
    templates: Templates

    @property
    def voxel_ml(self) -> float:
        return self.resolution**3 / 1000.0


def _nilearn_data_dir() -> Path | None:
    spec = importlib.util.find_spec("nilearn")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "datasets" / "data"


def _load_arrays() -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, str]]:
    folder = _nilearn_data_dir()
    if folder is not None and all((folder / f).is_file() for f in FILES.values()):
        arrays, sha = {}, {}
        affine = None
        for key, fname in FILES.items():
            path = folder / fname
            sha[key] = hashlib.sha256(path.read_bytes()).hexdigest()
            img = nib.load(path)
            arrays[key] = np.asarray(img.dataobj)
            affine = img.affine
        return arrays, np.asarray(affine, dtype=float), sha
    # Another nilearn layout: go through its loaders (still package data, no network).
    from nilearn import datasets

    loaders = {
        "t1": datasets.load_mni152_template,
        "gm": datasets.load_mni152_gm_template,
        "wm": datasets.load_mni152_wm_template,
    }
    arrays, sha = {}, {}
    for key, loader in loaders.items():
        img = loader(resolution=1)
        arrays[key] = np.asarray(img.get_fdata(), dtype=np.float32)
        sha[key] = hashlib.sha256(arrays[key].tobytes()).hexdigest()
        affine = img.affine
    return arrays, np.asarray(affine, dtype=float), sha


@lru_cache(maxsize=1)
def load_templates() -> Templates:
    """The 1 mm templates, normalised to 0-1, with a CSF map and the T1 texture residual.

    The arrays are cropped to the brain's bounding box plus a margin (zeros outside); the
    returned ``affine`` is that of the cropped arrays, ``full_shape`` and ``full_origin`` those
    of the template.
    """
    arrays, affine, sha = _load_arrays()
    mask = arrays["t1"] > 0
    idx = np.argwhere(mask)
    lo = np.maximum(idx.min(axis=0) - CROP_MARGIN, 0)
    hi = np.minimum(idx.max(axis=0) + CROP_MARGIN + 1, mask.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    t1, gm, wm = (
        arrays[k][box].astype(np.float32) / np.float32(max(float(arrays[k].max()), 1e-6))
        for k in ("t1", "gm", "wm")
    )
    mask = mask[box]
    total = gm + wm
    over = total > 1.0
    gm[over] /= total[over]
    wm[over] /= total[over]
    gm[~mask] = 0.0
    wm[~mask] = 0.0
    csf = np.clip(mask - gm - wm, 0.0, 1.0, dtype=np.float32)
    # Tissue intensities of the template T1, fitted on a regular subsample of the brain.
    sel = np.flatnonzero(mask.ravel())[::7]
    design = np.stack([csf.ravel()[sel], gm.ravel()[sel], wm.ravel()[sel]], axis=1)
    coef, *_ = np.linalg.lstsq(
        design.astype(np.float64), t1.ravel()[sel].astype(np.float64), rcond=None
    )
    residual = t1 - (coef[0] * csf + coef[1] * gm + coef[2] * wm).astype(np.float32)
    residual[~mask] = 0.0
    cropped = affine.copy()
    cropped[:3, 3] = affine[:3, 3] + affine[:3, :3] @ lo
    return Templates(
        gm=gm,
        wm=wm,
        csf=csf,
        residual=residual,
        affine=cropped,
        full_shape=tuple(int(n) for n in arrays["t1"].shape),  # type: ignore[arg-type]
        full_origin=np.asarray(affine[:3, 3], dtype=float),
        tissue_fit=(float(coef[0]), float(coef[1]), float(coef[2])),
        sha256=sha,
    )


def grid_shape(n_1mm: tuple[int, ...], resolution: float) -> tuple[int, int, int]:
    """Voxels per axis at ``resolution`` covering the 1 mm template's extent (as nilearn does)."""
    return tuple(int(np.floor((n - 1) / resolution + 1e-9)) + 1 for n in n_1mm)  # type: ignore[return-value]


def _block_mean(arr: np.ndarray, step: int) -> np.ndarray:
    if step == 1:
        return arr
    n = [d // step * step for d in arr.shape]
    view = arr[: n[0], : n[1], : n[2]].reshape(
        n[0] // step, step, n[1] // step, step, n[2] // step, step
    )
    return view.mean(axis=(1, 3, 5), dtype=np.float32)


@lru_cache(maxsize=2)
def prepare_grid(resolution: float) -> Grid:
    """The output grid at ``resolution`` mm and the template maps prepared for it.

    The 1 mm maps are block-averaged to ``step = floor(r / 2)`` mm (at least two samples per
    output voxel remain), then smoothed so that the total blur is a Gaussian of full width
    ``r`` mm, which keeps the later trilinear sampling on the ``r`` mm grid from aliasing.
    """
    tpl = load_templates()
    shape = grid_shape(tpl.full_shape, resolution)
    origin = tpl.full_origin
    affine = np.eye(4)
    affine[:3, :3] = np.diag([resolution] * 3)
    affine[:3, 3] = origin
    axes = tuple(origin[i] + resolution * np.arange(shape[i]) for i in range(3))
    step = max(1, int(np.floor(resolution / 2.0 + 1e-9)))
    sigma = np.sqrt(max(resolution**2 - step**2, 0.0)) / 2.3548 / step  # in `step` voxels
    maps = []
    for arr in (tpl.gm, tpl.wm, tpl.csf, tpl.residual):
        block = _block_mean(arr, step)
        if sigma > 0.05:
            block = ndimage.gaussian_filter(block, sigma, mode="constant", truncate=3.0)
        maps.append(block)
    # Centre of the first block, in mm.
    maps_origin = tpl.affine[:3, 3] + (step - 1) / 2.0
    return Grid(
        resolution=resolution,
        shape=shape,
        affine=affine,
        axes_mm=axes,  # type: ignore[arg-type]
        maps=np.stack(maps).astype(np.float32, copy=False),
        maps_origin=maps_origin,
        maps_step=float(step),
        templates=tpl,
    )
