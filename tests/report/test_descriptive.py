"""The report's descriptive summaries, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from brainbench.report._descriptive import (
    group_spread,
    reliability_bins,
    run_spread,
    smd_binary,
    smd_continuous,
)


def test_smd_continuous_and_binary() -> None:
    # Means 2 and 3, both SDs 1: d = 1.
    assert smd_continuous([1, 2, 3], [2, 3, 4]) == pytest.approx(1.0)
    assert math.isnan(smd_continuous([1], [2, 3]))
    # (0.6 - 0.5) / sqrt((0.25 + 0.24) / 2) = 0.20203
    assert smd_binary(0.5, 0.6) == pytest.approx(0.1 / math.sqrt(0.245))
    assert smd_binary(0.0, 0.0) == 0.0


def test_reliability_bins() -> None:
    bins = reliability_bins(np.array([0, 1, 1, 0]), np.array([0.05, 0.95, 1.0, 0.55]))
    assert [b["n"] for b in bins] == [1, 0, 0, 0, 0, 1, 0, 0, 0, 2]
    assert bins[9]["observed"] == 1.0 and bins[9]["mean_predicted"] == pytest.approx(0.975)
    assert math.isnan(bins[1]["observed"])


def test_run_spread() -> None:
    runs = pd.DataFrame(
        {
            "repeat": [0] * 4,
            "fold": [0, 0, 1, 1],
            "seed": [0, 1, 0, 1],
            "estimate": [0.6, 0.8, 0.7, 0.7],
        }
    )
    sp = run_spread(runs)
    # Seed variances 0.02 and 0 -> sqrt(0.01); split means 0.7 and 0.7 -> 0.
    assert sp["sd_seed"] == pytest.approx(0.1)
    assert sp["sd_split"] == pytest.approx(0.0)
    assert (sp["n_seeds"], sp["n_splits"], sp["n_runs"]) == (2, 2, 4)
    assert math.isnan(group_spread([0.5])) and group_spread([0.5, 0.7]) == pytest.approx(
        math.sqrt(0.02)
    )
