"""The experiment specs validate, and the leaky arms carry their waivers."""

from __future__ import annotations

from pathlib import Path

import pytest

from brainbench.spec import load_spec
from brainbench.validate.engine import validate_path

SPECS = sorted((Path(__file__).resolve().parents[2] / "spec" / "experiments").glob("*.yaml"))
REASON = "deliberately leaky: this experiment measures the inflation"


@pytest.mark.parametrize("path", SPECS, ids=[p.name for p in SPECS])
def test_spec_validates(path):
    result, _ = validate_path(path, data=False)
    assert result.valid, [f.message for f in result.findings]


def test_leaky_arms_differ_only_where_they_leak():
    base = Path(SPECS[0]).parent
    subject = load_spec(base / "wrong-split-subject.yaml").spec
    session = load_spec(base / "wrong-split-session.yaml").spec
    assert subject.splits.group == "subject" and session.splits.group == "session"
    assert {w.rule: w.reason for w in session.waivers}["L101"] == REASON
    assert subject.protocol == session.protocol and subject.cohorts == session.cohorts
    train = load_spec(base / "late-split-train.yaml").spec
    leaky = load_spec(base / "late-split-all.yaml").spec
    assert train.training.feature_selection_on == "train"
    assert leaky.training.feature_selection_on == "all"
    assert {w.rule: w.reason for w in leaky.waivers}["L102"] == REASON


def test_leaky_arms_are_rejected_without_their_waivers(tmp_path):
    base = Path(SPECS[0]).parent
    for spec in SPECS:
        (tmp_path / spec.name).write_text(spec.read_text())
    for name, rule in (("wrong-split-session.yaml", "L101"), ("late-split-all.yaml", "L102")):
        path = tmp_path / name
        path.write_text((base / name).read_text().split("waivers:")[0])
        result, _ = validate_path(path, data=False)
        assert not result.valid
        assert rule in {f.rule for f in result.findings}
