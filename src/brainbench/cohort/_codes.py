"""Integer codes for the id columns of large cohort tables (issue 16).

Factorising a text column hashes each value once; sorting it compares strings over and over.
These helpers sort only the distinct ids (by code point, missing last, as pandas sorts Arrow
strings) and work on the integer codes, giving the same answers as the pandas calls they
replace (tests/cohort/test_codes.py compares them).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
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
    candidate = table[probe].duplicated(keep=False).to_numpy()
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


#: Factorised Arrow columns, by the identity of their (immutable) Arrow data, for as long as
#: it lives: the rules and the split code the same id columns of the cohort table over and
#: over (sub-frames share the column's data)
_FACTORISED: dict[int, tuple[weakref.ref, dict[Any, tuple[Any, Any, Any]]]] = {}


def _forget(ref: weakref.ref, key: int) -> None:
    if _FACTORISED.get(key, (None,))[0] is ref:
        del _FACTORISED[key]


def _factorised(values: pd.Series | pd.Index) -> tuple[np.ndarray, np.ndarray, Any]:
    """(codes, -1 for missing; the order that sorts the distinct values; the distinct values)
    of ``values``, computed once per Arrow column."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    data = getattr(getattr(values, "array", None), "_pa_array", None)
    kind = (type(values), values.dtype)  # a Series or an Index; "str" or "string"
    known: dict[Any, tuple[Any, Any, Any]] | None = None
    if not isinstance(data, pa.ChunkedArray):
        data = None
    elif id(data) in _FACTORISED and _FACTORISED[id(data)][0]() is data:
        known = _FACTORISED[id(data)][1]
        if kind in known:
            return known[kind]
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    if isinstance(uniques.dtype, pd.StringDtype):
        # Arrow sorts UTF-8 bytewise: the code-point order of Python and of pandas' sort
        order = pc.array_sort_indices(pa.array(uniques)).to_numpy()
    else:
        order = np.argsort(np.asarray(uniques), kind="stable")
    if data is not None and 2 * len(uniques) <= len(codes):
        # ids shared by rows (subjects, sites); not distinct ones, whose text would stay
        # in memory twice
        codes.flags.writeable = False  # shared by every caller
        if known is None:
            key = id(data)
            known = {}
            _FACTORISED[key] = (weakref.ref(data, lambda r: _forget(r, key)), known)
        known[kind] = (codes, order, uniques)
    return codes, order, uniques


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
