"""Experiments 1-3 are ordinary benchmarks: a tiny end-to-end run of experiment 2 (slow)."""

from __future__ import annotations

import json

import pytest

from brainbench.experiments import late_split


@pytest.mark.slow
def test_late_split_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINBENCH_EXPERIMENT_WORK", str(tmp_path / "work"))
    params = {"subjects": 16, "sites": 2, "preselect": 200, "resamples": 200}
    result = late_split.run(params, tmp_path / "out", seed=5)
    arms = set(result.table["arm"])
    assert arms == set(late_split.ARMS)
    assert (result.table["model"] == late_split.MODEL).all()
    for spec in late_split.ARMS.values():
        run = tmp_path / "out" / "runs" / spec.removesuffix(".yaml")
        assert (run / "predictions.parquet").is_file()
        audit = json.loads((run / "validation.json").read_text())
        assert audit  # the leakage audit travels with the results
    leaky_run = tmp_path / "work" / "late-split" / "runs" / "late-split-all"
    resolved = json.loads((leaky_run / "spec.resolved.json").read_text())
    assert resolved["training"]["feature_selection_on"] == "all"
    assert (tmp_path / "out" / "late_split.png").is_file()
    assert "0.5" in result.conclusion
