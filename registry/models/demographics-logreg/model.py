"""demographics-logreg: age, sex and the spec's clinical covariates, the confound baseline.

A deep model that does not beat this baseline has not shown that it learned anatomy: in many
cohorts age alone separates Alzheimer's disease from controls well above chance.
"""

from __future__ import annotations

from typing import Any

from brainbench.registry.interface import TaskInfo
from brainbench.registry.sklearn_models import DemographicFeatures, SklearnFeatureModel


def _estimator(task: TaskInfo):
    def make(value: float, seed: int) -> Any:
        from sklearn.linear_model import LinearRegression, LogisticRegression

        if task.type == "regression":
            return LinearRegression()
        return LogisticRegression(C=value, max_iter=1000, class_weight="balanced")

    return make


def build(task: TaskInfo, hyperparameters: dict[str, Any]) -> SklearnFeatureModel:
    """Factory: logistic regression (classification) or linear regression on the ``covariates``
    hyper-parameter (age, sex) and the covariates the spec declares (``task.covariates``)."""
    chosen = hyperparameters.get("covariates") or ["age", "sex"]
    columns = tuple(dict.fromkeys([*chosen, *task.covariates]))
    return SklearnFeatureModel(
        task,
        DemographicFeatures(columns),
        _estimator(task),
        default=float(hyperparameters.get("C", 1.0)),
    )
