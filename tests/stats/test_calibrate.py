"""The calibration study runs, is seeded, and reports every method (tiny replicate count)."""

from __future__ import annotations

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
