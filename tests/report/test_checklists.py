"""CLAIM 2024 and TRIPOD+AI filled from the run: the items the spec, the run and the sheet must
answer are answered, with their evidence; every other item is left to the authors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from brainbench.report._checklists import (
    AUTHORS,
    CHECKLISTS,
    PART,
    RUN,
    checklist_section,
)
from brainbench.report._model import Section
from brainbench.spec import load_spec


def _sections(report_dir: Path) -> list[Section]:
    """The fixture sheet's sections, as write_report built them (from its evidence.json)."""
    doc = json.loads((report_dir / "evidence.json").read_text())
    keys = ("id", "number", "title", "status", "missing", "data")
    return [Section(**{k: s[k] for k in keys}) for s in doc["sections"]]


def _items(name: str, report_dir: Path, run_dir: Path) -> dict[str, dict]:
    spec = load_spec(run_dir / "spec.yaml").spec
    sec = checklist_section(name, 14, spec, _sections(report_dir))
    return {i["item"]: i for i in sec.data["items"]}


def test_item_lists_follow_the_published_checklists() -> None:
    claim = [i for i, _, _ in CHECKLISTS["claim"][2]]
    assert claim == [str(n) for n in range(1, 45)]  # CLAIM 2024: 44 items
    tripod = [i for i, _, _ in CHECKLISTS["tripod-ai"][2]]
    assert len(tripod) == 52 and len({i.rstrip("abcdefg") for i in tripod}) == 27
    assert tripod[:7] == ["1", "2", "3a", "3b", "3c", "4", "5a"]
    assert tripod[-3:] == ["27a", "27b", "27c"]


def test_claim_items_answered_from_the_run(report_dir: Path, run_dir: Path) -> None:
    items = _items("claim", report_dir, run_dir)
    must = {
        "7": ["devcohort (development, tsv)", "extcohort (external-test, tsv)"],
        "19": ["holdout 0.4", "stratified on diagnosis", "split seed 7", "sha256"],
        "20": ["disjoint at the subject level", "leakage audit passed"],
        "23": ["brainbench 0.1.0", "torch 2.3.0"],
        "28": ["balanced_accuracy", "auroc", "unit of analysis: subject"],
        "29": ["95%", "hierarchical-bootstrap", "clusters site, subject", "holm"],
        "32": ["balanced_accuracy on test", "cnn3d-small", "["],
        "33": ["extcohort"],
        "37": ["voxel-linear"],
        "42": ["sha256"],
    }
    for item, words in must.items():
        got = items[item]
        assert got["status"] == RUN, (item, got)
        for w in words:
            assert w in got["evidence"], (item, w, got["evidence"])
    assert items["33"]["sections"] == ["generalisation"]
    assert items["36"]["status"] == PART  # counts from the run, clinical variables from authors
    for left in ("1", "5", "13", "22", "34", "39", "44"):
        assert items[left]["status"] == AUTHORS and items[left]["evidence"] == ""


def test_tripod_items_answered_from_the_run(report_dir: Path, run_dir: Path) -> None:
    items = _items("tripod-ai", report_dir, run_dir)
    for item in ("5a", "12a", "12d", "12e", "18c", "23a", "23b"):
        assert items[item]["status"] == RUN, (item, items[item])
    assert "site (" in items["23b"]["evidence"] and "with intervals" in items["12d"]["evidence"]
    assert "site, sex" in items["14"]["evidence"] and items["14"]["status"] == PART
    for left in ("3c", "13", "17", "19", "22"):
        assert items[left]["status"] == AUTHORS


def test_without_a_run_everything_is_left_to_the_authors() -> None:
    sec = checklist_section("claim", 1, None, [])
    assert {i["status"] for i in sec.data["items"]} == {AUTHORS}
    assert sec.tables[0].rows == [] and len(sec.tables[1].rows) == 44


def test_sheet_with_both_checklists(run_dir: Path, tmp_path: Path) -> None:
    from brainbench.cli import main

    out = tmp_path / "sheet"
    args = ["report", str(run_dir), "-o", str(out), "--resamples", "20"]
    with pytest.raises(SystemExit) as done:
        main([*args, "--checklist", "claim", "--checklist", "tripod-ai"])
    assert done.value.code == 0
    doc = json.loads((out / "evidence.json").read_text())
    ids = [s["id"] for s in doc["sections"]]
    assert ids[-2:] == ["checklist-claim", "checklist-tripod-ai"]
    md = (out / "evidence.md").read_text()
    assert "CLAIM 2024 checklist: items answered from the run" in md
    assert "TRIPOD+AI checklist: items left to the authors" in md
