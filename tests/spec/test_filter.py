from __future__ import annotations

import contextlib

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from brainbench.errors import UserError
from brainbench.spec.filter import FilterError, parse_filter

TABLE = pd.DataFrame(
    {
        "diagnosis": ["CN", "AD", "MCI", None, "AD"],
        "age": [60, 50, 70, 80, 90],
        "site": ["a", "b", "a", "b", "c"],
        "score": ["1.5", "2", "x", None, "3"],
    }
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("diagnosis in ['CN', 'AD']", [True, True, False, False, True]),
        ("diagnosis not in ['CN']", [False, True, True, False, True]),
        ("age >= 60 and site == 'a'", [True, False, True, False, False]),
        ('age < 55 or site == "c"', [False, True, False, False, True]),
        ("not (age > 65)", [True, True, False, False, False]),
        ("diagnosis is missing", [False, False, False, True, False]),
        ("diagnosis is not missing and age != 90", [True, True, True, False, False]),
        ("diagnosis != 'AD'", [True, False, True, False, False]),
    ],
)
def test_filter_semantics(text, expected):
    assert parse_filter(text).mask(TABLE).tolist() == expected


def test_filter_is_not_python():
    with pytest.raises(FilterError):
        parse_filter("__import__('os').system('ls')")
    with pytest.raises(FilterError):
        parse_filter("age >= 55; import os")


@pytest.mark.parametrize("text", ["", "age >=", "age in 'CN'", "(age > 1", "age > 1 age"])
def test_parse_errors_point_at_position(text):
    with pytest.raises(FilterError) as info:
        parse_filter(text)
    assert "does not parse" in info.value.message


def test_unknown_column_did_you_mean():
    with pytest.raises(UserError, match="Did you mean 'diagnosis'"):
        parse_filter("diagnosys == 'AD'").mask(TABLE)


def test_text_column_against_number_is_explained():
    with pytest.raises(UserError, match="cannot compare"):
        parse_filter("score > 1").mask(TABLE)


@given(st.text(max_size=60))
def test_parser_never_crashes(text):
    with contextlib.suppress(FilterError):
        parse_filter(text)


_names = st.sampled_from(["age", "site", "diagnosis"])
_values = st.one_of(st.integers(-5, 100), st.sampled_from(["'a'", "'AD'", "'CN'"]))


@given(
    st.lists(
        st.tuples(_names, st.sampled_from(["==", "!=", "<", ">=", "in"]), _values), min_size=1
    ),
    st.lists(st.sampled_from(["and", "or"]), min_size=10, max_size=10),
)
def test_generated_filters_evaluate_to_boolean_masks(conditions, joins):
    parts = []
    for name, op, value in conditions:
        parts.append(f"{name} in [{value}]" if op == "in" else f"{name} {op} {value}")
    text = parts[0] + "".join(f" {j} {p}" for j, p in zip(joins, parts[1:], strict=False))
    try:
        mask = parse_filter(text).mask(TABLE)
    except UserError:
        return  # e.g. text column compared with a number: a clear error is fine
    assert mask.dtype == bool and len(mask) == len(TABLE)
