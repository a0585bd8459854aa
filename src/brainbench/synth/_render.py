"""Rendering one T1-weighted image from the plan: anatomy, disease, ageing, scanner, noise.

Every image is on the MNI152 grid (as after a linear registration, like ClinicaDL's t1-linear
output) and skull-stripped. For an output voxel at ``p`` (mm):

1. ``p`` moves by the session's small registration error;
2. the head-size scaling (sex and individual) and the subject's smooth random deformation map it
   to a point ``q`` of the template, and ventricle expansion (age, AD) pulls ``q`` towards the
   lateral ventricles' centres, which enlarges them;
3. the smoothed template tissue maps (GM, WM, CSF) are sampled at ``q``;
4. grey matter is scaled by the ageing factor, the subject's smooth density field and the disease
   atrophy ``1 - amount * sum_k w_k exp(-|q - c_k|^2 / 2 sigma_k^2)``; what is lost becomes CSF;
5. intensities are the scanner's tissue contrast plus the template's T1 texture, times a smooth
   multiplicative bias field and the scanner's intensity scale, with Rician noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import ndimage

from brainbench.synth._plan import (
    STREAM_ANATOMY,
    STREAM_IMAGE,
    Plan,
    Scanner,
    Session,
    Subject,
    rng_for,
)
from brainbench.synth._templates import Grid


@dataclass(frozen=True)
class Region:
    name: str
    center_mm: tuple[float, float, float]
    sigma_mm: tuple[float, float, float]
    weight: float

    @property
    def side(self) -> int:
        """-1 left, +1 right (MNI x < 0 is left)."""
        return -1 if self.center_mm[0] < 0 else 1

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "center_mm": list(self.center_mm),
            "sigma_mm": list(self.sigma_mm),
            "weight": self.weight,
        }


def _bilateral(name: str, c: tuple[float, float, float], s: tuple[float, float, float], w: float):
    x, y, z = c
    return (Region(f"{name}_left", (-x, y, z), s, w), Region(f"{name}_right", (x, y, z), s, w))


#: Alzheimer-like pattern: medial temporal lobe first (MNI152 coordinates, mm).
AD_REGIONS: tuple[Region, ...] = (
    *_bilateral("hippocampus", (28.0, -22.0, -14.0), (6.0, 13.0, 6.0), 1.0),
    *_bilateral("amygdala", (23.0, -5.0, -19.0), (6.0, 6.0, 6.0), 0.8),
    *_bilateral("entorhinal", (24.0, -12.0, -30.0), (6.0, 7.0, 6.0), 0.7),
    # Weaker spread beyond the medial temporal lobe, as in typical AD.
    *_bilateral("inferior_temporal", (50.0, -20.0, -24.0), (9.0, 22.0, 9.0), 0.5),
    *_bilateral("posterior_cingulate", (6.0, -52.0, 30.0), (7.0, 14.0, 11.0), 0.4),
    *_bilateral("temporoparietal", (46.0, -58.0, 28.0), (10.0, 12.0, 10.0), 0.35),
)
#: The medial-temporal regions whose grey matter the truth measures (``mta_gm_ml``).
MTA_REGIONS: tuple[Region, ...] = AD_REGIONS[:6]
#: Parkinson-like pattern: basal ganglia and substantia nigra.
PD_REGIONS: tuple[Region, ...] = (
    *_bilateral("putamen", (25.0, 2.0, 1.0), (4.0, 10.0, 6.0), 0.8),
    *_bilateral("caudate", (13.0, 12.0, 10.0), (4.0, 7.0, 6.0), 0.6),
    *_bilateral("substantia_nigra", (10.0, -17.0, -10.0), (3.0, 4.0, 3.0), 1.0),
)
VENTRICLES: tuple[Region, ...] = _bilateral(
    "lateral_ventricle", (14.0, -14.0, 14.0), (10.0, 24.0, 9.0), 1.0
)
#: A region's voxels for the truth measures: where its weighted profile exceeds this.
ROI_THRESHOLD = 0.3
BRAIN_CENTER_MM = np.array([0.0, -18.0, 10.0])

DEFORMATION_SD_MM = 2.0
DEFORMATION_LENGTH_MM = 30.0
GM_FIELD_SD = 0.05
GM_FIELD_LENGTH_MM = 15.0
#: Natural between-subject variation of medial-temporal grey matter (log sd, healthy people).
MTA_SIZE_SD = 0.07


def _profile(q: np.ndarray, regions: tuple[Region, ...], side_weights=None) -> np.ndarray:
    """Sum of the regions' Gaussian profiles at points ``q`` (3, ...)."""
    out = np.zeros(q.shape[1:], dtype=np.float32)
    for reg in regions:
        d2 = np.zeros(q.shape[1:], dtype=np.float32)
        for a in range(3):
            d2 += ((q[a] - np.float32(reg.center_mm[a])) / np.float32(reg.sigma_mm[a])) ** 2
        w = reg.weight * (1.0 if side_weights is None else side_weights[reg.side])
        out += np.float32(w) * np.exp(-0.5 * d2)
    return out


