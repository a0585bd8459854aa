"""Arrow's reader of large plain TSV/CSV files (issue 16) against pandas' parser.

Every file is read twice, once with the Arrow path forced (``PLAIN_MIN_BYTES = 0``) and once
by pandas alone: the frames (values, missing values, dtypes, column names) or the error
messages must be the same. The texts mix what pandas treats specially: quotes, carriage
returns, blank and whitespace-only lines, trailing tabs, NA spellings, ragged rows, a BOM,
NUL bytes, invalid UTF-8 and characters Python splits lines at.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brainbench.cohort import _io
from brainbench.errors import UserError

# field values: NA spellings, blanks inside fields, numbers, accents
FIELDS = st.sampled_from(
    ["a", "b1", "7", "-2.5", "1e3", "  x ", " y", "n/a", "NA", "nan", "N/A", "", "é", "#", "'",
     "\\", "z\x0c", "\u2028"]
)  # fmt: skip
# what pandas treats specially, inserted anywhere: quotes, line ends, blank lines, tabs, NUL
SPECIALS = st.sampled_from(
    ['"', '"q"', "\r", "\r\n", "\n", "\n\n", "\n ", " \n", "\t", "\t\n", ",", "\x00", "\x85",
     "\x0b", "\u2029"]
)  # fmt: skip


@st.composite
def table_bytes(draw: st.DrawFn) -> tuple[bytes, str]:
    """A small table (header of distinct names, rows of the header's width), then up to two
    special strings inserted anywhere, a BOM or an invalid UTF-8 byte now and then."""
    sep = draw(st.sampled_from(["\t", ","]))
    width = draw(st.integers(1, 4))
    rows = draw(st.lists(st.lists(FIELDS, min_size=width, max_size=width), min_size=0, max_size=6))
    lines = [sep.join(f"c{i}" for i in range(width)), *(sep.join(r) for r in rows)]
    text = "\n".join(lines) + draw(st.sampled_from(["\n", ""]))
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(SPECIALS) + text[at:]
    data = text.encode()
    if draw(st.integers(0, 4)) == 0:
        data = b"\xef\xbb\xbf" + data
    if draw(st.integers(0, 9)) == 0:
        data += b"\xff"
    return data, sep


def read_both(tmp: Path, data: bytes, sep: str, monkeypatch: pytest.MonkeyPatch) -> tuple:
    path = tmp / ("t.tsv" if sep == "\t" else "t.csv")
    path.write_bytes(data)
    out = []
    for limit in (0, 1 << 62):
        monkeypatch.setattr(_io, "PLAIN_MIN_BYTES", limit)
        try:
            out.append(_io.read_delimited(path, keep_text=("c0",)))
        except UserError as exc:
            out.append(exc.message)
    return tuple(out)


def assert_same(plain: object, general: object) -> None:
    if isinstance(general, str) or isinstance(plain, str):
        assert plain == general
        return
    assert isinstance(plain, pd.DataFrame) and isinstance(general, pd.DataFrame)
    assert list(plain.columns) == list(general.columns)
    assert plain.columns.dtype == general.columns.dtype
    assert list(plain.dtypes) == list(general.dtypes)
    pd.testing.assert_frame_equal(plain, general, check_exact=True)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=table_bytes())
def test_plain_reader_equals_pandas(
    case: tuple[bytes, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert_same(*read_both(tmp_path, *case, monkeypatch))


@pytest.mark.parametrize("sep", ["\t", ","])
def test_plain_file_is_read_by_arrow(
    sep: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain file at or above the size limit never reaches pandas' parser; same frame."""
    rows = [sep.join(["participant_id", "age", "sex", "note"])]
    rows += [  # the last field empty: a TSV line ending in a tab
        sep.join([f"sub-{i:03d}", f"{60 + i % 7}.5", "F" if i % 2 else "n/a", ""])
        for i in range(300)
    ]
    data = ("\n".join(rows) + "\n").encode()
    path = tmp_path / ("t.tsv" if sep == "\t" else "t.csv")
    path.write_bytes(data)
    general = _io.read_delimited(path)
    monkeypatch.setattr(_io, "PLAIN_MIN_BYTES", len(data))

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("pandas' parser called for a plain file")

    monkeypatch.setattr(pd, "read_csv", refuse)
    plain = _io.read_delimited(path)
    assert_same(plain, general)
    assert plain["age"].dtype.kind == "f" and plain["note"].isna().all()


def test_plain_reader_errors_are_pandas_messages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row longer than the header, invalid UTF-8, a duplicate or empty column name: the
    same message (file, line) whichever path reads the file; a header alone, no rows."""
    cases = [
        b"a\tb\n1\t2\n3\t4\t5\n",
        b"a\tb\n1\t2\n3\t\xe9\n",
        b"a\ta\n1\t2\n",
        b"a\tNA\n1\t2\n",
        b"a\tb\n",
    ]
    for data in cases:
        assert_same(*read_both(tmp_path, data, "\t", monkeypatch))


def to_numbers_before(df: pd.DataFrame) -> pd.DataFrame:
    """``to_numbers`` before issue 16 (a conversion of the values present, then another of the
    whole column): the reference of the one-pass version."""
    for col in df.columns:
        s = df[col]
        non_na = s.dropna()
        if non_na.empty or pd.to_numeric(non_na.iloc[:64], errors="coerce").isna().any():
            continue
        if pd.to_numeric(non_na, errors="coerce").notna().all():
            df[col] = pd.to_numeric(s, errors="coerce")
    return df


NUMBERISH = st.sampled_from(
    [None, "1", "-2", "2.5", " 3", "4 ", "1e3", "-1e-2", "inf", "-inf", "0x10", "1_000", "1,5",
     "18446744073709551615", "-9223372036854775809", "99999999999999999999999", "abc", "", "."]
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(values=st.lists(NUMBERISH, min_size=1, max_size=300))
def test_to_numbers_one_pass_equals_before(values: list[str | None]) -> None:
    df = pd.DataFrame(
        {"v": pd.array(values, dtype=pd.StringDtype("pyarrow", na_value=float("nan")))}
    )
    pd.testing.assert_frame_equal(
        _io.to_numbers(df.copy()), to_numbers_before(df.copy()), check_exact=True
    )
