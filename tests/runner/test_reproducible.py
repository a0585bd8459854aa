"""Seeds: the same unit trained twice gives the same predictions (deterministic mode, CPU)."""

from __future__ import annotations

import pandas as pd

from brainbench.runner import run_benchmark

from .conftest import TINY_SPEC


def test_cnn_unit_is_reproducible(cohorts, registry, tmp_path):
    runs = []
    for name in ("a", "b"):
        result = run_benchmark(
            TINY_SPEC,
            ["cnn3d-small"],
            out=tmp_path / name,
            seeds=1,
            device="cpu",
            max_epochs=1,
            deterministic=True,
            registry_root=registry,
        )
        assert result.ok, result.failed
        assert result.provenance["deterministic"] is True
        runs.append(pd.read_parquet(tmp_path / name / "predictions.parquet"))
    pd.testing.assert_frame_equal(runs[0], runs[1])
    assert runs[0]["score"].nunique() > 1  # a trained network, not a constant
