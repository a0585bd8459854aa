"""The registry's pull-request smoke run: spec/demo/smoke-tiny.yaml on tiny synthetic cohorts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from brainbench.runner._api import run_benchmark
from brainbench.synth import SynthConfig, generate_cohort
from brainbench.validate.engine import validate_path

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "spec" / "demo" / "smoke-tiny.yaml"


def test_smoke_spec_validates_and_runs_on_tiny_cohorts(tmp_path, monkeypatch):
    for name, seed in (("dev", 0), ("ext", 1)):
        generate_cohort(tmp_path / "data" / name, SynthConfig.preset("tiny", seed=seed))
    monkeypatch.setenv("BRAINBENCH_DEMO_DATA", str(tmp_path / "data"))
    result, unreadable = validate_path(SPEC, data=True)
    assert not unreadable and result.valid, [f.message for f in result.findings]
    run = run_benchmark(
        SPEC, ["demographics-logreg"], out=tmp_path / "run", seeds=1, device="cpu", quiet=True
    )
    assert not run.failed
    predictions = pd.read_parquet(tmp_path / "run" / "predictions.parquet")
    assert set(predictions["partition"]) >= {"test", "ext"}
