"""Integer-code helpers (issue 16) against the pandas calls on text they replace."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from brainbench.cohort._checks import _sorted_by_session
from brainbench.cohort._codes import duplicated, first_per_group, first_units, sorted_codes
from brainbench.cohort._findings import lines_text
from brainbench.cohort._table import _under
from brainbench.split._make import _first_seen, first_rows
from brainbench.validate.data_rules import _mixed

# ids that sort differently by code point than by locale or case, missing, 'n/a' itself
ID = st.one_of(
    st.none(), st.sampled_from(["a", "B", "b", "n/a", "é", "e\u0301", "10", "9", "", "Z z", "ä"])
)


def frame(rows: list[tuple]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["cohort", "subject", "session", "image", "age"])
    for c in ("cohort", "subject", "session", "image"):
        df[c] = df[c].astype("string")
    return df


rows_st = st.lists(st.tuples(ID, ID, ID, ID, st.sampled_from([1.0, 2.0, None])), max_size=40)


@settings(max_examples=60, deadline=None)
@given(rows=rows_st, keep=st.sampled_from(["first", "last", False]))
def test_duplicated_equals_pandas(rows: list[tuple], keep: str | bool) -> None:
    df = frame(rows)
    for cols in (list(df.columns), ["cohort", "subject", "session", "image"], ["age"]):
        expected = df.duplicated(cols, keep=keep).to_numpy()  # type: ignore[arg-type]
        assert np.array_equal(duplicated(df, cols, keep=keep), expected)


@settings(max_examples=60, deadline=None)
@given(rows=rows_st, missing_first=st.booleans())
def test_lexsort_on_sorted_codes_is_sort_values(rows: list[tuple], missing_first: bool) -> None:
    df = frame(rows)
    cols = ["cohort", "subject", "session", "image"]
    na = "first" if missing_first else "last"
    expected = df.sort_values(cols, kind="stable", na_position=na).index.to_numpy()
    codes = [sorted_codes(df[c], missing_first=missing_first)[0] for c in cols]
    assert np.array_equal(np.lexsort(codes[::-1]), expected)
    for c in cols:  # the codes rank what pd.factorize(sort=True) gives
        code, distinct = sorted_codes(df[c])
        fcode, funiques = pd.factorize(df[c], sort=True)
        assert list(distinct) == list(funiques)
        assert np.array_equal(np.where(fcode < 0, len(funiques), fcode), code)


@settings(max_examples=60, deadline=None)
@given(rows=rows_st, order=st.lists(st.integers(0, 3), max_size=40))
def test_first_per_group_and_first_rows(rows: list[tuple], order: list[int]) -> None:
    df = frame(rows).assign(session_index=(order + [0] * len(rows))[: len(rows)])
    keys = df["subject"].fillna("n/a")
    code = sorted_codes(keys)[0]
    expected = (
        pd.DataFrame({"g": code, "s": df["session_index"], "i": np.arange(len(df))})
        .sort_values(["g", "s", "i"], kind="stable")
        .drop_duplicates("g")["i"]
        .to_numpy()
    )
    assert np.array_equal(first_per_group([code], df["session_index"].to_numpy()), expected)
    got_code, got_pos = first_rows(df, keys)
    assert np.array_equal(got_code, pd.factorize(keys, sort=True)[0])
    assert np.array_equal(got_pos, expected)


@settings(max_examples=60, deadline=None)
@given(rows=rows_st)
def test_first_seen_equals_factorize_of_the_sorted_text(rows: list[tuple]) -> None:
    df = frame(rows)
    for c in ("subject", "image"):
        code, distinct = sorted_codes(df[c].astype("string[pyarrow]"), missing_first=True)
        by_id = np.argsort(code, kind="stable")
        base = df[c].iloc[by_id].reset_index(drop=True)
        exp_codes, exp_uniques = pd.factorize(base.astype("string").fillna("n/a"), sort=False)
        got_codes, got_uniques = _first_seen(df[c], code, distinct, by_id)
        assert np.array_equal(got_codes, exp_codes)
        assert list(got_uniques) == list(exp_uniques)
        assert pd.Index(got_uniques).dtype == pd.Index(exp_uniques).dtype


PATH = st.one_of(
    st.none(), st.sampled_from(["a/b.nii", "/abs/x.nii", "C:/w/x", "c:/y", "./r", "é f", ""])
)


@settings(max_examples=40, deadline=None)
@given(values=st.lists(PATH, max_size=20))
def test_image_paths_under_the_manifest_folder(values: list[str | None]) -> None:
    v = pd.Series(values, dtype="string")
    expected = v.where(v.str.match(r"^(/|[A-Za-z]:/)"), "/base/dir" + "/" + v)
    got = _under("/base/dir", v)
    assert got.dtype == expected.dtype
    assert got.equals(expected)


@settings(max_examples=60, deadline=None)
@given(rows=rows_st, order=st.lists(st.integers(0, 3), max_size=40))
def test_first_units_is_sort_then_drop_duplicates(rows: list[tuple], order: list[int]) -> None:
    df = frame(rows).assign(session_index=(order + [0] * len(rows))[: len(rows)])
    df.index = np.arange(len(df))[::-1] * 3  # labels, not positions, come back
    for keys in (["cohort", "subject"], ["cohort", "subject", "session", "image"]):
        expected = df.sort_values([*keys, "session_index"], kind="stable").drop_duplicates(keys)
        assert first_units(df, keys, "session_index").equals(expected)


@settings(max_examples=60, deadline=None)
@given(key=st.lists(st.integers(0, 6), max_size=50), part=st.lists(st.integers(0, 3), max_size=50))
def test_keys_with_mixed_parts_as_np_unique_found_them(key: list[int], part: list[int]) -> None:
    n = min(len(key), len(part))
    k, p = np.array(key[:n], dtype=np.int64), np.array(part[:n], dtype=np.int64)
    for spread in (1, 10**9):  # keys indexed directly, and factorised first
        kk = k * spread
        pairs = np.unique(kk * 4 + p)
        owners, counts = np.unique(pairs // 4, return_counts=True)
        assert np.array_equal(_mixed(kk, p), owners[counts > 1])


@given(lines=st.lists(st.integers(1, 30), max_size=12), limit=st.integers(1, 6))
def test_lines_text_as_before(lines: list[int], limit: int) -> None:
    distinct = sorted(set(lines))
    head = ", ".join(str(x) for x in distinct[:limit])
    more = f" and {len(distinct) - limit} more" if len(distinct) > limit else ""
    word = "line" if len(distinct) == 1 else "lines"
    assert lines_text(lines, limit) == f"{word} {head}{more}"
    assert lines_text(np.array(lines, dtype=np.int64), limit) == f"{word} {head}{more}"


@settings(max_examples=40, deadline=None)
@given(rows=rows_st, order=st.lists(st.integers(0, 3), max_size=40))
def test_session_order_sort_as_sort_values(rows: list[tuple], order: list[int]) -> None:
    df = frame(rows).assign(session_index=(order + [0] * len(rows))[: len(rows)])
    sub = df.dropna(subset=["cohort", "subject"])
    expected = sub.sort_values(["cohort", "subject", "session_index"], kind="stable")
    assert _sorted_by_session(sub).equals(expected)


def test_sorted_codes_remembered_per_arrow_column() -> None:
    """A column coded again (the rules code the cohort's ids many times) gives the same codes
    from memory; callers own what they get; the memory ends with the column's data."""
    import gc

    from brainbench.cohort import _codes

    rows = [("c", "b", "1", None, 1.0), ("c", None, "2", "x", 2.0), ("c", "a", "1", "y", None)]
    table = frame(rows * 2)
    subject = table["subject"]  # ids shared by rows: remembered
    first, uniques = sorted_codes(subject)
    first[0] = 99  # the caller's own array
    key = id(subject.array._pa_array)
    assert key in _codes._MEMO
    again, again_uniques = sorted_codes(subject, missing_first=True)
    assert again.tolist() == [1, -1, 0] * 2 and list(again_uniques) == list(uniques) == ["a", "b"]
    part = sorted_codes(table[["subject", "age"]]["subject"])[0]
    assert part.tolist() == [1, 2, 0] * 2
    as_str = subject.astype("str")  # other missing value: coded on its own
    assert sorted_codes(as_str)[0].tolist() == [1, 2, 0] * 2
    distinct = pd.Series(list("qrpuzs"), dtype="string")  # distinct ids: not remembered
    assert sorted_codes(distinct)[0].tolist() == [1, 2, 0, 4, 5, 3]
    assert id(distinct.array._pa_array) not in _codes._MEMO
    ref = _codes._MEMO[key][0]
    del table, subject, as_str
    gc.collect()
    assert ref() is None and _codes._MEMO.get(key, (None,))[0] is not ref


@settings(max_examples=60, deadline=None)
@given(rows=rows_st)
def test_varies_equals_groupby_nunique(rows: list[tuple]) -> None:
    """The hierarchy checks' fast question: does some group hold several values?"""
    from brainbench.cohort._codes import varies

    df = frame(rows)
    for keys, value in ((["cohort", "subject"], "session"), (["cohort"], "image"),
                        (["subject", "session"], "age")):  # fmt: skip
        sub = df[[*keys, value]].dropna()
        expected = bool((sub.groupby(keys)[value].nunique() > 1).any()) if len(sub) else False
        assert varies(df, keys, value) == expected


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.sampled_from(["train", "validation", "test", "ext", None]), max_size=30))
def test_is_in_equals_isin_on_text(values: list[str | None]) -> None:
    """Split partitions tested on categorical codes, as ``isin`` tests their text."""
    from brainbench.validate.data_rules import _is_in

    wanted = ["train", "validation"]
    expected = pd.Series(values, dtype="string").isin(wanted).to_numpy(dtype=bool, na_value=False)
    for col in (pd.Series(values, dtype="category"), pd.Series(values, dtype="string")):
        assert np.array_equal(_is_in(col, wanted), expected)


