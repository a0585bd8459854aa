"""A declared label that no reference mask holds (a wrong value in task.labels) scores a
perfect Dice on every case (both masks empty, Metrics Reloaded): the sheet must say so in its
limits, not let the 1.000 stand unexplained."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tests.report import seg_fixture as fx
from tests.report.test_seg_sheet import _built


def test_a_label_absent_from_every_reference_is_a_limit(tmp_path: Path) -> None:
    table = fx.case_metrics()
    ghost = table[table["label"] == table["label"].iloc[0]].assign(
        label="ghost",
        label_value=9,
        reference_voxels=0,
        predicted_voxels=0,
        status="both-empty",
        value=1.0,
    )
    ghost = ghost[ghost["metric"] == "dice"]
    sec = _built(pd.concat([table, ghost], ignore_index=True), tmp_path, resamples=20)
    limits = sec["conclusions"]["data"]["limits"]
    hits = [x for x in limits if x.startswith("Label ghost (value 9) has no voxel")]
    assert len(hits) == 1, limits
    assert "task.labels" in hits[0] and "Dice 1" in hits[0]
    # the real labels of the fixture hold reference voxels: no such limit for them
    assert sum("has no voxel in any reference mask" in x for x in limits) == 1
