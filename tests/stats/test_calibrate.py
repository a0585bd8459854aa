"""The calibration study runs, is seeded, and reports every method (tiny replicate count)."""

from __future__ import annotations

import pytest

from brainbench.stats import run_calibration
from brainbench.stats._calibrate import render_text


def test_calibration_smoke(tmp_path):
    res = run_calibration("ci", replicates=4, seed=1)
    assert {r["method"] for r in res["coverage"]} >= {
        "hierarchical-bootstrap percentile [site, subject]",
        "bootstrap [image] (naive)",
    }
    assert all(0 <= r["coverage"] <= 1 for r in res["coverage"])
    names = {r["method"] for r in res["type1_cv"]}
    assert "paired-t over folds (naive)" in names
    assert any(n.startswith("corrected-t") for n in names)
    assert {r["method"] for r in res["type1_test_set"]} >= {
        "bootstrap [site, subject]",
        "delong [image] (naive)",
    }
    assert res["command"] == "brainbench calibrate --preset ci --seed 1 --replicates 4"
    assert "Coverage" in render_text(res)
    import numpy as np

    from brainbench.stats._calibrate import _coverage

    a = _coverage(np.random.default_rng(3), 8, 5, 200)
    b = _coverage(np.random.default_rng(3), 8, 5, 200)
    assert a == b  # seeded
    from brainbench.stats._calibrate import plot_calibration

    plot_calibration(res, str(tmp_path / "cal.png"))
    assert (tmp_path / "cal.png").stat().st_size > 1000


def test_quick_interval_grid_is_seeded_and_complete(tmp_path):
    """`brainbench calibrate --grid quick`: sites 4 and 8, 200 data sets per cell."""
    import json

    from click.testing import CliRunner

    from brainbench.cli import cli
    from brainbench.stats._calibrate_grid import GRID_PRESETS, cell_truth
    from brainbench.stats._intervals import INTERVAL_METHODS

    out = tmp_path / "grid.json"
    result = CliRunner().invoke(
        cli, ["calibrate", "--grid", "quick", "--seed", "5", "--format", "json", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    res = json.loads(out.read_text())
    rows = res["coverage"]
    assert {(r["sites"], r["method"]) for r in rows} == {
        (s, m) for s in (4, 8) for m in INTERVAL_METHODS
    }
    assert all(r["n"] == 200 and r["replicates"] == 200 for r in rows)
    assert all(
        abs(r["mc_se"] - (r["coverage"] * (1 - r["coverage"]) / 200) ** 0.5) < 1e-12 for r in rows
    )
    # At 8 sites every method is within 4 Monte-Carlo SEs (at most 0.07) of 0.95.
    for r in rows:
        if r["sites"] == 8:
            assert abs(r["coverage"] - 0.95) < 0.07, r
    import numpy as np

    from brainbench.stats._calibrate_grid import run_cell

    again = run_cell(
        np.random.default_rng([5, 1]), "balanced_accuracy", 8, 20, 1, 0.05, 0.5, 200, 199
    )
    assert again == [r for r in rows if r["sites"] == 8]  # cell k uses rng([seed, k])
    assert GRID_PRESETS["full"]["sites"] == [2, 3, 4, 6, 8, 16, 32]
    assert cell_truth("mae", 0.0, 1) == pytest.approx(np.sqrt((0.8**2 + 1) * 2 / np.pi))
