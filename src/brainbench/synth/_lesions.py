"""White-matter-hyperintensity lesions of a segmentation cohort: where, how big, how bright.

The model (documented in ``truth.json`` under ``segmentation``):

- **Where.** Each lesion is an ellipsoid in template (MNI) space, centred in white matter of the
  1 mm MNI152 template at a distance of at least 0.6 times its final extent (largest semi-axis)
  plus 1 mm from any non-white-matter voxel; only the white matter it covers becomes lesion
  (a lesion reaching a ventricle or the cortex is cut there, as periventricular and juxtacortical
  lesions are). Lesions of one participant lie apart by their sizes plus
  two voxels and 2 mm, so that two lesions never touch (one lesion = one connected component of
  the mask, 26-connectivity). In each image the lesion is deformed with the participant's anatomy
  (head size, smooth deformation, ventricle expansion, session shift), exactly as the tissues.
- **How many.** ``Poisson(lesion_load * exp(0.05 * (baseline_age - 72)))`` lesions at baseline,
  then new lesions as a Poisson process of rate ``new_lesions_per_year`` over the follow-up
  (onset times uniform), at most :data:`~brainbench.synth._config.MAX_LESIONS` in all; a lesion
  that does not fit apart from the others is not placed (the truth lists the placed ones).
- **How big.** Radius at onset ``lesion_radius_mm * exp(N(0, 0.25^2))`` (the geometric mean of
  the three semi-axes, whose ratios are ``exp(U(-0.2, 0.2))`` around a random rotation), at
  least :data:`MIN_RADIUS_VOXELS` voxels so that every lesion covers a voxel centre; it grows by
  ``Gamma(4, lesion_growth_mm_per_year / 4)`` mm per year and never shrinks.
- **How bright.** A lesion's FLAIR contrast ``c = (I_lesion - I_wm) / I_wm`` is
  ``Gamma(10, lesion_contrast / 10)`` times the scanner's lesion gain (1.5 T scanners show
  lesions less bright: gain ``1 - 0.2 * site_effect``, times ``exp(site_effect * N(0, 0.1^2))``
  per scanner); on T1w the lesion is ``T1W_LESION_RATIO * c`` darker than white matter. A voxel
  holds the fraction ``f`` of lesion (a linear ramp one voxel wide across the ellipsoid's
  surface) of its white matter; the lesion replaces that white matter in the image.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import ndimage

from brainbench.synth._config import MAX_LESIONS, LesionConfig
from brainbench.synth._plan import Plan, Scanner, rng_for
from brainbench.synth._templates import load_templates

STREAM_LESION = 5
STREAM_LESION_SCANNER = 6

#: Relative contrast of a lesion on T1w (darker than white matter) per unit of FLAIR contrast.
T1W_LESION_RATIO = 0.5
#: Smallest radius at onset, in voxels of the output grid: the ellipsoid (semi-axes at least
#: exp(-0.2) of the radius, head scale near 0.9) then still holds a ball of 0.9 voxel, which
#: always holds a voxel centre.
MIN_RADIUS_VOXELS = 1.25
#: Baseline lesion count grows by this factor per year of age (Poisson mean).
LOAD_AGE_SLOPE = 0.05
LOAD_REFERENCE_AGE = 72.0
AXIS_LOG_RANGE = 0.2
#: White matter of the 1 mm template where lesion centres may lie (probability above this).
WM_THRESHOLD = 0.5
#: A centre lies at least this fraction of the lesion's final extent (largest semi-axis) plus
#: 1 mm inside white matter; the rest of the lesion may reach grey matter or a ventricle, where
#: only the white matter it covers becomes lesion.
DEPTH_FRACTION = 0.6

# FLAIR tissue intensities (CSF, GM, WM) relative to T1w white matter of the 3 T reference:
# CSF suppressed, grey matter brighter than white matter.
FLAIR_3T = (0.08, 0.66, 0.55)
FLAIR_15T = (0.12, 0.64, 0.56)
LESION_GAIN_15T = 0.8
FLAIR_SEQUENCE: dict[str, float | str] = {
    "PulseSequenceType": "3D FLAIR",
    "RepetitionTime": 4.8,
    "EchoTime": 0.3,
    "InversionTime": 1.65,
    "FlipAngle": 90,
}


def _r(x: float, nd: int = 4) -> float:
    return float(round(float(x), nd))


@dataclass(frozen=True)
class Lesion:
    """One lesion of one participant, in template space."""

    lesion_id: str
    center_mm: tuple[float, float, float]
    axes: tuple[float, float, float]  # semi-axes relative to the radius (product 1)
    rotation: tuple[tuple[float, float, float], ...]  # columns: the semi-axes' directions
    radius_mm: float  # at onset
    growth_mm_per_year: float
    onset_years: float  # 0: present at baseline
    contrast: float  # FLAIR contrast before the scanner's lesion gain

    def radius_at(self, years: float) -> float | None:
        """The radius at ``years`` since baseline, or None before the lesion appears."""
        if years < self.onset_years:
            return None
        return self.radius_mm + self.growth_mm_per_year * (years - self.onset_years)

    def to_dict(self) -> dict[str, object]:
        return {
            "lesion": self.lesion_id,
            "center_mm": list(self.center_mm),
            "axes": list(self.axes),
            "rotation": [list(r) for r in self.rotation],
            "radius_mm_at_onset": self.radius_mm,
            "growth_mm_per_year": self.growth_mm_per_year,
            "onset_years": self.onset_years,
            "contrast": self.contrast,
        }


@dataclass(frozen=True)
class FlairScanner:
    """What a scanner adds for a segmentation cohort: FLAIR contrast and lesion gain."""

    scanner_id: str
    contrast: tuple[float, float, float]  # CSF, GM, WM on FLAIR
    lesion_gain: float

    def to_dict(self) -> dict[str, object]:
        return {
            "scanner_id": self.scanner_id,
            "flair_contrast": dict(zip(("csf", "gm", "wm"), self.contrast, strict=True)),
            "lesion_gain": self.lesion_gain,
        }


@dataclass(frozen=True)
class LesionPlan:
    lesions: dict[str, tuple[Lesion, ...]]  # participant_id -> lesions (by onset)
    scanners: dict[str, FlairScanner]
    requested: dict[str, int]  # participant_id -> lesions drawn (before placement)


def flair_scanners(plan: Plan) -> dict[str, FlairScanner]:
    """FLAIR contrast and lesion gain per scanner (own random stream: the T1w plan is kept)."""
    se = plan.config.site_effect
    out = {}
    for k, sc in enumerate(plan.scanners):
        rng = rng_for(plan.config.seed, STREAM_LESION_SCANNER, k)
        base = FLAIR_3T if sc.field_strength == 3.0 else FLAIR_15T
        jitter = rng.normal(0.0, 0.02, size=2)
        contrast = tuple(FLAIR_3T[i] + se * (base[i] - FLAIR_3T[i]) for i in range(3))
        gain_base = 1.0 + se * ((LESION_GAIN_15T if sc.field_strength == 1.5 else 1.0) - 1.0)
        out[sc.scanner_id] = FlairScanner(
            scanner_id=sc.scanner_id,
            contrast=(
                _r(contrast[0] + se * jitter[0]),
                _r(contrast[1] + se * jitter[1]),
                _r(contrast[2]),
            ),
            lesion_gain=_r(gain_base * np.exp(se * rng.normal(0.0, 0.1))),
        )
    return out


@lru_cache(maxsize=1)
def _wm_depth() -> tuple[np.ndarray, np.ndarray]:
    """White-matter voxels of the 1 mm template as template coordinates (mm, ``(N, 3)``)
    and their depth (mm to the nearest other voxel, ``(N,)``), deepest first."""
    tpl = load_templates()
    depth = ndimage.distance_transform_edt(tpl.wm > WM_THRESHOLD).astype(np.float32)
    index = np.argwhere(depth > 0)
    values = depth[tuple(index.T)]
    order = np.argsort(-values, kind="stable")
    points = np.asarray(tpl.affine[:3, 3], dtype=float) + index[order].astype(float)
    return points, values[order]


def _rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    return q * np.sign(np.diag(r))


def plan_lesions(plan: Plan, cfg: LesionConfig) -> LesionPlan:
    """Draw every participant's lesions (one random stream per participant)."""
    resolution = plan.config.resolution
    points, depths = _wm_depth()
    min_radius = MIN_RADIUS_VOXELS * resolution
    out: dict[str, tuple[Lesion, ...]] = {}
    requested: dict[str, int] = {}
    for subject in plan.subjects:
        rng = rng_for(plan.config.seed, STREAM_LESION, subject.index)
        last = max(s.years for s in subject.sessions)
        mean = cfg.lesion_load * np.exp(
            LOAD_AGE_SLOPE * (subject.baseline_age - LOAD_REFERENCE_AGE)
        )
        n_base = int(rng.poisson(mean))
        n_new = int(rng.poisson(cfg.new_lesions_per_year * last))
        onsets = [0.0] * n_base + sorted(float(t) for t in rng.uniform(0.0, last, n_new))
        onsets = onsets[:MAX_LESIONS]
        requested[subject.participant_id] = len(onsets)
        out[subject.participant_id] = _place(
            rng, cfg, onsets, last, points, depths, min_radius, resolution
        )
    return LesionPlan(lesions=out, scanners=flair_scanners(plan), requested=requested)


