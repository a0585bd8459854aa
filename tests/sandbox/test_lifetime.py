"""Without a PID namespace, a model's detached daemon still dies with its unit (the runner is a
child subreaper and sweeps the orphans); with one, the namespace takes care of it."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from brainbench import sandbox
from tests.security.conftest import daemons

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")


def _start(tmp_path: Path, namespaces: bool) -> sandbox.Sandboxed:
    policy = sandbox.default_policy(tmp_path, tmp_path)
    policy.read.append(str(REPO / "tests"))
    policy.namespaces = namespaces
    env = sandbox.scrubbed_env(tmp_path)
    env["PYTHONPATH"] += os.pathsep + str(REPO)
    return sandbox.Sandboxed(policy, "tests.sandbox._daemon:main", [], cwd=tmp_path, env=env)


def _kill_daemons() -> list[int]:
    found = daemons()
    for pid in found:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return found


@pytest.mark.parametrize("namespaces", [False, True])
def test_daemon_dies_with_its_unit(tmp_path, namespaces):
    with sandbox.runner_guard(True) as layers:
        assert "session-sweep" in layers
        proc = _start(tmp_path, namespaces)
        proc.contained = namespaces  # what the model process's hello says
        assert proc.finish(timeout=60) == 0
        time.sleep(0.3)
        assert _kill_daemons() == []


def test_positive_control_daemon_survives_without_the_sweep(tmp_path):
    proc = _start(tmp_path, namespaces=False)
    proc.contained = True  # no sweep
    assert proc.finish(timeout=60) == 0
    deadline = time.monotonic() + 10
    while not daemons() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _kill_daemons(), "the daemon should have outlived its unit"
