"""Fuzzing ``brainbench leaderboard`` with malformed evidence sheets: exit 0 or 2 with one
paragraph, never AttributeError / RecursionError / TypeError, in bounded time and memory.

Cases come from :mod:`tests.report.hostile_sheets`; ``benchmarks/robustness/fuzz_evidence.py``
runs 1,000 with a hang and RSS watch.
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
from tests.report.hostile_sheets import KINDS, RAW_KINDS, make_sheet, problems, run_sheets

pytestmark = pytest.mark.fuzz


@settings(
    max_examples=fuzz_budget(40),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
@given(st.randoms(use_true_random=False), st.sampled_from(sorted([*KINDS, *RAW_KINDS])))
def test_malformed_sheets_end_cleanly(rng: random.Random, kind: str) -> None:
    kind, data = make_sheet(rng, kind)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tempfile.TemporaryDirectory() as folder:
        sheet = Path(folder) / "reports" / "a" / "evidence.json"
        sheet.parent.mkdir(parents=True)
        sheet.write_bytes(data)
        status, err, seconds = run_sheets(Path(folder))
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert not problems(status, err), (kind, problems(status, err))
    assert seconds < 10.0 and grown < 1 << 20, (kind, seconds, grown)
