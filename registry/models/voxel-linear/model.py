"""voxel-linear: a linear model on downsampled voxels inside a brain mask.

The standard-ML baseline of Samper-Gonzalez et al. 2018: standardised voxel intensities (grey
matter maps when the benchmark provides them, T1w otherwise), L2-regularised logistic
regression or a linear SVM with probability calibration; ridge regression for regression tasks.
The mask, the intensity statistics and the scaler are fitted on the training partition only;
the regularisation strength is chosen on the validation partition.
"""

from __future__ import annotations

from typing import Any

from brainbench.registry.features import VoxelFeatures
from brainbench.registry.interface import TaskInfo
from brainbench.registry.sklearn_models import ImageFeatures, SklearnFeatureModel


def _estimator(task: TaskInfo, kind: str):
    if kind not in ("logistic", "svm"):
        raise ValueError(f"estimator must be 'logistic' or 'svm', got {kind!r}")

    def make(value: float, seed: int) -> Any:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.linear_model import LogisticRegression, Ridge
        from sklearn.svm import LinearSVC

        if task.type == "regression":
            return Ridge(alpha=1.0 / value)
        if kind == "logistic":
            return LogisticRegression(C=value, max_iter=2000, class_weight="balanced")
        svm = LinearSVC(C=value, class_weight="balanced", random_state=seed, max_iter=5000)
        return CalibratedClassifierCV(svm, method="sigmoid", cv=2)

    return make


def build(task: TaskInfo, hyperparameters: dict[str, Any]) -> SklearnFeatureModel:
    """Factory: voxel features, then logistic regression / calibrated linear SVM / ridge."""
    hp = hyperparameters
    features = VoxelFeatures(
        factor=int(hp.get("downsample", 2)),
        mask_threshold=float(hp.get("mask_threshold", 0.1)),
        normalisation=hp.get("intensity_normalisation", "zscore-image"),
    )
    grid = hp.get("C_grid") or None
    return SklearnFeatureModel(
        task,
        ImageFeatures(features),
        _estimator(task, str(hp.get("estimator", "logistic"))),
        default=float(hp.get("C", 0.01)),
        grid=[float(c) for c in grid] if grid else None,
    )
