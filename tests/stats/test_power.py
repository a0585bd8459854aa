"""Power and design formulas."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.stats import norm

from brainbench.errors import UserError
from brainbench.stats import ci_half_width, minimal_detectable_difference
from brainbench.stats._delong import delong_ci


def test_proportion_half_width_and_design_effect():
    z = norm.ppf(0.975)
    assert_allclose(ci_half_width("accuracy", 100, value=0.8), z * np.sqrt(0.16 / 100))
    # 10 sites of 10 subjects, ICC 0.1: DE = 1 + 9 * 0.1 = 1.9
    assert_allclose(
        ci_half_width("accuracy", 100, value=0.8, n_clusters=10, icc=0.1),
        z * np.sqrt(1.9 * 0.16 / 100),
    )
    assert_allclose(
        ci_half_width("sensitivity", 100, value=0.8, prevalence=0.25), z * np.sqrt(0.16 / 25)
    )


def test_auroc_half_width_is_close_to_delong_on_simulated_data():
    rng = np.random.default_rng(0)
    # Binormal with AUC = Phi(1 / sqrt(2)) ~ 0.76, 100 positives, 100 negatives
    se = []
    for _ in range(20):
        s = np.r_[rng.normal(1, 1, 100), rng.normal(0, 1, 100)]
        se.append(delong_ci(np.r_[np.ones(100, bool), np.zeros(100, bool)], s)[3])
    auc = norm.cdf(1 / np.sqrt(2))
    hw = ci_half_width("auroc", 200, value=auc)
    assert_allclose(hw / norm.ppf(0.975), np.mean(se), rtol=0.1)


def test_minimal_detectable_difference():
    z = norm.ppf(0.975) + norm.ppf(0.8)
    mdd = minimal_detectable_difference("accuracy", 200, value=0.8, correlation=0.5)
    assert_allclose(mdd, z * np.sqrt(2 * 0.5 * 0.16 / 200))
    assert minimal_detectable_difference("accuracy", 800, value=0.8) < mdd


def test_power_errors():
    with pytest.raises(UserError, match="standard deviation"):
        ci_half_width("mae", 100)
    assert ci_half_width("mae", 100, sd=4.0) == pytest.approx(norm.ppf(0.975) * 0.4)
    with pytest.raises(UserError, match="intra-cluster"):
        ci_half_width("accuracy", 100, n_clusters=5, icc=1.5)
