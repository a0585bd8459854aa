"""The spec's sha256 (recorded by every run folder, sheet and leaderboard) does not move when the
models change: every shipped spec, the committed run folder and the leaderboard's check of it."""

from __future__ import annotations

import json

import pytest

from brainbench.spec.models import GrownModel, InputSpec, SegmentationMetric, Waiver
from tests.spec.spec_hashes import GOLDEN, ROOT, entry, read_golden, shipped_specs

GOLDEN_SPECS = read_golden()


@pytest.mark.parametrize("path", shipped_specs(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_shipped_spec_keeps_its_hash(path):
    name = path.relative_to(ROOT).as_posix()
    got = entry(path)
    old = GOLDEN_SPECS.get(name)
    assert got is not None, f"{name} no longer loads"
    if old is None:  # a new spec: pinned by the refresh, not a failure of whoever added it
        pytest.skip(f"{name} is not in {GOLDEN.name} yet: python -m tests.spec.spec_hashes")
    if old["sources"] == got["sources"]:
        assert got["spec_sha256"] == old["spec_sha256"], f"{name}: same file, another hash"


def test_the_committed_run_folder_and_its_sheets_agree_on_the_hash(tmp_path):
    from brainbench.report._leaderboard import write_leaderboard
    from brainbench.report._run import _load_resolved

    run = ROOT / "reports" / "demo" / "run"
    recorded = json.loads((run / "provenance.json").read_text())["spec"]["sha256"]
    got = _load_resolved(run / "spec.resolved.json", [])
    assert got is not None and got[1] == recorded
    assert f'"run_spec_sha256": "{recorded}"' in (ROOT / "reports/demo/evidence.json").read_text()
    # The leaderboard's own check (spec.resolved.json hashes to the provenance's spec sha256,
    # among others) still passes, as the committed leaderboard says.
    write_leaderboard(ROOT / "reports", tmp_path, resamples=10, seed=0)
    for board in (ROOT / "reports" / "leaderboard", tmp_path):
        doc = json.loads((board / "leaderboard.json").read_text())
        (demo,) = [b for b in doc["benchmarks"] if b["benchmark"] == "demo-ad-vs-cn-synthetic"]
        assert (demo["verification"], demo["tier"]) == ("passed", "reproduced")


def test_fields_added_after_format_1_are_dumped_only_when_set():
    """One mechanism (GrownModel.ADDED) for every model that grew: left at its default, an
    added field is not in the dump that is hashed."""
    plain = Waiver(rule="D302", reason="eight subjects cannot be balanced")
    assert plain.model_dump() == {"rule": "D302", "reason": "eight subjects cannot be balanced"}
    scoped = Waiver(rule="D302", reason="eight subjects cannot be balanced", cohorts=["a"])
    assert scoped.model_dump()["cohorts"] == ["a"] and "ids" not in scoped.model_dump()
    assert InputSpec().model_dump() == {"modality": "T1w", "unit": "image"}
    assert SegmentationMetric(name="dice").model_dump_json() == '{"name":"dice"}'
    nsd = SegmentationMetric(name="nsd", tolerance_mm=1.0).model_dump()
    assert nsd == {"name": "nsd", "tolerance_mm": 1.0}
    for model in (Waiver, InputSpec, SegmentationMetric):
        assert issubclass(model, GrownModel) and "model_serializer" not in vars(model)
