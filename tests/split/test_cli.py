"""``brainbench split``: the frozen file, its hash, and one-paragraph errors."""

from __future__ import annotations

import hashlib

from click.testing import CliRunner

from brainbench.cli import main
from brainbench.split.cli import split

SPEC = """\
brainbench: 1
id: t
version: 1.0.0
title: t
task: {type: classification, target: diagnosis, classes: [CN, AD]}
cohorts:
  - {id: dev, role: development, source: {format: tsv, path: dev.tsv}}
splits:
  group: subject
  stratify: [diagnosis]
  test: {method: holdout, size: 0.25}
  seed: 1
FILE
protocol: {primary_metric: balanced_accuracy}
"""


def _write(tmp_path, file_line=""):
    rows = ["participant_id\tsession_id\tdiagnosis"]
    rows += [f"sub-{i:02d}\tses-1\t{'AD' if i % 2 else 'CN'}" for i in range(20)]
    (tmp_path / "dev.tsv").write_text("\n".join(rows) + "\n")
    (tmp_path / "s.yaml").write_text(SPEC.replace("FILE\n", file_line))
    return tmp_path / "s.yaml"


def test_split_writes_to_the_pinned_path(tmp_path):
    spec = _write(tmp_path, "  file: {path: frozen/splits.tsv}\n")
    result = CliRunner().invoke(split, [str(spec)])
    assert result.exit_code == 0, result.output
    digest, path = result.stdout.split()
    assert path.endswith("frozen/splits.tsv")
    assert hashlib.sha256((tmp_path / "frozen/splits.tsv").read_bytes()).hexdigest() == digest


def test_split_notes_a_changed_pin(tmp_path):
    spec = _write(tmp_path, '  file: {path: s.tsv, sha256: "' + "0" * 64 + '"}\n')
    result = CliRunner().invoke(split, [str(spec)])
    assert result.exit_code == 0
    assert "this split differs" in result.stderr


def test_split_without_output_is_a_user_error(tmp_path, capsys):
    spec = _write(tmp_path)
    try:
        main(["split", str(spec)])
    except SystemExit as exc:
        assert exc.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "pass -o FILE" in err and "Traceback" not in err


def test_split_too_many_folds_names_the_spec_line(tmp_path, capsys):
    spec = _write(tmp_path)
    spec.write_text(
        spec.read_text().replace("{method: holdout, size: 0.25}", "{method: kfold, folds: 30}")
    )
    try:
        main(["split", str(spec), "-o", str(tmp_path / "x.tsv")])
    except SystemExit as exc:
        assert exc.code == 2
    err = capsys.readouterr().err
    assert "s.yaml:8: splits: Cannot make 30 folds from 20 group(s)" in err


def test_validate_hashes_only_a_split_table(tmp_path):
    """E002 printed the sha256 of any readable file a spec named (issue 11): now only a file
    that parses as a split table is hashed; a FIFO is refused without being opened."""
    import os

    from brainbench.validate.engine import validate_path

    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    digest = hashlib.sha256(secret.read_bytes()).hexdigest()
    for pin in ("", ', sha256: "' + "0" * 64 + '"'):
        spec = _write(tmp_path, "  file: {path: secret.txt" + pin + "}\n")
        result, _ = validate_path(spec)
        (f,) = [f for f in result.findings if f.rule == "E002"]
        assert "is not a split table" in f.message and "missing column" in f.message
        text = f"{f.message} {f.hint}"
        assert digest not in text and digest[:12] not in text
    os.mkfifo(tmp_path / "fifo.tsv")
    spec = _write(tmp_path, "  file: {path: fifo.tsv}\n")
    (f,) = [f for f in validate_path(spec)[0].findings if f.rule == "E002"]
    assert "named pipe (FIFO), not a regular file" in f.message
    # A real split table, unpinned: its hash is the hint.
    spec = _write(tmp_path, "  file: {path: frozen/splits.tsv}\n")
    digest = CliRunner().invoke(split, [str(spec)]).stdout.split()[0]
    (f,) = [f for f in validate_path(spec)[0].findings if f.rule == "E002"]
    assert f.hint == f"add sha256: {digest}"
