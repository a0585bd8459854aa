from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from brainbench.cli import cli
from brainbench.validate.engine import validate_path
from brainbench.validate.rule import get_rule, iter_rules
from brainbench.validate.spec_rules import minimum_resamples

ROOT = Path(__file__).resolve().parents[2]
LEAKY = sorted((ROOT / "spec" / "examples" / "leaky").glob("*.yaml"))


def test_one_leaky_example_per_spec_rule():
    covered = {path.name[:4] for path in LEAKY}
    assert covered == {rule.id for rule in iter_rules("spec")}


@pytest.mark.parametrize("path", LEAKY, ids=[p.stem for p in LEAKY])
def test_leaky_example_is_rejected_with_exactly_its_rule(path):
    result, unreadable = validate_path(path)
    assert not unreadable
    assert not result.valid
    assert {f.rule for f in result.findings} == {path.name[:4]}
    for finding in result.findings:
        assert finding.line is not None and finding.file == str(path)


def test_sound_specs_pass():
    for path in [
        ROOT / "spec/examples/sound-base.yaml",
        *(ROOT / "spec/benchmarks").glob("*.yaml"),
    ]:
        result, _ = validate_path(path)
        assert result.valid and not result.findings, result.findings


@pytest.mark.parametrize("rule", list(iter_rules()), ids=lambda r: r.id)
def test_every_rule_is_documented(rule):
    for part in ("name", "summary", "what", "why", "example", "use_instead", "hint"):
        assert getattr(rule, part).strip(), f"{rule.id} lacks {part}"
    assert rule.references
    doc = rule.doc()
    for heading in ("What it does", "Why is this bad?", "Example", "Use instead", "References"):
        assert heading in doc


def test_rule_example_triggers_and_use_instead_does_not(tmp_path):
    """The doc's example, applied to the sound base, triggers the rule; the fix does not."""
    base = (ROOT / "spec/examples/sound-base.yaml").read_text()
    (tmp_path / "base.yaml").write_text(base)
    for rule in iter_rules("spec"):
        if rule.id == "L105":  # its example replaces the whole cohorts list: see its leaky file
            continue
        for snippet, expect in ((rule.example, True), (rule.use_instead, False)):
            if not snippet.lstrip().startswith(("splits", "training", "protocol", "cohorts")):
                continue
            path = tmp_path / f"{rule.id}-{expect}.yaml"
            path.write_text(f"extends: base.yaml\n{snippet}\n")
            result, _ = validate_path(path)
            fired = rule.id in {f.rule for f in result.findings}
            assert fired is expect, (rule.id, snippet, result.findings)


def test_minimum_resamples():
    assert minimum_resamples(0.95) == 2000
    assert minimum_resamples(0.99) == 10000
    assert minimum_resamples(0.8) == 1000


def test_waiver_silences_with_reason_and_is_reported(tmp_path):
    text = (ROOT / "spec/examples/leaky/S206-accuracy-primary.yaml").read_text()
    leaky_dir = ROOT / "spec/examples/leaky"
    path = leaky_dir.parent / "_tmp_waived.yaml"
    try:
        path.write_text(
            text.replace("extends: ../sound-base.yaml", "extends: sound-base.yaml")
            + "waivers:\n  - {rule: S206, reason: balanced classes by design in this cohort}\n"
        )
        result, _ = validate_path(path)
    finally:
        path.unlink()
    assert result.valid
    assert [w.finding.rule for w in result.waived] == ["S206"]
    assert result.waived[0].reason.startswith("balanced")


def test_waiver_needs_a_reason_and_a_known_rule(tmp_path):
    base = (ROOT / "spec/examples/sound-base.yaml").read_text()
    (tmp_path / "base.yaml").write_text(base)
    path = tmp_path / "w.yaml"
    path.write_text("extends: base.yaml\nwaivers:\n  - {rule: S206}\n")
    result, _ = validate_path(path)
    assert [f.rule for f in result.findings] == ["E001"]
    path.write_text("extends: base.yaml\nwaivers:\n  - {rule: X999, reason: no such rule at all}\n")
    result, _ = validate_path(path)
    assert [f.rule for f in result.findings] == ["E003"] and not result.valid
    path.write_text(
        "extends: base.yaml\nwaivers:\n  - {rule: L101, reason: nothing to waive here}\n"
    )
    result, _ = validate_path(path)
    assert result.valid and [f.severity.value for f in result.findings] == ["warning"]


def test_get_rule_did_you_mean():
    from brainbench.errors import UserError

    with pytest.raises(UserError, match="Did you mean"):
        get_rule("L1011")


def test_cli_json_contract_and_exit_codes(tmp_path):
    runner = CliRunner()
    leaky = str(LEAKY[0])
    result = runner.invoke(cli, ["validate", "--format", "json", leaky])
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert set(data) == {"valid", "exit_code", "files", "findings", "waived", "results"}
    assert data["valid"] is False and data["files"] == [leaky] and data["exit_code"] == 1
    assert [r["file"] for r in data["results"]] == [leaky]
    keys = {"rule", "severity", "message", "file", "path", "line", "column", "hint", "reference"}
    assert keys <= set(data["findings"][0])
    good = str(ROOT / "spec/benchmarks/brain-age.yaml")
    assert runner.invoke(cli, ["validate", good]).exit_code == 0
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"\x00\x00")
    result = runner.invoke(cli, ["validate", "--format", "json", good, str(bad)])
    assert result.exit_code == 2
    data = json.loads(result.output)
    assert data["findings"][0]["rule"] == "E000"
    assert [(r["file"], r["exit_code"]) for r in data["results"]] == [(good, 0), (str(bad), 2)]


def test_rules_command(tmp_path):
    runner = CliRunner()
    out = runner.invoke(cli, ["rules"]).output
    for rule in iter_rules():
        assert rule.id in out
    out = runner.invoke(cli, ["rules", "S201"]).output
    assert "Nadeau" in out and "Use instead" in out
    data = json.loads(runner.invoke(cli, ["rules", "--format", "json"]).output)
    assert {d["id"] for d in data} >= {"L101", "S206"}
