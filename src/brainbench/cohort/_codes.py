"""Integer codes for the id columns of large cohort tables (issue 16).

Factorising a text column hashes each value once; sorting it compares strings over and over.
These helpers sort only the distinct ids (by code point, missing last, as pandas sorts Arrow
strings) and work on the integer codes, giving the same answers as the pandas calls they
replace (tests/cohort/test_codes.py compares them).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

_PROBES = ("image", "image_path", "subject")
"""Columns that tell most rows apart: duplicates are searched among rows sharing one."""


def duplicated(table: pd.DataFrame, columns: Sequence[str], *, keep: str | bool) -> np.ndarray:
    """``table.duplicated(columns, keep=keep)`` as a boolean array.

    Rows equal on ``columns`` are equal on each of them, so only the rows whose value in one
    selective column (an image path) repeats are compared on every column.
    """
    import numpy as np

    probe = next((c for c in _PROBES if c in columns and c in table.columns), None)
    if probe is None:
        return table.duplicated(list(columns), keep=keep).to_numpy()  # type: ignore[arg-type]
    candidate = repeats(table[probe])
    out = np.zeros(len(table), dtype=bool)
    if candidate.any():
        rows = np.flatnonzero(candidate)
        part = table.iloc[rows].duplicated(list(columns), keep=keep)  # type: ignore[arg-type]
        out[rows] = part.to_numpy()
    return out


def sorted_codes(
    values: pd.Series | pd.Index, *, missing_first: bool = False
) -> tuple[np.ndarray, pd.api.extensions.ExtensionArray | np.ndarray]:
    """(code of each value, the distinct values in sorted order): codes follow that order,
    missing values get ``-1`` placed first or ``len(distinct)`` placed last.

    ``np.lexsort`` on these codes orders rows as ``sort_values(kind="stable", na_position=
    ...)`` orders the text, and the codes ranks what ``pd.factorize(sort=True)`` gives.
    """
    import numpy as np

    codes, order, uniques = _factorised(values)
    rank = np.empty(len(uniques) + 1, dtype=np.int64)
    rank[order] = np.arange(len(uniques))
    rank[-1] = -1 if missing_first else len(uniques)
    return rank[codes], uniques.take(order)


#: What was computed from Arrow columns, by the identity of their (immutable) Arrow data, for
#: as long as it lives: the rules and the split code the same id columns of the cohort table
#: over and over (sub-frames share the column's data)
_MEMO: dict[int, tuple[weakref.ref, dict[Any, Any]]] = {}


def _forget(ref: weakref.ref, key: int) -> None:
    if _MEMO.get(key, (None,))[0] is ref:
        del _MEMO[key]


def _remembered(values: pd.Series | pd.Index, what: str, compute: Callable[[], Any]) -> Any:
    """``compute()`` (a result and whether to keep it), once per Arrow column, dtype and
    container (a Series or an Index; "str" or "string" dtype) of ``values``."""
    import pyarrow as pa

    data = getattr(getattr(values, "array", None), "_pa_array", None)
    if not isinstance(data, pa.ChunkedArray):
        return compute()[0]
    kind = (what, type(values), values.dtype)
    entry = _MEMO.get(id(data))
    if entry is not None and entry[0]() is data and kind in entry[1]:
        return entry[1][kind]
    result, keep = compute()
    if keep:
        if entry is None or entry[0]() is not data:
            key = id(data)
            entry = (weakref.ref(data, lambda r: _forget(r, key)), {})
            _MEMO[key] = entry
        entry[1][kind] = result
    return result


def no_repeats_kept(before: pd.Series, after: pd.Series) -> None:
    """Remember that ``after`` (rows of ``before``) repeats no value when ``before`` was found
    to repeat none: a cohort's include filter copies its columns, and the hierarchy checks
    would hash a million image paths again."""
    import numpy as np
    import pyarrow as pa

    data = getattr(getattr(before, "array", None), "_pa_array", None)
    entry = _MEMO.get(id(data)) if isinstance(data, pa.ChunkedArray) else None
    if entry is None or entry[0]() is not data:
        return
    known = entry[1].get(("repeats", type(before), before.dtype))
    if known is None or known.any():
        return

    def compute() -> tuple[np.ndarray, bool]:
        out = np.zeros(len(after), dtype=bool)
        out.flags.writeable = False
        return out, True

    _remembered(after, "repeats", compute)


def _factorised(values: pd.Series | pd.Index) -> tuple[np.ndarray, np.ndarray, Any]:
    """(codes, -1 for missing; the order that sorts the distinct values; the distinct values)
    of ``values``; remembered for ids shared by rows (subjects, sites), not for distinct ones,
    whose text would stay in memory twice."""

    def compute() -> tuple[tuple[np.ndarray, np.ndarray, Any], bool]:
        import numpy as np
        import pandas as pd
        import pyarrow as pa
        import pyarrow.compute as pc

        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        if isinstance(uniques.dtype, pd.StringDtype):
            # Arrow sorts UTF-8 bytewise: the code-point order of Python and of pandas' sort
            order = pc.array_sort_indices(pa.array(uniques)).to_numpy()
        else:
            order = np.argsort(np.asarray(uniques), kind="stable")
        codes.flags.writeable = False  # shared by every caller
        return (codes, order, uniques), 2 * len(uniques) <= len(codes)

    return _remembered(values, "factorised", compute)


def repeats(values: pd.Series) -> np.ndarray:
    """``values.duplicated(keep=False)`` as a read-only array, remembered (a byte per row)."""

    def compute() -> tuple[np.ndarray, bool]:
        out = values.duplicated(keep=False).to_numpy()
        out.flags.writeable = False
        return out, True

    return _remembered(values, "repeats", compute)


def factorised_codes(values: pd.Series) -> np.ndarray:
    """``pd.factorize(values)[0]`` (missing: -1), read-only, remembered like
    :func:`sorted_codes`' for a column of shared Arrow ids."""
    return _factorised(values)[0]


