"""The rank kernel of AUROC and average precision (rank once, cumulative sums per resample)
gives the previous implementation's values on the same multiplicities and scikit-learn's
weighted point estimates, including ties, empty classes and integer totals beyond int32."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import metrics as skm

from brainbench.stats._metrics import METRICS, Columns
from tests.stats.rank_reference import auroc_reference, average_precision_reference

AUROC = METRICS.get("auroc")
AP = METRICS.get("average_precision")


def _case(seed: int, n: int, levels: int) -> tuple[Columns, np.ndarray, np.ndarray]:
    """Scores on ``levels`` distinct values (few levels: many ties), rows mapped to atoms."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = rng.integers(0, levels, n) / levels + 0.1 * y
    atoms = rng.integers(0, max(1, n // 2), n)
    return Columns(y=y, score=score), atoms, rng


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 120),
    levels=st.sampled_from([1, 2, 5, 1000]),
    as_float=st.booleans(),
)
def test_same_values_as_the_previous_code_on_the_same_weights(seed, n, levels, as_float):
    cols, atoms, rng = _case(seed, n, levels)
    W = rng.integers(0, 4, (7, int(atoms.max()) + 1))
    W = W.astype(float) if as_float else W
    # AUROC's numerator is an exact integer in both implementations: equal to the bit.
    assert_array_equal(AUROC.on_weights(cols, W, atoms), auroc_reference(cols, W, atoms))
    # AP sums the same per-group terms; only the summation order can differ.
    assert_allclose(
        AP.on_weights(cols, W, atoms),
        average_precision_reference(cols, W, atoms),
        rtol=1e-13,
        atol=1e-15,
        equal_nan=True,
    )


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 150), levels=st.sampled_from([2, 7, 500]))
def test_weights_match_sklearn_sample_weight(seed, n, levels):
    cols, _, rng = _case(seed, n, levels)
    w = rng.integers(0, 5, n)
    y = cols.y
    if w[y == 1].sum() == 0 or w[y == 0].sum() == 0:
        return  # undefined in scikit-learn (it raises); NaN here, tested below
    got_auc = AUROC.on_weights(cols, w[None, :])[0]
    got_ap = AP.on_weights(cols, w[None, :])[0]
    assert_allclose(got_auc, skm.roc_auc_score(y, cols.score, sample_weight=w), rtol=1e-12)
    assert_allclose(got_ap, skm.average_precision_score(y, cols.score, sample_weight=w), rtol=1e-12)


@pytest.mark.parametrize(
    ("y", "score"),
    [
        ([0, 1], [0.5, 0.5]),  # one tie between the classes
        ([0, 0, 1, 1], [0.2, 0.2, 0.2, 0.2]),  # everything tied
        ([1, 0, 0, 0, 0], [0.9, 0.1, 0.9, 0.3, 0.9]),  # one positive tied with two negatives
        ([1, 1, 0, 1, 0, 0], [0.1, 0.1, 0.1, 0.8, 0.8, 0.05]),  # ties within both classes
        ([0, 1, 0, 1, 1], [3.0, -1.0, 2.0, 5.0, 5.0]),  # scores outside [0, 1]
    ],
)
def test_point_estimates_with_ties_match_sklearn(y, score):
    y, score = np.array(y), np.array(score, dtype=float)
    cols = Columns(y=y, score=score)
    assert_allclose(AUROC(cols), skm.roc_auc_score(y, score), rtol=1e-12)
    assert_allclose(AP(cols), skm.average_precision_score(y, score), rtol=1e-12)


def test_undefined_resamples_are_nan_and_zero_weight_rows_drop_out():
    cols = Columns(y=np.array([1, 0, 1, 0]), score=np.array([0.9, 0.2, 0.4, 0.6]))
    W = np.array([[1, 0, 1, 0], [0, 1, 0, 1], [1, 1, 0, 0], [0, 0, 0, 0]])
    auc = AUROC.on_weights(cols, W)
    ap = AP.on_weights(cols, W)
    assert np.isnan(auc[[0, 1, 3]]).all() and auc[2] == 1.0
    assert ap[0] == 1.0 and np.isnan(ap[[1, 3]]).all() and ap[2] == 1.0
    assert AUROC.on_weights(cols, np.zeros((0, 4), dtype=np.int64)).shape == (0,)


def _exact_auroc(cols: Columns, w: np.ndarray) -> float:
    """The weighted Mann-Whitney statistic in exact integer arithmetic (Python ints)."""
    pos = [(int(wi), si) for wi, si, yi in zip(w, cols.score, cols.y, strict=True) if yi == 1]
    neg = [(int(wi), si) for wi, si, yi in zip(w, cols.score, cols.y, strict=True) if yi == 0]
    twice = sum(wp * wn * int(2 * (sn < sp) + (sn == sp)) for wp, sp in pos for wn, sn in neg)
    return twice / (2 * sum(wp for wp, _ in pos) * sum(wn for wn, _ in neg))


def test_integer_totals_beyond_int32_stay_exact():
    """Multiplicities summing past 2^30 switch to int64 sums (exact numerator); past 2^61
    pairs, float64 accumulation. Both stay within rounding of the exact value."""
    cols, atoms, rng = _case(3, 60, 7)
    for low in (2**25, 2**40):
        W = rng.integers(low, 2 * low, (3, int(atoms.max()) + 1))
        assert W.sum(axis=1).min() > 2**30
        got = AUROC.on_weights(cols, W, atoms)
        exact = [_exact_auroc(cols, w[atoms]) for w in W]
        assert_allclose(got, exact, rtol=1e-15 if low < 2**30 else 1e-12)
        assert_allclose(got, auroc_reference(cols, W, atoms), rtol=1e-12)
        assert_allclose(
            AP.on_weights(cols, W, atoms),
            average_precision_reference(cols, W, atoms),
            rtol=1e-13,
        )


def test_bootstrap_interval_is_unchanged_end_to_end(hier):
    """The same seed gives the same AUROC resamples as the previous implementation."""
    import dataclasses

    from brainbench.stats import Task, model_data
    from brainbench.stats._bootstrap import Statistic
    from brainbench.stats._data import design_for
    from brainbench.stats._evaluate import run_blocks

    md = model_data(hier[hier["model"] == hier["model"].iloc[0]], hier["model"].iloc[0],
                    Task("classification", ("CN", "AD")), "image")  # fmt: skip
    design, _ = design_for(md, ["site", "subject"], stratify=True)
    old = dataclasses.replace(AUROC, weighted=auroc_reference)
    a = Statistic(design, run_blocks(md, AUROC, design)).resample(300, np.random.default_rng(1))
    b = Statistic(design, run_blocks(md, old, design)).resample(300, np.random.default_rng(1))
    assert_array_equal(a, b)
    assert np.isfinite(a).all()
