"""L107 on the spec's clinical covariates: a covariate that defines the label is refused unless
waived, and the runner then hands it over (recorded) instead of withholding it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from brainbench.spec import load_spec
from brainbench.validate.engine import validate_path
from brainbench.validate.target_proxies import leaking_covariates, target_source_columns

ROOT = Path(__file__).resolve().parents[2]
WAIVER = "\nwaivers: [{rule: L107, reason: MMSE is the predictor under study here}]\n"


def write(tmp_path: Path, extra: str) -> Path:
    (tmp_path / "base.yaml").write_text((ROOT / "spec/examples/sound-base.yaml").read_text())
    path = tmp_path / "spec.yaml"
    path.write_text("extends: base.yaml\n" + extra)
    return path


def l107(path: Path) -> list:
    result, unreadable = validate_path(path)
    assert not unreadable
    return [f for f in result.findings if f.rule == "L107"], result


def test_mmse_and_cdr_are_refused_for_a_diagnosis_target(tmp_path):
    path = write(
        tmp_path,
        "covariates: [{name: MMSE, type: numeric}, {name: apoe4, type: categorical},\n"
        "  {name: cdr_sb, type: numeric}]\n",
    )
    findings, result = l107(path)
    assert [f.path for f in findings] == ["covariates.0", "covariates.2"]
    assert all(f.severity.value == "error" for f in findings) and not result.valid
    assert "covariate 'MMSE' carries the target 'diagnosis'" in findings[0].message
    assert findings[0].line == 2


def test_a_waiver_with_a_reason_lets_it_stay(tmp_path):
    path = write(tmp_path, "covariates: [{name: mmse, type: numeric}]" + WAIVER)
    findings, result = l107(path)
    assert not findings and result.valid and len(result.waived) == 1


def test_a_time_derived_label_refuses_its_source_column_and_months(tmp_path):
    path = write(
        tmp_path,
        "task: {target: mci_36, classes: [sMCI, pMCI]}\nsplits: {stratify: [mci_36]}\n"
        "labels: [{name: mci_36, from: dx, horizon_months: 36, months: month}]\n"
        "covariates: [{name: dx, type: categorical}, {name: month, type: numeric},\n"
        "  {name: education, type: numeric}]\n",
    )
    spec = load_spec(path).spec
    assert {"mci_36", "dx", "month", "mmse"} <= target_source_columns(spec)
    assert set(leaking_covariates(spec)) == {"dx", "month"}
    findings, _ = l107(path)
    assert [f.path for f in findings] == ["covariates.0", "covariates.1"]


def test_the_runner_hands_a_waived_covariate_over_and_withholds_an_unwaived_one(tmp_path):
    from brainbench.runner._audit import audit_entries

    table = pd.DataFrame({"cohort": ["dev"], "dataset": ["dev"]})
    path = write(tmp_path, "covariates: [{name: mmse, type: numeric}]" + WAIVER)
    audit = audit_entries(load_spec(path), table, ["demographics-logreg"], None)
    assert "mmse" not in audit.withheld_covariates
    (kept,) = [d for d in audit.deviations if d["kind"] == "covariate-kept"]
    assert kept["models"] == [] and "MMSE is the predictor" in kept["message"]
    path = write(tmp_path, "covariates: [{name: mmse, type: numeric}]\n")
    audit = audit_entries(load_spec(path), table, ["demographics-logreg"], None)
    assert "mmse" in audit.withheld_covariates
