"""A :class:`~brainbench.registry.interface.Model` around scikit-learn estimators on features.

:class:`SklearnFeatureModel` takes a feature extractor (fitted on the training partition only),
standardises the features (scaler fitted on the training partition only), fits one estimator per
value of a regularisation grid, and keeps the one with the best validation score (log loss for
classification, mean absolute error for regression) when a validation partition is given;
without one it uses the default value. Probabilities come back in ``TaskInfo.classes`` order,
with zeros for classes absent from the training labels.

scikit-learn is imported inside methods, so that importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from brainbench.registry.features import demographic_matrix
from brainbench.registry.interface import (
    FitContext,
    ImageSet,
    LabelledImageSet,
    TaskInfo,
    UnlabelledImageSet,
)


class FeatureExtractor(Protocol):
    """Fitted on the training partition, then applied to any partition."""

    def fit(self, train: ImageSet) -> Any: ...

    def transform(self, data: ImageSet) -> np.ndarray: ...


class DemographicFeatures:
    """Age, sex and the spec's clinical covariates as features.

    Numeric covariates are used as they are, text (categorical) ones one-hot encoded on the
    levels seen in training (a level unseen in training is all zeros); missing values are
    imputed with training medians. A covariate absent from the frame is a column of missing
    values (imputed to 0).
    """

    def __init__(self, columns: Sequence[str] = ("age", "sex")) -> None:
        self.columns = tuple(columns)
        self.fill_: np.ndarray | None = None
        self.levels_: dict[str, list[str]] = {}

    def _matrix(self, covariates: Any) -> np.ndarray:
        parts = []
        for name in self.columns:
            if name in ("age", "sex"):
                parts.append(demographic_matrix(covariates, (name,)))
            elif name in self.levels_:
                values = covariates[name].astype("string")
                onehot = np.column_stack(
                    [
                        (values == level).fillna(False).to_numpy(dtype=np.float64)
                        for level in self.levels_[name]
                    ]
                )
                onehot[values.isna().to_numpy()] = np.nan
                parts.append(onehot)
            elif name in covariates.columns:
                parts.append(np.asarray(covariates[name], dtype=np.float64)[:, None])
            else:
                parts.append(np.full((len(covariates), 1), np.nan))
        return np.column_stack(parts) if parts else np.zeros((len(covariates), 0))

    def fit(self, train: ImageSet) -> DemographicFeatures:
        cov = train.covariates
        self.levels_ = {
            name: sorted(str(v) for v in cov[name].dropna().unique())
            for name in self.columns
            if name not in ("age", "sex")
            and name in cov.columns
            and cov[name].dtype.kind not in "fiub"
        }
        self.levels_ = {k: v for k, v in self.levels_.items() if v}
        x = self._matrix(cov)
        with np.errstate(all="ignore"):
            fill = np.array(
                [np.nanmedian(c) if np.isfinite(c).any() else 0.0 for c in x.T], dtype=np.float64
            )
        self.fill_ = fill
        return self

    def transform(self, data: ImageSet) -> np.ndarray:
        if self.fill_ is None:
            raise RuntimeError("DemographicFeatures used before fit()")
        x = self._matrix(data.covariates)
        return np.where(np.isfinite(x), x, self.fill_)


class ImageFeatures:
    """Adapter: any image feature maker with ``fit(images)``/``transform(images)``."""

    def __init__(self, maker: Any) -> None:
        self.maker = maker

    def fit(self, train: ImageSet) -> ImageFeatures:
        self.maker.fit(train.images)
        return self

    def transform(self, data: ImageSet) -> np.ndarray:
        return self.maker.transform(data.images)


EstimatorFactory = Callable[[float, int], Any]


class SklearnFeatureModel:
    """Features -> StandardScaler -> estimator, with the regularisation chosen on validation.

    Parameters
    ----------
    task
        The task.
    features
        A :class:`FeatureExtractor`.
    make_estimator
        ``make_estimator(value, seed)`` returns an unfitted scikit-learn estimator for one value
        of the regularisation parameter (a classifier with ``predict_proba``, or a regressor).
    default
        Value used without a validation partition.
    grid
        Values tried when a validation partition is given (None: always ``default``).
    """

    def __init__(
        self,
        task: TaskInfo,
        features: FeatureExtractor,
        make_estimator: EstimatorFactory,
        default: float,
        grid: Sequence[float] | None = None,
    ) -> None:
        self.task = task
        self.features = features
        self.make_estimator = make_estimator
        self.default = default
        self.grid = tuple(grid) if grid else None
        self.pipeline_: Any = None
        self.selected_: float | None = None
        self.validation_scores_: dict[float, float] = {}
        self._constant: np.ndarray | None = None

    def _pipeline(self, value: float, seed: int) -> Any:
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(StandardScaler(), self.make_estimator(value, seed))

    def _score(self, pipeline: Any, x: np.ndarray, y: np.ndarray) -> float:
        """Validation loss (lower is better)."""
        if self.task.type == "regression":
            return float(np.mean(np.abs(pipeline.predict(x) - y)))
        prob = self._proba(pipeline, x)
        p = np.clip(prob[np.arange(len(y)), y], 1e-12, 1.0)
        return float(-np.mean(np.log(p)))

    def _proba(self, pipeline: Any, x: np.ndarray) -> np.ndarray:
        raw = pipeline.predict_proba(x)
        out = np.zeros((len(x), self.task.n_classes), dtype=np.float64)
        for j, cls in enumerate(pipeline.classes_):
            out[:, int(cls)] = raw[:, j]
        return out / out.sum(axis=1, keepdims=True)

    def fit(
        self, train: LabelledImageSet, validation: LabelledImageSet | None, ctx: FitContext
    ) -> None:
        np.random.seed(ctx.seed % 2**32)
        self.features.fit(train)
        x = self.features.transform(train)
        y = train.labels
        self._constant = None
        if self.task.type == "classification" and len(np.unique(y)) < 2:
            # One class in training: the only honest prediction is that class.
            self._constant = np.zeros(self.task.n_classes)
            self._constant[int(y[0])] = 1.0
            self.selected_ = None
            return
        values = [self.default]
        if self.grid and validation is not None and len(validation) > 0:
            values = list(self.grid)
        best = None
        self.validation_scores_ = {}
        x_val = self.features.transform(validation) if len(values) > 1 and validation else None
        for value in values:
            pipeline = self._pipeline(value, ctx.seed).fit(x, y)
            if x_val is None or validation is None:
                best = (0.0, value, pipeline)
                break
            score = self._score(pipeline, x_val, validation.labels)
            self.validation_scores_[value] = score
            if best is None or score < best[0]:
                best = (score, value, pipeline)
            if ctx.on_epoch is not None:
                ctx.report_epoch(len(self.validation_scores_), float("nan"), score)
        assert best is not None
        _, self.selected_, self.pipeline_ = best

    def predict(self, inputs: UnlabelledImageSet | ImageSet) -> np.ndarray:
        n = len(inputs)
        if self._constant is not None:
            return np.tile(self._constant, (n, 1))
        if self.pipeline_ is None:
            raise RuntimeError("predict() called before fit()")
        x = self.features.transform(inputs)
        if self.task.type == "regression":
            return np.asarray(self.pipeline_.predict(x), dtype=np.float64).reshape(n)
        return self._proba(self.pipeline_, x)

    def __repr__(self) -> str:
        return (
            f"SklearnFeatureModel(task={self.task.type}, features={self.features!r}, "
            f"default={self.default}, grid={self.grid})"
        )


__all__ = ["DemographicFeatures", "FeatureExtractor", "ImageFeatures", "SklearnFeatureModel"]
