"""``brainbench cohort``."""

from __future__ import annotations

import json

from click.testing import CliRunner

from brainbench.cohort.cli import cohort


def test_cohort_json_keys(bids):
    root = bids(
        {
            "sub-01": {"diagnosis": "AD", "sessions": ["ses-1", "ses-2"]},
            "sub-02": {"diagnosis": "CN", "sessions": ["ses-1"]},
        },
        sidecars={"T1w.json": {"InstitutionName": "H1", "Manufacturer": "GE"}},
    )
    result = CliRunner().invoke(cohort, [str(root), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {k: data[k] for k in ("subjects", "sessions", "images", "sites", "scanners")} == {
        "subjects": 2,
        "sessions": 3,
        "images": 3,
        "sites": 1,
        "scanners": 1,
    }
    assert data["classes_per_site"] == {"H1": {"AD": 1, "CN": 1}}


def test_cohort_text(bids):
    root = bids({"sub-01": {"sessions": ["ses-1"]}})
    result = CliRunner().invoke(cohort, [str(root)])
    assert result.exit_code == 0
    assert "1 subjects, 1 sessions, 1 images" in result.output
