"""The demo path end to end, on the tiny preset (still run in CI)."""

from __future__ import annotations

import json
import sys

import pandas as pd
import pytest

from .conftest import TINY_SPEC


@pytest.mark.slow
def test_demo_end_to_end_tiny(tmp_path, capsys, monkeypatch):
    from brainbench.cli import main

    monkeypatch.delenv("BRAINBENCH_DEMO_DATA", raising=False)
    out = tmp_path / "demo"
    argv = [
        "demo",
        "--out",
        str(out),
        "--preset",
        "tiny",
        "--seeds",
        "2",  # not the default (3): the flag is honoured; fewer CNN units keep the test fast
        "--max-epochs",
        "1",
        "--spec",
        str(TINY_SPEC),
        "-q",
    ]
    with pytest.raises(SystemExit) as info:
        main(argv)
    text = capsys.readouterr().out
    assert info.value.code == 0, text
    assert "rejected before any GPU hour is spent" in text
    assert "L101" in text and "L103" in text
    assert "6/6 unit(s) ok" in text
    assert "model processes: seal: landlock-fs" in text or not sys.platform.startswith("linux")
    assert "Where to look" in text and "evidence sheet" in text
    df = pd.read_parquet(out / "run" / "predictions.parquet")
    assert set(df["model"]) == {"demographics-logreg", "voxel-linear", "cnn3d-small"}
    assert set(df["seed"]) == {0, 1}
    prov = json.loads((out / "run" / "provenance.json").read_text())
    assert all(u["status"] == "ok" for u in prov["units"])
    if sys.platform.startswith("linux"):  # the demo runs sealed (docs/security.md)
        assert prov["seal"]["level"] == "full", prov["seal"]
        assert prov["integrity"] == {"ok": True, "problems": []}
    sheets = list((out / "report").glob("evidence.*"))
    assert sheets, "no evidence sheet written"
    html = (out / "report" / "evidence.html").read_text()
    assert "Model sandbox" in html and "seal: landlock-fs" in html
    # the demo's sheet carries CLAIM 2024 and TRIPOD+AI, filled from the run
    doc = json.loads((out / "report" / "evidence.json").read_text())
    checklists = {s["id"]: s["data"]["items"] for s in doc["sections"] if "checklist" in s["id"]}
    assert set(checklists) == {"checklist-claim", "checklist-tripod-ai"}
    claim = {i["item"]: i for i in checklists["checklist-claim"]}
    assert all(claim[i]["status"] == "run" for i in ("7", "19", "20", "28", "29", "32", "33"))
    tripod = {i["item"]: i for i in checklists["checklist-tripod-ai"]}
    assert all(tripod[i]["status"] == "run" for i in ("5a", "12a", "12e", "23a"))
    # the demo refuses to overwrite without --overwrite
    with pytest.raises(SystemExit) as again:
        main(argv)
    assert again.value.code == 2


@pytest.mark.slow
def test_segmentation_demo_end_to_end_tiny(tmp_path, capsys, monkeypatch):
    from brainbench.cli import main

    monkeypatch.delenv("BRAINBENCH_DEMO_DATA", raising=False)
    out = tmp_path / "demo"
    argv = ["demo", "--task", "segmentation", "--out", str(out), "--max-epochs", "1", "-q"]
    with pytest.raises(SystemExit) as info:
        main(argv)
    text = capsys.readouterr().out
    assert info.value.code == 0, text
    assert "L101" in text and "rejected before any GPU hour is spent" in text
    assert "2/2 unit(s) ok" in text
    assert (out / "report" / "evidence.html").is_file(), text
    df = pd.read_parquet(out / "run" / "case_metrics.parquet")
    assert set(df["model"]) == {"threshold-seg", "unet-seg-small"}
    assert set(df["label"]) == {"csf", "gray-matter", "white-matter", "wmh"}
    prov = json.loads((out / "run" / "provenance.json").read_text())
    assert prov["integrity"]["ok"] and len(prov["masks"]) == df["mask"].nunique()


def test_segmentation_demo_takes_no_full_or_spec(tmp_path):
    from click.testing import CliRunner

    from brainbench.cli import cli

    result = CliRunner().invoke(
        cli, ["demo", "--task", "segmentation", "--full", "--out", str(tmp_path / "d")]
    )
    assert result.exit_code == 2 and "takes neither --full nor --spec" in result.output
