"""Hostile predictions tables for fuzzing ``evaluate``, ``compare`` and ``report`` (the fuzz
tests and ``benchmarks/robustness/fuzz_predictions.py`` share this generator).

``make_table(rng)`` starts from a small valid table drawn from ``rng`` (1-3 models, sites,
subjects, images, folds, seeds, per-class probabilities) and applies one mutation of
:data:`KINDS`; it returns the file name and its bytes (TSV, CSV, gzipped TSV or Parquet).
``run_table(path)`` runs the commands on it in this process and returns what a user would see.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

Mutation = Callable[[random.Random, pd.DataFrame], pd.DataFrame]
TEXT_COLUMNS = ("model", "site", "subject", "image", "y_true", "y_pred", "partition")
WEIRD_TEXT = [
    "",
    " ",
    "<script>alert(1)</script>",
    "a|b",
    "x" * 10_000,
    "\x1b[31mred",
    "tab\there",
    "line\nbreak",
    "nul\x00",
    "é",
    "💥",
    "NaN",
    "None",
    "1e309",
    "-0",
    "${HOME}",
    "../../etc/passwd",
]
WEIRD_NUMBERS = [
    np.nan,
    np.inf,
    -np.inf,
    -1.0,
    1.5,
    1e308,
    -1e-320,
    2**63,
    0.5000000001,
    True,
    "0.5",
    "high",
]


def base_table(rng: random.Random) -> pd.DataFrame:
    """A valid long table: every (model, repeat, fold, seed, image) once."""
    models = [f"m{i}" for i in range(rng.randint(1, 3))]
    n_sites, per_site = rng.randint(1, 3), rng.randint(2, 8)
    folds, seeds = rng.randint(1, 3), rng.randint(1, 2)
    rows = []
    gen = np.random.default_rng(rng.getrandbits(32))
    for model in models:
        for fold in range(folds):
            for seed in range(seeds):
                for site in range(n_sites):
                    for k in range(per_site):
                        y = "AD" if (k + site) % 2 else "CN"
                        p = float(np.clip(gen.normal(0.65 if y == "AD" else 0.35, 0.2), 0, 1))
                        rows.append(
                            {
                                "model": model,
                                "repeat": 0,
                                "fold": fold,
                                "seed": seed,
                                "partition": "test",
                                "site": f"S{site}",
                                "subject": f"sub-{site}{k:02d}",
                                "image": f"sub-{site}{k:02d}_T1w",
                                "y_true": y,
                                "y_pred": "AD" if p >= 0.5 else "CN",
                                "score_CN": 1 - p,
                                "score_AD": p,
                                "score": p,
                            }
                        )
    return pd.DataFrame(rows)


def _row(rng: random.Random, df: pd.DataFrame) -> int:
    return rng.randrange(len(df))


def _set(df: pd.DataFrame, row: int, col: str, value: object) -> pd.DataFrame:
    df = df.copy()
    df[col] = df[col].astype(object)
    df.iloc[row, df.columns.get_loc(col)] = value
    return df


def _duplicate(rng, df):
    rows = [_row(rng, df) for _ in range(rng.randint(1, 3))]
    return pd.concat([df, df.iloc[rows]], ignore_index=True)


def _undeclared(rng, df):
    return _set(df, _row(rng, df), rng.choice(["y_true", "y_pred"]), rng.choice(["MCI", "ad", 1]))


def _probability(rng, df):
    return _set(df, _row(rng, df), rng.choice(["score_AD", "score_CN"]), rng.choice([-0.2, 1.7]))


def _number(rng, df):
    col = rng.choice(["score", "score_AD", "fold", "seed", "repeat"])
    return _set(df, _row(rng, df), col, rng.choice(WEIRD_NUMBERS))


def _text(rng, df):
    return _set(df, _row(rng, df), rng.choice(TEXT_COLUMNS), rng.choice(WEIRD_TEXT))


def _all_names(rng, df):
    """Every row of one text column the same hostile value (the 10,000-character model)."""
    return df.assign(**{rng.choice(TEXT_COLUMNS): rng.choice(WEIRD_TEXT)})


def _drop_column(rng, df):
    cols = rng.sample(list(df.columns), rng.randint(1, 4))
    return df.drop(columns=cols)


def _rename_column(rng, df):
    col = rng.choice(list(df.columns))
    return df.rename(columns={col: rng.choice(["", "score_", "score_<b>", "x" * 300, "model"])})


def _single_class(rng, df):
    return df.assign(y_true=rng.choice(["AD", "CN"]))


def _labels_as_numbers(rng, df):
    mapping = {"CN": rng.choice([0, 0.0, False, "0"]), "AD": rng.choice([1, 1.0, True, "1"])}
    df = df.assign(y_true=df["y_true"].map(mapping), y_pred=df["y_pred"].map(mapping))
    return df.drop(columns=["score_CN", "score_AD"]) if rng.random() < 0.5 else df


def _regression(rng, df):
    gen = np.random.default_rng(rng.getrandbits(32))
    y = gen.normal(70, 8, len(df))
    out = df.drop(columns=["score", "score_CN", "score_AD"]).assign(y_true=y, y_pred=y + 1)
    return (
        _set(out, _row(rng, out), "y_pred", rng.choice(WEIRD_NUMBERS))
        if rng.random() < 0.5
        else out
    )


def _empty(rng, df):
    return df.iloc[:0]


def _many_columns(rng, df):
    extra = pd.DataFrame({f"c{i}": 0 for i in range(rng.choice([50, 1_500]))}, index=df.index)
    return pd.concat([df, extra], axis=1)


def _shuffle(rng, df):
    return df.sample(frac=1, random_state=rng.getrandbits(32)).reset_index(drop=True)


KINDS: dict[str, Mutation] = {
    "valid": lambda rng, df: df,
    "shuffled": _shuffle,
    "duplicate": _duplicate,
    "undeclared-class": _undeclared,
    "probability": _probability,
    "number": _number,
    "text": _text,
    "all-names": _all_names,
    "drop-column": _drop_column,
    "rename-column": _rename_column,
    "single-class": _single_class,
    "numeric-labels": _labels_as_numbers,
    "regression": _regression,
    "empty": _empty,
    "many-columns": _many_columns,
}
#: Mutations of the file's bytes rather than its table.
BYTE_KINDS = ("random-bytes", "truncated", "not-gzip", "header-only", "zero-bytes")
FORMATS = ("predictions.tsv", "predictions.csv", "predictions.tsv.gz", "predictions.parquet")


def _encode(df: pd.DataFrame, name: str) -> bytes:
    if name.endswith(".parquet"):
        buf = io.BytesIO()
        # Parquet needs one type per column: mixed columns are written as text.
        mixed = [c for c in df.columns if df[c].dtype == object]
        df.astype({c: str for c in mixed}).to_parquet(buf, index=False)
        return buf.getvalue()
    text = df.to_csv(sep="," if ".csv" in name else "\t", index=False).encode("utf-8")
    return gzip.compress(text, mtime=0) if name.endswith(".gz") else text


def make_table(rng: random.Random, kind: str | None = None) -> tuple[str, str, bytes]:
    """``(kind, file name, bytes)`` of one hostile predictions table."""
    kind = kind or rng.choice([*KINDS, *BYTE_KINDS])
    name = rng.choice(FORMATS)
    df = base_table(rng)
    if kind in KINDS:
        df = KINDS[kind](rng, df)
        if df.columns.duplicated().any() and name.endswith(".parquet"):
            name = "predictions.tsv"  # Parquet cannot hold two columns of one name
        return kind, name, _encode(df, name)
    data = _encode(df, name)
    if kind == "random-bytes":
        data = rng.randbytes(rng.randint(1, 4096))
    elif kind == "truncated":
        data = data[: rng.randrange(1, max(2, len(data)))]
    elif kind == "not-gzip":
        name = "predictions.tsv.gz"
        data = _encode(df, "predictions.tsv")
    elif kind == "header-only":
        name = "predictions.tsv"
        data = _encode(df, name).split(b"\n", 1)[0] + b"\n"
    else:
        data = b""
    return kind, name, data


@dataclass
class Outcome:
    """What one command printed and returned."""

    command: str
    status: int
    stderr: str
    seconds: float


COMMANDS = {
    "evaluate": ["evaluate", "{path}", "--resamples", "20"],
    "compare": ["compare", "{path}", "--metric", "auroc", "--resamples", "20"],
}


def run_command(argv: list[str]) -> tuple[int, str, str]:
    """``brainbench`` in this process: exit status, stdout, stderr."""
    from brainbench.cli import main

    out, err = io.StringIO(), io.StringIO()
    status: object = None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
        except SystemExit as exc:
            status = exc.code
    return (status if isinstance(status, int) else -1), out.getvalue(), err.getvalue()


def run_table(path: Path, commands: tuple[str, ...] = ("evaluate", "compare")) -> list[Outcome]:
    outcomes = []
    for name in commands:
        argv = [a.replace("{path}", str(path)) for a in COMMANDS[name]]
        start = time.perf_counter()
        status, _, err = run_command(argv)
        outcomes.append(Outcome(name, status, err, time.perf_counter() - start))
    return outcomes


def reader_agreement(path: Path) -> str | None:
    """The report's reader and ``evaluate``'s must say the same: a message when they differ."""
    from brainbench.errors import UserError
    from brainbench.report._run import read_runs
    from brainbench.stats import read_predictions

    said = []
    for read in (read_predictions, lambda p: read_runs([p]).predictions):
        try:
            said.append(("ok", len(read(path))))
        except UserError as exc:
            said.append(("refused", exc.message))
    (a, x), (b, y) = said
    if a != b or (a == "refused" and x != y):
        return f"evaluate's reader: {a} {str(x)[:120]}; report's: {b} {str(y)[:120]}"
    return None


def problems(outcomes: list[Outcome]) -> list[str]:
    """A traceback, an exit status other than 0 (scored) or 2 (refused), an empty message."""
    found = []
    for o in outcomes:
        if o.status not in (0, 2):
            found.append(f"{o.command}: exit {o.status}: {o.stderr.strip()[:300]}")
        if "Traceback" in o.stderr:
            found.append(f"{o.command}: a traceback was printed")
        if o.status == 2 and not o.stderr.startswith("error: "):
            found.append(f"{o.command}: exit 2 without a message")
    return found
