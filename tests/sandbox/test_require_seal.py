"""``--require-seal``: a run refuses to start where the sandbox cannot reach the level asked."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from brainbench import sandbox
from brainbench.errors import UserError
from brainbench.runner import run_benchmark
from brainbench.runner.cli import run
from tests.runner.conftest import TINY_SPEC


def test_unreachable_level_is_refused_with_what_is_missing(monkeypatch, tmp_path):
    monkeypatch.setattr(sandbox, "available_layers", lambda: ("landlock-fs", "no-new-privs"))
    with pytest.raises(UserError) as err:
        run_benchmark(TINY_SPEC, ["voxel-linear"], out=tmp_path / "run", require_seal="full")
    text = str(err.value)
    assert "--require-seal full" in text and "missing: landlock-net or netns; pidns" in text
    assert "user namespaces" in text  # how to get there
    assert not (tmp_path / "run").exists()  # nothing written


def test_no_seal_cannot_meet_a_level(tmp_path):
    with pytest.raises(UserError, match="cannot be met with --no-seal"):
        run_benchmark(TINY_SPEC, ["voxel-linear"], out=tmp_path, seal=False, require_seal="fs")


def test_cli_exit_status(monkeypatch, tmp_path):
    monkeypatch.setattr(sandbox, "available_layers", lambda: ())
    argv = [str(TINY_SPEC), "-m", "voxel-linear", "--out", str(tmp_path / "r")]
    result = CliRunner().invoke(run, [*argv, "--require-seal", "fs"])
    assert result.exit_code != 0
    assert "missing: landlock-fs" in str(result.exception or "") + result.output
