"""The experiment runner, CLI and shared pieces (fast)."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from click.testing import CliRunner

from brainbench.errors import UserError
from brainbench.experiments import EXPERIMENTS, run_experiment
from brainbench.experiments._common import (
    ExperimentResult,
    Finding,
    markdown_table,
    write_result,
    write_summary,
)
from brainbench.experiments.cli import experiments


def _result(number: int, preset: str = "quick") -> ExperimentResult:
    return ExperimentResult(
        number=number,
        slug=f"exp{number}",
        title=f"Experiment {number}",
        question="Q?",
        preset=preset,
        seed=1,
        params={"x": 1},
        table=pd.DataFrame({"a": [1.0, float("nan")], "b": ["u", "v"]}),
        findings=[Finding("coverage", 0.5, "50.0%")],
        expected=True,
        conclusion="It covered 50.0%.",
    )


def test_every_experiment_module_has_its_contract():
    import importlib

    for number, name in EXPERIMENTS.items():
        module = importlib.import_module(name)
        assert number == module.NUMBER
        assert set(module.PRESETS) == {"quick", "full"}
        assert callable(module.run)
        assert module.TITLE and module.QUESTION.endswith("?")


def test_write_result_and_summary(tmp_path):
    for n in (4, 6):
        write_result(_result(n), tmp_path)
    data = json.loads((tmp_path / "04-exp4" / "results.json").read_text())
    assert data["table"][1]["a"] is None  # NaN is JSON null
    summary = write_summary(tmp_path).read_text()
    assert "[4](04-exp4/README.md)" in summary and "[6](06-exp6/README.md)" in summary
    assert "coverage: **50.0%**" in summary
    assert "quick" in summary and "Note" in summary


def test_markdown_table_formats_floats():
    text = markdown_table(pd.DataFrame({"x": [0.12345], "y": ["a"]}))
    assert "| 0.123 | a |" in text


def test_unknown_experiment_and_preset(tmp_path):
    with pytest.raises(UserError, match="no experiment 9"):
        run_experiment(9, "quick", tmp_path)
    with pytest.raises(UserError, match="Unknown preset"):
        run_experiment(4, "huge", tmp_path)


def test_cli_rejects_unknown_experiment(tmp_path):
    res = CliRunner().invoke(experiments, ["--only", "9", "-o", str(tmp_path)])
    assert res.exit_code != 0
    proc = subprocess.run(
        [sys.executable, "-m", "brainbench.experiments", "--only", "9", "-o", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "no experiment 9" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_help_lists_presets():
    res = CliRunner().invoke(experiments, ["--help"])
    assert res.exit_code == 0
    assert "quick" in res.output and "full" in res.output and "--only" in res.output


def test_a_failing_experiment_does_not_stop_the_others(tmp_path, monkeypatch):
    import types

    from brainbench.experiments import _runner

    def fake(number, fail):
        mod = types.ModuleType(f"fake_exp{number}")
        mod.NUMBER, mod.SLUG, mod.PRESETS = number, f"exp{number}", {"quick": {}, "full": {}}

        def run(params, out_dir, seed):
            if fail:
                raise RuntimeError("a unit failed")
            return _result(number)

        mod.run = run
        monkeypatch.setitem(sys.modules, mod.__name__, mod)
        return mod.__name__

    monkeypatch.setattr(_runner, "EXPERIMENTS", {1: fake(1, True), 2: fake(2, False)})
    with pytest.raises(_runner.ExperimentsFailed, match="a unit failed") as info:
        _runner.run_experiments(None, "quick", tmp_path)
    assert [r.number for r in info.value.results] == [2]
    assert info.value.exit_code == 3  # a run with failed units
    assert "[2](02-exp2/README.md)" in (tmp_path / "README.md").read_text()


def test_same_seed_same_numbers(tmp_path):
    from brainbench.experiments import coverage

    params = {"sites": [4], "subjects": [24], "replications": 4, "resamples": 50}
    a = coverage.run(params, tmp_path / "a", seed=3)
    b = coverage.run(params, tmp_path / "b", seed=3)
    c = coverage.run(params, tmp_path / "c", seed=4)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert a.conclusion == b.conclusion
    assert not a.table["mean_width"].equals(c.table["mean_width"])


def test_a_partial_rerun_updates_only_its_rows(tmp_path, monkeypatch):
    """`--only N` rewrites the summary from every results.json in the folder: the other
    experiments' rows stay as they were."""
    import types

    from brainbench.experiments import _runner

    write_result(_result(6, "full"), tmp_path)
    before = write_summary(tmp_path).read_text()
    row6 = next(line for line in before.splitlines() if line.startswith("| [6]"))
    mod = types.ModuleType("fake_exp4")
    mod.NUMBER, mod.SLUG, mod.PRESETS = 4, "exp4", {"quick": {}, "full": {}}
    mod.run = lambda params, out_dir, seed: _result(4)
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    monkeypatch.setattr(_runner, "EXPERIMENTS", {4: mod.__name__, 6: "unused"})
    _runner.run_experiments([4], "quick", tmp_path)
    after = (tmp_path / "README.md").read_text()
    assert row6 in after
    assert "| [4](04-exp4/README.md)" in after
