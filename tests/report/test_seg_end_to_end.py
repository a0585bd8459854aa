"""A segmentation benchmark end to end, from the command line: synth (tiny) -> validate ->
run -> report, and the sheet rendered in headless Chromium.

Two models: the shipped ``threshold-seg`` baseline and a copy that measures its label medians
on 300 voxels per training image instead of 200,000 (a noisier baseline), so that the sheet's
comparisons and ranking have two models to work on.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from brainbench.cli import main
from tests.report import browser
from tests.report.test_seg_browser import rendered

REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(
        browser.chromium() is None,
        reason="headless Chromium is not installed (apt-get install -y chromium)",
    ),
]

SPEC = """\
brainbench: 1
id: e2e-wmh
version: 1.0.0
title: segmentation end to end
task:
  type: segmentation
  labels: {{1: csf, 2: gray-matter, 3: white-matter, 4: {{name: wmh, kind: lesion}}}}
  reference: {{source: bids-derivative, path: derivatives/reference, suffix: dseg}}
  input: {{modality: FLAIR, unit: image}}
cohorts:
  - id: wmh
    role: development
    source: {{format: bids, path: {data}}}
hierarchy:
  site: InstitutionName
  subject: participant_id
  session: session_id
splits:
  group: subject
  test: {{method: leave-group-out, group: site}}
  validation: {{method: holdout, size: 0.25}}
  seed: 7
protocol:
  primary_metric: dice
  primary_label: wmh
  metrics: [hd95, {{name: nsd, tolerance_mm: 2.0}}, abs-volume-error, lesion-f1]
  unit_of_analysis: image
  confidence: {{method: hierarchical-bootstrap, resamples: 2000, clusters: [site, subject]}}
  seeds: 1
  models: [threshold-seg, threshold-seg-coarse]
"""


def _cli(*args: str) -> None:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    assert exc.value.code == 0, args


def _registry(root: Path) -> Path:
    """threshold-seg as shipped, and threshold-seg-coarse (its medians from 300 voxels)."""
    models = root / "models"
    models.mkdir(parents=True)
    shipped = REPO / "registry" / "models" / "threshold-seg"
    (models / "threshold-seg").symlink_to(shipped)
    coarse = models / "threshold-seg-coarse"
    shutil.copytree(shipped, coarse)
    yaml = (coarse / "model.yaml").read_text()
    yaml = yaml.replace("id: threshold-seg\n", "id: threshold-seg-coarse\n", 1)
    (coarse / "model.yaml").write_text(yaml.replace("default: 200000", "default: 300", 1))
    return root


def test_synth_validate_run_report_in_chromium(tmp_path: Path) -> None:
    data = tmp_path / "wmh"
    _cli("synth", str(data), "--preset", "tiny", "--task", "segmentation", "--seed", "0", "-q")
    spec = tmp_path / "wmh.yaml"
    spec.write_text(SPEC.format(data=data))
    _cli("validate", str(spec), "--data")
    run = tmp_path / "run"
    registry = _registry(tmp_path / "registry")
    _cli("run", str(spec), "--out", str(run), "--registry", str(registry), "-q", "--device", "cpu")
    out = tmp_path / "report"
    _cli("report", str(run), "-o", str(out), "--resamples", "200")

    doc = json.loads((out / "evidence.json").read_text())
    sec = {s["id"]: s for s in doc["sections"]}
    assert doc["task"] == "segmentation" and doc["tier"] == "reproduced"
    assert doc["labels"] == ["csf", "gray-matter", "white-matter", "wmh"]
    assert sec["audit"]["data"]["valid"] is True
    wmh = sec["labels"]["data"]["labels"]["wmh"]
    assert set(wmh) == {"dice", "hd95", "nsd", "abs-volume-error", "lesion-f1"}
    assert wmh["dice"]["threshold-seg"]["mean"]["n_cases"] == 16  # every session of 8 subjects
    assert len(sec["ranking"]["data"]["rankings"]) == 4
    assert sec["comparisons"]["data"]["comparisons"]
    worst = sec["worst"]["data"]["worst"]
    assert {w["subject"] for w in worst} <= {f"sub-{i:03d}" for i in range(1, 9)}
    rendered(out / "evidence.html", tmp_path)
    # The leaderboard finds the run folder, checks it and recomputes the primary estimates.
    _cli("leaderboard", str(out.parent), "-o", str(tmp_path / "board"), "--runs", str(run))
    board = (tmp_path / "board" / "index.md").read_text()
    assert "e2e-wmh 1.0.0 (reproduced): dice on test, label wmh" in board, board
