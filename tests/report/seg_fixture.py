"""A segmentation run folder with a case-metrics table of known truth, for the sheet's tests.

Four sites x three subjects x two sessions = 24 test images, two labels (``wmh`` 1,
``white-matter`` 2), four metrics (Dice, HD95, absolute and relative volume error), two
models:

* ``model-a``: Dice about 0.80, HD95 about 2 mm, volume error about 0.5 mL, relative volume
  error about +0.05;
* ``model-b``: Dice about 0.60, HD95 about 6 mm, volume error about 2 mL, relative volume
  error about +0.30.

So A is better on every metric, HD95 and volume error being lower-is-better and the relative
volume error best at 0. Known cases, valued as brainbench.segmentation.metrics values them
(Metrics Reloaded):

* :data:`EMPTY_REF` has an empty ``wmh`` reference: A predicts nothing (both-empty: Dice 1,
  HD95 0, volume errors 0), B predicts a false positive (empty-reference: Dice 0, HD95 the
  image diagonal, relative volume error undefined, NaN);
* :data:`EMPTY_PRED`: B predicts no ``wmh`` where there is some (empty-prediction: Dice 0,
  HD95 the image diagonal, relative volume error -1);
* :data:`WORST`: B's worst ``wmh`` case with both masks present (Dice 0.05, HD95 40 mm).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

MODELS = ("model-a", "model-b")
LABELS = {1: "wmh", 2: "white-matter"}
SITES = ("site-1", "site-2", "site-3", "site-4")
TRUE = {  # model -> metric -> centre
    "model-a": {"dice": 0.80, "hd95": 2.0, "abs-volume-error": 0.5, "relative-volume-error": 0.05},
    "model-b": {"dice": 0.60, "hd95": 6.0, "abs-volume-error": 2.0, "relative-volume-error": 0.30},
}
SPREAD = {"dice": 0.04, "hd95": 0.5, "abs-volume-error": 0.2, "relative-volume-error": 0.05}
#: The image diagonal of a 48^3 grid of 1 mm voxels: the distance of a case with one empty mask.
DIAGONAL = float(np.sqrt(3 * 48.0**2))
BOTH_EMPTY = {"dice": 1.0, "hd95": 0.0, "abs-volume-error": 0.0, "relative-volume-error": 0.0}
FALSE_POSITIVE = {"dice": 0.0, "hd95": DIAGONAL, "abs-volume-error": 0.3}
MISSED = {"dice": 0.0, "hd95": DIAGONAL, "abs-volume-error": 3.0, "relative-volume-error": -1.0}
FAILURE = {"dice": 0.05, "hd95": 40.0, "abs-volume-error": 9.0, "relative-volume-error": 2.5}
EMPTY_REF = "sub-s1n1_ses-2"
EMPTY_PRED = "sub-s2n2_ses-1"
WORST = "sub-s3n2_ses-2"


def images() -> list[dict[str, str]]:
    out = []
    for i, site in enumerate(SITES, start=1):
        for n in range(1, 4):
            subject = f"sub-s{i}n{n}"
            for t in (1, 2):
                out.append(
                    {
                        "dataset": "fixture",
                        "site": site,
                        "scanner": f"scanner-{i}",
                        "subject": subject,
                        "session": f"ses-{t}",
                        "image": f"{subject}_ses-{t}",
                    }
                )
    return out


def _row(ids: dict, model: str, label: int, metric: str, value: float, status: str) -> dict:
    ref = 0 if status in ("empty-reference", "both-empty") else 900 + 10 * label
    pred = 0 if status in ("empty-prediction", "both-empty") else 880 + 10 * label
    stem = ids["image"]
    return {
        "model": model,
        "repeat": 0,
        "fold": SITES.index(ids["site"]),
        "seed": 0,
        "partition": "test",
        "cohort": "fixture",
        **ids,
        "label": LABELS[label],
        "label_value": label,
        "metric": metric,
        "tolerance_mm": float("nan"),
        "value": value,
        "status": status,
        "reference_voxels": ref,
        "predicted_voxels": pred,
        "mask": f"masks/{model}/r0-f{SITES.index(ids['site'])}-s0/{stem}_pred.nii.gz",
        "mask_sha256": hashlib.sha256(f"{model}/{stem}".encode()).hexdigest(),
    }


def case_metrics(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for ids in images():
        for model in MODELS:
            for label in LABELS:
                for metric, centre in TRUE[model].items():
                    value = float(centre + SPREAD[metric] * rng.standard_normal())
                    status = "ok"
                    if label == 1 and ids["image"] == EMPTY_REF:
                        status = "both-empty" if model == "model-a" else "empty-reference"
                        given = BOTH_EMPTY if model == "model-a" else FALSE_POSITIVE
                        value = given.get(metric, float("nan"))
                    elif label == 1 and ids["image"] == EMPTY_PRED and model == "model-b":
                        status, value = "empty-prediction", MISSED[metric]
                    elif label == 1 and ids["image"] == WORST and model == "model-b":
                        value = FAILURE[metric]
                    rows.append(_row(ids, model, label, metric, value, status))
    return pd.DataFrame(rows)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


SPEC = """\
brainbench: 1
id: fixture-wmh-segmentation
version: 0.1.0
title: fixture of the segmentation sheet
task:
  type: segmentation
  labels: {1: {name: wmh, kind: lesion}, 2: white-matter}
  reference: {source: bids-derivative, path: derivatives/reference, suffix: dseg}
cohorts:
  - id: fixture
    role: development
    source: {format: bids, path: data}
splits:
  group: site
  test: {method: leave-group-out, group: site}
  seed: 0
protocol:
  primary_metric: hd95
  primary_label: white-matter
  metrics: [dice, abs-volume-error, {name: nsd, tolerance_mm: 1.0}]
  confidence: {method: hierarchical-bootstrap, resamples: 2000, clusters: [site, subject]}
  models: [model-b, model-a]
reporting:
  breakdown: [scanner, sex]
"""


def make_seg_run_dir(path: Path, table: pd.DataFrame | None = None, *, spec: bool = False) -> Path:
    """Write the run folder: case_metrics.parquet and provenance.json (which hashes it);
    ``spec``: also spec.yaml (:data:`SPEC`: HD95 on white-matter primary, a declared metric
    and a breakdown the table cannot give)."""
    path.mkdir(parents=True, exist_ok=True)
    if spec:
        (path / "spec.yaml").write_text(SPEC)
    table = case_metrics() if table is None else table
    table.to_parquet(path / "case_metrics.parquet", index=False)
    units = [
        {
            "model": m,
            "repeat": 0,
            "fold": f,
            "seed": 0,
            "status": "ok",
            "seconds": 2.0 + f,
            "log": f"logs/{m}-r0-f{f}-s0.log",
        }
        for m in MODELS
        for f in range(len(SITES))
    ]
    provenance = {
        "brainbench_version": "0.1.0",
        "git_commit": "0123456789abcdef0123456789abcdef01234567",
        "spec": {"id": "fixture-wmh-segmentation", "version": "0.1.0", "sha256": "0" * 64},
        "case_metrics_sha256": _sha256(path / "case_metrics.parquet"),
        "models": [{"id": m, "version": "1.0.0"} for m in MODELS],
        "packages": {"numpy": "2.0.0", "monai": "1.3.0"},
        "device": {"type": "cpu", "name": "x86_64", "cuda": None},
        "host": "fixture-host",
        "seeds": [0],
        "deterministic": True,
        "started": "2026-01-02T10:00:00+00:00",
        "finished": "2026-01-02T10:12:00+00:00",
        "units": units,
    }
    (path / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n")
    return path
