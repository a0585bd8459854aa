"""Fuzzing ``evaluate`` and ``compare`` with hostile predictions tables: every case ends with
exit 0 (scored) or 2 (one paragraph saying what is wrong), never a traceback, in bounded time
and memory; the report's reader says exactly what ``evaluate``'s says.

Cases come from :mod:`tests.stats.hostile_tables`. ``pytest -m fuzz --hypothesis-profile long``
runs a few thousand; ``benchmarks/robustness/fuzz_predictions.py`` runs 1,000 with a hang and
RSS watch.
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
from tests.stats.hostile_tables import (
    BYTE_KINDS,
    KINDS,
    make_table,
    problems,
    reader_agreement,
    run_table,
)

pytestmark = pytest.mark.fuzz

SECONDS = 10.0
RSS_GROWTH_KB = 1 << 20  # 1 GiB


@settings(
    max_examples=fuzz_budget(20),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
@given(st.randoms(use_true_random=False), st.sampled_from(sorted([*KINDS, *BYTE_KINDS])))
def test_hostile_tables_end_cleanly(rng: random.Random, kind: str) -> None:
    kind, name, data = make_table(rng, kind)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        outcomes = run_table(path)
        disagreement = reader_agreement(path)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert not problems(outcomes), (kind, name, problems(outcomes))
    assert disagreement is None, (kind, name, disagreement)
    assert all(o.seconds < SECONDS for o in outcomes), (kind, name)
    assert grown < RSS_GROWTH_KB, (kind, name, grown)
