"""Segmentation units on the runner's side: reference masks in, predicted masks out, per-case
metrics computed here (never by the model).

Reference masks are the target of a segmentation task and are sealed like labels: the model
process receives the masks of its training and validation images only, as ``uint8`` arrays
over the data-only channel (it asks for image ``k``'s mask with the key ``-(k + 1)``); test
and external-test masks never leave the runner. The predicted masks a model returns are
checked (shape, integer values among the task's labels), written to the run folder as
compressed NIfTI with the image's affine
(``masks/<model>/r<repeat>-f<fold>-s<seed>/<image stem>_pred.nii.gz``), hashed, and scored
against the reference with :func:`brainbench.segmentation.case_metrics`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from brainbench.runner._data import ImageError, read_image
from brainbench.runner._io import atomic_write_bytes, sha256_bytes

HIERARCHY = ("dataset", "site", "scanner", "subject", "session", "image")
_NIFTI = re.compile(r"\.nii(\.gz)?$")


def mask_key(row: int) -> int:
    """The channel key of cohort row ``row``'s reference mask (images use ``row`` itself)."""
    return -(int(row) + 1)


def mask_row(key: int) -> int | None:
    """The cohort row of a mask key, None for an image key."""
    return -int(key) - 1 if key < 0 else None


def read_mask(
    path: str, spatial_shape: tuple[int, ...], orientation: Any, label_values: tuple[int, ...]
) -> np.ndarray:
    """A reference mask as ``uint8 (X, Y, Z)``: the images' shape and orientation, integer
    values among 0 and ``label_values``; ImageError naming the file otherwise."""
    arr = read_image(path, (1, *spatial_shape), orientation)[0]
    if not np.array_equal(arr, np.round(arr)):
        raise ImageError(path, "is not an integer label mask (it holds fractional values)")
    values = np.unique(arr).astype(np.int64)
    unknown = values[~np.isin(values, [0, *label_values])]
    if unknown.size:
        raise ImageError(
            path,
            f"holds label value(s) {', '.join(map(str, unknown[:5]))} that task.labels does "
            f"not declare (declared: {', '.join(map(str, label_values))}; 0 is background): "
            "add them to task.labels or relabel the mask",
        )
    return np.ascontiguousarray(arr, dtype=np.uint8)


def image_stem(path: str) -> str:
    return _NIFTI.sub("", Path(path).name)


def _nifti_bytes(mask: np.ndarray, affine: np.ndarray) -> bytes:
    """``mask`` as gzip-compressed NIfTI-1 bytes (uint8, the given affine); gzip's header
    carries no time stamp, so equal masks give equal files and hashes."""
    import gzip

    import nibabel as nib

    img = nib.Nifti1Image(np.asarray(mask, dtype=np.uint8), affine)
    img.header.set_data_dtype(np.uint8)
    img.header.set_xyzt_units("mm")
    return gzip.compress(img.to_bytes(), compresslevel=6, mtime=0)


def score_partition(
    state: Any, unit: Any, partition: str, rows: np.ndarray, masks: np.ndarray
) -> pd.DataFrame:
    """Write the predicted masks of one partition, score them: its case-metrics rows."""
    import nibabel as nib

    from brainbench.segmentation import SegmentationMetric, case_metrics

    plan_task = state.plan["task"]
    labels = dict(zip(plan_task["label_values"], plan_task["labels"], strict=True))
    metrics = [SegmentationMetric(**m) for m in plan_task["metrics"]]
    # lesion-f1 counts instances: scored on the lesion labels when the spec marks some
    lesions = {v: n for v, n in labels.items() if n in plan_task.get("lesion_labels", ())}
    detection = [m for m in metrics if m.name == "lesion-f1"]
    groups = [(labels, metrics)]
    if lesions and detection:
        groups = [(labels, [m for m in metrics if m.name != "lesion-f1"]), (lesions, detection)]
    folder = Path("masks") / unit.model / f"r{unit.repeat}-f{unit.fold}-s{unit.seed}"
    out: list[dict[str, Any]] = []
    for row, mask in zip(rows, masks, strict=True):
        c = state.cohort.iloc[int(row)]
        image_path = str(c["image_path"])
        rel = folder / f"{image_stem(image_path)}_pred.nii.gz"
        affine = nib.load(image_path).affine
        sha = sha256_bytes(data := _nifti_bytes(mask, affine))
        atomic_write_bytes(state.run_dir / rel, data)
        ref_path = str(c["reference_path"])
        reference = read_mask(
            ref_path,
            tuple(state.task.spatial_shape),
            state.plan.get("orientation"),
            tuple(plan_task["label_values"]),
        )
        ref_header = nib.load(ref_path)  # the header only: the voxels were read above
        if not np.allclose(ref_header.affine, affine, atol=1e-3):
            raise ImageError(
                ref_path,
                "has another affine than its image "
                f"{image_path}: the mask must lie on the image's voxel grid",
            )
        spacing = tuple(float(z) for z in ref_header.header.get_zooms()[:3])
        ids = {
            "model": unit.model,
            "repeat": unit.repeat,
            "fold": unit.fold,
            "seed": unit.seed,
            "partition": partition,
            "cohort": c.get("cohort"),
            **{level: c.get(level) for level in HIERARCHY},
        }
        for scored, chosen in groups:
            for r in case_metrics(reference, mask, spacing=spacing, labels=scored, metrics=chosen):
                out.append({**ids, **r, "mask": rel.as_posix(), "mask_sha256": sha})
    return case_metrics_frame(pd.DataFrame(out))


def case_metrics_frame(df: pd.DataFrame) -> pd.DataFrame:
    """The column types of the case-metrics table (docs/design.md)."""
    df = df.reindex(columns=list(dict.fromkeys([*df.columns, *_ORDER])))
    text = ("model", "partition", "cohort", *HIERARCHY, "label", "metric", "status", "mask")
    for col in (*text, "mask_sha256"):
        df[col] = df[col].astype("string")
    for col in ("repeat", "fold", "seed", "label_value", "reference_voxels", "predicted_voxels"):
        df[col] = df[col].astype(np.int64)
    for col in ("tolerance_mm", "value"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(np.float64)
    return df[list(_ORDER)]


_ORDER = (
    "model", "repeat", "fold", "seed", "partition", "cohort", *HIERARCHY, "label",
    "label_value", "metric", "tolerance_mm", "value", "status", "reference_voxels",
    "predicted_voxels", "mask", "mask_sha256",
)  # fmt: skip


__all__ = [
    "case_metrics_frame",
    "image_stem",
    "mask_key",
    "mask_row",
    "read_mask",
    "score_partition",
]
