"""Hierarchy-aware splitters in scikit-learn's style.

Each splitter is a small class with ``split(X, y=None, groups=None)`` yielding ``(train, test)``
index arrays and ``get_n_splits()``; its ``repr`` shows its parameters. ``groups`` holds, per
sample, the id of the unit that must never be cut (a subject, a site, a dataset); ``y`` holds,
per sample, the stratum to balance (label, or label and covariate bins combined). A group's
stratum is the one of its **first sample**, so callers pass samples ordered by session (the
baseline first).

Allocation is systematic and fully vectorised: groups are ordered by (stratum, random key) and
then dealt round-robin to folds (k-fold) or sampled at a regular step with a random phase
(holdout). Each stratum is thus split in the requested proportions up to one group, and the
whole allocation costs one sort. Randomness comes only from ``numpy.random.Generator(PCG64)``
seeded explicitly, and ids are ordered by their text (never by ``hash``), so a seed gives the
same split on every platform.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from brainbench.errors import UserError
from brainbench.registry_base import Registry

SPLITTERS: Registry[type] = Registry("splitter")


def _rng(random_state: Any) -> np.random.Generator:
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None:
        random_state = 0
    return np.random.Generator(np.random.PCG64(random_state))


def _as_text(values: Any) -> np.ndarray:
    """Text form of any ids (missing -> 'n/a'), as a fixed-width unicode array."""
    import pandas as pd

    s = pd.Series(np.asarray(values, dtype=object)).astype("string").fillna("n/a")
    return s.to_numpy(dtype=str)


def sorted_codes(values: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``np.unique(text, return_index=True, return_inverse=True)`` of the ids' text form
    (:func:`_as_text`), without sorting every sample's text.

    A text id column is factorised once (hashing, in order of first appearance), only the
    distinct ids are converted to text and sorted, and the samples' codes are mapped to the
    sorted order: the same sorted ids, first indices and codes, so a seed still gives the same
    split on every platform, at a fraction of the cost when ids repeat (sessions of a
    subject) or are many.
    """
    import pandas as pd

    v = np.asarray(values)
    textual = v.dtype.kind == "U" or (
        v.dtype.kind == "O" and pd.api.types.infer_dtype(v, skipna=True) in ("string", "empty")
    )
    if not textual:
        # Integers sort as they are; mixed or float ids (0 and 0.0 hash alike but print
        # differently) take the text of every row.
        g = v if v.dtype.kind in "iu" else _as_text(v)
        ids, first, inverse = np.unique(g, return_index=True, return_inverse=True)
        return ids, first, inverse.reshape(-1)
    codes, uniques = pd.factorize(v)
    if len(codes) and codes.min() < 0:  # missing ids: one 'n/a' id, as _as_text writes them
        text = np.append(_as_text(np.asarray(uniques, dtype=object)), "n/a")
        codes = np.where(codes < 0, len(text) - 1, codes)
        ids, to_sorted = np.unique(text, return_inverse=True)  # merges 'n/a' and missing
    else:
        ids, to_sorted = _sort_distinct(np.asarray(uniques, dtype=object))
    inverse = to_sorted.reshape(-1)[codes]
    first = np.empty(len(ids), dtype=np.int64)
    first[inverse[::-1]] = np.arange(len(inverse) - 1, -1, -1)  # the earliest index wins
    return ids, first, inverse


