"""Hostile predictions tables (issue 13): one reader for evaluate, compare and report refuses
each with a message naming the file, the row and the column; single-class tables are
reported as not estimable instead of crashing the bootstrap."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from brainbench.cli import main
from brainbench.errors import UserError
from brainbench.stats import (
    LIMITS,
    Task,
    bootstrap_ranks,
    compare_models,
    read_predictions,
    read_table,
)
from brainbench.stats._bootstrap import bca_interval, bootstrap_p_value, percentile_interval


def _table(n: int = 8) -> pd.DataFrame:
    y = np.array(["CN", "AD"] * (n // 2))
    p = np.linspace(0.1, 0.9, n)
    return pd.DataFrame(
        {
            "model": "m",
            "subject": [f"s{i}" for i in range(n)],
            "image": [f"s{i}_T1w" for i in range(n)],
            "y_true": y,
            "score_CN": 1 - p,
            "score_AD": p,
        }
    )


def _write(df: pd.DataFrame, path: Path) -> Path:
    df.to_csv(path, sep="\t", index=False)
    return path


def _refused(path: Path, pattern: str) -> str:
    with pytest.raises(UserError, match=pattern) as info:
        read_predictions(path)
    assert str(path) in info.value.message
    return info.value.message


def test_duplicated_rows_are_refused_whatever_the_unit(tmp_path: Path) -> None:
    df = _table()
    path = _write(pd.concat([df, df.iloc[[2]]]), tmp_path / "dup.tsv")
    msg = _refused(path, r"data rows 3 and 9 are the same prediction")
    assert "image 's2_T1w'" in msg and "drop the repeated rows" in msg


def test_undeclared_class_in_y_true_is_refused(tmp_path: Path) -> None:
    df = _table()
    df.loc[5, "y_true"] = "MCI"
    _refused(_write(df, tmp_path / "p.tsv"), r"'y_true' has the label 'MCI' in data row 6")


def test_probability_outside_0_1_is_refused_but_a_free_score_is_not(tmp_path: Path) -> None:
    df = _table()
    df.loc[3, "score_AD"] = 1.7
    _refused(_write(df, tmp_path / "p.tsv"), r"'score_AD'.*data row 4 has 1.7, outside \[0, 1\]")
    # 'score' may be any finite score (a decision value): AUROC needs no probability.
    free = _table().drop(columns=["score_CN", "score_AD"]).assign(score=np.linspace(-3, 3, 8))
    assert read_predictions(_write(free, tmp_path / "free.tsv"))["score"].max() == 3
    # float32 softmax rounding (1 + 1e-7) is a probability, clipped to 1.
    df = _table()
    df.loc[0, "score_AD"] = 1 + 1e-7
    assert read_predictions(_write(df, tmp_path / "r.tsv"))["score_AD"].max() == 1.0


@pytest.mark.parametrize(
    ("column", "value", "pattern"),
    [
        ("score_AD", "nan", r"'score_AD' has 1 NaN.*data row 2"),
        ("score_AD", "high", r"'score_AD' has 1 NaN, infinite or non-numeric.*'high'"),
        ("fold", "1.5", r"'fold' must hold integers.*data row 2 has 1.5"),
        ("fold", "1e300", r"'fold' must hold integers \(below 2\^31\)"),
        ("model", "", r"'model' is empty in data row 2"),
    ],
)
def test_wrong_types_and_nan_name_the_row(tmp_path, column, value, pattern) -> None:
    df = _table().astype({"score_AD": object})
    if column == "fold":
        df["fold"] = 0
    df[column] = df[column].astype(object)
    df.loc[1, column] = value
    _refused(_write(df, tmp_path / "p.tsv"), pattern)


def test_long_names_and_control_characters_are_refused_at_read_time(tmp_path: Path) -> None:
    df = _table().assign(model="x" * 10_000)
    msg = _refused(_write(df, tmp_path / "long.tsv"), r"'model' holds a value of 10,000 char")
    assert f"at most {LIMITS.max_text} characters" in msg
    df = _table()
    df.loc[4, "subject"] = "sub-\x1b[31m01"
    _refused(_write(df, tmp_path / "esc.tsv"), r"'subject' holds a control character.*row 5")


def test_special_files_and_size_limits_are_refused_before_parsing(tmp_path, monkeypatch) -> None:
    (tmp_path / "d.tsv").mkdir()
    with pytest.raises(UserError, match="is a directory; give a predictions table"):
        read_predictions(tmp_path / "d.tsv")
    fifo = tmp_path / "fifo.tsv"
    os.mkfifo(fifo)
    with pytest.raises(UserError, match=r"is a named pipe \(FIFO\), not a regular file"):
        read_predictions(fifo)
    path = _write(_table(), tmp_path / "p.tsv")
    monkeypatch.setattr("brainbench.stats._io.LIMITS", LIMITS.__class__(max_bytes=100))
    with pytest.raises(UserError, match=r"too large for a predictions table \(limit 100 bytes\)"):
        read_predictions(path)
    # A gzip bomb is stopped at the limit while decompressing.
    bomb = tmp_path / "bomb.tsv.gz"
    bomb.write_bytes(gzip.compress(b"model\ty_true\tscore\n" + b"m\t1\t0.5\n" * 50))
    monkeypatch.setattr(
        "brainbench.stats._io.LIMITS", LIMITS.__class__(max_bytes=bomb.stat().st_size + 10)
    )
    with pytest.raises(UserError, match="once decompressed"):
        read_predictions(bomb)


def test_row_and_column_limits(tmp_path, monkeypatch) -> None:
    path = tmp_path / "p.parquet"
    _table().to_parquet(path)
    monkeypatch.setattr("brainbench.stats._io.LIMITS", LIMITS.__class__(max_rows=5))
    with pytest.raises(UserError, match="more than 5 rows"):
        read_predictions(path)
    with pytest.raises(UserError, match="more than 5 rows"):
        read_predictions(_write(_table(), tmp_path / "p.tsv"))


def test_unparseable_files_are_user_errors(tmp_path: Path) -> None:
    for name, data in [
        ("p.parquet", b"PAR1 not really"),
        ("p.tsv.gz", b"not gzip"),
        ("p.tsv", b""),
        ("p.csv", b'model,y_true\n"unclosed,1\n'),
    ]:
        (tmp_path / name).write_bytes(data)
        with pytest.raises(UserError, match=str(tmp_path / name)):
            read_table(tmp_path / name)


def test_single_class_test_set_is_not_estimable_not_a_crash() -> None:
    """`report --spec` on a single-class table crashed in the bootstrap (IndexError)."""
    assert np.isnan(percentile_interval(np.array([]), 0.95)).all()
    assert np.isnan(bca_interval(np.array([0.5]), 0.5, np.array([0.5]), 0.95)[:2]).all()
    assert np.isnan(bootstrap_p_value(np.array([])))
    df = pd.concat([_table().assign(model=m, y_true="CN") for m in ("a", "b")])
    task = Task("classification", ("CN", "AD"))
    res = compare_models(df, "balanced_accuracy", "bootstrap", task=task, resamples=20)
    assert np.isnan(res[0].ci_low) and any("not estimable" in w for w in res[0].warnings)
    with pytest.raises(UserError, match="Rank stability is not estimable"):
        bootstrap_ranks(df, "balanced_accuracy", task=task, resamples=20)


def test_evaluate_and_compare_cli_give_the_same_message(tmp_path: Path, capsys) -> None:
    df = _table()
    path = _write(pd.concat([df, df.iloc[[0]]]), tmp_path / "dup.tsv")
    for cmd in (["evaluate", str(path)], ["compare", str(path), "--metric", "auroc"]):
        with pytest.raises(SystemExit) as info:
            main(cmd)
        assert info.value.code == 2
        err = capsys.readouterr().err
        assert "are the same prediction" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("mutate", "pattern"),
    [
        (lambda df: pd.concat([df, df.iloc[[1]]]), "are the same prediction"),
        (lambda df: df.assign(model="x" * 10_000), "holds a value of 10,000 characters"),
        (lambda df: df.assign(y_true=df["y_true"].where(df.index != 2, "MCI")), "'MCI'"),
        (lambda df: df.assign(score_AD=df["score_AD"] + 0.5), r"outside \[0, 1\]"),
    ],
)
def test_report_reads_predictions_as_evaluate_does(tmp_path, mutate, pattern) -> None:
    """`report` accepted duplicated rows that `evaluate` refused (issue 13): one reader now."""
    from brainbench.report._run import read_runs

    path = tmp_path / "p.parquet"
    mutate(_table()).to_parquet(path)
    with pytest.raises(UserError, match=pattern) as by_evaluate:
        read_predictions(path)
    with pytest.raises(UserError) as by_report:
        read_runs([path])
    assert by_report.value.message == by_evaluate.value.message
