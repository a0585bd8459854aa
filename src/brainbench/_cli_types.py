"""Click types of the numbers a user types on brainbench's command lines.

Every numeric option refuses, at parse time and with click's one-line usage error (exit 2),
what the code behind it cannot honour: NaN and infinities (click's ranges let NaN through, as
every comparison with NaN is false), negative seeds (NumPy's ``SeedSequence`` refuses them) and
counts so large that the command would exhaust memory or never end. ``tests/test_cli.py`` walks
every command and checks each numeric option against these rules.
"""

from __future__ import annotations

import math
from typing import Any

import click

from brainbench._limits import (
    MAX_EPOCHS,
    MAX_INDEX,
    MAX_RESAMPLES,
    MAX_SEED,
    MAX_SEEDS,
    MAX_WORKERS,
)


class FiniteFloatRange(click.FloatRange):
    """A :class:`click.FloatRange` that also refuses NaN and infinities."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        rv = super().convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return rv


SEED = click.IntRange(0, MAX_SEED)
RESAMPLES = click.IntRange(0, MAX_RESAMPLES)
SEEDS = click.IntRange(1, MAX_SEEDS)
WORKERS = click.IntRange(1, MAX_WORKERS)
EPOCHS = click.IntRange(1, MAX_EPOCHS)
INDEX = click.IntRange(0, MAX_INDEX)
