"""`brainbench registry check`: each bad entry gives a clear finding, never our traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from brainbench.registry.check import MAX_FILE_BYTES, CheckOptions, changelog_versions, check_entry
from brainbench.registry.cli import registry
from tests.gitrepo import git

from .conftest import MODEL_PY, MODEL_YAML, REFERENCE_IDS, REPO, write_entry


def _check(folder: Path, **options) -> dict[str, list]:
    result = check_entry(folder, CheckOptions(**options))
    by_rule: dict[str, list] = {}
    for f in result.findings:
        by_rule.setdefault(f.rule, []).append(f)
    return by_rule


def _cli(*args: str, root: Path | None = None):
    argv = (["--root", str(root)] if root else []) + list(args)
    return CliRunner().invoke(registry, argv, catch_exceptions=False)


def test_valid_fixture_entry_passes(entry):
    assert _check(entry) == {}


def test_malformed_yaml(tmp_path):
    folder = write_entry(tmp_path, yaml_text="id: x\ntitle: [unclosed\n")
    (f,) = _check(folder)["R401"]
    assert f.file.endswith("model.yaml") and f.line is not None
    result = _cli("check", str(folder))
    assert result.exit_code == 2
    assert "R401" in result.output and "not valid YAML" in result.output


def test_missing_entrypoint_module(tmp_path):
    folder = write_entry(tmp_path, model_py=None)
    (f,) = _check(folder)["R403"]
    assert "model.py" in f.message and f.path == "entrypoint" and f.line is not None


def test_entrypoint_names_no_factory(tmp_path):
    folder = write_entry(tmp_path, entrypoint="model:make")
    (f,) = _check(folder)["R407"]
    assert "no callable 'make'" in f.message


def test_import_error_shows_the_models_traceback(tmp_path):
    code = "import numpy as np\n\n\ndef helper():\n    return np.nonexistent\n\n\nhelper()\n"
    folder = write_entry(tmp_path, model_py=code)
    (f,) = _check(folder)["R407"]
    assert f.file.endswith("model.py")
    assert "AttributeError" in f.message
    assert 'model.py", line 5, in helper' in f.message  # the model's frames, as evidence
    assert "brainbench/registry" not in f.message  # none of ours


def test_fit_or_predict_raising(tmp_path):
    code = MODEL_PY.replace(
        "    def predict(self, inputs):\n",
        "    def predict(self, inputs):\n        raise ValueError('forward exploded')\n",
    )
    folder = write_entry(tmp_path, model_py=code)
    findings = _check(folder)["R408"]
    assert len(findings) == 2  # classification and regression
    assert "predict raised ValueError: forward exploded" in findings[0].message
    assert "in predict" in findings[0].message and "brainbench/registry" not in findings[0].message


def test_wrong_output_shape(tmp_path):
    code = MODEL_PY.replace("return np.tile(self.p, (n, 1))", "return np.tile(self.p, (n, 2))")
    folder = write_entry(tmp_path, model_py=code)
    (f,) = _check(folder)["R409"]
    assert "classification" in f.message and "shape (3, 4), expected (3, 2)" in f.message


def test_probabilities_must_sum_to_one(tmp_path):
    code = MODEL_PY.replace("return np.tile(self.p, (n, 1))", "return np.tile(self.p / 2, (n, 1))")
    (f,) = _check(write_entry(tmp_path, model_py=code))["R409"]
    assert "sum to 1" in f.message


def test_missing_license_field(tmp_path):
    text = MODEL_YAML.format(id="prior", version="1.0.0", license="MIT", entrypoint="model:build")
    folder = write_entry(tmp_path, yaml_text=text.replace("license: MIT\n", ""))
    (f,) = _check(folder)["R411"]
    assert "license" in f.message and f.file.endswith("model.yaml")


def test_unknown_license_needs_a_license_file(tmp_path):
    folder = write_entry(tmp_path, license="Acme-Proprietary-1.0")
    (f,) = _check(folder, run_code=False)["R411"]
    assert "Acme-Proprietary-1.0" in f.message and f.line is not None
    (folder / "LICENSE").write_text("Acme licence text\n")
    assert "R411" not in _check(folder, run_code=False)
    assert "R411" not in _check(
        write_entry(tmp_path / "b", license="MIT OR Apache-2.0"), run_code=False
    )


def test_file_too_large(tmp_path):
    folder = write_entry(tmp_path)
    with open(folder / "weights.pt", "wb") as fh:  # sparse: instant, no disk used
        fh.truncate(MAX_FILE_BYTES + 1)
    (f,) = _check(folder, run_code=False)["R412"]
    assert f.file.endswith("weights.pt") and "25 MB" in f.message


def test_missing_readme_and_changelog(tmp_path):
    folder = write_entry(tmp_path, readme=None, changelog=None)
    messages = [f.message for f in _check(folder, run_code=False)["R403"]]
    assert any("README.md" in m for m in messages) and any("CHANGELOG.md" in m for m in messages)


def test_changelog_must_name_the_version(tmp_path):
    folder = write_entry(tmp_path, changelog="# Changelog\n## [0.9.0]\n- old\n")
    (f,) = _check(folder, run_code=False)["R406"]
    assert "1.0.0" in f.message
    assert changelog_versions("## [1.2.0] - 2026-01-01\n## v1.1.0\ntext 9.9.9\n") == [
        "1.2.0",
        "1.1.0",
    ]


def test_incomplete_model_card_is_a_warning(tmp_path):
    folder = write_entry(tmp_path, readme="# prior\nNothing else.\n")
    (f,) = _check(folder, run_code=False)["R414"]
    assert f.severity.value == "warning" and "expected cost" in f.message


def test_id_must_match_folder(tmp_path):
    folder = write_entry(tmp_path, "prior")
    folder.rename(tmp_path / "other")
    (f,) = _check(tmp_path / "other", run_code=False)["R404"]
    assert "'prior'" in f.message and "'other'" in f.message


def test_timeout_and_crash(tmp_path):
    slow = MODEL_PY.replace(
        "    def fit(self, train, validation, ctx):\n",
        "    def fit(self, train, validation, ctx):\n        import time; time.sleep(60)\n",
    )
    (f,) = _check(write_entry(tmp_path / "a", model_py=slow), timeout=4)["R410"]
    assert "took over 4 s" in f.message
    crash = MODEL_PY.replace(
        "    def fit(self, train, validation, ctx):\n",
        "    def fit(self, train, validation, ctx):\n        import os; os._exit(3)\n",
    )
    (f,) = _check(write_entry(tmp_path / "b", model_py=crash))["R408"]
    assert "exit code 3" in f.message


def test_cli_exit_codes_and_json(tmp_path, entry):
    ok = _cli("check", "--no-run", str(entry))
    assert ok.exit_code == 0, ok.output
    assert "model.yaml: ok" in ok.output
    bad = write_entry(tmp_path / "bad", "bad", license="Nope-1.0")
    result = _cli("check", "--no-run", "--format", "json", str(entry), str(bad))
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["valid"] is False
    assert [f["rule"] for f in payload["findings"]] == ["R411"]
    assert set(payload["findings"][0]) >= {"rule", "severity", "message", "file", "line", "hint"}


def test_cli_unreadable_path_exits_2_without_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "brainbench", "registry", "check", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr and "Traceback" not in proc.stderr


def test_list_and_show(entry):
    root = entry.parent.parent
    result = _cli("list", "--format", "json", root=root)
    assert json.loads(result.output) == [
        {
            "id": "prior",
            "version": "1.0.0",
            "framework": "sklearn",
            "task_types": ["classification", "regression"],
            "title": "Class prior (test fixture)",
        }
    ]
    shown = _cli("show", "prior", root=root)
    assert "prior 1.0.0" in shown.output and "smoothing = 1.0" in shown.output
    assert json.loads(_cli("show", "prior", "--format", "json", root=root).output)["id"] == "prior"


def test_list_reference_registry_without_importing_torch():
    code = (
        "import sys\n"
        "from brainbench.registry.cli import registry\n"
        "from click.testing import CliRunner\n"
        "out = CliRunner().invoke(registry, ['list']).output\n"
        f"assert all(i in out for i in {REFERENCE_IDS!r}), out\n"
        "heavy = [m for m in ('torch', 'monai', 'sklearn') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


# -- the version bump against a git ref (what the pull-request workflow runs) --
@pytest.fixture
def repo(tmp_path: Path) -> Path:
    write_entry(tmp_path / "registry" / "models")
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "init")
    git(tmp_path, "update-ref", "refs/remotes/origin/main", "HEAD")
    return tmp_path


def test_changed_since_requires_a_version_bump(repo: Path):
    root = repo / "registry"
    entry = root / "models" / "prior"
    unchanged = _cli("check", "--no-run", "--changed-since", "origin/main", root=root)
    assert unchanged.exit_code == 0 and "no registry entry changed" in unchanged.stderr

    (entry / "model.py").write_text(MODEL_PY.replace("smoothing", "smooth_by"))
    result = _cli("check", "--no-run", "--changed-since", "origin/main", root=root)
    assert result.exit_code == 1
    assert "R405" in result.output and "still 1.0.0" in result.output

    text = (entry / "model.yaml").read_text().replace("version: 1.0.0", "version: 1.1.0")
    (entry / "model.yaml").write_text(text)
    result = _cli("check", "--no-run", "--changed-since", "origin/main", root=root)
    assert "R405" not in result.output and "R406" in result.output

    log = (entry / "CHANGELOG.md").read_text() + "\n## [1.1.0] - 2026-11-27\n- renamed\n"
    (entry / "CHANGELOG.md").write_text(log)
    git(repo, "commit", "-qam", "bump")
    result = _cli("check", "--no-run", "--changed-since", "origin/main", root=root)
    assert result.exit_code == 0, result.output


def test_changed_since_picks_new_untracked_entries(repo: Path):
    root = repo / "registry"
    write_entry(root / "models", "newcomer", license="Nope-1.0")
    result = _cli("check", "--no-run", "--changed-since", "origin/main", root=root)
    assert "newcomer" in result.output and "prior/model.yaml" not in result.output
    assert result.exit_code == 1  # the licence; a new entry needs no bump


def test_unknown_ref_is_a_user_error(repo: Path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "brainbench",
            "registry",
            "--root",
            str(repo / "registry"),
            "check",
            "--changed-since",
            "origin/nope",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "no such git ref" in proc.stderr


@pytest.mark.slow
def test_reference_entries_pass_check():
    """The four reference entries, through the same command CI runs (fresh processes)."""
    proc = subprocess.run(
        [sys.executable, "-m", "brainbench", "registry", "check", "--format", "json", "-j", "2"]
        + [str(REPO / "registry" / "models" / i) for i in REFERENCE_IDS],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    payload = json.loads(proc.stdout)
    assert proc.returncode == 0, payload["findings"]
    assert len(payload["files"]) == 4 and payload["findings"] == []


def test_workflow_runs_the_tested_command():
    workflow = (REPO / ".github" / "workflows" / "registry.yml").read_text()
    assert "brainbench registry check --changed-since origin/main" in workflow
    assert "fetch-depth: 0" in workflow
    assert (REPO / "CONTRIBUTING.md").is_file()


def _blocks(text: str, lang: str) -> list[str]:
    parts = text.split(f"```{lang}\n")[1:]
    return [p.split("```", 1)[0] for p in parts]


def test_contributing_example_entry_passes_check(tmp_path):
    """The model.yaml and model.py of CONTRIBUTING.md are a working entry."""
    guide = (REPO / "CONTRIBUTING.md").read_text()
    (yaml_text,) = [b for b in _blocks(guide, "yaml") if "brainbench-model" in b]
    (code,) = [b for b in _blocks(guide, "python") if "def build" in b]
    folder = write_entry(tmp_path / "models", "my-model", yaml_text=yaml_text, model_py=code)
    result = check_entry(folder, CheckOptions())
    assert result.findings == [], [f.message for f in result.findings]
    rules = {line.split("|")[1].strip() for line in guide.splitlines() if line.startswith("| R4")}
    import re

    documented = set(re.findall(r"^(R4\d\d) ", check_module_doc(), re.M))
    assert rules == documented


def check_module_doc() -> str:
    from brainbench.registry import check

    return check.__doc__ or ""
