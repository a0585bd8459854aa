"""Metrics: the registry matches the spec language, values match scikit-learn / scipy, and the
weighted (bootstrap) form equals the metric on the repeated rows."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from sklearn import metrics as skm

from brainbench.errors import UserError
from brainbench.stats import METRICS, compute_metric, metric_names
from brainbench.stats._metrics import Columns

SPEC_METRICS = {
    "balanced_accuracy", "accuracy", "sensitivity", "specificity", "ppv", "npv", "f1", "mcc",
    "auroc", "average_precision", "brier", "log_loss", "ece", "ece_debiased", "mae", "rmse",
    "r2", "pearson_r",
}  # fmt: skip


def test_registry_is_exactly_the_spec_language_set():
    assert set(METRICS) == SPEC_METRICS
    from brainbench.spec import CLASSIFICATION_METRICS, REGRESSION_METRICS

    assert set(metric_names("classification")) == set(CLASSIFICATION_METRICS)
    assert set(metric_names("regression")) == set(REGRESSION_METRICS)


def test_every_metric_cites_a_reference():
    for name in METRICS:
        m = METRICS.get(name)
        assert m.reference and ("doi" in m.reference or "PMLR" in m.reference), name
        assert m.description


def test_unknown_metric_suggests_the_closest():
    with pytest.raises(UserError, match="Did you mean 'auroc'"):
        METRICS.get("aucroc")


def _binary(seed, n=200):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = np.clip(0.3 * y + rng.random(n) * 0.7, 0, 1)
    score = np.round(score, 2)  # ties
    pred = (score >= 0.5).astype(int)
    return y, pred, score


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_classification_metrics_match_sklearn(seed):
    y, pred, score = _binary(seed)
    cols = Columns(y=y, pred=pred, score=score)
    tn, fp, fn, _tp = skm.confusion_matrix(y, pred).ravel()
    expected = {
        "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
        "accuracy": skm.accuracy_score(y, pred),
        "sensitivity": skm.recall_score(y, pred),
        "specificity": tn / (tn + fp),
        "ppv": skm.precision_score(y, pred),
        "npv": tn / (tn + fn),
        "f1": skm.f1_score(y, pred),
        "mcc": skm.matthews_corrcoef(y, pred),
        "auroc": skm.roc_auc_score(y, score),
        "average_precision": skm.average_precision_score(y, score),
        "brier": skm.brier_score_loss(y, score),
        "log_loss": skm.log_loss(y, np.clip(score, 1e-15, 1 - 1e-15)),
    }
    for name, value in expected.items():
        assert_allclose(METRICS.get(name)(cols), value, rtol=1e-12, err_msg=name)


def test_debiased_ece_matches_kumar_monte_carlo_and_removes_the_bias():
    from scipy.stats import norm

    rng = np.random.default_rng(3)
    n = 400
    score = rng.random(n)
    y = (rng.random(n) < score).astype(int)  # perfectly calibrated: true ECE 0
    cols = Columns(y=y, score=score)
    b = np.minimum((score * 10).astype(int), 9)
    # Kumar et al.'s estimator: 2 * plug-in - mean over normal draws of each bin's frequency.
    plug = METRICS.get("ece")(cols)
    w, ybar, pbar = (
        np.array([np.mean(b == k) for k in range(10)]),
        np.array([y[b == k].mean() for k in range(10)]),
        np.array([score[b == k].mean() for k in range(10)]),
    )
    sd = np.sqrt(ybar * (1 - ybar) / (w * n))
    draws = norm.rvs(ybar, sd, size=(200_000, 10), random_state=4)
    monte_carlo = 2 * plug - np.mean(np.abs(draws - pbar) @ w)
    deb = METRICS.get("ece_debiased")(cols)
    assert_allclose(deb, monte_carlo, atol=2e-4)
    assert abs(deb) < plug  # closer to the truth (0) than the plug-in


def test_ece_by_hand():
    y = np.array([0, 0, 1, 1, 1])
    score = np.array([0.05, 0.15, 0.15, 0.95, 1.0])
    # bins: [0,.1): {0.05, y=0}; [.1,.2): {0.15 y=0, 0.15 y=1}; [.9,1]: {0.95, 1.0 both y=1}
    expected = (1 * 0.05 + 2 * abs(0.5 - 0.15) + 2 * abs(1 - 0.975)) / 5
    assert_allclose(METRICS.get("ece")(Columns(y=y, score=score)), expected, rtol=1e-12)


def test_regression_metrics_match_sklearn_and_scipy():
    rng = np.random.default_rng(3)
    y = 70 + 8 * rng.standard_normal(300)
    p = y + 4 * rng.standard_normal(300) + 1.0
    cols = Columns(y=y, pred=p, n_classes=0)
    assert_allclose(METRICS.get("mae")(cols), skm.mean_absolute_error(y, p), rtol=1e-12)
    assert_allclose(METRICS.get("rmse")(cols), np.sqrt(skm.mean_squared_error(y, p)), rtol=1e-12)
    assert_allclose(METRICS.get("r2")(cols), skm.r2_score(y, p), rtol=1e-10)
    from scipy.stats import pearsonr

    assert_allclose(METRICS.get("pearson_r")(cols), pearsonr(y, p).statistic, rtol=1e-10)


def test_multiclass_balanced_accuracy_and_accuracy():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 3, 150)
    pred = np.where(rng.random(150) < 0.6, y, rng.integers(0, 3, 150))
    cols = Columns(y=y, pred=pred, n_classes=3, positive=2)
    assert_allclose(METRICS.get("balanced_accuracy")(cols), skm.balanced_accuracy_score(y, pred))
    assert_allclose(METRICS.get("accuracy")(cols), skm.accuracy_score(y, pred))


def test_undefined_metrics_are_nan_not_errors():
    one_class = Columns(y=np.ones(5, int), pred=np.ones(5, int), score=np.linspace(0, 1, 5))
    for name in ("balanced_accuracy", "specificity", "auroc", "mcc"):
        assert np.isnan(METRICS.get(name)(one_class)), name
    assert METRICS.get("sensitivity")(one_class) == 1.0


def test_compute_metric_on_labels():
    y = ["CN", "AD", "AD", "CN", "AD"]
    pred = ["CN", "AD", "CN", "CN", "AD"]
    assert compute_metric("sensitivity", y, pred, positive="AD") == pytest.approx(2 / 3)
    assert compute_metric("specificity", y, pred, positive="AD") == pytest.approx(1.0)
    with pytest.raises(UserError, match="positive"):
        compute_metric("sensitivity", y, pred)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(4, 40),
    seed=st.integers(0, 10_000),
    name=st.sampled_from(sorted(SPEC_METRICS)),
)
def test_weights_equal_repeated_rows(n, seed, name):
    """The bootstrap identity: metric(multiplicities w) == metric(rows repeated w times)."""
    rng = np.random.default_rng(seed)
    m = METRICS.get(name)
    if m.task == "regression":
        cols = Columns(y=rng.normal(size=n), pred=rng.normal(size=n), n_classes=0)
    else:
        y = rng.integers(0, 2, n)
        score = np.round(rng.random(n), 1)
        cols = Columns(y=y, pred=(score >= 0.5).astype(int), score=score)
    w = rng.integers(0, 4, n)
    repeated = cols.subset(np.repeat(np.arange(n), w))
    got = m.on_weights(cols, w[None, :].astype(float))[0]
    want = m(repeated) if len(repeated) else np.nan
    if m.name in ("r2", "pearson_r") and np.isfinite(want):
        assert_allclose(got, want, rtol=1e-6, atol=1e-9)
    else:
        assert_allclose(got, want, rtol=1e-9, atol=1e-12, equal_nan=True)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 60))
def test_probability_metrics_are_bounded(seed, n):
    rng = np.random.default_rng(seed)
    cols = Columns(y=rng.integers(0, 2, n), score=rng.random(n))
    for name in ("brier", "ece", "auroc", "average_precision"):
        v = METRICS.get(name)(cols)
        lo, hi = METRICS.get(name).bounds
        assert np.isnan(v) or lo - 1e-12 <= v <= hi + 1e-12


# --------------------------------------------------------------------------------------------
# metric_info: the one source of direction, kind and scale
# --------------------------------------------------------------------------------------------
def test_metric_info_declares_direction_kind_and_units_for_every_metric():
    from brainbench.stats import metric_info

    lower = {"brier", "log_loss", "ece", "ece_debiased", "mae", "rmse"}
    for name in METRICS:
        info = metric_info(name)
        assert info.higher_is_better is (name not in lower), name
        assert info.kind in ("discrimination", "calibration", "overall"), name
        assert info.units, name
        assert info.in_target_units is (name in {"mae", "rmse"}), name
    assert metric_info("ece").is_calibration
    assert not metric_info("auroc").is_calibration
    assert metric_info("mae").best_word == "lowest"
    assert metric_info("r2").best_word == "highest"


def test_metric_info_gain_and_chance():
    from brainbench.stats import metric_info

    mae = metric_info("mae")
    # A model with a smaller error is better: its difference a - b is negative, its gain positive.
    assert mae.gain(-1.5) == 1.5 and mae.better(2.0, 3.0) and not mae.better(3.0, 2.0)
    assert metric_info("auroc").gain(0.1) == 0.1
    assert metric_info("balanced_accuracy").chance(3) == pytest.approx(1 / 3)
    assert metric_info("auroc").chance(4) == 0.5
    assert metric_info("mae").chance() is None
    with pytest.raises(UserError, match="Did you mean"):
        metric_info("maee")


def test_ece_interval_holds_its_estimate_on_a_small_test_set():
    """The plug-in ECE sits below its own percentile interval on small samples (bins get
    noisier in resamples); the bootstrap bias-corrected estimate lies inside the basic
    interval."""
    import pandas as pd

    from brainbench.stats import evaluate_predictions

    rng = np.random.default_rng(1)
    n = 24
    p = rng.uniform(0.05, 0.95, n)
    df = pd.DataFrame(
        {
            "model": "m",
            "subject": [f"s{i}" for i in range(n)],
            "y_true": (rng.random(n) < p).astype(int),
            "score": p,
        }
    )
    for metric in ("ece", "ece_debiased"):
        (r,) = evaluate_predictions(
            df, [metric], unit="subject", method="bootstrap", resamples=500, seed=0
        )
        assert r.ci_low <= r.estimate <= r.ci_high, (metric, r)
        assert r.interval == "basic, bootstrap bias-corrected"
        assert any("bias-corrected" in w for w in r.warnings)
