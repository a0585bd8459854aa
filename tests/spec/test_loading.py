from __future__ import annotations

from pathlib import Path

import pytest

from brainbench.errors import UserError
from brainbench.spec import SpecError, load_spec

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "spec" / "examples" / "sound-base.yaml"


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def base_text() -> str:
    return BASE.read_text()


def test_shipped_benchmarks_load():
    for path in sorted((ROOT / "spec" / "benchmarks").glob("*.yaml")):
        loaded = load_spec(path)
        assert loaded.spec.id == path.stem
        assert len(loaded.sha256) == 64


def test_positions_point_at_keys():
    loaded = load_spec(BASE)
    lines = BASE.read_text().splitlines()
    line, column = loaded.locate("splits.group")
    assert lines[line - 1][column - 1 :].startswith("group:")
    line, column = loaded.locate("cohorts.1.role")
    assert lines[line - 1][column - 1 :].startswith("role: external-test")


def test_unknown_key_did_you_mean_with_line(tmp_path):
    text = base_text().replace("  stratify: [diagnosis]", "  stratfy: [diagnosis]")
    with pytest.raises(SpecError) as info:
        load_spec(write(tmp_path, text))
    (finding,) = info.value.findings
    assert finding.rule == "E001"
    assert "unknown key 'stratfy'" in finding.message
    assert "Did you mean 'stratify'?" in finding.message
    assert text.splitlines()[finding.line - 1].strip().startswith("stratfy")
    assert finding.column == 3


def test_wrong_type_is_located(tmp_path):
    text = base_text().replace("seeds: 3", "seeds: many")
    with pytest.raises(SpecError) as info:
        load_spec(write(tmp_path, text))
    (finding,) = info.value.findings
    assert finding.path == "protocol.seeds"
    assert "many" in finding.message
    assert text.splitlines()[finding.line - 1].strip().startswith("seeds:")


def test_format_version_other_than_1(tmp_path):
    with pytest.raises(SpecError) as info:
        load_spec(write(tmp_path, base_text().replace("brainbench: 1", "brainbench: 2")))
    assert "format version 2 is not supported" in info.value.message
    with pytest.raises(SpecError) as info:
        load_spec(write(tmp_path, base_text().replace("brainbench: 1\n", "")))
    assert "'brainbench: 1'" in info.value.message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty"),
        (b"\x00\x01\x02binary", "binary"),
        (b"key: [unclosed", "not valid YAML"),
        (b"- a\n- b\n", "must be a mapping"),
        (b"\xff\xfe\xfa", "not UTF-8"),
        (b"a: !!python/object:os.system ls\n", "only plain YAML values"),
        (b"a: 1\na: 2\n", "duplicate key 'a'"),
    ],
)
def test_unreadable_inputs_are_user_errors(tmp_path, content, expected):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    with pytest.raises(UserError) as info:
        load_spec(path)
    assert expected in info.value.message
    assert str(path) in info.value.message


def test_billion_laughs_is_refused(tmp_path):
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        refs = ",".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    path = write(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(UserError) as info:
        load_spec(path)
    assert "refused" in info.value.message


def test_deep_nesting_is_refused(tmp_path):
    path = write(tmp_path, "a: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(UserError) as info:
        load_spec(path)
    assert "deep" in info.value.message or "refused" in info.value.message


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(UserError, match="file not found"):
        load_spec(tmp_path / "nope.yaml")
    with pytest.raises(UserError, match="is a directory"):
        load_spec(tmp_path)


def test_extends_merges_and_keeps_positions(tmp_path):
    base = write(tmp_path, base_text(), "base.yaml")
    child = write(tmp_path, "extends: base.yaml\nid: child\nsplits:\n  seed: 99\n", "child.yaml")
    loaded = load_spec(child)
    assert loaded.spec.id == "child"
    assert loaded.spec.splits.seed == 99
    assert loaded.spec.splits.group == "subject"  # inherited
    file, line, _ = loaded.locate_full("splits.seed")
    assert file == str(child) and line == 4
    file, _, _ = loaded.locate_full("splits.group")
    assert file == str(base)
    assert loaded.files == [child, base]


def test_extends_cycle_and_missing_target(tmp_path):
    write(tmp_path, "extends: b.yaml\n", "a.yaml")
    write(tmp_path, "extends: a.yaml\n", "b.yaml")
    with pytest.raises(UserError, match="cycle"):
        load_spec(tmp_path / "a.yaml")
    write(tmp_path, "extends: missing.yaml\n", "c.yaml")
    with pytest.raises(UserError, match="does not exist") as info:
        load_spec(tmp_path / "c.yaml")
    assert "c.yaml:1:" in info.value.message


def test_env_expansion(tmp_path, monkeypatch):
    loaded = load_spec(BASE)
    monkeypatch.setenv("BRAINBENCH_DATA", str(tmp_path))
    assert loaded.resolve_path("${BRAINBENCH_DATA}/x") == tmp_path / "x"
    monkeypatch.delenv("BRAINBENCH_DATA")
    assert loaded.resolve_path("${BRAINBENCH_DATA:-d}/x") == BASE.parent / "d" / "x"
    with pytest.raises(UserError, match="BRAINBENCH_DATA"):
        loaded.resolve_path("${BRAINBENCH_DATA}/x")


def test_cross_field_rules(tmp_path):
    text = base_text().replace("primary_metric: balanced_accuracy", "primary_metric: mae")
    with pytest.raises(SpecError, match="does not apply to a classification task"):
        load_spec(write(tmp_path, text))
    text = base_text().replace(
        "test: {method: holdout, size: 0.2, sessions: baseline}", "test: {method: holdout}"
    )
    with pytest.raises(SpecError, match="needs 'size'"):
        load_spec(write(tmp_path, text))
    text = base_text().replace("classes: [CN, AD]", "classes: [CN, CN]")
    with pytest.raises(SpecError, match="twice"):
        load_spec(write(tmp_path, text))


def test_bad_include_filter_is_a_schema_finding(tmp_path):
    text = base_text().replace(
        "    role: development\n", '    role: development\n    include: "age >= and"\n', 1
    )
    with pytest.raises(SpecError) as info:
        load_spec(write(tmp_path, text))
    (finding,) = info.value.findings
    assert finding.path == "cohorts.0.include"
    assert "does not parse" in finding.message


def test_primary_result_names_an_external_cohort(tmp_path):
    def with_primary(value: str, test: str | None = None) -> str:
        text = base_text().replace("  seeds: 3\n", f"  seeds: 3\n  primary_result: {value}\n")
        if test:
            text = text.replace("test: {method: holdout, size: 0.2, sessions: baseline}", test)
        return text

    ok = load_spec(write(tmp_path, with_primary("{test_set: cohort, cohort: ext}")))
    assert ok.spec.protocol.primary_result.cohort == "ext"
    assert load_spec(write(tmp_path, base_text())).spec.protocol.primary_result is None
    with pytest.raises(SpecError, match="'dev' is not an external-test cohort"):
        load_spec(write(tmp_path, with_primary("{test_set: cohort, cohort: dev}")))
    with pytest.raises(SpecError, match="give `cohort` exactly when"):
        load_spec(write(tmp_path, with_primary("{test_set: each-external, cohort: ext}")))
    with pytest.raises(SpecError, match="no internal test partition"):
        load_spec(write(tmp_path, with_primary("{test_set: test}", "test: {method: external}")))
