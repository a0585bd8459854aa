"""Bounds on the numbers a user gives, in a spec or on a command line.

Beyond them a value is a typing mistake that the code would turn into a crash (NumPy refuses
negative seeds), an exhausted memory or a run that never ends; the spec models and the CLI's
option types (:mod:`brainbench._cli_types`) refuse it with a message instead.
"""

from __future__ import annotations

#: Seeds reach NumPy's legacy generator and scikit-learn's ``random_state``, both 0 to 2**32 - 1.
MAX_SEED = 2**32 - 1
#: Bootstrap resamples: the Monte Carlo error of an interval limit shrinks as 1/sqrt(B) and is
#: negligible next to the sampling error long before a million, while every resample's statistic
#: is kept in memory, so a billion would exhaust it.
MAX_RESAMPLES = 1_000_000
#: Repetitions of a whole split (10 x 10-fold is the usual most).
MAX_REPEATS = 1000
#: Training runs per model and fold, parallel workers, epochs: beyond these, a typing mistake.
MAX_SEEDS = 1000
MAX_WORKERS = 1024
MAX_EPOCHS = 1_000_000
#: Indices (a fold) are stored as integers that every table format and NumPy can hold.
MAX_INDEX = 2**31 - 1
