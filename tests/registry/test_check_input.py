"""`registry check` on hostile entry files (issue 13): a control character in model.yaml, a
3 GB CHANGELOG.md, a README.md linked to /etc/passwd. Each is a finding; nothing is read whole."""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brainbench.registry.check import CheckOptions, check_entry
from brainbench.registry.cli import registry
from tests.fuzzing import fuzz_budget

from .conftest import MODEL_YAML, write_entry


def _rules(folder: Path) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in check_entry(folder, CheckOptions(run_code=False)).findings:
        out.setdefault(f.rule, []).append(f)
    return out


def test_control_character_in_model_yaml_is_a_finding(tmp_path: Path) -> None:
    text = MODEL_YAML.format(id="prior", version="1.0.0", license="MIT", entrypoint="model:build")
    folder = write_entry(tmp_path, yaml_text=text.replace("Class prior", "Class \x1b[31mprior"))
    (f,) = _rules(folder)["R401"]
    assert f.file.endswith("model.yaml") and "001b" in f.message.lower()
    result = CliRunner().invoke(
        registry, ["check", str(folder), "--no-run"], catch_exceptions=False
    )
    assert result.exit_code == 2 and "R401" in result.output


def test_huge_changelog_is_flagged_by_size_without_being_read(tmp_path: Path) -> None:
    folder = write_entry(tmp_path)
    with open(folder / "CHANGELOG.md", "r+b") as fh:
        fh.truncate(3 * 1024**3)  # sparse: 3 GB by stat, no disk used
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    rules = _rules(folder)
    assert time.perf_counter() - start < 20
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss < 200 * 1024  # KiB
    (f,) = rules["R412"]
    assert "CHANGELOG.md is 3221.2 MB, over the 25 MB limit" in f.message
    assert "R406" not in rules  # not read, so not judged


def test_symlinked_readme_is_refused(tmp_path: Path) -> None:
    folder = write_entry(tmp_path)
    (folder / "README.md").unlink()
    (folder / "README.md").symlink_to("/etc/passwd")
    rules = _rules(folder)
    (f,) = rules["R415"]
    assert "README.md is a symbolic link to '/etc/passwd', outside the entry" in f.message
    assert "R414" not in rules  # the linked file is never read as a model card
    inside = write_entry(tmp_path, "inner")
    (inside / "notes.md").write_text("x")
    (inside / "card.md").symlink_to(inside / "notes.md")
    (f,) = _rules(inside)["R415"]
    assert f.message.startswith("card.md is a symbolic link to") and "outside" not in f.message


def test_symlinked_model_yaml_and_fifo(tmp_path: Path) -> None:
    folder = write_entry(tmp_path)
    os.mkfifo(folder / "weights.pt")
    (f,) = _rules(folder)["R415"]
    assert "weights.pt is a FIFO, socket or device" in f.message
    other = write_entry(tmp_path, "other")
    (other / "model.yaml").unlink()
    (other / "model.yaml").symlink_to("/etc/hostname")
    rules = _rules(other)
    assert "R415" in rules and "R401" not in rules and "R402" not in rules


@pytest.mark.fuzz
@settings(
    max_examples=fuzz_budget(25),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)),
        max_size=200,
    ),
    st.sampled_from(["title", "id", "license", "framework", "notes"]),
)
def test_fuzzed_model_yaml_values_give_findings_not_tracebacks(tmp_path, value, key) -> None:
    """Any text as a field value or as an extra line: findings (R401/R402/...), no exception."""
    text = MODEL_YAML.format(id="prior", version="1.0.0", license="MIT", entrypoint="model:build")
    folder = tmp_path / "fz"
    folder.mkdir(exist_ok=True)
    (folder / "model.yaml").write_text(f"{text}{key}: {value}\n", encoding="utf-8")
    start = time.perf_counter()
    result = check_entry(folder, CheckOptions(run_code=False))
    assert time.perf_counter() - start < 10
    assert all(f.rule.startswith("R4") and f.message for f in result.findings)
