"""Golden JSON outputs of the command line.

Refresh after an intended change with::

    BRAINBENCH_REFRESH_GOLDEN=1 pytest tests/stats/test_golden.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from brainbench.cli import main

from .test_rank import AUC, MODELS

GOLDEN = Path(__file__).parent / "golden"
REFRESH = os.environ.get("BRAINBENCH_REFRESH_GOLDEN") == "1"


def _run(capsys, *argv) -> dict:
    try:
        main(list(argv))
    except SystemExit as exc:
        assert exc.code == 0
    return json.loads(capsys.readouterr().out)


def _check(name: str, data: dict) -> None:
    path = GOLDEN / f"{name}.json"
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    if REFRESH or not path.exists():
        path.write_text(text)
        if not REFRESH:
            pytest.fail(f"{path} was missing and has been written; run the test again")
    expected = json.loads(path.read_text())
    assert _close(data, expected), f"{name}: output differs from {path}"


def _close(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_close, a, b))
    if isinstance(a, float) and isinstance(b, (int, float)):
        return abs(a - b) <= 1e-9 * max(1.0, abs(b))
    return a == b


def test_golden_delong_compare(capsys, tmp_path, asah_predictions):
    path = tmp_path / "asah.tsv"
    asah_predictions.to_csv(path, sep="\t", index=False)
    data = _run(
        capsys,
        "compare",
        str(path),
        "--positive",
        "Poor",
        "--metric",
        "auroc",
        "--method",
        "delong",
        "--unit",
        "subject",
        "--format",
        "json",
    )
    _check("compare-delong-asah", data)


def test_golden_rank_demsar(capsys, tmp_path):
    path = tmp_path / "demsar.csv"
    pd.DataFrame(
        [(f"d{i:02d}", m, AUC[i, j]) for i in range(14) for j, m in enumerate(MODELS)],
        columns=["dataset", "model", "score"],
    ).to_csv(path, index=False)
    data = _run(
        capsys,
        "rank",
        str(path),
        "--resamples",
        "200",
        "--friedman-ties",
        "demsar",
        "--format",
        "json",
    )
    _check("rank-demsar", data)
