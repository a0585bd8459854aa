"""A CAPS-shaped copy of a synthetic cohort and its ClinicaDL label TSV (``--layout caps``).

The images are the BIDS images under the names ClinicaDL reads from a ``t1-linear`` CAPS
(``subjects/sub-X/ses-Y/t1_linear/sub-X_ses-Y_T1w_space-MNI152NLin2009cSym_desc-Crop_res-1x1x1
_T1w.nii.gz``), hard-linked where the file system allows. They are not registered or cropped
as t1-linear would: the header gives the real (synthetic) shape. ``labels.tsv`` is shaped like
``clinicadl tsvtools get-labels`` output: one row per session with the session's diagnosis, age,
sex, site and simulated clinical scores (MMSE, CDR-SB, APOE4 alleles, education years) that
depend on the diagnosis as they do in ADNI (the MMSE and CDR define the diagnosis there).
A segmentation cohort's reference masks are linked to
``subjects/sub-X/ses-Y/reference/sub-X_ses-Y_dseg.nii.gz``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from brainbench.synth._bids import write_json, write_tsv
from brainbench.synth._plan import Plan, rng_for

CAPS_DIR = Path("derivatives") / "caps"
LABELS_FILE = "labels.tsv"
STREAM_CLINICAL = 4
T1_LINEAR_NAME = "{sub}_{ses}_T1w_space-MNI152NLin2009cSym_desc-Crop_res-1x1x1_T1w.nii.gz"
# Mean MMSE and CDR-SB by diagnosis (ADNI baseline orders of magnitude).
_MMSE = {"CN": 29.0, "MCI": 27.0, "AD": 23.0, "PD": 28.0}
_CDR_SB = {"CN": 0.0, "MCI": 1.5, "AD": 4.5, "PD": 0.5}
_APOE4_P = {"CN": 0.15, "MCI": 0.25, "AD": 0.35, "PD": 0.15}


def write_caps(root: Path, plan: Plan, rows: list[dict]) -> None:
    """Write ``root/derivatives/caps`` (images linked from the BIDS folder and labels.tsv)."""
    caps = root / CAPS_DIR
    caps.mkdir(parents=True)
    write_json(
        caps / "dataset_description.json",
        {
            "Name": f"{plan.config.name}: t1-linear CAPS (synthetic stand-in)",
            "BIDSVersion": "1.9.0",
            "CAPSVersion": "1.0.0",
            "DatasetType": "derivative",
        },
    )
    clinical = _clinical(plan)
    out_rows = []
    for row in rows:
        sub, ses = row["participant_id"], row["session_id"]
        folder = caps / "subjects" / sub / ses / "t1_linear"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / T1_LINEAR_NAME.format(sub=sub, ses=ses)
        _link(root / row["image"], target)
        if "reference" in row:
            # A segmentation cohort: the reference mask beside, for task.reference source caps.
            masks = caps / "subjects" / sub / ses / "reference"
            masks.mkdir(parents=True)
            _link(root / row["reference"], masks / f"{sub}_{ses}_dseg.nii.gz")
        edu, apoe4, offset = clinical[sub]
        dx = row["diagnosis"]
        out_rows.append(
            (sub, ses, dx, row["age"], row["sex"], row["site"],
             round(float(np.clip(_MMSE[dx] + offset, 0, 30))), _CDR_SB[dx], apoe4, edu)
        )  # fmt: skip
    write_tsv(
        caps / LABELS_FILE,
        ("participant_id", "session_id", "diagnosis", "age", "sex", "site", "mmse", "cdr_sb",
         "apoe4", "education"),
        out_rows,
    )  # fmt: skip


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _clinical(plan: Plan) -> dict[str, tuple[int, int, float]]:
    """Education years, APOE4 alleles and an MMSE offset per subject (seeded, own stream)."""
    out = {}
    for s in plan.subjects:
        rng = rng_for(plan.config.seed, STREAM_CLINICAL, s.index)
        p = _APOE4_P.get(s.diagnosis, 0.15)
        out[s.participant_id] = (
            int(np.clip(round(rng.normal(15.5, 3.0)), 6, 22)),
            int(rng.binomial(2, p)),
            float(rng.normal(0.0, 1.0)),
        )
    return out


__all__ = ["CAPS_DIR", "LABELS_FILE", "write_caps"]
