"""Sizes of many image files at once: one folder listing where a folder holds many of them.

Rule D301 compares image contents across subjects; it needs each file's size (to read only
files that share their size with another subject's) and the count of missing files. One
``stat`` per path is what a cohort of a million sessions cost most (each a failed path walk
when the data are not mounted). Here the paths are walked top down, one folder level at a
time, with integer codes: a folder that holds at least :data:`DENSE` of the walked folders or
files is listed once, and every path below a name absent from the listing is missing without
a system call. What remains is ``stat``-ed as before (in threads: on the network file systems
of clusters latency dominates).

The result is the one of ``os.stat(path).st_size`` per path (-1 when it raises ``OSError``):
a name absent from its folder's listing cannot be walked through. Two cases where a name
resolves although the listing lacks it are guarded against: case-insensitive file systems
(a name matching a listed one once case-folded and NFC-normalised is ``stat``-ed) and
automounters that show a key only once used (a few absent names of each listed folder are
``stat``-ed; if one exists the listing is not trusted for that folder). Listing is POSIX
only; elsewhere every path is ``stat``-ed.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

DENSE = 8
"""A folder is listed when at least this many distinct names below it are walked."""
PROBES = 3
"""Absent names ``stat``-ed per listed folder before its listing is trusted."""
BLOCK = 1 << 18
"""Paths walked together (a quarter of a million: about 100 MB at the walk's peak)."""
_SPECIAL = frozenset({"", ".", ".."})  # not names a listing shows: always walked


def stat_sizes(paths: Sequence[str]) -> list[int]:
    """``os.stat(p).st_size`` of each path, -1 where it raises (threads above 2,000 paths)."""

    def sizes(chunk: Sequence[str]) -> list[int]:
        out = []
        for p in chunk:
            try:
                out.append(os.stat(p).st_size)
            except (OSError, ValueError):  # ValueError: an embedded NUL byte
                out.append(-1)
        return out

    if len(paths) < 2000:
        return sizes(paths)
    step = -(-len(paths) // 8)
    chunks = [paths[i : i + step] for i in range(0, len(paths), step)]
    with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
        return [s for part in pool.map(sizes, chunks) for s in part]


def file_sizes(
    paths: Sequence[str] | np.ndarray, *, dense: int = DENSE, block: int = BLOCK
) -> np.ndarray:
    """Size in bytes of each file, -1 where ``os.stat`` fails (see the module doc).

    Paths are walked ``block`` at a time (each its own listings), which bounds the memory the
    walk takes whatever the number of paths.
    """
    import numpy as np
    import pyarrow as pa

    text = pa.array(paths, type=pa.large_string())
    if isinstance(text, pa.Array):
        text = pa.chunked_array([text])
    sizes = np.full(len(text), -1, dtype=np.int64)
    for start in range(0, len(text), block):
        part = text.slice(start, block).combine_chunks()
        alive = _not_ruled_out(part, dense) if os.name == "posix" else np.arange(len(part))
        if len(alive):
            sizes[start + alive] = stat_sizes(part.take(pa.array(alive)).to_pylist())
    return sizes


def _not_ruled_out(text: object, dense: int) -> np.ndarray:
    """Positions of the paths that no folder listing rules out, in order."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    parts = pc.split_pattern(text, "/")
    depth = pc.list_value_length(parts).to_numpy(zero_copy_only=False)
    offsets = parts.offsets.to_numpy().astype(np.int64)
    start = offsets[:-1] - offsets[0]
    flat = parts.flatten()
    # the folders every path shares (the common prefix of the first and last path in sort
    # order) hold one name each: the walk starts below them
    ends = pc.min_max(text)
    # character prefix on purpose: only its complete components ('/'-terminated) are used
    shared = os.path.commonprefix([ends["min"].as_py(), ends["max"].as_py()])  # noqa: RUF071
    level = shared.count("/")
    rows = np.arange(len(depth))
    node = np.zeros(len(rows), dtype=np.int64)  # each walked row's folder so far
    ruled_out = np.zeros(len(depth), dtype=bool)
    while len(rows):
        more = depth[rows] > level
        rows, node = rows[more], node[more]
        if not len(rows):
            break
        name_code, comp_text = _codes(flat.take(pa.array(start[rows] + level)))
        key = node * len(comp_text) + name_code
        child = np.unique(key, return_inverse=True)[1].reshape(-1)
        n_child = int(child.max()) + 1
        child_node = np.empty(n_child, dtype=np.int64)
        child_node[child] = node
        listed = np.flatnonzero(np.bincount(child_node) >= dense)
        if len(listed):
            child_name = np.empty(n_child, dtype=np.int64)
            child_name[child] = name_code
            first_row = np.empty(int(node.max()) + 1, dtype=np.int64)
            first_row[node[::-1]] = rows[::-1]
            order = np.argsort(child_node, kind="stable")
            bounds = np.searchsorted(child_node[order], [listed, listed + 1])
            names = comp_text.to_pylist()
            absent = np.zeros(n_child, dtype=bool)
            for f, lo, hi in zip(listed, bounds[0], bounds[1], strict=True):
                folder = "/".join(parts[int(first_row[f])].as_py()[:level]) or "/"
                kids = order[lo:hi]
                absent[kids] = _absent(folder, [names[k] for k in child_name[kids]])
            gone = absent[child]
            ruled_out[rows[gone]] = True
            rows, child = rows[~gone], child[~gone]
        node = child
        level += 1
    return np.flatnonzero(~ruled_out)


def _codes(values: object) -> tuple[np.ndarray, object]:
    """(int64 code of each value, the distinct values as an Arrow array)."""
    import numpy as np

    encoded = values.dictionary_encode()  # type: ignore[attr-defined]
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, encoded.dictionary


def _absent(folder: str, names: list[str]) -> np.ndarray:
    """For each name below ``folder``: True when the folder's listing shows it cannot exist."""
    import numpy as np

    out = np.zeros(len(names), dtype=bool)
    try:
        listing = set(os.listdir(folder))
    except (OSError, ValueError):  # unreadable (x without r), not a folder, gone: stat decides
        return out
    sep = "" if folder.endswith("/") else "/"
    cased = next((x for x in listing if x != x.swapcase()), None)
    if cased is not None and os.path.lexists(folder + sep + cased.swapcase()):
        # case-insensitive folder: a name is absent only if no listed name folds to it
        folded = {_fold(x) for x in listing}
        absent = [n not in listing and n not in _SPECIAL and _fold(n) not in folded for n in names]
    else:
        absent = [n not in listing and n not in _SPECIAL for n in names]
    out[:] = absent
    probes = np.flatnonzero(out)[:PROBES]
    if any(os.path.lexists(folder + sep + names[i]) for i in probes):
        out[:] = False  # an automounter or a file system the listing misrepresents
    return out


def _fold(name: str) -> str:
    return unicodedata.normalize("NFC", name).casefold()


__all__ = ["DENSE", "file_sizes", "stat_sizes"]
