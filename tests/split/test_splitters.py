"""The scikit-learn-style splitters: one invariant suite over all of them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brainbench.errors import UserError
from brainbench.split import (
    SPLITTERS,
    GroupHoldout,
    GroupKFold,
    LeaveOneGroupOut,
    RepeatedSplitter,
)

SPLITTER_FACTORIES = {
    "holdout": lambda seed: GroupHoldout(0.25, random_state=seed),
    "kfold": lambda seed: GroupKFold(4, random_state=seed),
    "leave-group-out": lambda seed: LeaveOneGroupOut(),
    "repeated-kfold": lambda seed: RepeatedSplitter(
        GroupKFold, n_repeats=2, random_state=seed, n_splits=3
    ),
}


@st.composite
def grouped_data(draw):
    n_groups = draw(st.integers(4, 40))
    sizes = draw(st.lists(st.integers(1, 4), min_size=n_groups, max_size=n_groups))
    labels = draw(st.lists(st.integers(0, 2), min_size=n_groups, max_size=n_groups))
    ids = draw(st.permutations([f"g{i:03d}" for i in range(n_groups)]))
    groups = np.repeat(np.array(ids), sizes)
    y = np.repeat(np.array(labels), sizes)
    return groups, y


@pytest.mark.parametrize("name", sorted(SPLITTER_FACTORIES))
@settings(max_examples=25, deadline=None)
@given(data=grouped_data(), seed=st.integers(0, 2**32 - 1))
def test_invariants(name, data, seed):
    groups, y = data
    splitter = SPLITTER_FACTORIES[name](seed)
    splits = list(splitter.split(None, y, groups))
    assert len(splits) == splitter.get_n_splits(None, y, groups)
    tested = []
    for train, test in splits:
        # disjoint and covering, no group on both sides
        assert len(np.intersect1d(train, test)) == 0
        assert len(train) + len(test) == len(groups)
        assert not set(groups[train]) & set(groups[test])
        assert len(test) > 0 and len(train) > 0
        tested.append(test)
    if name in ("kfold", "leave-group-out"):
        # every sample is tested exactly once
        counts = np.bincount(np.concatenate(tested), minlength=len(groups))
        assert (counts == 1).all()
    # same seed, same split (determinism); the order of the samples does not matter
    again = list(SPLITTER_FACTORIES[name](seed).split(None, y, groups))
    for (a, b), (c, d) in zip(splits, again, strict=True):
        assert np.array_equal(a, c) and np.array_equal(b, d)


@settings(max_examples=25, deadline=None)
@given(data=grouped_data(), seed=st.integers(0, 1000))
def test_kfold_stratifies_each_stratum_within_one_group(data, seed):
    groups, y = data
    k = 3
    _, first = np.unique(groups, return_index=True)
    strata = y[first]
    folds = GroupKFold(k, random_state=seed).folds(y, groups)
    g_fold = folds[first]
    for s in np.unique(strata):
        counts = np.bincount(g_fold[strata == s], minlength=k)
        assert counts.max() - counts.min() <= 1
    overall = np.bincount(g_fold, minlength=k)
    assert overall.max() - overall.min() <= 1


@settings(max_examples=25, deadline=None)
@given(data=grouped_data(), size=st.floats(0.1, 0.5), seed=st.integers(0, 1000))
def test_holdout_size_and_strata(data, size, seed):
    groups, y = data
    n = len(np.unique(groups))
    ((_, test),) = GroupHoldout(size, random_state=seed).split(None, y, groups)
    n_test = len(np.unique(groups[test]))
    assert n_test == min(max(int(np.floor(n * size + 0.5)), 1), n - 1)
    uniq, first = np.unique(groups, return_index=True)
    in_test = np.isin(uniq, groups[test])
    for s in np.unique(y[first]):
        members = y[first] == s
        expected = members.sum() * n_test / n
        assert abs(in_test[members].sum() - expected) <= 1 + 1e-9


def test_sample_order_does_not_change_the_groups_split():
    rng = np.random.default_rng(1)
    groups = np.repeat([f"s{i}" for i in range(30)], 2)
    y = np.repeat(rng.integers(0, 2, 30), 2)
    perm = rng.permutation(len(groups))
    a = GroupKFold(3, random_state=5).folds(y, groups)
    b = GroupKFold(3, random_state=5).folds(y[perm], groups[perm])
    assert np.array_equal(a[perm], b)


def test_reference_split_is_stable_across_platforms():
    # A regression guard: PCG64 streams are platform-independent, so this must never change.
    sizes = [1, 2, 3, 1, 2, 3, 1, 2, 3, 4, 1, 1]
    groups = np.repeat(np.arange(12), sizes)
    y = np.repeat(np.array([0, 1] * 6), sizes)
    folds = GroupKFold(3, random_state=2024).folds(y, groups)
    assert folds.tolist() == [0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0] + [1, 1, 1] + [2] * 9
    ((_, test),) = GroupHoldout(0.25, random_state=7).split(None, y, groups)
    assert test.tolist() == [0, 9, 10, 11, 23]


def test_kfold_spreads_group_sizes():
    # groups of 1 to 8 samples in one stratum: the snake deal evens the samples per fold
    rng = np.random.default_rng(0)
    sizes = rng.integers(1, 9, 300)
    groups = np.repeat(np.arange(300), sizes)
    counts = [len(t) for _, t in GroupKFold(5, random_state=1).split(groups=groups)]
    assert max(counts) - min(counts) <= 0.03 * np.mean(counts)


def test_repr_and_registry():
    assert (
        repr(GroupKFold(5, random_state=3))
        == "GroupKFold(n_splits=5, stratify=True, random_state=3)"
    )
    assert repr(GroupHoldout()) == "GroupHoldout(test_size=0.2, stratify=True, random_state=None)"
    assert SPLITTERS.get("kfold") is GroupKFold
    with pytest.raises(UserError, match="Did you mean 'kfold'"):
        SPLITTERS.get("kfodl")


def test_bad_parameters():
    with pytest.raises(ValueError, match="'n_splits' parameter of GroupKFold must be an int >= 2"):
        GroupKFold(1)
    with pytest.raises(ValueError, match="'test_size' parameter of GroupHoldout"):
        GroupHoldout(1.5)
    with pytest.raises(UserError, match="Cannot make 5 folds from 3 group"):
        list(GroupKFold(5).split(groups=["a", "b", "c"]))
    with pytest.raises(UserError, match="at least 2 groups"):
        list(LeaveOneGroupOut().split(groups=["a", "a"]))


def test_repeats_are_independent_and_prefix_stable():
    groups = np.arange(50)
    two = [
        t.tolist()
        for _, t in RepeatedSplitter(GroupKFold, n_repeats=2, random_state=1, n_splits=5).split(
            groups=groups
        )
    ]
    three = [
        t.tolist()
        for _, t in RepeatedSplitter(GroupKFold, n_repeats=3, random_state=1, n_splits=5).split(
            groups=groups
        )
    ]
    assert three[:10] == two
    assert two[:5] != two[5:]
