"""The leaderboard on hostile sheets (issue 13) and tiers it derives itself (issue 11, item 5):
malformed evidence.json gives one clear message, never AttributeError / RecursionError /
TypeError; a sheet cannot declare itself reproduced; names cannot inject HTML into Markdown."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from brainbench.errors import UserError
from brainbench.report import write_leaderboard
from brainbench.report._render import md_safe
from brainbench.report._verify import seal_level


def _sheet(**over) -> dict:
    """A minimal evidence sheet of two models (what the leaderboard reads of one)."""
    doc = {
        "format": "brainbench-evidence",
        "benchmark": {"id": "b", "version": "1.0.0"},
        "tier": "self-reported",
        "sections": [
            {
                "id": "primary",
                "data": {
                    "metric": "auroc",
                    "partition": "test",
                    "results": [
                        {"model": m, "metric": "auroc", "partition": "test", "estimate": e}
                        for m, e in (("a", 0.8), ("b", 0.7))
                    ],
                },
            }
        ],
    }
    doc.update(over)
    return doc


def _board(tmp_path: Path, doc, raw: str | None = None) -> str:
    folder = tmp_path / "reports" / "x"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "evidence.json").write_text(raw if raw is not None else json.dumps(doc))
    write_leaderboard(tmp_path / "reports", tmp_path / "board", resamples=10)
    return (tmp_path / "board" / "index.md").read_text()


@pytest.mark.parametrize(
    ("doc", "raw", "pattern"),
    [
        ([1, 2], None, r"the top level is a JSON list, not an object"),
        ("text", None, r"the top level is a JSON str"),
        (None, "[" * 100_000 + "]" * 100_000, r"nested too deeply|cannot be used|Cannot read"),
        (None, "{not json", r"Cannot read the evidence sheet"),
        (_sheet(benchmark=[1]), None, r"benchmark.id is not a name"),
        (_sheet(benchmark={"id": {"x": 1}, "version": "1"}), None, r"benchmark.id is not a name"),
        (
            _sheet(sections=[{"id": "primary", "data": {"metric": "auroc", "results": [3]}}]),
            None,
            r"primary result 1 is not an object",
        ),
        (
            _sheet(
                sections=[
                    {
                        "id": "primary",
                        "data": {
                            "metric": "auroc",
                            "results": [{"model": ["m"], "metric": "auroc", "partition": "test"}],
                        },
                    }
                ]
            ),
            None,
            r"the model of primary result 1 is not a name",
        ),
        (
            _sheet(
                sections=[
                    {
                        "id": "primary",
                        "data": {
                            "metric": "auroc",
                            "results": [
                                {"model": "x" * 10_000, "metric": "auroc", "partition": "test"}
                            ],
                        },
                    }
                ]
            ),
            None,
            r"longer than 256 characters",
        ),
        (_sheet(sections={"primary": 1}), None, r"the primary metric is not a name"),
    ],
)
def test_malformed_sheets_give_one_clear_message(tmp_path, doc, raw, pattern) -> None:
    with pytest.raises(UserError, match=pattern) as info:
        _board(tmp_path, doc, raw)
    assert "evidence" in info.value.message


def test_wrong_types_in_optional_fields_read_as_absent(tmp_path: Path) -> None:
    doc = _sheet(tier=["reproduced"])
    doc["sections"] += [
        {"id": "ranking", "data": {"full_rank": [1], "rank_ci": {"a": "x"}, "p_first": {"a": 7}}},
        {"id": "audit", "data": {"valid": "no", "failed": [None, 3], "rules": [1, {"rule": 2}]}},
        {"id": "protocol", "data": {"deviations": "many"}},
        {"id": "identity", "data": {"model_tiers": ["a"]}},
    ]
    doc["sections"][0]["data"]["results"][0]["estimate"] = "0.9"
    md = _board(tmp_path, doc)
    assert "| a | n/a |" in md and "| b | 0.700 |" in md and "self-reported" in md


def test_markdown_escapes_names_like_the_html(tmp_path: Path) -> None:
    assert md_safe("<script>alert(1)</script>") == "&lt;script>alert(1)&lt;/script>"
    assert md_safe("p < 0.05\nnext") == "p < 0.05 next"
    doc = _sheet()
    doc["sections"][0]["data"]["results"][0]["model"] = "<img src=x onerror=alert(1)>|"
    md = _board(tmp_path, doc)
    assert "<img" not in md and "&lt;img src=x onerror=alert(1)>\\|" in md
    assert "<img" not in (tmp_path / "board" / "index.html").read_text()


def test_seal_level_is_read_defensively() -> None:
    assert seal_level({}) == "not recorded"
    assert seal_level({"seal": "landlock-fs, pidns"}) == "landlock-fs, pidns"
    assert seal_level({"seal": {"level": "sealed"}}) == "sealed"
    assert seal_level({"seal": {"layers": ["landlock-fs", "pidns"]}}) == "landlock-fs, pidns"
    assert seal_level({"seal": [1, {"x": None}]}) == "unreadable"


def _tiers(tmp_path: Path, report_dir: Path, run: Path, edit=None) -> tuple[dict, dict]:
    reports = tmp_path / "reports"
    shutil.rmtree(reports, ignore_errors=True)
    (reports / "s").mkdir(parents=True)
    doc = json.loads((report_dir / "evidence.json").read_text())
    if edit:
        edit(doc)
    (reports / "s" / "evidence.json").write_text(json.dumps(doc))
    write_leaderboard(reports, tmp_path / "board", resamples=10, runs=[run])
    board = json.loads((tmp_path / "board" / "leaderboard.json").read_text())["benchmarks"][0]
    return {m["model"]: m["tier"] for m in board["models"]}, board


def test_tier_comes_from_the_run_folder_not_from_the_sheet(
    report_dir: Path, run_dir: Path, tmp_path: Path
) -> None:
    run = tmp_path / "runs" / "run"
    shutil.copytree(run_dir, run)
    tiers, board = _tiers(tmp_path, report_dir, run.parent)
    assert set(tiers.values()) == {"reproduced"} and board["tier"] == "reproduced"
    assert board["verification"] == "passed" and board["seal"] == "not recorded"

    # A hand-edited number, with the sheet still saying "reproduced": unverified.
    def edit_number(doc):
        for s in doc["sections"]:
            if s["id"] == "primary":
                s["data"]["results"][0]["estimate"] = 0.999

    tiers, board = _tiers(tmp_path, report_dir, run.parent, edit_number)
    assert set(tiers.values()) == {"unverified"}
    assert "the sheet shows balanced_accuracy 0.999" in board["verification"][0]

    # A self-reported sheet that declares itself reproduced, with no run folder behind it.
    def claim(doc):
        doc["predictions_sha256"] = ["0" * 64]
        doc["tier"] = "reproduced"

    tiers, board = _tiers(tmp_path, report_dir, run.parent, claim)
    assert set(tiers.values()) == {"unverified"}
    assert "no run folder" in board["verification"][0]

    # A sheet may lower its tier, never raise it.
    def lower(doc):
        for s in doc["sections"]:
            if s["id"] == "identity":
                s["data"]["model_tiers"]["voxel-linear"] = "self-reported"

    tiers, board = _tiers(tmp_path, report_dir, run.parent, lower)
    assert tiers["voxel-linear"] == "self-reported" and tiers["cnn3d-small"] == "reproduced"
    assert board["tier"] == "mixed"

    # The seal level the runner recorded is shown; a split file changed after the run is not.
    prov = json.loads((run / "provenance.json").read_text())
    prov["seal"] = {"layers": ["landlock-fs", "landlock-net", "pidns"]}
    (run / "provenance.json").write_text(json.dumps(prov))
    assert _tiers(tmp_path, report_dir, run.parent)[1]["seal"] == (
        "landlock-fs, landlock-net, pidns"
    )
    (run / "splits.tsv").write_text((run / "splits.tsv").read_text() + "\n")
    tiers, board = _tiers(tmp_path, report_dir, run.parent)
    assert set(tiers.values()) == {"unverified"}
    assert "splits.tsv does not hash" in board["verification"][0]


def test_evidence_markdown_carries_no_raw_html_from_names() -> None:
    """A model or site named ``<script>...`` reached evidence.md raw (issue 13)."""
    from brainbench.report._model import Section, Table
    from brainbench.report._render import render_markdown

    name = "<script>alert(1)</script>"
    sec = Section(
        id="primary",
        number=5,
        title="Primary",
        text=[f"Model {name} is first."],
        missing=[f"site {name}"],
        tables=[Table("t", f"by site {name}", ["Model", "Site"], [[name, "<b>S1</b>"]])],
    )
    md = render_markdown([sec], {"title": name, "subtitle": "s", "brainbench_version": "0"})
    assert "<script" not in md and "<b>" not in md and "&lt;script>alert(1)&lt;/script>" in md
    assert '<a id="primary"></a>' in md  # the renderer's own anchors stay


def test_report_does_not_count_changed_predictions_as_reproduced(
    run_dir: Path, tmp_path: Path
) -> None:
    """predictions.parquet rewritten after the run (issue 11): the report's own tier drops."""
    import pandas as pd

    from brainbench.report._run import read_runs

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    assert set(read_runs([run]).model_tiers.values()) == {"reproduced"}
    df = pd.read_parquet(run / "predictions.parquet")
    df.assign(score_AD=1.0, score_CN=0.0, score=1.0).to_parquet(run / "predictions.parquet")
    data = read_runs([run])
    assert set(data.model_tiers.values()) == {"self-reported"}
    assert any("the predictions changed after the run" in n for n in data.notes)
