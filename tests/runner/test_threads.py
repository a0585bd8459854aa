"""The model processes' thread budget: affinity, cgroup quotas (v1 and v2), workers, and the
environment that makes OpenMP threads sleep instead of spinning."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from brainbench.runner import _threads
from brainbench.runner._threads import (
    THREAD_VARIABLES,
    cgroup_cpu_limit,
    thread_budget,
    thread_environment,
)


def _fake(tmp_path: Path, cgroup: str, files: dict[str, str]) -> tuple[Path, Path]:
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "cgroup").write_text(cgroup)
    root = tmp_path / "cgroup"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root, proc


@pytest.mark.parametrize(
    ("cgroup", "files", "cores"),
    [
        ("0::/job\n", {"job/cpu.max": "150000 100000\n"}, 1.5),  # v2, 1.5 cores
        ("0::/job\n", {"job/cpu.max": "max 100000\n"}, None),  # v2, no quota
        (
            "4:memory:/x\n2:cpu,cpuacct:/slurm/job\n",
            {"cpu,cpuacct/slurm/job/cpu.cfs_quota_us": "400000\n",
             "cpu,cpuacct/slurm/job/cpu.cfs_period_us": "100000\n"},
            4.0,
        ),  # v1 with joint controllers
        (
            "1:cpu:/\n",
            {"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"},
            None,
        ),  # v1, no quota (this machine's case)
        ("0::/\n", {}, None),  # no cgroup files at all
    ],
)  # fmt: skip
def test_cgroup_quota(tmp_path, cgroup, files, cores):
    root, proc = _fake(tmp_path, cgroup, files)
    assert cgroup_cpu_limit(root, proc) == cores


def test_budget_divides_the_allowed_cores_among_workers(monkeypatch):
    assert thread_budget(1, cores=8) == 8
    assert thread_budget(3, cores=8) == 2
    assert thread_budget(4, cores=1.5) == 1  # never below one thread
    monkeypatch.setattr(_threads, "cgroup_cpu_limit", lambda: 1.5)
    assert _threads.available_cores() == min(len(os.sched_getaffinity(0)), 1.5)
    assert thread_budget(1) == 1


def test_environment_sets_counts_and_passive_waiting_unless_the_user_chose():
    env = thread_environment(3, environ={})
    assert all(env[v] == "3" for v in THREAD_VARIABLES)
    assert env["OMP_WAIT_POLICY"] == "PASSIVE" and env["KMP_BLOCKTIME"] == "0"
    mine = thread_environment(3, environ={"OMP_WAIT_POLICY": "ACTIVE", "OMP_NUM_THREADS": "1"})
    assert "OMP_WAIT_POLICY" not in mine and mine["OMP_NUM_THREADS"] == "3"


def test_the_model_process_gets_the_budget(monkeypatch, tmp_path):
    from brainbench.sandbox import scrubbed_env

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    env = scrubbed_env(tmp_path, 2)
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "2"
    assert env["OMP_WAIT_POLICY"] == "PASSIVE"
