"""Hypothesis profiles of the fuzz tests (``pytest -m fuzz``).

The suite runs each fuzz test with a small budget; ``--hypothesis-profile long`` (what CI runs
once, after the suite) gives every fuzz test a few thousand cases.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

LONG_EXAMPLES = 2_000
settings.register_profile(
    "long",
    max_examples=LONG_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def fuzz_budget(default: int) -> int:
    """``default`` examples, or the long profile's when it is loaded."""
    loaded = settings.default.max_examples
    return loaded if loaded >= LONG_EXAMPLES else default
