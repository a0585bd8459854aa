"""Integer codes of ids: factorising once and sorting only the distinct ids gives exactly
``np.unique`` of every sample's text (the platform-stable order the splits depend on)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from brainbench.split._splitters import _as_text, encode_groups, sorted_codes

_ID = st.one_of(
    st.text(alphabet="ab01-_é", min_size=0, max_size=4),
    st.integers(-3, 20),
    st.none(),
    st.just(float("nan")),
    st.floats(0, 3, allow_nan=False).map(lambda x: round(x, 1)),
)


def _reference(values):
    g = np.asarray(values)
    if g.dtype.kind not in "iuU":
        g = _as_text(g)
    ids, first, inverse = np.unique(g, return_index=True, return_inverse=True)
    return ids, first, inverse.reshape(-1)


@settings(max_examples=80, deadline=None)
@given(st.lists(_ID, min_size=1, max_size=40))
def test_same_as_unique_of_the_text(values):
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    for form in (arr, np.asarray([str(v) for v in values])):
        got, want = sorted_codes(form), _reference(form)
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.integers(0, 30), min_size=1, max_size=60),
    st.lists(st.sampled_from(["CN", "AD", "MCI"]), min_size=60, max_size=60),
)
def test_encode_groups_of_integers_and_text(groups, labels):
    y = np.asarray(labels[: len(groups)])
    as_int = encode_groups(np.asarray(groups), y)
    as_text = encode_groups(np.asarray([f"sub-{g:03d}" for g in groups], dtype=object), y)
    # Zero-padded text sorts like the integers: the same codes and strata either way.
    np.testing.assert_array_equal(as_int[0], as_text[0])
    np.testing.assert_array_equal(as_int[1], as_text[1])


def test_distinct_ids_equal_as_unicode_text_are_merged_as_np_unique_merges_them():
    values = np.array(["b", "a\x00", "a", "é", "e\u0301", "a", "B"], dtype=object)
    for got, want in zip(sorted_codes(values), _reference(values), strict=True):
        np.testing.assert_array_equal(got, want)
