"""threshold-seg: per-label intensity thresholds learned from the training masks.

Each image is z-scored on its own voxels (site and scanner scale differences removed); the
median normalised intensity of every label and of the background is measured on the training
images' reference masks; a voxel takes the label whose median is nearest, i.e. thresholds lie
half-way between consecutive medians. Validation masks are not used (nothing to select).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from brainbench.registry.interface import FitContext, SegmentationSet, TaskInfo, UnlabelledImageSet


def _normalised(image: np.ndarray) -> np.ndarray:
    """The first channel z-scored on its own voxels (a constant image gives zeros)."""
    x = np.asarray(image[0], dtype=np.float64)
    sd = x.std()
    return (x - x.mean()) / sd if sd > 0 else np.zeros_like(x)


class ThresholdSegmenter:
    def __init__(self, task: TaskInfo, max_voxels: int) -> None:
        self.task = task
        self.max_voxels = max_voxels
        self.values_: np.ndarray | None = None  # label values, background first
        self.medians_: np.ndarray | None = None

    def fit(self, train: SegmentationSet, validation: Any, ctx: FitContext) -> None:
        rng = np.random.default_rng(ctx.seed)
        values = np.array([0, *self.task.label_values], dtype=np.int64)
        samples: dict[int, list[np.ndarray]] = {int(v): [] for v in values}
        for i in range(len(train)):
            x = _normalised(train.images[i]).ravel()
            m = np.asarray(train.masks[i]).ravel()
            if x.size > self.max_voxels:
                pick = rng.choice(x.size, self.max_voxels, replace=False)
                x, m = x[pick], m[pick]
            for v in values:
                samples[int(v)].append(x[m == v])
        medians = {v: np.median(np.concatenate(s)) for v, s in samples.items() if sum(map(len, s))}
        if len(medians) < 2:
            declared = ", ".join(map(str, self.task.label_values))
            raise ValueError(
                "the training masks hold no voxel of any declared label (background only; "
                f"task.labels declares the values {declared}): check that task.reference "
                "finds the right mask files and that task.labels gives the values they use "
                "(their dseg.tsv)"
            )
        missing = sorted(set(samples) - set(medians))
        if missing:
            ctx.logger.warning("labels %s absent from the training masks: never predicted", missing)
        order = sorted(medians, key=medians.get)
        self.values_ = np.array(order, dtype=np.int64)
        self.medians_ = np.array([medians[v] for v in order])
        ctx.logger.info("label medians (z) of %s: %s", order, self.medians_.round(3).tolist())
        ctx.report_epoch(1, float("nan"), None)

    def predict(self, inputs: UnlabelledImageSet) -> np.ndarray:
        assert self.values_ is not None and self.medians_ is not None
        cuts = (self.medians_[1:] + self.medians_[:-1]) / 2
        out = np.empty((len(inputs), *self.task.spatial_shape), dtype=np.uint8)
        for i in range(len(inputs)):
            out[i] = self.values_[np.searchsorted(cuts, _normalised(inputs.images[i]))]
        return out


def build(task: TaskInfo, hyperparameters: dict[str, Any]) -> ThresholdSegmenter:
    """Factory: the threshold segmenter for ``task`` (segmentation only)."""
    if task.type != "segmentation":
        raise ValueError(f"threshold-seg segments images; the task is {task.type}")
    return ThresholdSegmenter(task, int(hyperparameters.get("max_voxels", 200_000)))
