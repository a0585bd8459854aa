"""Preparation of a model's rows: ids joined by Arrow and labels coded per distinct value give
exactly what the per-row text conversions gave."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from brainbench.stats._data import _join
from brainbench.stats._io import _label_codes, _label_strings

_TEXT = st.one_of(st.none(), st.text(alphabet="ab|é1 ", max_size=3))


def _join_per_row(frame: pd.DataFrame, cols: list[str]) -> list[str]:
    out = None
    for c in cols:
        part = frame[c].astype(object).where(frame[c].notna(), "").astype(str)
        out = part if out is None else out + "|" + part
    return out.tolist()


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(_TEXT, st.integers(-5, 5), _TEXT), min_size=1, max_size=20))
def test_join_equals_the_per_row_concatenation(rows):
    a, b, c = zip(*rows, strict=True)
    frame = pd.DataFrame(
        {
            "site": pd.array(a, dtype="string"),
            "repeat": np.asarray(b, dtype=np.int64),
            "subject": pd.Series(c, dtype=object),
            "score": [float(x) if x % 2 else np.nan for x in b],
        }
    )
    for cols in (["site"], ["repeat", "site"], ["site", "subject", "score", "repeat"]):
        assert _join(frame, cols).tolist() == _join_per_row(frame, cols)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.one_of(st.none(), st.sampled_from(["CN", "AD", "MCI", "1", 1, 0, 1.0])),
                min_size=1, max_size=30))  # fmt: skip
def test_label_codes_equal_mapping_every_row(labels):
    code = {"CN": 0, "AD": 1, "1": 2}
    s = pd.Series(labels, dtype=object)
    got, want = _label_codes(s, code), _label_strings(s).map(code)
    np.testing.assert_array_equal(got.to_numpy(dtype=float), want.to_numpy(dtype=float))
    if not want.isna().any():
        assert got.dtype == want.dtype
