"""DeLong against pROC's published aSAH example (pROC 1.18, ``roc.test(roc1, roc2)``)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from brainbench.stats import compare_models, delong_ci, delong_test, evaluate_predictions

AUC_WFNS = 0.823678861788618
AUC_S100B = 0.731368563685637
Z = 2.20898359144091
P = 0.0271757822291882


def test_asah_auc_and_paired_test(asah):
    y = (asah["outcome"] == "Poor").to_numpy()
    auc_a, auc_b, z, p, _, _ = delong_test(y, asah["wfns"].to_numpy(), asah["s100b"].to_numpy())
    assert_allclose(auc_a, AUC_WFNS, rtol=0, atol=1e-9)
    assert_allclose(auc_b, AUC_S100B, rtol=0, atol=1e-9)
    assert_allclose(z, Z, rtol=0, atol=1e-9)
    assert_allclose(p, P, rtol=0, atol=1e-9)


def test_asah_through_compare_models(asah_predictions):
    df = asah_predictions[asah_predictions["model"].isin(["wfns", "s100b"])]
    (res,) = compare_models(df, "auroc", "delong", positive="Poor", unit="subject")
    assert (res.a, res.b) == ("wfns", "s100b")
    assert_allclose(res.estimate, AUC_WFNS - AUC_S100B, atol=1e-9)
    assert_allclose(res.statistic, Z, atol=1e-9)
    assert_allclose(res.p_value, P, atol=1e-9)
    _stat, p = res  # unpacks like scipy's results
    assert p == res.p_value


def test_asah_delong_interval_is_pROC_ci_auc(asah):
    # pROC: ci.auc(aSAH$outcome, aSAH$s100b) -> 0.6301-0.8326 (DeLong), printed to 4 digits.
    y = (asah["outcome"] == "Poor").to_numpy()
    auc, lo, hi, _ = delong_ci(y, asah["s100b"].to_numpy())
    assert_allclose(auc, AUC_S100B, atol=1e-9)
    assert_allclose([lo, hi], [0.6301, 0.8326], atol=5e-5)


def test_evaluate_delong_method(asah_predictions):
    res = evaluate_predictions(
        asah_predictions, ["auroc"], positive="Poor", method="delong", unit="subject"
    )
    by_model = {r.model: r for r in res}
    assert_allclose(by_model["wfns"].estimate, AUC_WFNS, atol=1e-9)
    assert by_model["wfns"].method == "delong"
    assert by_model["wfns"].ci_low < AUC_WFNS < by_model["wfns"].ci_high


def test_delong_variance_matches_placement_formula():
    """Independent check: Var = var(V10)/m + var(V01)/n with explicit pairwise psi."""
    rng = np.random.default_rng(1)
    x, yneg = np.round(rng.normal(1, 1, 30), 1), np.round(rng.normal(0, 1, 40), 1)
    psi = (x[:, None] > yneg[None, :]) + 0.5 * (x[:, None] == yneg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    var = v10.var(ddof=1) / 30 + v01.var(ddof=1) / 40
    labels = np.r_[np.ones(30, bool), np.zeros(40, bool)]
    auc, _, _, se = delong_ci(labels, np.r_[x, yneg])
    assert_allclose(auc, psi.mean(), rtol=1e-12)
    assert_allclose(se**2, var, rtol=1e-12)


def test_delong_refuses_multiple_runs(asah_predictions):
    from brainbench.errors import UserError

    df = asah_predictions[asah_predictions["model"].isin(["wfns", "s100b"])].copy()
    df2 = df.copy()
    df2["seed"] = 1
    both = __import__("pandas").concat([df.assign(seed=0), df2])
    with pytest.raises(UserError, match="one test set"):
        compare_models(both, "auroc", "delong", positive="Poor", unit="subject")


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), m=st.integers(2, 30), n=st.integers(2, 30))
def test_delong_matches_sklearn_and_explicit_placements(seed, m, n):
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    a = np.round(rng.normal(size=m + n), 1)  # ties on purpose
    b = np.round(a + rng.normal(size=m + n), 1)
    y = np.r_[np.ones(m, bool), np.zeros(n, bool)]
    auc_a, auc_b, z, p, lo, hi = delong_test(y, a, b)
    assert_allclose([auc_a, auc_b], [roc_auc_score(y, a), roc_auc_score(y, b)], rtol=1e-12)
    assert 0 <= p <= 1 and lo <= auc_a - auc_b + 1e-12 and auc_a - auc_b <= hi + 1e-12

    def placements(s):
        psi = (s[y][:, None] > s[~y][None, :]) + 0.5 * (s[y][:, None] == s[~y][None, :])
        return psi.mean(axis=1), psi.mean(axis=0)

    (a10, a01), (b10, b01) = placements(a), placements(b)
    var = np.var(a10 - b10, ddof=1) / m + np.var(a01 - b01, ddof=1) / n
    if var > 1e-14:
        assert_allclose(z, (auc_a - auc_b) / np.sqrt(var), rtol=1e-8)
