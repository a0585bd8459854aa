"""Fuzz ``brainbench validate --format json`` with generated hostile specs and count failures.

Usage::

    python benchmarks/robustness/fuzz_specs.py [--cases 10000] [--seed 0] [--cli-sample 100]

Each case comes from ``tests/spec/mutations.py`` (``make_case(random.Random(f"{seed}:{i}"))``):
bytes and control characters, reserved words as keys, ``extends`` chains (cycles, diamonds,
missing, long names, directories, FIFOs, devices, a 3 GiB sparse file), ``${VAR}`` expansion,
include filters and batches. The driver, hang and memory criteria are ``_fuzz_loop.py``'s;
every 100th case also runs in a fresh ``python -m brainbench`` process.

Prints, and writes to ``benchmarks/robustness/results/fuzz-specs.json`` (``--output``): the cases,
tracebacks (a traceback printed, exit 70, or a case ending without JSON), hangs over the
timeout, runs over the RSS limit, other problems (an exit status outside 0/1/2, a batch file
without its result), and the spread of exit statuses, times and peak RSS.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests.*: the same generator
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _fuzz_loop import Case, main

from tests.spec.mutations import make_case, problems
from tests.spec.mutations import run_case as run_spec


def run_case(seed: int, index: int, folder: Path) -> Case:
    case = make_case(random.Random(f"{seed}:{index}"), heavy=True)
    outcome = run_spec(case, folder)
    return Case(
        case.kind, problems(case, outcome), outcome.status, ["validate", *case.args], case.env
    )


if __name__ == "__main__":
    main("fuzz-specs", run_case, __doc__, cases=10_000, cli_sample=100, statuses=(0, 1, 2))