def _sort_distinct(uniques: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(_as_text(uniques), return_inverse=True)`` of distinct Python strings,
    sorted by Arrow (UTF-8 bytes: the code-point order of numpy's unicode arrays)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = uniques.astype(str)  # what _as_text writes for strings
    order = pc.array_sort_indices(pa.array(uniques, type=pa.large_string())).to_numpy()
    ids = text[order]
    if len(ids) > 1 and bool((ids[1:] == ids[:-1]).any()):
        # distinct strings equal in a unicode array ('a' and 'a\0'): np.unique merges them
        ids, to_sorted = np.unique(text, return_inverse=True)
        return ids, to_sorted
    to_sorted = np.empty(len(order), dtype=np.int64)
    to_sorted[order] = np.arange(len(order))
    return ids, to_sorted


def encode_groups(groups: Any, y: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Codes of each sample's group (in sorted order of the ids), and each group's stratum code.

    Returns ``(sample_group, group_stratum, group_ids)``.
    """
    if groups is None:
        raise ValueError("The 'groups' parameter should not be None.")
    group_ids, first, inverse = sorted_codes(groups)
    if y is None:
        strata = np.zeros(len(group_ids), dtype=np.int64)
    else:
        yy = np.asarray(y)
        if len(yy) != len(inverse):
            raise ValueError(
                f"Found input variables with inconsistent numbers of samples: y has {len(yy)}, "
                f"groups has {len(inverse)}."
            )
        # a group's stratum is its first sample's: np.unique of its text, by codes
        strata = sorted_codes(yy[first])[2]
    return inverse, strata.reshape(-1), group_ids


def size_bins(sizes: np.ndarray) -> np.ndarray:
    """Coarse size classes (a factor sqrt(2) wide): groups of similar size stay shuffled."""
    return np.floor(2 * np.log2(np.maximum(np.asarray(sizes, dtype=float), 1))).astype(np.int64)


def _ordered_groups(
    strata: np.ndarray, rng: np.random.Generator, sizes: np.ndarray | None = None
) -> np.ndarray:
    """Group codes ordered by stratum, then by decreasing size class, randomly within."""
    key = rng.permutation(len(strata))
    if sizes is None:
        return np.lexsort((key, strata))
    return np.lexsort((key, -size_bins(sizes), strata))


def allocate_kfold(
    strata: np.ndarray,
    n_splits: int,
    rng: np.random.Generator,
    sizes: np.ndarray | None = None,
) -> np.ndarray:
    """Fold (0..n_splits-1) of each group.

    Groups are ordered by (stratum, decreasing size class, random) and dealt in a snake
    (0..k-1, k-1..0, ...) inside each stratum, so large and small groups spread evenly. Each
    stratum's last, incomplete round goes to the folds next in a global cursor, so every
    stratum is split within one group of even, and so is the whole set of groups.
    """
    n, k = len(strata), int(n_splits)
    order = _ordered_groups(strata, rng, sizes)
    s_sorted = strata[order]
    starts = np.r_[0, np.flatnonzero(np.diff(s_sorted)) + 1]
    lengths = np.diff(np.r_[starts, n])
    r = np.arange(n) - np.repeat(starts, lengths)
    q, t = r // k, r % k
    rem = lengths % k
    cursor = (int(rng.integers(k)) + np.r_[0, np.cumsum(rem)[:-1]]) % k
    full = q < np.repeat(lengths // k, lengths)
    even = q % 2 == 0
    within = np.where(
        full, np.where(even, t, k - 1 - t), np.where(even, t, np.repeat(rem, lengths) - 1 - t)
    )
    fold = np.empty(n, dtype=np.int64)
    fold[order] = (np.repeat(cursor, lengths) + within) % k
    return fold


def allocate_holdout(
    strata: np.ndarray,
    test_size: float | int,
    rng: np.random.Generator,
    sizes: np.ndarray | None = None,
) -> np.ndarray:
    """Boolean mask of test groups: a systematic sample at step G/n_test with a random phase
    over groups ordered by (stratum, decreasing size class, random)."""
    n = len(strata)
    # Half up (not banker's rounding), so that 0.25 x 22 groups gives 6 on every platform.
    n_test = int(test_size) if float(test_size) >= 1 else int(np.floor(n * float(test_size) + 0.5))
    n_test = min(max(n_test, 1), n - 1)
    order = _ordered_groups(strata, rng, sizes)
    step = n / n_test
    phase = rng.random() * step
    pos = np.floor(phase + step * np.arange(n_test)).astype(np.int64)
    test = np.zeros(n, dtype=bool)
    test[order[np.minimum(pos, n - 1)]] = True
    return test


class _BaseSplitter:
    _params: tuple[str, ...] = ()

    def __repr__(self) -> str:
        args = ", ".join(f"{p}={getattr(self, p)!r}" for p in self._params)
        return f"{type(self).__name__}({args})"

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        raise NotImplementedError

    def split(
        self, X: Any = None, y: Any = None, groups: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train, test)`` sample indices, sorted, one pair per split."""
        g, strata, _ = encode_groups(groups, y if self._stratified() else None)
        sizes = np.bincount(g, minlength=len(strata))
        for test_groups in self.test_masks(strata, sizes):
            mask = test_groups[g]
            yield np.flatnonzero(~mask), np.flatnonzero(mask)

    def _stratified(self) -> bool:
        return bool(getattr(self, "stratify", False))

    def test_masks(self, strata: np.ndarray, sizes: np.ndarray) -> Iterator[np.ndarray]:
        """Boolean test masks over groups, one per split, from each group's stratum code and
        size (samples per group). ``split`` is this, broadcast to samples."""
        raise NotImplementedError


@SPLITTERS.register("holdout")
class GroupHoldout(_BaseSplitter):
    """One grouped (and stratified) train/test split.

    Parameters
    ----------
    test_size : float or int, default=0.2
        Fraction of groups (0 < test_size < 1) or number of groups in the test set; at least
        one group on each side.
    stratify : bool, default=True
        Balance the strata given as ``y`` (each group's stratum is that of its first sample).
    random_state : int or numpy.random.Generator, default=None
        Seed (None means 0: splits are always reproducible).
    """

    _params = ("test_size", "stratify", "random_state")

    def __init__(
        self, test_size: float | int = 0.2, *, stratify: bool = True, random_state: Any = None
    ) -> None:
        if not (
            0 < float(test_size) < 1 or (float(test_size) >= 1 and int(test_size) == test_size)
        ):
            raise ValueError(
                f"The 'test_size' parameter of GroupHoldout must be a float in (0, 1) or a "
                f"positive int. Got {test_size!r} instead."
            )
        self.test_size = test_size
        self.stratify = stratify
        self.random_state = random_state

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return 1

    def test_masks(self, strata: np.ndarray, sizes: np.ndarray) -> Iterator[np.ndarray]:
        if len(strata) < 2:
            raise UserError(f"A holdout split needs at least 2 groups; the data has {len(strata)}.")
        yield allocate_holdout(strata, self.test_size, _rng(self.random_state), sizes)


@SPLITTERS.register("kfold")
class GroupKFold(_BaseSplitter):
    """Grouped (and stratified) k-fold: every group is in the test fold exactly once.

    Parameters
    ----------
    n_splits : int, default=5
        Number of folds (at least 2, at most the number of groups).
    stratify : bool, default=True
        Balance the strata given as ``y`` across folds.
    random_state : int or numpy.random.Generator, default=None
        Seed (None means 0).
    """

    _params = ("n_splits", "stratify", "random_state")

    def __init__(self, n_splits: int = 5, *, stratify: bool = True, random_state: Any = None):
        if int(n_splits) != n_splits or n_splits < 2:
            raise ValueError(
                f"The 'n_splits' parameter of GroupKFold must be an int >= 2. Got {n_splits!r} "
                "instead."
            )
        self.n_splits = int(n_splits)
        self.stratify = stratify
        self.random_state = random_state

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return self.n_splits

    def folds(self, y: Any = None, groups: Any = None) -> np.ndarray:
        """Fold of each sample (0..n_splits-1), in one vectorised pass."""
        g, strata, _ = encode_groups(groups, y if self.stratify else None)
        return self.group_folds(strata, np.bincount(g, minlength=len(strata)))[g]

    def group_folds(self, strata: np.ndarray, sizes: np.ndarray | None = None) -> np.ndarray:
        """Fold of each group from its stratum code and size."""
        if len(strata) < self.n_splits:
            raise UserError(
                f"Cannot make {self.n_splits} folds from {len(strata)} group(s): each fold "
                "needs at least one group. Lower the number of folds."
            )
        return allocate_kfold(strata, self.n_splits, _rng(self.random_state), sizes)

    def test_masks(self, strata: np.ndarray, sizes: np.ndarray) -> Iterator[np.ndarray]:
        fold = self.group_folds(strata, sizes)
        for k in range(self.n_splits):
            yield fold == k


@SPLITTERS.register("leave-group-out")
class LeaveOneGroupOut(_BaseSplitter):
    """Each group (site, scanner, dataset) is the test set once, in sorted order of the ids.

    ``groups`` are the held-out level's ids (e.g. the site of each sample). Deterministic: no
    seed. ``y`` is ignored.
    """

    _params = ()

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        if groups is None:
            raise ValueError("The 'groups' parameter should not be None.")
        return len(encode_groups(groups)[2])

    def test_masks(self, strata: np.ndarray, sizes: np.ndarray) -> Iterator[np.ndarray]:
        if len(strata) < 2:
            raise UserError(
                f"Leave-one-group-out needs at least 2 groups; the data has {len(strata)}."
            )
        for k in range(len(strata)):
            mask = np.zeros(len(strata), dtype=bool)
            mask[k] = True
            yield mask


class RepeatedSplitter(_BaseSplitter):
    """Repeat a seeded splitter with independent seeds drawn from one ``random_state``.

    Repeat ``r`` uses the seed ``SeedSequence([random_state, r])``: adding repeats never
    changes the earlier ones.

    Parameters
    ----------
    splitter_cls : type
        :class:`GroupHoldout` or :class:`GroupKFold`.
    n_repeats : int, default=10
    random_state : int, default=None (0)
    **params
        Parameters of the splitter (``n_splits``, ``test_size``, ``stratify``).
    """

    def __init__(
        self, splitter_cls: type, *, n_repeats: int = 10, random_state: Any = None, **params: Any
    ) -> None:
        if int(n_repeats) != n_repeats or n_repeats < 1:
            raise ValueError(f"The 'n_repeats' parameter must be an int >= 1. Got {n_repeats!r}.")
        self.splitter_cls = splitter_cls
        self.n_repeats = int(n_repeats)
        self.random_state = random_state
        self.params = params

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return (
            f"RepeatedSplitter({self.splitter_cls.__name__}, n_repeats={self.n_repeats}, "
            f"random_state={self.random_state!r}{', ' + args if args else ''})"
        )

    def splitters(self) -> Iterator[_BaseSplitter]:
        for r in range(self.n_repeats):
            yield self.splitter_cls(**self.params, random_state=repeat_seed(self.random_state, r))

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        inner = self.splitter_cls(**self.params)
        return self.n_repeats * inner.get_n_splits(X, y, groups)

    def split(
        self, X: Any = None, y: Any = None, groups: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for splitter in self.splitters():
            yield from splitter.split(X, y, groups)


def repeat_seed(seed: Any, repeat: int, stream: int = 0) -> int:
    """A 63-bit seed for repeat ``repeat`` (and sub-stream ``stream``) of a base seed."""
    base = 0 if seed is None else int(seed)
    ss = np.random.SeedSequence([base, int(repeat), int(stream)])
    return int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