def _grid_points(grid: Grid) -> np.ndarray:
    return np.stack(np.meshgrid(*grid.axes_mm, indexing="ij")).astype(np.float32)


@lru_cache(maxsize=2)
def roi_masks(grid: Grid) -> dict[str, np.ndarray]:
    """Fixed MNI masks of the AD and PD regions on the output grid."""
    p = _grid_points(grid)
    return {
        "mta": _profile(p, MTA_REGIONS) > ROI_THRESHOLD,
        "basal_ganglia": _profile(p, PD_REGIONS) > ROI_THRESHOLD,
    }


def _axis_basis(axis_mm: np.ndarray, lo: float, hi: float, length: float) -> np.ndarray:
    step = length / 2.0
    centers = np.arange(lo - length, hi + length + 1e-9, step)
    w = np.exp(-0.5 * ((axis_mm[:, None] - centers[None, :]) / length) ** 2)
    return w / np.sqrt((w**2).sum(axis=1, keepdims=True))


def smooth_fields(rng: np.random.Generator, grid: Grid, n: int, length: float) -> np.ndarray:
    """``n`` smooth Gaussian random fields of unit variance on the grid.

    White noise on control points spaced ``length / 2`` over the template's extent, smoothed by
    a separable Gaussian kernel of scale ``length`` mm: the same draws give the same field in
    millimetres at any resolution.
    """
    tpl = grid.templates
    origin = tpl.full_origin
    bases = []
    for a in range(3):
        lo, hi = origin[a], origin[a] + tpl.full_shape[a] - 1
        bases.append(_axis_basis(grid.axes_mm[a], lo, hi, length))
    noise = rng.standard_normal((n, *(b.shape[1] for b in bases)))
    f = np.einsum("nabc,xa->nxbc", noise, bases[0])
    f = np.einsum("nxbc,yb->nxyc", f, bases[1])
    f = np.einsum("nxyc,zc->nxyz", f, bases[2])
    return f.astype(np.float32)


@dataclass(frozen=True)
class SubjectFields:
    displacement: np.ndarray  # (3, X, Y, Z) mm
    gm_log_factor: np.ndarray  # (X, Y, Z)
    mta_log_size: float  # the subject's own medial-temporal size (log factor)


def subject_fields(grid: Grid, plan: Plan, subject: Subject) -> SubjectFields:
    """The subject's own anatomy: smooth deformation and grey-matter density field."""
    cfg = plan.config
    rng = rng_for(cfg.seed, STREAM_ANATOMY, subject.index)
    disp = smooth_fields(rng, grid, 3, DEFORMATION_LENGTH_MM)
    disp *= np.float32(DEFORMATION_SD_MM * cfg.anatomy_variation)
    gm = smooth_fields(rng, grid, 1, GM_FIELD_LENGTH_MM)[0]
    gm *= np.float32(GM_FIELD_SD * cfg.anatomy_variation)
    mta = float(rng.normal(0.0, MTA_SIZE_SD * cfg.anatomy_variation))
    return SubjectFields(displacement=disp, gm_log_factor=gm, mta_log_size=mta)


def _bias_field(points: np.ndarray, coef: tuple[float, ...]) -> np.ndarray:
    x, y, z = ((points[a] - BRAIN_CENTER_MM[a]) / 100.0 for a in range(3))
    terms = (x, y, z, x * x - 0.1, y * y - 0.1, z * z - 0.1, x * y, x * z, y * z)
    log_b = np.zeros(points.shape[1:], dtype=np.float32)
    for c, t in zip(coef, terms, strict=True):
        log_b += np.float32(c) * t
    return np.exp(log_b)


@dataclass(frozen=True)
class Rendered:
    data: np.ndarray  # int16 volume
    measures: dict[str, float]  # noise-free truth: volumes in ml


@dataclass(frozen=True)
class Anatomy:
    """One session's noise-free anatomy on the output grid (steps 1-4 of the module doc)."""

    points: np.ndarray  # (3, X, Y, Z) mm: output voxel centres moved by the session's shift
    template_points: np.ndarray  # (3, X, Y, Z) mm: where each voxel samples the template (q)
    gm: np.ndarray  # tissue fractions (0-1)
    wm: np.ndarray
    csf: np.ndarray
    texture: np.ndarray  # template T1 texture residual

    @property
    def tissue(self) -> np.ndarray:
        return self.gm + self.wm + self.csf


