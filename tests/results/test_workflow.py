"""The results pull-request workflow, step by step: every `run:` of its pull-request path is
executed here, in a git repository whose pull request adds a results entry made from a plain
CSV, and must end with that entry's evidence sheet on the leaderboard as self-reported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.gitrepo import git
from tests.results.conftest import BENCH, write_entry

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "results.yml"


def _pull_request_steps() -> list[str]:
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["check"]["steps"]
    runs = []
    for step in steps:
        when = step.get("if", "")
        if "run" in step and "setup.sh" not in step["run"] and "'push'" not in when:
            runs.append(step["run"])
    return runs


def _run_steps(root: Path) -> list[subprocess.CompletedProcess[str]]:
    venv = root / ".venv"
    if not venv.exists():
        venv.symlink_to(Path(sys.executable).parent.parent)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = []
    for script in _pull_request_steps():
        proc = subprocess.run(
            ["bash", "-e", "-c", script], cwd=root, env=env, capture_output=True, text=True
        )
        done.append(proc)
        if proc.returncode:
            break
    return done


def test_the_workflow_checks_reports_and_ranks_a_new_entry(repo: Path, fixture_run: Path):
    assert len(_pull_request_steps()) == 3  # check; schema; sheets + leaderboard (artefact)
    write_entry(repo, fixture_run)
    git(repo, "checkout", "-qb", "pr")
    git(repo, "add", "results")
    git(repo, "commit", "-qm", "results: outside-cnn")
    procs = _run_steps(repo)
    assert [p.returncode for p in procs] == [0, 0, 0], procs[-1].stderr
    assert "outside-cnn/result.yaml: ok" in procs[0].stdout
    sheet = repo / "evidence" / BENCH / "outside-cnn" / "evidence.json"
    assert json.loads(sheet.read_text())["tier"] == "self-reported"
    assert "a.researcher@example.org" in sheet.with_name("result.yaml").read_text()
    board = json.loads((repo / "evidence" / "leaderboard" / "leaderboard.json").read_text())
    (bench,) = board["benchmarks"]
    assert [(m["model"], m["tier"]) for m in bench["models"]] == [("outside-cnn", "self-reported")]


def test_the_workflow_fails_on_a_bad_entry(repo: Path, fixture_run: Path):
    folder = write_entry(repo, fixture_run, name="leaky-cnn")
    card = (folder / "result.yaml").read_text()
    (folder / "result.yaml").write_text(card.replace("{name: devcohort", "{name: extcohort"))
    procs = _run_steps(repo)  # untracked files count as changed, as in a local run
    assert len(procs) == 1 and procs[0].returncode == 1
    assert "P507" in procs[0].stdout and "external-test cohort" in procs[0].stdout
