"""site-demographics-logreg: acquisition site, age and sex only, the site-confound baseline."""

from __future__ import annotations

from typing import Any

import numpy as np

from brainbench.registry.features import demographic_matrix
from brainbench.registry.interface import TaskInfo
from brainbench.registry.sklearn_models import SklearnFeatureModel


class SiteDemographics:
    """One-hot site (training categories; unseen sites all zeros), age and sex."""

    def __init__(self) -> None:
        self.sites_: list[str] = []
        self.fill_: np.ndarray | None = None

    def _site(self, data) -> np.ndarray:
        cov = data.covariates
        site = cov["site"].astype("string").fillna("") if "site" in cov.columns else None
        if site is None:
            return np.zeros((len(cov), len(self.sites_)))
        return (
            np.column_stack([(site == s).to_numpy(dtype=float) for s in self.sites_])
            if (self.sites_)
            else np.zeros((len(cov), 0))
        )

    def fit(self, train) -> SiteDemographics:
        cov = train.covariates
        if "site" in cov.columns:
            self.sites_ = sorted(set(cov["site"].astype("string").dropna()))
        x = demographic_matrix(cov)
        with np.errstate(all="ignore"):
            self.fill_ = np.array(
                [np.nanmedian(c) if np.isfinite(c).any() else 0.0 for c in x.T], dtype=float
            )
        return self

    def transform(self, data) -> np.ndarray:
        x = demographic_matrix(data.covariates)
        x = np.where(np.isfinite(x), x, self.fill_)
        return np.hstack([x, self._site(data)])


def build(task: TaskInfo, hyperparameters: dict[str, Any]) -> SklearnFeatureModel:
    """Factory: logistic regression on one-hot site, age and sex."""
    if task.type != "classification":
        raise ValueError("site-demographics-logreg is a classifier")

    def make(value: float, seed: int) -> Any:
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=value, max_iter=1000, class_weight="balanced")

    return SklearnFeatureModel(
        task, SiteDemographics(), make, default=float(hyperparameters.get("C", 1.0))
    )
