"""The SLURM path on a real single-node cluster (scripts/slurm-up.sh): arrays, requeue, driver loss.

Each test compares the final predictions with the local baseline run of the same seeds:
identical rows, no duplicates, nothing missing. The cluster is started once for the module
and stopped after it; where it cannot start (not root, no Debian packages) the tests skip with
the reason, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from brainbench.runner._slurm import queued_tasks, read_journal

from .conftest import FAST_MODELS, REPO, run_cli

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


@pytest.fixture(scope="module")
def slurm_state(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("slurm-state")


@pytest.fixture(scope="module")
def slurm_cluster(slurm_state) -> Iterator[str]:
    env = {**os.environ, "BRAINBENCH_SLURM_DIR": str(slurm_state)}
    reason = None
    if sys.platform != "linux":
        reason = "SLURM tests need Linux"
    else:
        up = subprocess.run(
            ["bash", str(REPO / "scripts" / "slurm-up.sh")],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if up.returncode != 0:
            reason = f"the local SLURM cluster did not start: {up.stderr.strip()[-500:]}"
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    conf = up.stdout.strip().splitlines()[-1]
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = conf
    yield conf
    subprocess.run(["bash", str(REPO / "scripts" / "slurm-down.sh")], env=env, check=False)
    if old is None:
        os.environ.pop("SLURM_CONF", None)
    else:
        os.environ["SLURM_CONF"] = old


def _profile(tmp_path: Path, parallelism: int, **extra: object) -> Path:
    lines = [
        "name: local-cluster",
        "executor: slurm",
        "slurm:",
        "  partition: debug",
        "  time_min: 10",
        "  cpus_per_task: 1",
        f"  array_parallelism: {parallelism}",
        f"  python: {sys.executable}",
    ] + [f"  {k}: {v}" for k, v in extra.items()]
    path = tmp_path / "cluster.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _run_args(
    out: Path,
    profile: Path,
    registry: Path,
    *more: str,
    models: tuple[str, ...] = (FAST_MODELS[0],),
) -> list[str]:
    """One model x two seeds (two array tasks) unless ``models`` says otherwise."""
    return run_cli(
        out, registry, "--executor", "slurm", "--profile", str(profile), *more, models=models
    )


def _start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(predicate, timeout: float = 120.0, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def _running_task(run_dir: Path) -> str | None:
    journal = read_journal(run_dir)
    states = queued_tasks([e["job_id"] for e in journal.values()]) or {}
    return next((j for j, s in states.items() if s == "RUNNING"), None)


def _same_as_baseline(run_dir: Path, baseline_run) -> None:  # type: ignore[no-untyped-def]
    got = pd.read_parquet(run_dir / "predictions.parquet")
    ref = pd.read_parquet(baseline_run.run_dir / "predictions.parquet")
    ref = ref[ref["model"].isin(got["model"].unique())].reset_index(drop=True)
    assert set(got["model"]) <= set(FAST_MODELS)
    key = ["model", "repeat", "fold", "seed", "partition", "image"]
    assert not got.duplicated(key).any()
    pd.testing.assert_frame_equal(got, ref)


def _units(run_dir: Path) -> list[dict]:
    return json.loads((run_dir / "provenance.json").read_text())["units"]


def test_job_array_respects_parallelism(slurm_cluster, cohorts, baseline_run, registry, tmp_path):
    out = tmp_path / "run"
    done = subprocess.run(
        _run_args(out, _profile(tmp_path, 1), registry, models=tuple(FAST_MODELS)),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "sacct" not in done.stderr  # no accounting here: polled with squeue, no warnings
    _same_as_baseline(out, baseline_run)
    units = _units(out)
    assert len(units) == 4
    assert {u["slurm"]["array_job_id"] for u in units} == {units[0]["slurm"]["array_job_id"]}
    spans = sorted(
        (u["slurm"]["started"], u["slurm"]["started"] + u["seconds"]) for u in units
    )  # array_parallelism 1: the four tasks ran one after another
    assert all(b[0] >= a[1] - 0.5 for a, b in itertools.pairwise(spans))
    sbatch = next((out / "slurm").rglob("*_submission.sh")).read_text()
    assert "--array=0-3%1" in sbatch
    assert all(u["slurm"]["queue_s"] >= 0 and u["slurm"]["node"] for u in units)


def test_requeue_of_a_running_task_reruns_its_unit(
    slurm_cluster, cohorts, baseline_run, registry, tmp_path
):
    out = tmp_path / "run"
    driver = _start(_run_args(out, _profile(tmp_path, 2), registry))
    job = _wait_for(lambda: _running_task(out), what="a running array task")
    subprocess.run(["scontrol", "requeue", job], check=True)
    # SLURM holds a requeued job for two minutes (BeginTime); a scheduler would release it.
    _wait_for(
        lambda: queued_tasks([job]).get(job) == "PENDING", timeout=30, what="the requeued task"
    )
    subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=True)
    _, err = driver.communicate(timeout=600)
    assert driver.returncode == 0, err
    _same_as_baseline(out, baseline_run)
    requeued = [u for u in _units(out) if u["slurm"]["job_id"] == job]
    assert len(requeued) == 1 and requeued[0]["slurm"]["requeues"] == 1


def test_driver_killed_then_resume_adopts_queued_tasks(
    slurm_cluster, cohorts, baseline_run, registry, tmp_path
):
    out = tmp_path / "run"
    profile = _profile(tmp_path, 1)
    driver = _start(_run_args(out, profile, registry))
    _wait_for(lambda: _running_task(out), what="a running array task")
    driver.send_signal(signal.SIGKILL)
    driver.wait(timeout=30)
    before = read_journal(out)
    assert len(before) == 2
    done = subprocess.run(
        _run_args(out, profile, registry, "--resume"),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "adopted" in done.stderr
    _same_as_baseline(out, baseline_run)
    after = read_journal(out)
    # Units finished or still queued when the driver died were not submitted again.
    assert after == before
    assert len({u["slurm"]["job_id"] for u in _units(out)}) == 2


def test_cancelled_array_fails_clearly_then_resume_completes(
    slurm_cluster, cohorts, baseline_run, registry, tmp_path
):
    out = tmp_path / "run"
    profile = _profile(tmp_path, 1)
    driver = _start(_run_args(out, profile, registry))
    job = _wait_for(lambda: _running_task(out), what="a running array task")
    subprocess.run(["scancel", job.split("_")[0]], check=True)
    _, err = driver.communicate(timeout=300)
    assert driver.returncode == 3, err
    assert "CANCELLED" in err and "failed" in err
    assert "Traceback" not in err
    done = subprocess.run(
        _run_args(out, profile, registry, "--resume"),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    _same_as_baseline(out, baseline_run)


def test_unit_over_its_time_limit_is_requeued_then_failed_with_its_log(
    slurm_cluster, cohorts, registry, tmp_path
):
    out = tmp_path / "run"
    # A one-minute limit, signalled 45 s before it: the hanging unit requeues itself once, hangs
    # again, and then ends as failed (submitit's max_num_timeout), with its log.
    profile = _profile(tmp_path, 1, time_min=1, max_num_timeout=1, signal_delay_s=45)
    driver = _start(_run_args(out, profile, registry, "--seeds", "1", models=("faulty-hang",)))

    def requeued() -> str | None:
        journal = read_journal(out)
        jobs = [e["job_id"] for e in journal.values()]
        states = queued_tasks(jobs) or {}
        return next((j for j, s in states.items() if s == "PENDING" and _restarts(j)), None)

    job = _wait_for(requeued, timeout=200, what="the task to requeue itself")
    subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=True)
    _, err = driver.communicate(timeout=300)
    assert driver.returncode == 3, err
    assert "Traceback" not in err
    (unit,) = _units(out)
    assert unit["status"] == "failed"
    assert unit["slurm"]["requeues"] == 1
    assert "timed-out too many times" in unit["error"]
    assert "timed-out too many times" in (out / unit["log"]).read_text()


def _restarts(job: str) -> int:
    show = subprocess.run(
        ["scontrol", "show", "job", job], capture_output=True, text=True, check=False
    ).stdout
    found = [int(w.split("=")[1]) for w in show.split() if w.startswith("Restarts=")]
    return found[0] if found else 0


def test_runner_readme_cluster_commands_run_as_written(slurm_cluster, slurm_state, tmp_path):
    """The runner README's local-cluster block, run line by line (last: it stops the cluster)."""
    readme = (REPO / "runner" / "README.md").read_text()
    block = readme.split("<!-- cluster-commands")[1].split("```bash\n")[1].split("```")[0]
    for name in ("scripts", "spec", "runner"):
        (tmp_path / name).symlink_to(REPO / name)
    env = {
        **os.environ,
        "BRAINBENCH_SLURM_DIR": str(slurm_state),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "idle" in done.stdout
    provenance = json.loads((tmp_path / "runs" / "slurm-smoke" / "provenance.json").read_text())
    assert provenance["executor"] == "slurm"
    assert [u["status"] for u in provenance["units"]] == ["ok", "ok"]
    assert all(u["slurm"]["node"] for u in provenance["units"])