def session_order_before(table: pd.DataFrame) -> pd.Series:
    """``session_order`` before issue 16 (labels mapped, then a groupby dense rank)."""
    from brainbench.cohort._table import natural_key

    sessions = table["session"]
    if sessions.isna().all():
        return pd.Series(np.zeros(len(table), dtype=np.int64), index=table.index)
    labels = pd.unique(sessions.dropna())
    ordered = sorted(labels, key=lambda x: (natural_key(x), str(x)))
    rank = pd.Series(np.arange(len(ordered)), index=pd.Index(ordered, dtype="string"))
    r = sessions.map(rank).fillna(-1).astype(np.int64)
    keyed = pd.DataFrame({"c": table["cohort"], "s": table["subject"], "r": r})
    ranks = keyed.groupby(["c", "s"], sort=False, dropna=False)["r"].rank(method="dense")
    return ranks.astype(np.int64) - 1


SESSION = st.one_of(
    st.none(), st.sampled_from(["ses-M00", "ses-M06", "ses-M12", "bl", "m06", "ses-2", "10", "9"])
)


@settings(max_examples=80, deadline=None)
@given(rows=st.lists(st.tuples(ID, ID, SESSION), max_size=40), start=st.integers(0, 3))
def test_session_order_equals_groupby_rank(rows: list[tuple], start: int) -> None:
    from brainbench.cohort._table import session_order

    df = pd.DataFrame(rows, columns=["cohort", "subject", "session"], dtype="string")
    df.index = pd.RangeIndex(start, start + len(df))
    pd.testing.assert_series_equal(session_order(df), session_order_before(df), check_names=False)


