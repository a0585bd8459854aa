"""A bad or partial case-metrics table: one clear paragraph, no sheet written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from brainbench.cli import main
from brainbench.errors import UserError
from brainbench.report import write_report
from tests.report import seg_fixture as fx


def _refused(run: Path, out: Path, match: str) -> str:
    with pytest.raises(UserError, match=match) as exc:
        write_report([run], out, resamples=20)
    assert not (out / "evidence.html").exists()
    message = exc.value.message
    assert "\n" not in message and str(run.name) in message
    return message


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda t: t.drop(columns=["status"]), "lacks the column\\(s\\) status"),
        (lambda t: t.iloc[:0], "has no rows"),
        (lambda t: t.assign(status=t["status"].where(t.index != 7, "missing")), "row 8"),
        (lambda t: t.assign(value=t["value"].where(t.index != 3, np.nan)), "NaN on a row"),
        (lambda t: t.assign(value=t["value"].where(t.index != 5, np.inf)), "infinite"),
        (lambda t: t.assign(model=t["model"].where(t.index != 2, "")), "'model', data row 3"),
        (lambda t: t.assign(subject=t["subject"].where(t.index != 2, None)), "'subject'"),
        (lambda t: t.assign(fold=0.5), "not an integer"),
        (lambda t: t.iloc[[0, 0]], "appears twice"),
    ],
)
def test_bad_table_is_one_clear_paragraph(tmp_path: Path, change, match: str) -> None:
    run = fx.make_seg_run_dir(tmp_path / "run", change(fx.case_metrics()))
    message = _refused(run, tmp_path / "out", match)
    assert "case_metrics.parquet" in message


def test_segmentation_spec_without_case_metrics(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "spec.resolved.json").write_text(json.dumps({"task": {"type": "segmentation"}}))
    message = _refused(run, tmp_path / "out", "has no case_metrics.parquet")
    assert "brainbench run" in message


def test_not_a_table_and_checklists(tmp_path: Path, capsys) -> None:
    run = fx.make_seg_run_dir(tmp_path / "run")
    with pytest.raises(UserError, match="--checklist"):
        write_report([run], tmp_path / "out", checklists=["claim"])
    (run / "case_metrics.parquet").write_text("not parquet")
    with pytest.raises(SystemExit) as exc:
        main(["report", str(run), "-o", str(tmp_path / "out")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "case_metrics.parquet" in err and "Traceback" not in err
