"""Regression tests of issue 13's hostile specs: each gets a clean message and exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from brainbench.cli import main
from brainbench.spec.filter import MAX_FILTER_CHARS
from brainbench.spec.loading import MAX_EXTENDS_BYTES, _merge
from brainbench.validate.engine import validate_path

ROOT = Path(__file__).resolve().parents[2]
BASE = (ROOT / "spec" / "examples" / "sound-base.yaml").read_text()


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


def with_include(text: str) -> str:
    return BASE.replace("role: development", f'role: development\n    include: "{text}"')


def only_finding(path: Path):
    result, unreadable = validate_path(path)
    assert len(result.findings) == 1, result.findings
    return result.findings[0], unreadable


def test_control_character_is_located(tmp_path):
    spec = tmp_path / "ctl.yaml"
    spec.write_text(BASE.replace("title:", "title: \x1b", 1))
    finding, unreadable = only_finding(spec)
    assert unreadable and finding.rule == "E000"
    assert (finding.line, finding.column) == (5, 8)
    assert finding.message.startswith("control character U+001B is not allowed in YAML")


def test_top_level_key_named_int(tmp_path):
    spec = tmp_path / "int.yaml"
    spec.write_text(BASE + "int: 3\n")
    finding, unreadable = only_finding(spec)
    assert not unreadable and finding.rule == "E001"
    assert finding.message == "unknown key 'int'."
    assert (finding.path, finding.line) == ("int", BASE.count("\n") + 1)


def test_extends_name_over_255_bytes(tmp_path):
    spec = tmp_path / "long.yaml"
    spec.write_text(f"extends: {'a' * 300}.yaml\n" + BASE)
    finding, unreadable = only_finding(spec)
    assert unreadable
    assert "is not a usable file name (a name over 255 bytes" in finding.message


def test_extends_to_a_huge_file_is_refused_by_its_size(tmp_path):
    huge = tmp_path / "huge.yaml"
    with open(huge, "wb") as fh:  # sparse: 3 GiB of size, no disk, and never read
        fh.truncate(3 * 2**30)
    spec = tmp_path / "leaf.yaml"
    spec.write_text("extends: huge.yaml\n" + BASE)
    finding, unreadable = only_finding(spec)
    assert unreadable
    assert f"3221225472 bytes is too large for a spec file (limit {MAX_EXTENDS_BYTES}" in (
        finding.message
    )


@pytest.mark.parametrize(
    ("target", "expected"), [("missing.yaml", "does not exist"), (".", "is a directory")]
)
def test_extends_to_a_missing_file_or_a_folder(tmp_path, target, expected):
    spec = tmp_path / "leaf.yaml"
    spec.write_text(f"extends: {target}\n" + BASE)
    finding, _ = only_finding(spec)
    assert f"'extends' target '{target}'" in finding.message and expected in finding.message


def test_nested_include_filter(tmp_path):
    spec = tmp_path / "nested.yaml"
    nested = "(" * 400 + "age > 1" + ")" * 400
    spec.write_text(with_include(nested))
    finding, unreadable = only_finding(spec)
    assert not unreadable and finding.rule == "E001"
    assert "nested more than 32 levels deep (parentheses and 'not')" in finding.message


def test_huge_include_filter_is_refused_by_its_length(tmp_path):
    spec = tmp_path / "filter.yaml"
    text = " or ".join(f"age == {i}" for i in range(20_000))  # 250 kB (the issue had 1.2 MB)
    spec.write_text(with_include(text))
    finding, _ = only_finding(spec)
    assert f"characters (limit {MAX_FILTER_CHARS})" in finding.message


def test_unset_variable_in_split_file_does_not_end_the_batch(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("BRAINBENCH_UNSET_13", raising=False)
    first = tmp_path / "a.yaml"
    first.write_text(
        BASE.replace("  seed: 1", '  seed: 1\n  file: {path: "${BRAINBENCH_UNSET_13}/s.tsv"}')
    )
    second = tmp_path / "b.yaml"
    second.write_text(BASE)
    status, out, _ = run_main(["validate", "--format", "json", str(first), str(second)], capsys)
    assert status == 1
    results = json.loads(out)["results"]
    assert [(r["file"], r["exit_code"]) for r in results] == [(str(first), 1), (str(second), 0)]
    message = results[0]["findings"][0]["message"]
    assert "uses ${BRAINBENCH_UNSET_13}, which is not set" in message


def test_merging_large_extends_is_linear():
    # 20,000 overridden keys: the former merge rescanned every position per key (minutes)
    n = 20_000
    base = {f"k{i}": {"a": i, "b": [1, 2]} for i in range(n)}
    child = {f"k{i}": [i] for i in range(n)}
    base_pos = {(f"k{i}",): ("base", i, 1) for i in range(n)}
    base_pos |= {(f"k{i}", "b", 0): ("base", i, 9) for i in range(n)}
    child_pos = {(f"k{i}",): ("child", i, 1) for i in range(n)}
    child_pos |= {(f"k{i}", 0): ("child", i, 6) for i in range(n)}
    out_pos: dict = {}
    merged = _merge(base, base_pos, child, child_pos, out_pos)
    assert merged["k7"] == [7]
    assert out_pos[("k7",)] == ("child", 7, 1) and out_pos[("k7", 0)] == ("child", 7, 6)
    assert ("k7", "b", 0) not in out_pos  # the replaced subtree's positions are gone


def test_extends_merges_mappings_and_keeps_positions(tmp_path):
    (tmp_path / "base.yaml").write_text(BASE)
    leaf = tmp_path / "leaf.yaml"
    leaf.write_text("extends: base.yaml\nsplits:\n  seed: 2\n")
    result, _ = validate_path(leaf)
    from brainbench.spec import load_spec

    loaded = load_spec(leaf)
    assert loaded.spec.splits.seed == 2 and loaded.spec.splits.group == "subject"
    assert loaded.locate_full("splits.seed") == (str(leaf), 3, 3)
    assert loaded.locate_full("splits.group")[0] == str(tmp_path / "base.yaml")
    assert result.files == [str(leaf)]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_is_refused_without_opening_it(tmp_path):
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    done = subprocess.run(
        [sys.executable, "-m", "brainbench", "validate", str(fifo)],
        capture_output=True,
        text=True,
        timeout=120,  # an open() for reading would block here for ever
    )
    assert done.returncode == 2
    assert "is a named pipe (FIFO), not a regular file; give a YAML file." in done.stdout


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_device_is_refused(capsys):
    status, out, _ = run_main(["validate", "/dev/zero"], capsys)
    assert status == 2
    assert "is a device, not a regular file; give a YAML file." in out


def test_date_like_value_that_is_no_date(tmp_path):
    spec = tmp_path / "date.yaml"
    spec.write_text(BASE.replace("title: Example", "title: 2024-13-45\ndescription: Example"))
    finding, unreadable = only_finding(spec)
    assert unreadable and finding.line == 5
    assert "'2024-13-45' cannot be read as its YAML type" in finding.message
    assert "put it in quotes" in finding.message


def test_a_bug_exits_70_with_one_line_and_a_saved_traceback(tmp_path, capsys, monkeypatch):
    import brainbench.validate.engine as engine

    def boom(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setenv("BRAINBENCH_CRASH_DIR", str(tmp_path / "crashes"))
    monkeypatch.setattr(engine, "validate_path", boom)
    monkeypatch.setattr("brainbench.validate.cli._validate_one", boom)
    status, _, err = run_main(["validate", "x.yaml"], capsys)
    assert status == 70
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("error: internal error (a bug in brainbench, not a problem with your")
    (log,) = (tmp_path / "crashes").glob("brainbench-crash-*.log")
    assert str(log) in err
    assert "RuntimeError: simulated bug" in log.read_text()


def test_a_bug_in_one_file_of_a_batch_keeps_the_others(tmp_path, capsys, monkeypatch):
    import brainbench.validate.engine as engine

    real = engine.validate_path
    good = tmp_path / "good.yaml"
    good.write_text(BASE)

    def flaky(path, **kwargs):
        if path.name == "bug.yaml":
            raise KeyError("simulated")
        return real(path, **kwargs)

    monkeypatch.setenv("BRAINBENCH_CRASH_DIR", str(tmp_path / "crashes"))
    monkeypatch.setattr(engine, "validate_path", flaky)
    status, out, err = run_main(
        ["validate", "--format", "json", str(tmp_path / "bug.yaml"), str(good)], capsys
    )
    assert status == 70 and err == ""
    results = json.loads(out)["results"]
    assert [r["exit_code"] for r in results] == [70, 0]
    assert results[0]["findings"][0]["rule"] == "E070"
    assert "the traceback is in" in results[0]["findings"][0]["message"]


def test_merge_key_of_a_scalar(tmp_path):
    # found by benchmarks/robustness/fuzz_specs.py (a ConstructorError escaped)
    spec = tmp_path / "merge.yaml"
    spec.write_text(BASE.replace("task:\n", "task:\n  <<: text\n", 1))
    finding, unreadable = only_finding(spec)
    assert unreadable and finding.line == 7
    assert finding.message.startswith("a merge key '<<' expected a mapping or list of mappings")


def test_unreadable_extended_file_is_the_leaf_s_finding(tmp_path, capsys):
    (tmp_path / "base.yaml").write_text("brainbench: 1\nid: [\n")
    leaf = tmp_path / "leaf.yaml"
    leaf.write_text("extends: base.yaml\nid: x\n")
    status, out, _ = run_main(["validate", str(leaf)], capsys)
    assert status == 2
    assert f"{tmp_path / 'base.yaml'}:3:1: not valid YAML" in out
    assert ": ok" not in out  # the leaf is not reported as fine


def test_many_values_are_refused_while_parsing(tmp_path, monkeypatch):
    # a 5 MB file of short values once took 1.5 GiB (PyYAML nodes) before being counted
    import brainbench.spec.yaml_loader as yaml_loader

    monkeypatch.setattr(yaml_loader, "MAX_NODES", 1_000)
    spec = tmp_path / "many.yaml"
    spec.write_text("brainbench: 1\nid: [" + "1, " * 50_000 + "1]\n")
    finding, unreadable = only_finding(spec)
    assert unreadable and finding.message.startswith("refused: more than 1000 YAML values")
    assert finding.line == 2 and finding.column < 3_100  # stopped near the 1,000th value


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("  seed: 1", "  seed: -1", "splits.seed: Input should be greater than or equal to 0"),
        ("  seed: 1", "  seed: 4294967296", "splits.seed: Input should be less than or equal to"),
        ("resamples: 10000", "resamples: 1000000000000", "Input should be less than or equal"),
    ],
)
def test_numbers_the_code_cannot_honour_are_findings(tmp_path, old, new, message):
    """A negative split seed once crashed `validate --data` and `split` (NumPy refuses it); a
    trillion resamples crashed `evaluate` and `report` allocating 29 TiB."""
    spec = tmp_path / "n.yaml"
    spec.write_text(BASE.replace(old, new, 1))
    finding, unreadable = only_finding(spec)
    assert not unreadable and finding.rule == "E001" and message in finding.message
