"""A tiny hand-made segmentation cohort in the layout of the segmentation contract.

BIDS images (``sub-<s>/ses-<t>/anat/sub-<s>_ses-<t>_T1w.nii.gz``, site in the sidecar's
InstitutionName) and reference masks as a BIDS derivative
(``derivatives/reference/sub-<s>/ses-<t>/anat/sub-<s>_ses-<t>_dseg.nii.gz``; 1 csf,
2 gray-matter, 3 white-matter, 4 wmh) with ``dseg.tsv``. Each image is a ball of tissue shells
whose intensities separate the labels (so a threshold model learns them), plus noise; the wmh
lesion of a subject grows across sessions. Small (16^3 by default) so that tests stay fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np

LABELS = {1: "csf", 2: "gray-matter", 3: "white-matter", 4: "wmh"}
INTENSITY = {0: 0.0, 1: 0.3, 2: 0.6, 3: 0.9, 4: 1.4}
AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])


def _mask(shape: tuple[int, int, int], rng: np.random.Generator, lesion: int) -> np.ndarray:
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"))
    centre = (np.array(shape) - 1) / 2 + rng.normal(0, 0.3, 3)
    r = np.sqrt(((grid - centre[:, None, None, None]) ** 2).sum(0))
    size = min(shape) / 2 - 0.5
    mask = np.zeros(shape, np.uint8)
    mask[r < size] = 1
    mask[r < size * 0.8] = 2
    mask[r < size * 0.55] = 3
    if lesion:  # a small cube in white matter, edge grows with the session
        c = np.round(centre).astype(int)
        mask[c[0] : c[0] + lesion, c[1] : c[1] + lesion, c[2] : c[2] + lesion] = 4
    return mask


def write_seg_cohort(
    root: Path,
    *,
    subjects: int = 8,
    sessions: int = 2,
    sites: int = 2,
    shape: tuple[int, int, int] = (16, 16, 16),
    seed: int = 0,
) -> Path:
    """Write the cohort under ``root``; return ``root``."""
    rng = np.random.default_rng(seed)
    ref = root / "derivatives" / "reference"
    ref.mkdir(parents=True, exist_ok=True)
    participants = ["participant_id\tage\tsex"]
    for s in range(1, subjects + 1):
        sub = f"sub-{s:02d}"
        participants.append(f"{sub}\t{60 + s}\t{'F' if s % 2 else 'M'}")
        site = f"site-{(s - 1) % sites + 1}"
        rows = ["session_id\tage"]
        for t in range(1, sessions + 1):
            ses = f"ses-{t}"
            rows.append(f"{ses}\t{60 + s + t}")
            mask = _mask(shape, rng, lesion=(s % 3) + t - 1)
            image = np.vectorize(INTENSITY.get)(mask).astype(np.float32)
            image += rng.normal(0, 0.05, shape).astype(np.float32) * (mask > 0)
            anat = root / sub / ses / "anat"
            anat.mkdir(parents=True, exist_ok=True)
            stem = f"{sub}_{ses}"
            nib.save(nib.Nifti1Image(image, AFFINE), anat / f"{stem}_T1w.nii.gz")
            (anat / f"{stem}_T1w.json").write_text(json.dumps({"InstitutionName": site}))
            out = ref / sub / ses / "anat"
            out.mkdir(parents=True, exist_ok=True)
            nib.save(nib.Nifti1Image(mask, AFFINE), out / f"{stem}_dseg.nii.gz")
        (root / sub / f"{sub}_sessions.tsv").write_text("\n".join(rows) + "\n")
    (root / "participants.tsv").write_text("\n".join(participants) + "\n")
    (root / "dataset_description.json").write_text(
        json.dumps({"Name": "tiny segmentation cohort", "BIDSVersion": "1.9.0"})
    )
    (ref / "dataset_description.json").write_text(
        json.dumps({"Name": "reference", "BIDSVersion": "1.9.0", "DatasetType": "derivative"})
    )
    lut = ["index\tname", *(f"{k}\t{v}" for k, v in LABELS.items())]
    (ref / "dseg.tsv").write_text("\n".join(lut) + "\n")
    return root


SPEC = """\
brainbench: 1
id: tiny-seg
version: 1.0.0
title: tiny segmentation benchmark
task:
  type: segmentation
  labels: {{1: csf, 2: gray-matter, 3: white-matter, 4: {{name: wmh, kind: lesion}}}}
  reference: {{source: bids-derivative, path: derivatives/reference, suffix: dseg}}
  input: {{modality: T1w, unit: image}}
cohorts:
  - id: dev
    role: development
    source: {{format: bids, path: {data}}}
hierarchy:
  site: InstitutionName
  subject: participant_id
  session: session_id
splits:
  group: {group}
  test: {{method: holdout, size: 0.25}}
  validation: {{method: holdout, size: 0.25}}
  seed: 7
protocol:
  primary_metric: dice
  metrics: [hd95, {{name: nsd, tolerance_mm: 2.0}}, abs-volume-error, lesion-f1]
  unit_of_analysis: image
  confidence: {{method: hierarchical-bootstrap, resamples: 2000, clusters: [subject]}}
  seeds: 1
"""


def write_seg_spec(folder: Path, data: Path, *, group: str = "subject") -> Path:
    """A segmentation spec over ``data`` split by ``group`` (``image``: the leaky split)."""
    path = folder / "seg.yaml"
    path.write_text(SPEC.format(data=data, group=group))
    return path
