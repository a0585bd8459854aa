"""The calibration study runs, is seeded, and reports every method (tiny replicate count)."""

from __future__ import annotations

from brainbench.stats import run_calibration
from brainbench.stats._calibrate import render_text


def test_calibration_smoke(tmp_path):
    res = run_calibration("ci", replicates=10, seed=1)
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
    assert res["command"] == "brainbench calibrate --preset ci --seed 1 --replicates 10"
    assert "Coverage" in render_text(res)
    again = run_calibration("ci", replicates=10, seed=1)
    assert again["coverage"] == res["coverage"]  # seeded
    from brainbench.stats._calibrate import plot_calibration

    plot_calibration(res, str(tmp_path / "cal.png"))
    assert (tmp_path / "cal.png").stat().st_size > 1000
