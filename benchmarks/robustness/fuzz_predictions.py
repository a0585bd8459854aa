"""Fuzz ``brainbench evaluate`` and ``compare`` with generated hostile predictions tables.

Usage::

    python benchmarks/robustness/fuzz_predictions.py [--cases 1000] [--seed 0] [--cli-sample 50]

Each case is ``tests/stats/hostile_tables.make_table(random.Random(f"{seed}:{index}"))``: a
small valid table with one mutation (duplicated rows, an undeclared class, probabilities
outside [0, 1], NaN / infinite / text / huge numbers, hostile names of 10,000 characters or
with control characters, dropped or renamed columns, a single class, numeric labels,
regression, an empty table, 1,500 columns, random or truncated bytes, a non-gzip ``.gz``),
written as TSV, CSV, gzipped TSV or Parquet. Both commands run on it (exit 0 or 2 expected),
and the report's reader must say what ``evaluate``'s says (an inconsistency counts under
"other problems"). Prints, and writes to ``results/fuzz-predictions.json``, the counts of
tracebacks, hangs over ``--timeout`` s and runs over ``--rss-gib`` GiB RSS (see _fuzz_loop.py).
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests.*: the same generator
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _fuzz_loop import Case, main

from tests.stats.hostile_tables import make_table, problems, reader_agreement, run_table


def run_case(seed: int, index: int, folder: Path) -> Case:
    kind, name, data = make_table(random.Random(f"{seed}:{index}"))
    path = folder / name
    path.write_bytes(data)
    found = problems(run_table(path))
    disagreement = reader_agreement(path)
    if disagreement:
        found.append(f"inconsistent readers: {disagreement}")
    return Case(kind, found, None, ["evaluate", str(path), "--resamples", "20"])


if __name__ == "__main__":
    main("fuzz-predictions", run_case, __doc__)
