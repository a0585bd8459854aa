"""Hierarchy-aware split generation and frozen split files.

>>> from brainbench.split import GroupKFold
>>> list(GroupKFold(2, random_state=0).split(groups=["a", "a", "b", "c"]))  # doctest: +SKIP

``make_splits(loaded_spec, cohort_table)`` applies a spec's split protocol; the result is the
split table (columns ``cohort``, ``subject``, ``session``, ``image``, ``repeat``, ``fold``,
``partition``) that ``write_split_file`` freezes and ``read_split_file`` reads back, checking
its sha256. See :mod:`brainbench.split._make` for how folds are numbered.
"""

from brainbench.split._balance import (
    balance_report,
    smd_continuous,
    smd_proportion,
)
from brainbench.split._files import read_split_file, sha256_file, write_split_file
from brainbench.split._make import (
    GROUP_LEVELS,
    SPLIT_COLUMNS,
    SplitPlan,
    group_keys,
    group_strata,
    make_splits,
    split_table,
    stratum_labels,
)
from brainbench.split._splitters import (
    SPLITTERS,
    GroupHoldout,
    GroupKFold,
    LeaveOneGroupOut,
    RepeatedSplitter,
    repeat_seed,
)

__all__ = [
    "GROUP_LEVELS",
    "SPLITTERS",
    "SPLIT_COLUMNS",
    "GroupHoldout",
    "GroupKFold",
    "LeaveOneGroupOut",
    "RepeatedSplitter",
    "SplitPlan",
    "balance_report",
    "group_keys",
    "group_strata",
    "make_splits",
    "read_split_file",
    "repeat_seed",
    "sha256_file",
    "smd_continuous",
    "smd_proportion",
    "split_table",
    "stratum_labels",
    "write_split_file",
]
