import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from brainbench._limits import MAX_SEED
from brainbench.cli import COMMANDS, cli, main


def test_version_and_help_list_every_command():
    out = subprocess.run(
        [sys.executable, "-m", "brainbench", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for name in COMMANDS:
        assert name in out


def _numeric_options() -> Iterator[tuple[tuple[str, ...], click.Option]]:
    """(command path, option) of every int or float option of every command and subcommand."""
    ctx = click.Context(cli)

    def walk(cmd: click.Command, path: tuple[str, ...]) -> Iterator:
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                yield from walk(cmd.get_command(ctx, name), (*path, name))
            return
        for p in cmd.params:
            if isinstance(p, click.Option) and isinstance(
                p.type, (click.types.IntParamType, click.types.FloatParamType)
            ):
                yield path, p

    yield from walk(cli, ())


NUMERIC = list(_numeric_options())
#: What no numeric option may take: NaN and infinities (1e999 parses to one); integer options
#: also refuse integers that overflow every fixed-width type (seeds, counts, indices). Large
#: finite floats are legitimate somewhere (a margin in years) and are tried where they matter.
NON_FINITE = ["nan", "-nan", "inf", "-inf", "1e999", "-1e999"]
HUGE = [str(10**30), str(-(10**30))]
#: Options whose values the command's own configuration checks (with its own message) before
#: any work: the invocation that reaches that check.
CHECKED_BY_THE_COMMAND = {
    ("synth",): lambda tmp: ["synth", str(tmp / "out"), "--preset", "tiny", "-q"],
    ("experiments",): lambda tmp: ["experiments", "-o", str(tmp / "out")],
}


def test_the_walk_finds_the_numeric_options():
    names = {(" ".join(path), p.opts[0]) for path, p in NUMERIC}
    assert {("report", "--resamples"), ("run", "--cache-gb"), ("synth", "--noise")} <= names
    assert len(NUMERIC) > 40


@pytest.mark.parametrize(
    "path, option", NUMERIC, ids=[f"{' '.join(p)} {o.opts[0]}" for p, o in NUMERIC]
)
def test_no_numeric_option_takes_a_hostile_number(path, option, tmp_path, capsys):
    """An attacker's number on any option is a one-paragraph refusal with exit 2: at parse time,
    or, for the options a command's own configuration checks, before any work is done."""
    huge = HUGE if isinstance(option.type, click.types.IntParamType) else []
    for value in [*NON_FINITE, *huge]:
        try:
            option.type.convert(value, option, None)
        except click.BadParameter:
            continue
        assert path in CHECKED_BY_THE_COMMAND, f"{option.opts[0]} accepts {value}"
        argv = [*CHECKED_BY_THE_COMMAND[path](tmp_path), option.opts[0], value]
        with pytest.raises(SystemExit) as exc:
            main(argv)
        err = capsys.readouterr().err
        assert exc.value.code == 2, (argv, err)
        assert err.startswith("error: ") and "\n" not in err.strip(), err
        assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "path, option",
    [(p, o) for p, o in NUMERIC if o.name == "seed" and p not in CHECKED_BY_THE_COMMAND],
    ids=lambda x: x.opts[0] if isinstance(x, click.Option) else " ".join(x),
)
def test_every_seed_option_takes_what_numpy_and_scikit_learn_take(path, option):
    assert option.type.convert("0", option, None) == 0
    assert option.type.convert(str(MAX_SEED), option, None) == MAX_SEED
    for bad in ("-1", str(MAX_SEED + 1)):
        with pytest.raises(click.BadParameter):
            option.type.convert(bad, option, None)


def test_no_index_or_count_option_takes_a_negative_number():
    """Seeds, folds, resamples, workers...: every integer option but the synthetic cohort's
    (checked by its configuration) refuses -1 (`convert clinicadl --fold -1` once wrote it)."""
    ints = [
        o
        for p, o in NUMERIC
        if isinstance(o.type, click.types.IntParamType) and p not in CHECKED_BY_THE_COMMAND
    ]
    assert len(ints) > 15
    for option in ints:
        with pytest.raises(click.BadParameter):
            option.type.convert("-1", option, None)


def test_a_hostile_number_on_the_command_line_exits_2(tmp_path: Path, capsys):
    """Through the real entry point: the parse-time refusal is click's usage error, exit 2."""
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", str(tmp_path / "p.parquet"), "--level", "nan", "--seed", "1"])
    assert exc.value.code == 2
    assert "'nan' is not a finite number" in capsys.readouterr().err
