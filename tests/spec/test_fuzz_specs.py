"""Fuzzing ``brainbench validate`` with hostile specs: every case ends cleanly.

Cases come from :mod:`tests.spec.mutations` (bytes and control characters, reserved words as
keys, ``extends`` chains with cycles, special files and huge targets, ``${VAR}`` expansion,
include filters, batches). Each must exit 0, 1 or 2 with one JSON result per file, no
traceback, in bounded time and memory. ``pytest -m fuzz --hypothesis-profile long`` runs a few
thousand cases; ``benchmarks/robustness/fuzz_specs.py`` runs 10,000.
"""

from __future__ import annotations

import random
import resource
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzzing import fuzz_budget
from tests.spec.mutations import KINDS, make_case, problems, run_case

pytestmark = pytest.mark.fuzz

SECONDS = 10.0  # the bound for a hang
RSS_GROWTH_KB = 1 << 20  # 1 GiB (ru_maxrss is in KiB on Linux)


@settings(
    max_examples=fuzz_budget(40),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,  # the suite's budget is small: the same cases every run
)
@given(st.randoms(use_true_random=False), st.sampled_from(sorted(KINDS)))
def test_generated_specs_end_cleanly(rng: random.Random, kind: str) -> None:
    case = make_case(rng, kind)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tempfile.TemporaryDirectory() as folder:
        outcome = run_case(case, Path(folder))
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert not problems(case, outcome), (case.kind, case.args, outcome)
    assert outcome.seconds < SECONDS, (case.kind, case.args, outcome.seconds)
    assert grown < RSS_GROWTH_KB, (case.kind, case.args, grown)
