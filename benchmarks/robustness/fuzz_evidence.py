"""Fuzz ``brainbench leaderboard`` with generated malformed evidence sheets.

Usage::

    python benchmarks/robustness/fuzz_evidence.py [--cases 1000] [--seed 0] [--cli-sample 50]

Each case is ``tests/report/hostile_sheets.make_sheet(random.Random(f"{seed}:{index}"))``: a
small valid sheet with one mutation (values anywhere replaced by other types, keys deleted, the
top level a list / string / number / null, nesting 50 to 100,000 deep, hostile or 10,000-
character strings, NaN / Infinity tokens, truncated JSON, random bytes, an empty file), in a
reports folder, half the time beside a valid sheet. ``brainbench leaderboard`` must exit 0 or 2
with one paragraph. Prints, and writes to ``results/fuzz-evidence.json``, the counts of
tracebacks, hangs over ``--timeout`` s and runs over ``--rss-gib`` GiB RSS (see _fuzz_loop.py).
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests.*: the same generator
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _fuzz_loop import Case, main

from tests.report.hostile_sheets import make_sheet, problems, run_sheets


def run_case(seed: int, index: int, folder: Path) -> Case:
    rng = random.Random(f"{seed}:{index}")
    kind, data = make_sheet(rng)
    sheet = folder / "reports" / "a" / "evidence.json"
    sheet.parent.mkdir(parents=True)
    sheet.write_bytes(data)
    if rng.random() < 0.5:
        other = folder / "reports" / "b" / "evidence.json"
        other.parent.mkdir(parents=True)
        other.write_bytes(make_sheet(rng, "valid")[1])
    status, err, _ = run_sheets(folder)
    argv = ["leaderboard", str(folder / "reports"), "-o", str(folder / "board2")]
    return Case(kind, problems(status, err), status, [*argv, "--resamples", "10"])


if __name__ == "__main__":
    main("fuzz-evidence", run_case, __doc__)