def _place(
    rng: np.random.Generator,
    cfg: LesionConfig,
    onsets: list[float],
    last: float,
    points: np.ndarray,
    depths: np.ndarray,
    min_radius: float,
    resolution: float,
) -> tuple[Lesion, ...]:
    deepest = float(depths[0])
    placed: list[tuple[np.ndarray, float]] = []  # centre, final extent (mm)
    lesions: list[Lesion] = []
    for onset in onsets:
        radius = max(min_radius, cfg.lesion_radius_mm * float(np.exp(rng.normal(0.0, 0.25))))
        growth = (
            float(rng.gamma(4.0, cfg.lesion_growth_mm_per_year / 4.0))
            if cfg.lesion_growth_mm_per_year > 0
            else 0.0
        )
        axes = np.exp(rng.uniform(-AXIS_LOG_RANGE, AXIS_LOG_RANGE, size=3))
        axes /= np.prod(axes) ** (1.0 / 3.0)
        rotation = _rotation(rng)
        contrast = float(rng.gamma(10.0, cfg.lesion_contrast / 10.0))
        # The lesion's centre must lie deep enough at its final size: growth yields.
        room = (deepest - 1.0) / (DEPTH_FRACTION * float(axes.max()))
        radius = min(radius, room)
        if radius + growth * (last - onset) > room:
            growth = max(0.0, (room - radius) / max(last - onset, 1e-9))
        extent = float(axes.max()) * (radius + growth * (last - onset))
        # The points deep enough are a prefix of the deepest-first list.
        n_deep = int(np.searchsorted(-depths, -(DEPTH_FRACTION * extent + 1.0), side="right"))
        centre = None
        for _ in range(50 if n_deep else 0):
            point = points[int(rng.integers(n_deep))]
            gap = 2.0 * resolution + 2.0
            if all(np.linalg.norm(point - c) >= extent + e + gap for c, e in placed):
                centre = point
                break
        if centre is None:
            continue
        placed.append((centre, extent))
        lesions.append(
            Lesion(
                lesion_id=f"L{len(lesions) + 1:02d}",
                center_mm=tuple(_r(v, 1) for v in centre),  # type: ignore[arg-type]
                axes=tuple(_r(v) for v in axes),  # type: ignore[arg-type]
                rotation=tuple(tuple(_r(v, 6) for v in row) for row in rotation),  # type: ignore[arg-type]
                radius_mm=_r(radius, 3),
                growth_mm_per_year=_r(growth, 3),
                onset_years=_r(onset),
                contrast=_r(contrast),
            )
        )
    return tuple(lesions)


def occupancy(
    template_points: np.ndarray, lesion: Lesion, radius: float, resolution: float
) -> np.ndarray:
    """Fraction of each voxel inside ``lesion`` at ``radius``: a linear ramp one voxel wide
    across the ellipsoid's surface (0.5 on it), evaluated at the voxels' template points."""
    centre = np.asarray(lesion.center_mm, dtype=np.float32)[:, None, None, None]
    rot = np.asarray(lesion.rotation, dtype=np.float32)
    local = np.einsum("ai,a...->i...", rot, template_points - centre)
    scaled = (
        local
        / (np.asarray(lesion.axes, dtype=np.float32) * np.float32(radius))[:, None, None, None]
    )
    distance = np.sqrt((scaled**2).sum(axis=0)) * np.float32(radius)
    return np.clip(0.5 + (np.float32(radius) - distance) / np.float32(resolution), 0.0, 1.0)


def sidecar(scanner: Scanner) -> dict[str, object]:
    """The FLAIR image's JSON sidecar: the scanner's fields with a FLAIR sequence."""
    out = {k: v for k, v in scanner.sidecar().items() if k not in FLAIR_SEQUENCE}
    out.update(FLAIR_SEQUENCE)
    return out
