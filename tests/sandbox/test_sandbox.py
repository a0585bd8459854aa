"""The sandbox's layers on this machine, the seal levels, and a process inside it."""

from __future__ import annotations

import socket
import sys
import time

import pytest

from brainbench import sandbox
from brainbench.sandbox import _landlock, channel

LINUX = sys.platform.startswith("linux")


def test_levels_and_descriptions():
    full = ["landlock-fs", "netns", "pidns", "no-new-privs", "non-dumpable-runner"]
    assert sandbox.missing_for_level("full", full) == []
    assert sandbox.level_of(full) == "full"
    assert sandbox.missing_for_level("full", ["landlock-fs"]) == [
        "landlock-net or netns",
        "pidns",
        "no-new-privs",
        "non-dumpable-runner",
    ]
    assert sandbox.level_of(["landlock-fs"]) == "fs"
    assert sandbox.level_of([]) == "none"
    assert sandbox.describe([], "why") == "unsealed: why"
    assert sandbox.describe(["pidns", "landlock-fs"]) == "seal: landlock-fs, pidns"
    with pytest.raises(ValueError, match="unknown seal level"):
        sandbox.missing_for_level("max", [])


def test_landlock_rights_follow_the_abi():
    assert _landlock.handled_net(3) == 0 and _landlock.handled_net(4) != 0
    assert _landlock.scopes(5) == 0 and _landlock.scopes(6) != 0
    assert _landlock.handled_fs(1) & _landlock.TRUNCATE == 0
    assert _landlock.handled_fs(3) & _landlock.TRUNCATE


def test_scrubbed_environment_keeps_no_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("BRAINBENCH_DEMO_DATA", "/data")
    env = sandbox.scrubbed_env(tmp_path, threads=2)
    assert "AWS_SECRET_ACCESS_KEY" not in env and "BRAINBENCH_DEMO_DATA" not in env
    assert env["HOME"] == str(tmp_path) and env["OMP_NUM_THREADS"] == "2"


@pytest.mark.skipif(not LINUX, reason="Linux sandbox layers")
def test_this_machine_seals_fully():
    """The development and CI machines must give the full level (docs/security.md)."""
    layers = sandbox.available_layers()
    assert sandbox.level_of(layers) == "full", layers


@pytest.mark.skipif(not LINUX, reason="Linux sandbox layers")
def test_a_sandboxed_process_reports_its_layers_and_dies_whole(tmp_path):
    parent, child = socket.socketpair()
    with parent:
        proc = sandbox.Sandboxed(
            sandbox.default_policy(tmp_path, tmp_path),
            "brainbench.runner._host:main",
            [str(child.fileno())],
            cwd=tmp_path,
            env=sandbox.scrubbed_env(tmp_path),
            pass_fds=(child.fileno(),),
        )
        child.close()
        hello = channel.recv(parent, max_array_bytes=0, deadline=time.monotonic() + 120)
        assert {"landlock-fs", "pidns", "no-new-privs"} <= set(hello.data["layers"])
        proc.kill()
        assert proc.poll() is not None
