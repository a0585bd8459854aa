"""Sealed labels: a malicious registry entry cannot reach the test labels or the label files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from brainbench.runner import run_benchmark

from .conftest import TINY_SPEC


def _findings(run_dir: Path) -> list[dict]:
    out = []
    for log in sorted((run_dir / "logs").glob("sneaky__*.log")):
        lines = [ln for ln in log.read_text().splitlines() if ln.startswith("SNEAKY ")]
        assert lines, f"the sneaky model printed nothing in {log}"
        out.append(json.loads(lines[-1][len("SNEAKY ") :]))
    return out


def test_malicious_entry_finds_no_label(cohorts, registry, tmp_path, monkeypatch):
    # Make the environment as tempting as possible: a variable naming the cohort's label file.
    monkeypatch.setenv("LABELS_HERE", str(cohorts / "dev" / "participants.tsv"))
    monkeypatch.setenv("BRAINBENCH_SECRET", "x")
    run_dir = tmp_path / "run"
    result = run_benchmark(
        TINY_SPEC, ["sneaky"], out=run_dir, seeds=1, device="cpu", registry_root=registry
    )
    assert result.ok, result.failed
    found = _findings(run_dir)
    assert found
    protected = [str(cohorts.resolve()), str(run_dir.resolve()), str(TINY_SPEC.parent)]
    for f in found:
        assert f["labels"] == [], f["labels"]  # no labels attribute, no __dict__ to hide one
        assert f["columns"] == [], f["columns"]  # covariates: whitelist only
        assert f["frames"] == [], f["frames"]  # nothing label-bearing up the stack
        assert f["heap"] == [], f["heap"]  # nor anywhere in the model process's memory
        assert f["env"] == [], f["env"]  # no BRAINBENCH_* variable
        leaked = [
            p for p in f["paths"] if any(os.path.realpath(p).startswith(s) for s in protected)
        ]
        assert leaked == [], leaked  # no path into the cohorts, the spec or the run folder
    # the labels are still joined by the runner after prediction
    df = pd.read_parquet(run_dir / "predictions.parquet")
    test = df[df["partition"] == "test"]
    assert len(test) and test["y_true"].notna().all()
    assert set(test["y_true"]) <= {"CN", "AD"}
    assert (test["score"] == 0.5).all()  # it could not cheat


def test_the_malicious_entry_would_see_labels_if_they_were_there(tmp_path):
    """Positive control: in a process that does hold the labels, the same probes find them."""
    import importlib.util

    import numpy as np

    from brainbench.registry import TaskInfo, UnlabelledImageSet

    spec = importlib.util.spec_from_file_location(
        "sneaky_probe", Path(__file__).parent / "registry" / "sneaky.py"
    )
    sneaky = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sneaky)
    cohort = pd.DataFrame(  # what an in-process runner would hold
        {"subject": ["a", "b"], "diagnosis": ["CN", "AD"], "image_path": ["/data/a.nii.gz"] * 2}
    )
    inputs = UnlabelledImageSet(np.zeros((2, 1, 2, 2, 2), np.float32), cohort)
    model = sneaky.build(TaskInfo(type="classification", classes=("CN", "AD")), {})
    model._probe(inputs, "predict")
    assert model.found["frames"] and model.found["heap"]
    assert "/data/a.nii.gz" in model.found["paths"]
    assert list(inputs.covariates.columns) == ["subject"]  # the whitelist still applies
    del cohort
