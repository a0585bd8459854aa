"""From a cohort table and a split protocol to the frozen split table.

The split table has one row per (repeat, fold, image) with columns ``cohort``, ``subject``,
``session``, ``image``, ``repeat``, ``fold``, ``partition``; partition is ``train``,
``validation``, ``test`` or the id of an external-test cohort. Rows come in a stable order:
repeat, fold, then cohort, subject, session and image by their text. Missing ids are written
``n/a`` (the BIDS convention).

How folds are numbered:

- test ``holdout`` or ``external`` with validation ``kfold`` (V folds): fold ``f`` is the
  model trained with inner fold ``f`` as validation; the test part is the same in every fold;
- test ``kfold`` (K folds) or ``leave-group-out``: fold ``f`` is outer fold ``f``; validation,
  if any, is a grouped holdout inside its training part (``size``, or 1/V for ``kfold``);
- otherwise one fold, ``0``.

With ``sessions: baseline``, test subjects (and external-test subjects) keep only their first
session; their later sessions are dropped, never moved into training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from brainbench.cohort._codes import repeats, sorted_codes
from brainbench.errors import UserError
from brainbench.registry_base import did_you_mean
from brainbench.split._splitters import (
    GroupHoldout,
    GroupKFold,
    LeaveOneGroupOut,
    repeat_seed,
)

if TYPE_CHECKING:
    import pandas as pd

    from brainbench.spec import LoadedSpec

SPLIT_COLUMNS: tuple[str, ...] = (
    "cohort",
    "subject",
    "session",
    "image",
    "repeat",
    "fold",
    "partition",
)
ID_COLUMNS: tuple[str, ...] = ("cohort", "subject", "session", "image")
GROUP_LEVELS: tuple[str, ...] = ("dataset", "site", "scanner", "subject", "session", "image")
TRAIN, VALIDATION, TEST, DROPPED = 0, 1, 2, -1


@dataclass(frozen=True)
class SplitPlan:
    """The split protocol as plain values (``SplitPlan.from_spec(spec.splits)``).

    Parameters
    ----------
    group : str, default='subject'
        Level never cut: dataset, site, scanner, subject, session or image.
    stratify : tuple of str, default=()
        Columns balanced across partitions; numeric columns are cut into ``n_bins`` quantile
        bins of the group-level values (a group's value is the one of its first session).
    test_method : {'holdout', 'kfold', 'leave-group-out', 'external'}, default='holdout'
    test_size : float, default=0.2
    test_folds : int, default=None
    test_group : str, default=None
        leave-group-out: the level held out (site, scanner, dataset).
    sessions : {'all', 'baseline'}, default='all'
    validation_method : {'holdout', 'kfold', 'none'}, default='holdout'
    validation_size : float, default=0.2
    validation_folds : int, default=None
    repeats : int, default=1
    seed : int, default=0
    n_bins : int, default=4
    """

    group: str = "subject"
    stratify: tuple[str, ...] = ()
    test_method: str = "holdout"
    test_size: float | None = 0.2
    test_folds: int | None = None
    test_group: str | None = None
    sessions: str = "all"
    validation_method: str = "holdout"
    validation_size: float | None = 0.2
    validation_folds: int | None = None
    repeats: int = 1
    seed: int = 0
    n_bins: int = 4

    @classmethod
    def from_spec(cls, splits: Any) -> SplitPlan:
        test, val = splits.test, splits.validation
        return cls(
            group=splits.group,
            stratify=tuple(splits.stratify or ()),
            test_method=test.method,
            test_size=test.size,
            test_folds=test.folds,
            test_group=test.group,
            sessions=test.sessions,
            validation_method=val.method,
            validation_size=val.size if val.size is not None else 0.2,
            validation_folds=val.folds,
            repeats=splits.repeats,
            seed=splits.seed,
        )


def _key_columns(level: str) -> list[str]:
    """The columns :func:`group_keys` reads for ``level``."""
    parts = {"dataset": ["dataset"], "site": ["site"], "scanner": ["site", "scanner"]}
    parts |= {"subject": ["subject"], "session": ["subject", "session"]}
    parts["image"] = ["subject", "session", "image"]
    return list(dict.fromkeys(["cohort", level, *parts.get(level, [])]))


def _rows(table: pd.DataFrame, columns: list[str], rows: np.ndarray, index: np.ndarray) -> Any:
    """``columns`` of the rows at positions ``rows``, indexed by ``index`` (positions in the
    sorted order: what ``group_keys`` names rows without an image by)."""
    present = [c for c in dict.fromkeys(columns) if c in table.columns]
    out = table[present].iloc[rows]
    out.index = index
    return out


def group_keys(table: pd.DataFrame, level: str) -> pd.Series:
    """Text key of each row's unit at ``level`` (qualified by cohort below the dataset)."""
    if level not in GROUP_LEVELS:
        raise UserError(
            f"Unknown split group '{level}'.{did_you_mean(level, GROUP_LEVELS)} "
            f"Available: {', '.join(GROUP_LEVELS)}."
        )
    if level == "dataset":
        return table["dataset"].astype("string").fillna("n/a")
    if table[level].isna().all() and level != "image":
        raise UserError(
            f"Cannot split by {level}: the cohort table has no {level} ids (declare "
            f"hierarchy.{level} in the spec, or choose another splits.group)."
        )
    parts = {"site": ["site"], "scanner": ["site", "scanner"], "subject": ["subject"]}
    parts["session"] = ["subject", "session"]
    parts["image"] = ["subject", "session", "image"]
    key = table["cohort"].astype("string").fillna("n/a")
    for col in parts[level]:
        key = key + "/" + table[col].astype("string").fillna("n/a")
    if level == "image":
        # Rows without an image path are their own unit.
        no_image = table["image"].isna()
        if no_image.any():
            key = key.where(~no_image, key + "#" + table.index.astype(str))
    return key


def stratum_labels(first: pd.DataFrame, columns: tuple[str, ...], n_bins: int = 4) -> pd.Series:
    """One stratum label per group from its first row: categories as text, numbers cut into
    ``n_bins`` quantile bins (``age[q2/4]``); ``''`` when nothing is stratified."""
    import pandas as pd

    labels = pd.Series("", index=first.index, dtype="string")
    for i, col in enumerate(columns):
        s = first[col]
        if s.dtype.kind in "if" and s.nunique() > n_bins:
            binned = pd.qcut(s, q=n_bins, labels=False, duplicates="drop")
            text = (
                f"{col}[q" + (binned.astype("Int64") + 1).astype("string") + f"/{n_bins}]"
            ).fillna(f"{col}[n/a]")
        else:
            text = s.astype("string").fillna("n/a")
        labels = text if i == 0 else labels + " | " + text
    return labels


def _strata(first: pd.DataFrame, columns: tuple[str, ...], n_bins: int) -> np.ndarray:
    import pandas as pd

    if not columns:
        return np.zeros(len(first), dtype=np.int64)
    return pd.factorize(stratum_labels(first, columns, n_bins), sort=True)[0]


def first_rows(table: pd.DataFrame, keys: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(group code of each row, position of each group's first row by session order)."""

    from brainbench.cohort._codes import first_per_group

    code = sorted_codes(keys)[0]  # pd.factorize(keys, sort=True)'s codes: keys are never missing
    return code, first_per_group([code], table["session_index"].to_numpy())


def group_strata(table: pd.DataFrame, plan: SplitPlan) -> pd.DataFrame:
    """The development groups of a plan: ``group``, ``stratum`` and ``n_rows``, one row each,
    plus the first row's ``cohort_file``/``cohort_row`` where known."""
    import pandas as pd

    _check_columns(table, plan)
    read = [*_key_columns(plan.group), "session_index", *plan.stratify, "cohort_file"]
    sub = table[[c for c in dict.fromkeys([*read, "cohort_row"]) if c in table.columns]]
    dev = (table["role"] == "development").to_numpy()
    d = sub if dev.all() else sub[dev]  # the columns read, no copy of a million-row table
    keys = group_keys(d, plan.group)
    code, pos = first_rows(d, keys)
    first = d.iloc[pos]
    out = pd.DataFrame(
        {
            "group": keys.iloc[pos].to_numpy(),
            "stratum": stratum_labels(first, plan.stratify, plan.n_bins).to_numpy(),
            "n_rows": np.bincount(code, minlength=len(pos)),
        }
    )
    for col in ("cohort_file", "cohort_row"):
        if col in first.columns:
            out[col] = first[col].to_numpy()
    return out


def _check_columns(table: pd.DataFrame, plan: SplitPlan) -> None:
    for col in plan.stratify:
        if col not in table.columns:
            raise UserError(
                f"splits.stratify names '{col}', which is not a column of the cohort table."
                f"{did_you_mean(col, [str(c) for c in table.columns])}"
            )
    if plan.test_method == "leave-group-out":
        if not plan.test_group:
            raise UserError("A leave-group-out test split needs splits.test.group (e.g. site).")
        if plan.test_group not in GROUP_LEVELS:
            raise UserError(
                f"Unknown splits.test.group '{plan.test_group}'."
                f"{did_you_mean(plan.test_group, GROUP_LEVELS)}"
            )


def _outer_splits(
    plan: SplitPlan,
    strata: np.ndarray,
    sizes: np.ndarray,
    logo_keys: np.ndarray | None,
    repeat: int,
) -> list[np.ndarray]:
    """Test mask over development groups, one per outer split."""
    n = len(strata)
    seed = repeat_seed(plan.seed, repeat, 0)
    stratify = bool(plan.stratify)
    if plan.test_method == "holdout":
        splitter: Any = GroupHoldout(plan.test_size or 0.2, stratify=stratify, random_state=seed)
    elif plan.test_method == "kfold":
        splitter = GroupKFold(plan.test_folds or 5, stratify=stratify, random_state=seed)
    elif plan.test_method == "leave-group-out":
        _, codes = np.unique(logo_keys, return_inverse=True)
        held_out = list(LeaveOneGroupOut().test_masks(np.zeros(codes.max() + 1), sizes))
        return [mask[codes] for mask in held_out]
    elif plan.test_method == "external":
        return [np.zeros(n, dtype=bool)]
    else:
        raise UserError(
            f"Unknown splits.test.method '{plan.test_method}'. Expected holdout, kfold, "
            "leave-group-out or external."
        )
    return list(splitter.test_masks(strata, sizes))


def _inner_splits(
    plan: SplitPlan,
    strata: np.ndarray,
    sizes: np.ndarray,
    test: np.ndarray,
    n_outer: int,
    repeat: int,
    outer: int,
) -> list[np.ndarray]:
    """Validation masks over development groups for one outer split (empty: no validation)."""
    n = len(strata)
    train_ids = np.flatnonzero(~test)
    method = plan.validation_method
    if method == "none" or len(train_ids) < 2:
        return [np.zeros(n, dtype=bool)]
    seed = repeat_seed(plan.seed, repeat, 1 + outer)
    stratify = bool(plan.stratify)
    sub = strata[train_ids]
    if method == "kfold" and n_outer == 1:
        folds = plan.validation_folds or 5
        splitter: Any = GroupKFold(folds, stratify=stratify, random_state=seed)
    else:
        size = (
            1.0 / (plan.validation_folds or 5)
            if method == "kfold"
            else (plan.validation_size or 0.2)
        )
        splitter = GroupHoldout(size, stratify=stratify, random_state=seed)
    masks = []
    for val in splitter.test_masks(sub, sizes[train_ids]):
        m = np.zeros(n, dtype=bool)
        m[train_ids[val]] = True
        masks.append(m)
    return masks


def split_table(table: pd.DataFrame, plan: SplitPlan) -> pd.DataFrame:
    """The split table of a cohort table under a plan (see the module doc)."""
    import pandas as pd

    if table.empty:
        raise UserError("Cannot split an empty cohort table (no row left after the filters?).")
    _check_columns(table, plan)
    # Ids sorted by code point (Arrow strings), missing first: the same order everywhere.
    # Each id column is coded once; only its distinct ids are sorted.
    images = table["image"].astype("string[pyarrow]")
    # An image path of its own on every row (the usual manifest): the paths need not be
    # coded; they only order rows that tie on the other ids (ids: cohort, subject, session)
    distinct_images = bool(images.notna().all()) and not repeats(images).any()
    ids = ID_COLUMNS[:-1] if distinct_images else ID_COLUMNS
    coded = {c: sorted_codes(table[c].astype("string[pyarrow]"), missing_first=True) for c in ids}
    by_id = np.lexsort([coded[c][0] for c in reversed(ids)])
    if distinct_images:
        by_id = _ties_by_text(by_id, [coded[c][0] for c in ids], images)
    # Rows are used in that sorted order through their positions (by_id): columns are
    # taken when needed, never the whole table reordered.
    dev = (table["role"] == "development").to_numpy()[by_id]
    ext_mask = ~dev
    if not dev.any():
        raise UserError("No development cohort: nothing to train on (all cohorts are external).")
    if plan.test_method == "external" and not ext_mask.any():
        raise UserError("splits.test.method is 'external' but no external-test cohort has rows.")
    dev_rows = np.flatnonzero(dev)
    ext_rows = np.flatnonzero(ext_mask)

    d = _rows(table, [*_key_columns(plan.group), "session_index"], by_id[dev_rows], dev_rows)
    keys = group_keys(d, plan.group)
    # A group's covariates and held-out level are those of its first session.
    group_code, first_pos = first_rows(d, keys)
    del d, keys
    first_cols = [*plan.stratify]
    if plan.test_method == "leave-group-out":
        first_cols += _key_columns(plan.test_group)
    first = _rows(table, first_cols, by_id[dev_rows[first_pos]], dev_rows[first_pos])
    strata = _strata(first, plan.stratify, plan.n_bins)
    sizes = np.bincount(group_code, minlength=len(first_pos))
    logo = None
    if plan.test_method == "leave-group-out":
        logo = group_keys(first, plan.test_group).to_numpy(dtype=str)
    del first

    baseline_only = plan.sessions == "baseline"
    later = (table["session_index"].to_numpy() > 0) & table["session"].notna().to_numpy()
    later = later[by_id]
    ext_cohorts = np.empty(len(table), dtype=object)
    ext_cohorts[ext_rows] = (
        table["cohort"].iloc[by_id[ext_rows]].astype("string").to_numpy(dtype=object)
    )

    partition_names = ["train", "validation", "test"]
    ext_ids = sorted(set(ext_cohorts[ext_rows])) if len(ext_rows) else []
    clash = [c for c in ext_ids if c in partition_names]
    if clash:
        raise UserError(
            f"External-test cohort id '{clash[0]}' is also a partition name of the split table "
            "(train, validation, test): rename the cohort."
        )
    partition_names += ext_ids
    ext_code = np.full(len(table), DROPPED, dtype=np.int16)
    if len(ext_rows):
        lookup = {c: partition_names.index(c) for c in ext_ids}
        ext_code[ext_rows] = [lookup[c] for c in ext_cohorts[ext_rows]]
        if baseline_only:
            ext_code[ext_rows[later[ext_rows]]] = DROPPED

    blocks: list[tuple[int, int, np.ndarray]] = []
    for r in range(plan.repeats):
        outers = _outer_splits(plan, strata, sizes, logo, r)
        for o, test in enumerate(outers):
            inners = _inner_splits(plan, strata, sizes, test, len(outers), r, o)
            for i, val in enumerate(inners):
                fold = i if len(outers) == 1 else o
                g_part = np.where(test, TEST, np.where(val, VALIDATION, TRAIN)).astype(np.int16)
                code = ext_code.copy()
                code[dev_rows] = g_part[group_code]
                if baseline_only:
                    drop = dev_rows[(g_part[group_code] == TEST) & later[dev_rows]]
                    code[drop] = DROPPED
                blocks.append((r, fold, code))

    cats = {c: _first_seen(table[c], *coded[c], by_id) for c in ids}
    if distinct_images:  # each path first seen at its row's place in the sorted order
        cats["image"] = (np.arange(len(table)), pd.array(images.array.take(by_id), dtype="string"))
    del coded, images
    # positions and codes in the narrowest integers the categoricals keep: a 64-bit copy of
    # each column of millions of rows would be the peak of validate --data
    kept = [np.flatnonzero(code != DROPPED).astype(np.int32) for _, _, code in blocks]
    idx = np.concatenate(kept)
    out = pd.DataFrame(
        {
            c: _without_lookup(
                pd.Categorical.from_codes(
                    cats[c][0].astype(_code_dtype(len(cats[c][1])))[idx], categories=cats[c][1]
                )
            )
            for c in ID_COLUMNS
        }
    )
    del idx
    lengths = [len(k) for k in kept]
    out["repeat"] = np.repeat(np.array([r for r, _, _ in blocks], dtype=np.int64), lengths)
    out["fold"] = np.repeat(np.array([f for _, f, _ in blocks], dtype=np.int64), lengths)
    parts = np.concatenate([code[k] for (_, _, code), k in zip(blocks, kept, strict=True)])
    out["partition"] = pd.Categorical.from_codes(parts, categories=partition_names)
    return out


def _without_lookup(column: pd.Categorical) -> pd.Categorical:
    """``column`` without the hash table pandas built to check that its categories are
    distinct and keeps with them (pandas rebuilds it if ever needed): about 120 bytes per
    category, 120 MB for a million image paths held through every data rule."""
    cache = getattr(column.categories, "_cache", None)
    if isinstance(cache, dict):
        cache.pop("_engine", None)
    return column


def _code_dtype(n_categories: int) -> type:
    """The integer type pandas gives the codes of ``n_categories`` categories."""
    for dtype in (np.int8, np.int16, np.int32):
        if n_categories < np.iinfo(dtype).max:
            return dtype
    return np.int64


def _ties_by_text(order: np.ndarray, keys: list[np.ndarray], text: pd.Series) -> np.ndarray:
    """``order`` (rows sorted by ``keys``) with the rows that tie on every key sorted by
    ``text`` (distinct, none missing): ``np.lexsort`` with the text's sorted codes as the
    last key, coding only the tied rows' text."""
    from brainbench.cohort._codes import first_of_runs

    new = np.logical_or.reduce([first_of_runs(k[order]) for k in keys])
    tied = ~new
    tied[:-1] |= ~new[1:]  # the first row of a run of ties too
    if not tied.any():
        return order
    at = np.flatnonzero(tied)
    rows = order[at]
    rank = sorted_codes(text.iloc[rows].reset_index(drop=True))[0]
    order = order.copy()
    order[at] = rows[np.lexsort((rank, np.cumsum(new)[at]))]
    return order


def _first_seen(
    ids: pd.Series, codes: np.ndarray, distinct: Any, by_id: np.ndarray
) -> tuple[np.ndarray, Any]:
    """``pd.factorize(ids.astype("string").fillna("n/a"))`` of the rows in ``by_id`` order,
    from the codes of the unsorted ones (``sorted_codes``): ids in order of first appearance."""
    import pandas as pd

    if (codes < 0).any():  # missing ids become 'n/a', which may also be an id: go by text
        return pd.factorize(ids.iloc[by_id].astype("string").fillna("n/a"), sort=False)
    first, seen = pd.factorize(codes[by_id], sort=False)
    return first, pd.array(distinct, dtype="string").take(seen)


def make_splits(loaded: LoadedSpec, cohort_table: Any) -> pd.DataFrame:
    """The frozen split table of a spec's cohorts (``cohort_table``: a DataFrame or CohortTable).

    Raises :class:`UserError` naming the spec line when the protocol cannot be applied to the
    data (too few groups for the folds, a stratify column that does not exist...).
    """
    table = getattr(cohort_table, "table", cohort_table)
    plan = SplitPlan.from_spec(loaded.spec.splits)
    try:
        return split_table(table, plan)
    except UserError as exc:
        line, _ = loaded.locate("splits")
        raise UserError(f"{loaded.file}:{line}: splits: {exc.message}") from None
