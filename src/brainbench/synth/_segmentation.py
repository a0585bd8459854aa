"""A segmentation cohort: T1w and FLAIR images with lesions, and their reference masks.

With ``SynthConfig(segmentation=LesionConfig(...))`` (``brainbench synth --task segmentation``)
each session gets, besides the usual participants, sessions and sidecars:

- ``sub-X/ses-Y/anat/sub-X_ses-Y_T1w.nii.gz`` and ``..._FLAIR.nii.gz`` on one grid: the MNI152
  grid at the cohort's resolution cropped to the template brain's bounding box plus
  :data:`CROP_MARGIN_MM` (the same box for every seed, so cohorts can be pooled);
- ``derivatives/reference/sub-X/ses-Y/anat/sub-X_ses-Y_dseg.nii.gz``: the reference labels
  (uint8, the images' affine): 0 background, 1 csf, 2 gray-matter, 3 white-matter, 4 wmh,
  with ``dseg.tsv`` (BIDS look-up table) and ``dataset_description.json``.

The labels come from the same noise-free tissue fractions that make the images, voxel for
voxel: the MNI152 2009 grey- and white-matter probability templates shipped with nilearn (CSF is
the template brain less both), deformed with the participant and session
(:func:`brainbench.synth._render.anatomy`), with the lesions' fractions taken out of white
matter (:mod:`brainbench.synth._lesions`). A voxel's label is the largest of the five fractions
background (``1 - tissue``), CSF, GM, normal WM and lesion: the argmax of the warped
probabilities. The truth (lesions per image: count, voxels, volume, contrast on each image)
is written with the rest of the ground truth in ``derivatives/brainbench-truth``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from brainbench.synth._bids import nifti_bytes, write_gzip, write_json, write_tsv
from brainbench.synth._config import GENERATOR_VERSION, LesionConfig
from brainbench.synth._lesions import (
    FLAIR_3T,
    FLAIR_15T,
    LESION_GAIN_15T,
    LOAD_AGE_SLOPE,
    LOAD_REFERENCE_AGE,
    T1W_LESION_RATIO,
    Lesion,
    LesionPlan,
    occupancy,
    plan_lesions,
    sidecar,
)
from brainbench.synth._plan import STREAM_IMAGE, Plan, Scanner, Session, Subject, rng_for
from brainbench.synth._render import (
    SubjectFields,
    acquire,
    anatomy,
    t1w_texture_gain,
    tissue_measures,
)
from brainbench.synth._templates import Grid, prepare_grid

REFERENCE_DIR = Path("derivatives") / "reference"
#: Label value -> name in the reference masks (and ``dseg.tsv``).
LABELS: dict[int, str] = {1: "csf", 2: "gray-matter", 3: "white-matter", 4: "wmh"}
#: Millimetres kept around the template brain's bounding box: room for head size and warps
#: (the largest needed over the 160 participants of the demo preset, seeds 0 and 1, is 14 mm).
CROP_MARGIN_MM = 14.0
#: Largest reduction of a lesion's T1w intensity relative to white matter.
T1W_MAX_DARKENING = 0.8
STREAM_FLAIR = 7

#: Columns added to ``truth.tsv`` in a segmentation cohort (after the usual ones).
SEGMENTATION_COLUMNS = (
    "flair",
    "reference",
    "lesion_count",
    "lesion_components",
    "lesion_voxels",
    "lesion_ml",
    "lesion_contrast_flair",
    "lesion_contrast_t1w",
    "csf_voxels",
    "gm_voxels",
    "wm_voxels",
    "crop_border_tissue_voxels",
    "flair_sha256",
    "reference_sha256",
)
LESION_COLUMNS = (
    "participant_id",
    "session_id",
    "lesion",
    "onset_years",
    "radius_mm",
    "center_x_mm",
    "center_y_mm",
    "center_z_mm",
    "voxels",
    "volume_ml",
    "contrast_flair",
    "contrast_t1w",
)


@lru_cache(maxsize=2)
def segmentation_grid(resolution: float) -> Grid:
    """The MNI152 grid at ``resolution`` cropped to the template brain plus the margin."""
    full = prepare_grid(resolution)
    tpl = full.templates
    idx = np.argwhere((tpl.gm + tpl.wm + tpl.csf) > 0.01)
    lo = tpl.affine[:3, 3] + idx.min(axis=0) - CROP_MARGIN_MM
    hi = tpl.affine[:3, 3] + idx.max(axis=0) + CROP_MARGIN_MM
    axes = tuple(a[(a >= lo[k]) & (a <= hi[k])] for k, a in enumerate(full.axes_mm))
    affine = full.affine.copy()
    affine[:3, 3] = [a[0] for a in axes]
    return dataclasses.replace(
        full,
        shape=tuple(len(a) for a in axes),
        affine=affine,
        axes_mm=axes,
    )


@dataclass(frozen=True)
class _Present:
    """A lesion present in one image."""

    lesion: Lesion
    radius: float  # mm, at this session
    contrast: float  # on FLAIR, with the scanner's gain
    darkening: float  # on T1w, relative to white matter (positive)
    fraction: np.ndarray  # of each voxel


def _round(value: float | None, nd: int = 4) -> float | None:
    return None if value is None else float(round(float(value), nd))


@dataclass
class SegmentationWriter:
    """Writes the FLAIR image and the reference mask of each session, and keeps the truth."""

    root: Path
    plan: Plan
    config: LesionConfig
    grid: Grid = field(init=False)
    lesion_plan: LesionPlan = field(init=False)
    images: list[dict[str, Any]] = field(default_factory=list)
    lesion_rows: list[tuple[object, ...]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.grid = segmentation_grid(self.plan.config.resolution)
        self.lesion_plan = plan_lesions(self.plan, self.config)
        ref = self.root / REFERENCE_DIR
        ref.mkdir(parents=True)
        write_json(
            ref / "dataset_description.json",
            {
                "Name": f"{self.plan.config.name}: reference segmentations",
                "BIDSVersion": "1.9.0",
                "DatasetType": "derivative",
                "GeneratedBy": [
                    {
                        "Name": "brainbench.synth",
                        "Version": GENERATOR_VERSION,
                        "Description": "Tissue classes and white-matter-hyperintensity lesions "
                        "from the same noise-free fractions as the images (argmax); 0 is "
                        "background.",
                    }
                ],
            },
        )
        write_tsv(ref / "dseg.tsv", ("index", "name"), sorted(LABELS.items()))

    def write(
        self,
        subject: Subject,
        session: Session,
        scanner: Scanner,
        fields: SubjectFields,
    ) -> tuple[np.ndarray, dict[str, float], dict[str, Any]]:
        """Render one session; write its FLAIR and mask. Returns the T1w data, the tissue
        measures and the segmentation columns of its truth row."""
        grid, plan = self.grid, self.plan
        sub, ses = subject.participant_id, f"ses-{session.session_id}"
        anat = anatomy(grid, plan, subject, session, fields)
        flair_scanner = self.lesion_plan.scanners[scanner.scanner_id]
        present: list[_Present] = []
        for lesion in self.lesion_plan.lesions[sub]:
            radius = lesion.radius_at(session.years)
            if radius is None:
                continue
            contrast = lesion.contrast * flair_scanner.lesion_gain
            darkening = min(T1W_LESION_RATIO * contrast, T1W_MAX_DARKENING)
            frac = occupancy(anat.template_points, lesion, radius, grid.resolution) * anat.wm
            present.append(_Present(lesion, radius, contrast, darkening, frac))
        zeros = np.zeros(grid.shape, dtype=np.float32)
        lesion_frac = sum((p.fraction for p in present), zeros)
        flair_gain = sum((p.fraction * np.float32(p.contrast) for p in present), zeros)
        t1_loss = sum((p.fraction * np.float32(p.darkening) for p in present), zeros)
        tissue = anat.tissue
        fractions = np.stack([1.0 - tissue, anat.csf, anat.gm, anat.wm - lesion_frac, lesion_frac])
        labels = np.argmax(fractions, axis=0).astype(np.uint8)

        mu_c, mu_g, mu_w = scanner.contrast
        t1 = mu_c * anat.csf + mu_g * anat.gm + mu_w * (anat.wm - t1_loss)
        t1 += np.float32(t1w_texture_gain(grid, scanner)) * anat.texture
        seed = plan.config.seed
        keys = (subject.index, session.acq_order)
        t1w = acquire(t1, tissue, anat.points, scanner, session, rng_for(seed, STREAM_IMAGE, *keys))
        f_c, f_g, f_w = flair_scanner.contrast
        flair = f_c * anat.csf + f_g * anat.gm + f_w * (anat.wm + flair_gain)
        flair_data = acquire(
            flair, tissue, anat.points, scanner, session, rng_for(seed, STREAM_FLAIR, *keys)
        )

        anat_dir = self.root / sub / ses / "anat"
        flair_name = f"{sub}_{ses}_FLAIR.nii.gz"
        flair_sha = write_gzip(
            anat_dir / flair_name, nifti_bytes(flair_data, grid.affine, "brainbench synth FLAIR")
        )
        write_json(anat_dir / f"{sub}_{ses}_FLAIR.json", sidecar(scanner))
        ref_dir = self.root / REFERENCE_DIR / sub / ses / "anat"
        ref_dir.mkdir(parents=True)
        ref_name = f"{sub}_{ses}_dseg.nii.gz"
        ref_sha = write_gzip(
            ref_dir / ref_name, nifti_bytes(labels, grid.affine, "brainbench synth reference")
        )

        vox = grid.voxel_ml
        lesion_mask = labels == 4
        # Lesions never overlap: a lesion voxel belongs to the lesion with the largest fraction.
        owner = np.argmax(np.stack([zeros, *(p.fraction for p in present)]), axis=0) - 1
        lesions = []
        for k, p in enumerate(present):
            entry = {
                "lesion": p.lesion.lesion_id,
                "onset_years": p.lesion.onset_years,
                "radius_mm": _round(p.radius, 3),
                "center_mm": list(p.lesion.center_mm),
                "voxels": int((lesion_mask & (owner == k)).sum()),
                "volume_ml": _round(p.fraction.sum(dtype=np.float64) * vox, 4),
                "contrast_flair": _round(p.contrast),
                "contrast_t1w": _round(-p.darkening),
            }
            lesions.append(entry)
            self.lesion_rows.append(
                (
                    sub,
                    ses,
                    entry["lesion"],
                    entry["onset_years"],
                    entry["radius_mm"],
                    *p.lesion.center_mm,
                    entry["voxels"],
                    entry["volume_ml"],
                    entry["contrast_flair"],
                    entry["contrast_t1w"],
                )
            )
        # The inferior face is left out: the MNI152 template's own field of view ends there.
        border = np.zeros(grid.shape, dtype=bool)
        border[[0, -1], :, :] = border[:, [0, -1], :] = border[:, :, -1] = True
        columns = {
            "flair": f"{sub}/{ses}/anat/{flair_name}",
            "reference": f"{REFERENCE_DIR.as_posix()}/{sub}/{ses}/anat/{ref_name}",
            "lesion_count": len(present),
            "lesion_components": int(
                ndimage.label(lesion_mask, structure=np.ones((3, 3, 3), dtype=bool))[1]
            ),
            "lesion_voxels": int(lesion_mask.sum()),
            "lesion_ml": _round(lesion_frac.sum(dtype=np.float64) * vox, 4),
            "lesion_contrast_flair": _round(
                np.mean([p.contrast for p in present]) if present else None
            ),
            "lesion_contrast_t1w": _round(
                -np.mean([p.darkening for p in present]) if present else None
            ),
            "csf_voxels": int((labels == 1).sum()),
            "gm_voxels": int((labels == 2).sum()),
            "wm_voxels": int((labels == 3).sum()),
            "crop_border_tissue_voxels": int((border & (tissue >= 0.1)).sum()),
            "flair_sha256": flair_sha,
            "reference_sha256": ref_sha,
        }
        self.images.append(
            {"participant_id": sub, "session_id": ses, **columns, "lesions": lesions}
        )
        return t1w, tissue_measures(grid, anat), columns

    def write_truth(self, truth_dir: Path) -> None:
        """``lesions.tsv``: one row per lesion present in an image."""
        write_tsv(truth_dir / "lesions.tsv", LESION_COLUMNS, self.lesion_rows)

    def truth(self) -> dict[str, Any]:
        """The ``segmentation`` section of ``truth.json``."""
        cfg = self.config
        return {
            "description": "White-matter-hyperintensity lesions (ellipsoids in template space, "
            "in white matter, deformed with each participant) on T1w (darker than white "
            "matter) and FLAIR (brighter); reference masks from the same noise-free fractions "
            "(argmax). Contrast = (I_lesion - I_wm) / I_wm before bias field and noise.",
            "reference": REFERENCE_DIR.as_posix(),
            "labels": {str(k): v for k, v in LABELS.items()},
            "lesion_model": {
                **cfg.to_dict(),
                "baseline_count": f"Poisson(lesion_load * exp({LOAD_AGE_SLOPE} * "
                f"(baseline_age - {LOAD_REFERENCE_AGE:g})))",
                "new_lesions": "Poisson process of rate new_lesions_per_year, onsets uniform",
                "radius_at_onset_mm": "lesion_radius_mm * exp(N(0, 0.25^2))",
                "growth_mm_per_year": "Gamma(4, lesion_growth_mm_per_year / 4)",
                "contrast": "Gamma(10, lesion_contrast / 10) * scanner lesion_gain",
                "t1w_contrast": f"-min({T1W_LESION_RATIO} * flair contrast, {T1W_MAX_DARKENING})",
                "flair_contrast_3t": dict(zip(("csf", "gm", "wm"), FLAIR_3T, strict=True)),
                "flair_contrast_1_5t": dict(zip(("csf", "gm", "wm"), FLAIR_15T, strict=True)),
                "lesion_gain_1_5t": LESION_GAIN_15T,
            },
            "grid": {
                "shape": list(self.grid.shape),
                "affine": [[float(v) for v in row] for row in self.grid.affine],
                "crop_margin_mm": CROP_MARGIN_MM,
            },
            "scanners": [s.to_dict() for s in self.lesion_plan.scanners.values()],
            "subjects": [
                {
                    "participant_id": pid,
                    "lesions_drawn": self.lesion_plan.requested[pid],
                    "lesions": [les.to_dict() for les in lesions],
                }
                for pid, lesions in self.lesion_plan.lesions.items()
            ],
            "images": self.images,
        }
