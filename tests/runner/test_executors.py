"""Executors: the SLURM path through submitit's local executor, parallel local workers, profiles."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from brainbench.errors import UserError
from brainbench.runner import load_profile, run_benchmark

from .conftest import FAST_MODELS, REPO, TINY_SPEC


def test_slurm_executor_through_submitit_local(baseline_run, registry, tmp_path):
    profile = tmp_path / "local-array.yaml"
    profile.write_text(
        "name: local-array\nexecutor: slurm\nslurm:\n  cluster: local\n  time_min: 10\n"
        "  cpus_per_task: 1\n  array_parallelism: 2\n"
    )
    model = FAST_MODELS[0]  # one model, two seeds: two array tasks
    result = run_benchmark(
        TINY_SPEC,
        [model],
        out=tmp_path / "run",
        seeds=2,
        max_epochs=1,
        device="cpu",
        profile=profile,
        registry_root=registry,
    )
    assert result.ok, result.failed
    assert result.provenance["executor"] == "slurm"
    assert len(list((tmp_path / "run" / "slurm").glob("*/*_submitted.pkl"))) == 2
    reference = pd.read_parquet(baseline_run.run_dir / "predictions.parquet")
    reference = reference[reference["model"] == model].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "run" / "predictions.parquet"), reference
    )


def test_local_workers_give_the_same_predictions(baseline_run, registry, tmp_path):
    result = run_benchmark(
        TINY_SPEC,
        FAST_MODELS,
        out=tmp_path / "run",
        seeds=2,
        max_epochs=1,
        device="cpu",
        workers=2,
        registry_root=registry,
    )
    assert result.ok
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "run" / "predictions.parquet"),
        pd.read_parquet(baseline_run.run_dir / "predictions.parquet"),
    )


@pytest.mark.parametrize("name", ["local", "slurm-generic", "jean-zay", "local-cluster"])
def test_shipped_profiles_load(name):
    profile = load_profile(name)
    assert profile.name == name
    assert load_profile(REPO / "runner" / f"{name}.yaml") == profile


def test_jean_zay_profile_documents_its_cluster():
    p = load_profile("jean-zay").slurm
    assert p.partition and p.account and p.qos and p.container
    assert "nomultithread" in str(p.additional_parameters)


def test_submitit_sbatch_script_follows_the_profile(tmp_path, monkeypatch):
    from brainbench.runner._executors import make_submitit_executor

    profile = load_profile("jean-zay").slurm
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(UserError, match="no SLURM here"):
        make_submitit_executor(tmp_path, profile)
    bin_dir = tmp_path / "bin"  # a fake SLURM: submitit looks for sbatch and srun
    bin_dir.mkdir()
    for tool in ("sbatch", "srun"):
        (bin_dir / tool).write_text("#!/bin/sh\nexit 0\n")
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    ex = make_submitit_executor(tmp_path, profile)
    script = ex._executor._make_submission_file_text("python -m x", "uid")
    for line in (
        "--partition=gpu_p13",
        "--qos=qos_gpu-t3",
        "--account=abc@v100",
        "--constraint=v100-32g",
        "--hint=nomultithread",
        "--gpus-per-node=1",
        "--cpus-per-task=10",
        "module load singularity",
    ):
        assert line in script, line
    assert "singularity exec --nv" in ex._executor.python


def test_bad_profiles(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_profile("no-such-profile")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nslurm: {partiton: gpu}\n")
    with pytest.raises(UserError, match="partiton"):
        load_profile(bad)
    assert isinstance(Path(REPO / "runner" / "brainbench.def").read_text(), str)