def anatomy(
    grid: Grid, plan: Plan, subject: Subject, session: Session, fields: SubjectFields
) -> Anatomy:
    """The tissue fractions of one session: deformation, ageing and disease applied."""
    p = _grid_points(grid)
    p += np.asarray(session.shift_mm, dtype=np.float32)[:, None, None, None]
    c0 = BRAIN_CENTER_MM.astype(np.float32)[:, None, None, None]
    q = c0 + (p - c0) / np.float32(subject.head_scale) + fields.displacement
    if session.ventricle_expansion > 0:
        for reg in VENTRICLES:
            c = np.asarray(reg.center_mm, dtype=np.float32)[:, None, None, None]
            phi = _profile(q, (reg,))
            q -= np.float32(session.ventricle_expansion) * (q - c) * phi
    origin = grid.maps_origin.astype(np.float32)[:, None, None, None]
    index = (q - origin) / np.float32(grid.maps_step)  # voxels of the prepared maps
    sampled = [
        ndimage.map_coordinates(grid.maps[k], index, order=1, mode="constant", cval=0.0)
        for k in range(4)
    ]
    gm, wm, csf, texture = sampled

    log_factor = fields.gm_log_factor + np.float32(
        np.log(session.gm_age_factor * session.gm_disease_factor)
    )
    if fields.mta_log_size != 0.0:
        log_factor += np.float32(fields.mta_log_size) * np.minimum(_profile(q, MTA_REGIONS), 1.0)
    factor = np.exp(log_factor)
    sides = {-1: 1.0 + subject.asymmetry, 1: 1.0 - subject.asymmetry}
    if session.ad_atrophy > 0:
        factor *= 1.0 - np.minimum(session.ad_atrophy * _profile(q, AD_REGIONS, sides), 0.95)
    if session.pd_atrophy > 0:
        factor *= 1.0 - np.minimum(session.pd_atrophy * _profile(q, PD_REGIONS, sides), 0.95)
    new_gm = np.minimum(gm * factor, gm + csf)
    csf = csf + gm - new_gm
    return Anatomy(points=p, template_points=q, gm=new_gm, wm=wm, csf=csf, texture=texture)


def t1w_texture_gain(grid: Grid, scanner: Scanner) -> float:
    """Scale of the template's T1 texture residual under ``scanner``'s tissue contrast."""
    mu_c, _, mu_w = scanner.contrast
    fit_c, _, fit_w = grid.templates.tissue_fit
    return (mu_w - mu_c) / (fit_w - fit_c)


def acquire(
    clean: np.ndarray,
    tissue: np.ndarray,
    points: np.ndarray,
    scanner: Scanner,
    session: Session,
    rng: np.random.Generator,
    noise_factor: float = 1.0,
) -> np.ndarray:
    """Step 5: bias field, intensity scale and Rician noise on the noise-free ``clean`` image
    (changed in place); int16, zero outside the brain."""
    clean *= _bias_field(points, scanner.bias)
    scale = np.float32(scanner.intensity_scale * session.intensity_jitter)
    clean *= scale
    sd = np.float32(scanner.noise_sd * scanner.intensity_scale * noise_factor)
    n1 = rng.standard_normal(clean.shape, dtype=np.float32) * sd
    n2 = rng.standard_normal(clean.shape, dtype=np.float32) * sd
    image = np.sqrt((clean + n1) ** 2 + n2**2)
    image[tissue < 0.1] = 0.0
    return np.clip(np.rint(image), 0, np.iinfo(np.int16).max).astype(np.int16)


def tissue_measures(grid: Grid, anat: Anatomy) -> dict[str, float]:
    """Noise-free volumes in ml (rounded), as the truth table reports them."""
    vox = grid.voxel_ml
    masks = roi_masks(grid)
    gm = anat.gm
    measures = {
        "tiv_ml": float(anat.tissue.sum(dtype=np.float64) * vox),
        "gm_ml": float(gm.sum(dtype=np.float64) * vox),
        "wm_ml": float(anat.wm.sum(dtype=np.float64) * vox),
        "csf_ml": float(anat.csf.sum(dtype=np.float64) * vox),
        "mta_gm_ml": float(gm[masks["mta"]].sum(dtype=np.float64) * vox),
        "basal_ganglia_gm_ml": float(gm[masks["basal_ganglia"]].sum(dtype=np.float64) * vox),
    }
    return {k: round(v, 3) for k, v in measures.items()}


def render(
    grid: Grid,
    plan: Plan,
    subject: Subject,
    session: Session,
    scanner: Scanner,
    fields: SubjectFields,
) -> Rendered:
    """One session's T1-weighted image and its noise-free tissue measures."""
    anat = anatomy(grid, plan, subject, session, fields)
    mu_c, mu_g, mu_w = scanner.contrast
    texture_gain = t1w_texture_gain(grid, scanner)
    clean = mu_c * anat.csf + mu_g * anat.gm + mu_w * anat.wm
    clean += np.float32(texture_gain) * anat.texture
    rng = rng_for(plan.config.seed, STREAM_IMAGE, subject.index, session.acq_order)
    data = acquire(clean, anat.tissue, anat.points, scanner, session, rng)
    return Rendered(data=data, measures=tissue_measures(grid, anat))
