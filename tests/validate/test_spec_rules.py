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
    assert set(data) == {"valid", "exit_code", "files", "findings", "waived", "results", "data"}
    assert data["data"] is False and data["results"][0]["data"] is False  # spec-only
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


def test_brain_age_with_the_demographics_baseline_is_rejected_by_l107(tmp_path):
    """Issue 12: brain-age listed demographics-logreg, which reads age, the target."""
    text = (ROOT / "spec/benchmarks/brain-age.yaml").read_text()
    text = text.replace(
        "models: [voxel-linear, resnet3d]", "models: [voxel-linear, demographics-logreg]"
    )
    path = tmp_path / "brain-age.yaml"
    path.write_text(text)
    out = CliRunner().invoke(cli, ["validate", str(path)])
    assert out.exit_code == 1
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "models: [" in t)
    assert f"{line}:" in out.output and "L107" in out.output
    assert "model 'demographics-logreg' reads covariate 'age', which carries the target" in (
        out.output
    )
    result, _ = validate_path(path)
    [finding] = result.findings
    assert finding.path == "protocol.models.1" and finding.line == line


def test_l107_warns_when_the_target_is_a_hierarchy_source(tmp_path):
    base = (ROOT / "spec/examples/sound-base.yaml").read_text()
    (tmp_path / "base.yaml").write_text(base)
    path = tmp_path / "site.yaml"
    path.write_text(
        "extends: base.yaml\ntask: {target: site, classes: [S1, S2]}\n"
        "splits: {stratify: [site]}\nprotocol: {models: [voxel-linear]}\n"
    )
    result, _ = validate_path(path)
    [finding] = [f for f in result.findings if f.rule == "L107"]
    assert finding.severity.value == "warning" and finding.path == "hierarchy.site"
    assert "the runner withholds them" in finding.message


def test_target_source_columns_and_leaking_covariates():
    from brainbench.spec import load_spec
    from brainbench.validate.target_proxies import leaking_covariates, target_source_columns

    spec = load_spec(ROOT / "spec/benchmarks/brain-age.yaml").spec
    assert target_source_columns(spec) == {"age"}
    assert leaking_covariates(spec) == {"age": {"age"}}
    spec = load_spec(ROOT / "spec/examples/sound-base.yaml").spec
    assert leaking_covariates(spec) == {}


def test_l104_reads_the_pretraining_that_registry_entries_declare(tmp_path, monkeypatch):
    """Issue 12: L104 saw only the spec's own pretraining list, never the entries'."""
    import shutil

    models = tmp_path / "registry" / "models"
    shutil.copytree(ROOT / "registry/models/demographics-logreg", models / "pretrained-on-ext")
    yaml = models / "pretrained-on-ext" / "model.yaml"
    yaml.write_text(
        yaml.read_text()
        .replace("id: demographics-logreg", "id: pretrained-on-ext")
        .replace("  cohorts: []\n", "  cohorts: [EXT, ukbb]\n")
    )
    monkeypatch.setenv("BRAINBENCH_REGISTRY", str(tmp_path / "registry"))
    (tmp_path / "base.yaml").write_text((ROOT / "spec/examples/sound-base.yaml").read_text())
    path = tmp_path / "s.yaml"
    path.write_text("extends: base.yaml\nprotocol: {models: [pretrained-on-ext]}\n")
    result, _ = validate_path(path)
    [finding] = result.findings
    assert finding.rule == "L104" and finding.path == "protocol.models.0"
    assert "model 'pretrained-on-ext' declares pretraining on 'ext'" in finding.message
    assert finding.cohorts == ("ext",) and finding.line is not None


def test_l107_covers_the_sources_of_a_derived_label(tmp_path):
    """A conversion label's diagnosis column (and months column) carry the target as well."""
    from brainbench.spec import load_spec
    from brainbench.validate.target_proxies import DIAGNOSIS_SCORES, target_source_columns

    text = (ROOT / "spec/benchmarks/smci-vs-pmci-caps.yaml").read_text()
    spec = load_spec(ROOT / "spec/benchmarks/smci-vs-pmci-caps.yaml").spec
    # The label's diagnosis column, and the clinical scores that define a diagnosis.
    assert target_source_columns(spec) == {"mci_36", "diagnosis", *DIAGNOSIS_SCORES}
    leaky = text.replace(
        "  - {name: apoe4, type: numeric}\n",
        "  - {name: apoe4, type: numeric}\n  - {name: diagnosis, type: categorical}\n",
    )
    path = tmp_path / "smci.yaml"
    path.write_text(leaky)
    result, _ = validate_path(path)
    [finding] = [f for f in result.findings if f.rule == "L107"]
    assert finding.path == "covariates.2" and finding.line is not None
    assert "covariate 'diagnosis' carries the target 'mci_36'" in finding.message


def test_s204_follows_the_interval_choice(tmp_path):
    """The studentised intervals need clusters; the wild bootstrap needs weighted means; the
    lists S204 keeps agree with the engine's."""
    from brainbench.stats._intervals import MEAN_METRICS, MEAN_ONLY, STUDENTISED
    from brainbench.validate import spec_rules

    assert spec_rules.STUDENTISED_INTERVALS == STUDENTISED
    assert spec_rules.MEAN_FORM_METRICS == MEAN_METRICS
    assert spec_rules.MEAN_FORM_INTERVALS == MEAN_ONLY
    base = (ROOT / "spec/examples/sound-base.yaml").read_text()
    clusters = "clusters: [site, subject]"
    old = "confidence: {method: hierarchical-bootstrap, resamples: 10000, " + clusters + "}"
    assert old in base

    def s204(confidence: str) -> list[str]:
        path = tmp_path / "spec.yaml"
        path.write_text(base.replace(old, f"confidence: {confidence}"))
        result, _ = validate_path(path)
        return [f.message for f in result.findings if f.rule == "S204"]

    ok = "{method: hierarchical-bootstrap, resamples: 10000, clusters: [site, subject], "
    assert s204(ok + "interval: calibrated}") == []
    assert s204(ok + "interval: cluster-bootstrap-t}") == []
    (wild,) = s204(ok + "interval: wild-cluster-webb}")  # the spec's metrics include auroc
    assert "not to auroc" in wild
    (flat,) = s204("{method: bootstrap, resamples: 10000, interval: cluster-bootstrap-t}")
    assert "studentises over the outer cluster level" in flat


def test_s204_flags_clusters_listed_inner_first(tmp_path):
    """protocol.confidence.clusters is outer first: [subject, site] is refused by the engine
    (evaluate, compare, report), so validate says so before a run."""
    base = (ROOT / "spec/examples/sound-base.yaml").read_text()
    path = tmp_path / "spec.yaml"
    path.write_text(base.replace("clusters: [site, subject]}", "clusters: [subject, site]}"))
    result, _ = validate_path(path)
    (f,) = [f for f in result.findings if f.rule == "S204"]
    assert "outer first" in f.message and "[site, subject]" in f.message
    assert f.path == "protocol.confidence.clusters"