@settings(max_examples=80, deadline=None)
@given(rows=st.lists(st.tuples(ID, ID, ID), max_size=40), seed=st.integers(0, 2**16))
def test_ties_by_text_equals_lexsort_of_every_code(rows: list[tuple], seed: int) -> None:
    """Rows ordered on (cohort, subject, session) codes, ties broken by distinct image paths
    coded alone, as the split orders rows on all four codes."""
    from brainbench.split._make import _ties_by_text

    images = pd.Series([f"img{i}" for i in np.random.default_rng(seed).permutation(len(rows))])
    df = frame([(*r, img, None) for r, img in zip(rows, images, strict=True)])
    codes = [sorted_codes(df[c], missing_first=True)[0] for c in ("cohort", "subject", "session")]
    full = np.lexsort([sorted_codes(df["image"])[0], *reversed(codes)])
    tied = _ties_by_text(np.lexsort(list(reversed(codes))), codes, df["image"])
    assert tied.tolist() == full.tolist()


def test_no_repeats_survive_a_row_filter() -> None:
    """A column that repeats no value keeps none after a filter (remembered, not hashed
    again); one with repeats leaves the filtered copy to be computed."""
    from brainbench.cohort import _codes
    from brainbench.cohort._codes import no_repeats_kept, repeats

    distinct = pd.Series(["a", "b", None, "c"], dtype="string")
    assert not repeats(distinct).any()
    kept = distinct[[True, False, True, True]].reset_index(drop=True)
    no_repeats_kept(distinct, kept)
    assert id(kept.array._pa_array) in _codes._MEMO
    assert repeats(kept).tolist() == kept.duplicated(keep=False).tolist() == [False] * 3
    twice = pd.Series(["a", "a", "b"], dtype="string")
    assert repeats(twice).tolist() == [True, True, False]
    part = twice[[True, False, True]].reset_index(drop=True)
    no_repeats_kept(twice, part)
    assert id(part.array._pa_array) not in _codes._MEMO
