"""``brainbench synth`` through the command line."""

import json

import pytest
from click.testing import CliRunner

from brainbench.cli import cli, main
from brainbench.errors import UserError


def test_synth_tiny_json(tmp_path):
    out = tmp_path / "cohort"
    args = ["synth", str(out), "--preset", "tiny", "--seed", "7", "--resolution", "8"]
    result = CliRunner().invoke(cli, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["subjects"] == 8 and summary["images"] == 16 and summary["sites"] == 2
    assert summary["seed"] == 7 and summary["resolution_mm"] == 8.0
    assert (out / "participants.tsv").is_file()
    truth = json.loads((out / "derivatives/brainbench-truth/truth.json").read_text())
    assert truth["seed"] == 7


def test_synth_options_override_preset(tmp_path):
    out = tmp_path / "cohort"
    args = [
        "synth",
        str(out),
        "--preset",
        "tiny",
        "--subjects",
        "3",
        "--sites",
        "1",
        "--sessions",
        "1",
        "--resolution",
        "8",
        "--disease",
        "pd",
        "--confound",
        "0.5",
        "-q",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "Wrote 3 images of 3 participants" in result.output
    truth = json.loads((out / "derivatives/brainbench-truth/truth.json").read_text())
    assert truth["classes"] == ["CN", "PD"]
    assert truth["config"]["confound"] == 0.5


def test_synth_refuses_non_empty_folder(tmp_path):
    (tmp_path / "x.txt").write_text("x")
    result = CliRunner().invoke(cli, ["synth", str(tmp_path), "--preset", "tiny"])
    assert isinstance(result.exception, UserError)
    assert "--overwrite" in result.exception.message


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--subjects", "-4"], "'subjects' must be between 1"),
        (["--resolution", "12"], "'resolution' must be between 1 and 8"),
        (["--sessions", "0"], "'sessions' must be between 1"),
    ],
)
def test_synth_bad_input_exits_2_with_one_paragraph(tmp_path, capsys, extra, words):
    with pytest.raises(SystemExit) as info:
        main(["synth", str(tmp_path / "out"), "--preset", "tiny", *extra])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()
