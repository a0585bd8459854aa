"""A fork bomb and a memory hog in model code are stopped by the sandbox's limits
(``nproc-limit``, ``memory-limit``), where the unsealed positive control gets what it asks."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from brainbench import sandbox

HERE = Path(__file__).resolve().parent
SRC = Path(sandbox.__file__).resolve().parents[2]
#: The test's limits: small, so that the attacks stay cheap.
NPROC, DATA_MIB = 64, 256


def _attack(tmp_path: Path, attack: str, arg: int, policy: sandbox.Policy) -> dict:
    """Run ``bombs:<attack>`` under ``policy`` in a scratch folder; its JSON report."""
    scratch = tmp_path / "scratch"
    scratch.mkdir(parents=True)
    shutil.copy(HERE / "bombs.py", scratch / "bombs.py")
    with (tmp_path / "out.log").open("w+b") as out:
        proc = sandbox.Sandboxed(
            policy,
            f"bombs:{attack}",
            [str(arg)],
            cwd=scratch,
            env=sandbox.scrubbed_env(scratch),
            output=out,
        )
        assert proc.finish(timeout=120) == 0
        out.seek(0)
        text = out.read().decode()
    return json.loads(text.strip().splitlines()[-1])


def _policy(tmp_path: Path, **limits) -> sandbox.Policy:
    return dataclasses.replace(sandbox.default_policy(tmp_path, tmp_path), **limits)


def test_a_memory_hog_is_stopped_by_the_memory_limit(tmp_path):
    hog = 2 * DATA_MIB
    got = _attack(tmp_path / "a", "memory_hog", hog, _policy(tmp_path, data=DATA_MIB << 20))
    assert "memory-limit" in got["layers"]
    assert got["mib"] == 0 and got["error"].startswith("MemoryError")
    free = _attack(tmp_path / "b", "memory_hog", hog, _policy(tmp_path, data=None))
    assert "memory-limit" not in free["layers"] and free["mib"] == hog  # the control


def test_root_is_not_told_that_processes_are_limited(tmp_path):
    """The kernel exempts uid 0 from RLIMIT_NPROC: a run as root does not claim the layer."""
    got = _attack(tmp_path, "fork_bomb", 4, _policy(tmp_path, nproc=NPROC))
    if os.getuid() == 0:
        assert "nproc-limit" not in got["layers"]
    else:
        assert "nproc-limit" in got["layers"] or "pidns" not in got["layers"]
    assert got["forked"] == 4


_PYCACHE = shutil.ignore_patterns("__pycache__")


def _as_user(nproc: int | None, n: int) -> dict:
    """``bombs:fork_bomb`` (``n`` forks) as an unprivileged user: as such, or as root dropping
    to nobody (setpriv, the system Python with brainbench's source on its path, a scratch
    folder nobody owns: pytest's folders are root's alone)."""
    root = os.getuid() == 0
    if root and not (shutil.which("setpriv") and Path("/usr/bin/python3").is_file()):
        pytest.skip("as root, dropping to nobody needs setpriv and a system Python")
    scratch = Path(tempfile.mkdtemp(prefix="brainbench-bomb-"))
    try:
        shutil.copy(HERE / "bombs.py", scratch / "bombs.py")
        policy = dataclasses.replace(sandbox.default_policy(scratch, scratch), nproc=nproc)
        python, user = [sys.executable], []
        if root:
            for path in (scratch, scratch / "bombs.py"):
                os.chown(path, 65534, 65534)
            # brainbench's source goes along: the checkout may lie in a folder only root
            # reads (a fresh clone in `mktemp -d`, mode 700)
            src = scratch / "src"
            shutil.copytree(SRC / "brainbench", src / "brainbench", ignore=_PYCACHE)
            python = ["env", f"PYTHONPATH={src}", "/usr/bin/python3"]
            user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
            # root's own Python installation stays in the policy, out of nobody's reach: the
            # sandbox skips a path it cannot open (it once failed to start on it)
            policy.read = [*policy.read, str(src)]
        cmd = [*user, *python, "-m", "brainbench.sandbox", policy.to_json(), "bombs:fork_bomb"]
        done = subprocess.run(
            [*cmd, str(n)],
            cwd=scratch,
            env=sandbox.scrubbed_env(scratch),
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_fork_bomb_is_stopped_by_the_process_limit():
    got = _as_user(NPROC, 3 * NPROC)
    if "pidns" not in got["layers"]:
        pytest.skip("no user namespace here: the process limit is not applied")
    assert "nproc-limit" in got["layers"]
    assert got["forked"] < NPROC and "Resource temporarily unavailable" in got["error"]
    free = _as_user(None, 3 * NPROC)
    assert "nproc-limit" not in free["layers"] and free["forked"] == 3 * NPROC  # the control