def first_of_runs(values: np.ndarray) -> np.ndarray:
    """True where a value differs from the one before it (and at the first position)."""
    import numpy as np

    out = np.ones(len(values), dtype=bool)
    out[1:] = values[1:] != values[:-1]
    return out


def first_per_group(keys: Sequence[np.ndarray], then: np.ndarray) -> np.ndarray:
    """Positions, in order of the groups' keys, of each group's row with the smallest ``then``
    (the earliest such row on ties): ``sort_values(keys + [then], kind="stable")
    .drop_duplicates(keys)`` as positions."""
    import numpy as np

    order = np.lexsort((then, *reversed(keys)))
    if not len(order):
        return order
    sorted_keys = [k[order] for k in keys]
    new = np.ones(len(order), dtype=bool)
    new[1:] = np.logical_or.reduce([k[1:] != k[:-1] for k in sorted_keys])
    return order[new]


def first_units(table: pd.DataFrame, keys: Sequence[str], then: str) -> pd.DataFrame:
    """``table.sort_values([*keys, then], kind="stable").drop_duplicates(keys)``: each unit's
    row with the smallest ``then``, units in sorted order of their keys (missing last)."""
    if table.empty:
        return table.sort_values([*keys, then], kind="stable").drop_duplicates(list(keys))
    codes = [sorted_codes(table[k])[0] for k in keys]
    return table.iloc[first_per_group(codes, table[then].to_numpy())]


def varies(table: pd.DataFrame, keys: list[str], value: str) -> bool:
    """Whether a group of rows equal on ``keys`` holds several ``value`` values (rows missing
    any of them left out): ``groupby(keys)[value].nunique() > 1`` anywhere, on the integer
    codes of the columns (the id columns' are coded once), the question asked before the
    findings' details since a clean cohort has none."""
    import numpy as np
    import pandas as pd

    codes = [factorised_codes(table[c]) for c in [*keys, value]]
    present = np.logical_and.reduce([c >= 0 for c in codes])
    if not present.any():
        return False
    key = np.zeros(int(present.sum()), dtype=np.int64)
    for c in codes[:-1]:  # combined, then coded again (hashing): dense whatever the keys
        c = c[present]
        key = pd.factorize(key * (int(c.max()) + 1) + c)[0]
    part = codes[-1][present]
    low = np.full(int(key.max()) + 1, np.iinfo(np.int64).max)
    high = np.full(len(low), -1)
    np.minimum.at(low, key, part)
    np.maximum.at(high, key, part)
    return bool((low < high).any())
