"""voxel-select-linear: univariate voxel selection on the training data, then a linear model.

Used by experiment 2 of issue 8 (late split): the selection step is fitted on the training
partition only, as it must be; the experiment's leaky arm feeds the same model images whose
voxels were chosen beforehand with the labels of every subject, test subjects included.
"""

from __future__ import annotations

from typing import Any

from brainbench.registry.features import VoxelFeatures
from brainbench.registry.interface import TaskInfo
from brainbench.registry.sklearn_models import ImageFeatures, SklearnFeatureModel


def build(task: TaskInfo, hyperparameters: dict[str, Any]) -> SklearnFeatureModel:
    """Factory: voxels -> scaler -> SelectKBest(f_classif, k) -> logistic regression."""
    if task.type != "classification":
        raise ValueError("voxel-select-linear is a classifier")
    hp = hyperparameters
    k = int(hp.get("k", 50))

    def make(value: float, seed: int) -> Any:
        from sklearn.feature_selection import SelectKBest, f_classif
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        return make_pipeline(
            SelectKBest(f_classif, k=k),
            LogisticRegression(C=value, max_iter=2000, class_weight="balanced"),
        )

    features = VoxelFeatures(
        factor=int(hp.get("downsample", 1)),
        mask_threshold=float(hp.get("mask_threshold", 0.1)),
        normalisation=hp.get("intensity_normalisation", "zscore-image"),
    )
    return SklearnFeatureModel(
        task, ImageFeatures(features), make, default=float(hp.get("C", 1.0)), grid=None
    )
