"""Crash safety: SIGKILL mid-run, then --resume, gives the uninterrupted run's predictions."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pandas as pd
import pytest

from brainbench.errors import UserError
from brainbench.runner import run_benchmark

from .conftest import FAST_MODELS, TINY_SPEC, run_cli


def test_sigkill_then_resume_equals_uninterrupted(baseline_run, registry, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(run_cli(out, registry, "-q"), env=os.environ.copy())
    deadline = time.monotonic() + 300
    units = out / "units"
    while time.monotonic() < deadline and proc.poll() is None:
        if units.is_dir() and any(units.glob("*.json")):
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = sorted(p.stem for p in units.glob("*.json"))
    assert 0 < len(done) < 4, done
    assert not (out / "predictions.parquet").exists()

    # Without --resume the folder is refused; with it, only the missing units run.
    with pytest.raises(UserError, match="--resume"):
        run_benchmark(
            TINY_SPEC, FAST_MODELS, out=out, seeds=2, max_epochs=1, registry_root=registry
        )
    result = run_benchmark(
        TINY_SPEC,
        FAST_MODELS,
        out=out,
        seeds=2,
        max_epochs=1,
        resume=True,
        device="cpu",
        registry_root=registry,
    )
    assert result.ok and result.skipped == len(done)
    assert {r["id"] for r in result.executed}.isdisjoint(done)

    resumed = pd.read_parquet(out / "predictions.parquet")
    reference = pd.read_parquet(baseline_run.run_dir / "predictions.parquet")
    key = ["model", "repeat", "fold", "seed", "partition", "cohort", "image"]
    assert not resumed.duplicated(key).any()
    pd.testing.assert_frame_equal(resumed, reference)
    prov = json.loads((out / "provenance.json").read_text())
    assert [u["status"] for u in prov["units"]] == ["ok"] * 4


def test_resume_refuses_changed_options(baseline_run, registry):
    with pytest.raises(UserError, match="Cannot resume"):
        run_benchmark(
            TINY_SPEC,
            FAST_MODELS,
            out=baseline_run.run_dir,
            seeds=2,
            max_epochs=3,
            resume=True,
            registry_root=registry,
        )


def test_resume_of_a_complete_run_runs_nothing(baseline_run, registry):
    before = (baseline_run.run_dir / "predictions.parquet").read_bytes()
    result = run_benchmark(
        TINY_SPEC,
        FAST_MODELS,
        out=baseline_run.run_dir,
        seeds=2,
        max_epochs=1,
        resume=True,
        registry_root=registry,
    )
    assert result.executed == [] and result.skipped == 4
    assert (baseline_run.run_dir / "predictions.parquet").read_bytes() == before


def test_a_corrupted_unit_output_is_rerun(baseline_run, registry, tmp_path):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(baseline_run.run_dir, out)
    victim = sorted((out / "units").glob("*.parquet"))[0]
    victim.write_bytes(victim.read_bytes()[:100])  # a torn write the hash detects
    (out / "units" / ".leftover.parquet.tmp").write_bytes(b"partial")  # ignored
    result = run_benchmark(
        TINY_SPEC, FAST_MODELS, out=out, seeds=2, max_epochs=1, resume=True, registry_root=registry
    )
    assert [r["id"] for r in result.executed] == [victim.stem]
    pd.testing.assert_frame_equal(
        pd.read_parquet(out / "predictions.parquet"),
        pd.read_parquet(baseline_run.run_dir / "predictions.parquet"),
    )
