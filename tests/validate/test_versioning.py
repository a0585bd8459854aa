from __future__ import annotations

from pathlib import Path

import pytest

from brainbench.spec import load_spec
from brainbench.validate.engine import validate_path
from brainbench.validate.versioning import actual_bump, required_bump

ROOT = Path(__file__).resolve().parents[2]
BASE = (ROOT / "spec/examples/sound-base.yaml").read_text()


def spec(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("change", "needed"),
    [
        (("title: Example - AD", "title: Example, AD"), "patch"),
        (("seeds: 3", "seeds: 5"), "minor"),
        (("seed: 1", "seed: 2"), "major"),
        (("target: diagnosis", "target: dx"), "major"),
    ],
)
def test_required_bump(tmp_path, change, needed):
    old = load_spec(spec(tmp_path, "old.yaml", BASE))
    new = load_spec(spec(tmp_path, "new.yaml", BASE.replace(*change)))
    assert required_bump(old, new)[0] == needed


def test_actual_bump():
    assert actual_bump("1.0.0", "2.0.0") == "major"
    assert actual_bump("1.0.0", "1.1.0") == "minor"
    assert actual_bump("1.0.0", "1.0.1") == "patch"
    assert actual_bump("1.0.0", "1.0.0") == "none"
    assert actual_bump("1.2.0", "1.1.9") is None


def test_against_flags_a_too_small_bump(tmp_path):
    old = spec(tmp_path, "old.yaml", BASE)
    new = spec(tmp_path, "new.yaml", BASE.replace("seed: 1", "seed: 2").replace("1.0.0", "1.1.0"))
    result, _ = validate_path(new, against=old)
    (finding,) = result.findings
    assert finding.rule == "V001" and "major" in finding.message and finding.line == 4
    ok = spec(tmp_path, "ok.yaml", BASE.replace("seed: 1", "seed: 2").replace("1.0.0", "2.0.0"))
    assert validate_path(ok, against=old)[0].valid
