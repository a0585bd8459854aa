"""The run-time audit of entries (runner/_audit.py): L107 withholding, L104 and input units."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from brainbench.errors import UserError
from brainbench.runner import InvalidSpec
from brainbench.runner._prepare import RunOptions, plan_only, plan_units, prepare_run

from .conftest import REPO, TINY_SPEC

REGRESSION = f"""extends: {TINY_SPEC}
id: runner-tests-tiny-age
task: {{type: regression, target: age, classes: null}}
protocol:
  primary_metric: mae
  metrics: [r2]
  comparison: null
  models: [voxel-linear]
"""


def _entry(root: Path, entry_id: str, replace: dict[str, str]) -> Path:
    """A copy of demographics-logreg under another id, with model.yaml edited."""
    folder = root / "models" / entry_id
    shutil.copytree(REPO / "registry" / "models" / "demographics-logreg", folder)
    text = (folder / "model.yaml").read_text().replace("id: demographics-logreg", f"id: {entry_id}")
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    (folder / "model.yaml").write_text(text)
    return folder


def test_target_covariate_is_withheld_and_recorded(cohorts, registry, tmp_path):
    from brainbench.registry import load_model
    from brainbench.registry.interface import FitContext, LabelledImageSet, UnlabelledImageSet
    from brainbench.runner._execute import RunState, _covariates
    from brainbench.runner._finalize import finalize_run

    spec = tmp_path / "age.yaml"
    spec.write_text(REGRESSION)
    options = RunOptions(models=["demographics-logreg"], seeds=1, registry_root=str(registry))
    run_dir, plan, _ = prepare_run(spec, tmp_path / "run", options)
    assert plan["withheld_covariates"] == ["age"]
    prov = finalize_run(run_dir)
    [dev] = [d for d in prov["deviations"] if d["rule"] == "L107"]
    assert dev["covariates"] == ["age"] and dev["models"] == ["demographics-logreg"]
    assert "withheld from every model" in dev["message"]

    # What a unit hands the model: no age. The baseline then cannot copy the target (with
    # age it reached MAE 0): its error is that of a sex-only fit.
    state = RunState.load(run_dir)
    unit = next(u for u in plan_units(plan))
    parts = state.partitions(unit)
    train, test = parts["train"], parts["test"]
    cov_train, cov_test = _covariates(state, train), _covariates(state, test)
    assert "age" not in cov_train.columns and "sex" in cov_train.columns
    y_train, _ = state.labels(train)
    y_test, _ = state.labels(test)
    model = load_model("demographics-logreg", state.task, root=registry)
    images = np.zeros((len(train), 1, 2, 2, 2), np.float32)
    model.fit(LabelledImageSet(images, cov_train, y_train), None, FitContext(seed=0))
    pred = model.predict(UnlabelledImageSet(images[: len(test)], cov_test))
    mae = float(np.mean(np.abs(pred - y_test)))
    assert mae > 1.0, mae


def test_spec_listing_a_model_that_reads_the_target_is_refused(cohorts, registry, tmp_path):
    spec = tmp_path / "age.yaml"
    spec.write_text(REGRESSION.replace("models: [voxel-linear]", "models: [demographics-logreg]"))
    with pytest.raises(InvalidSpec) as exc:
        plan_only(spec, RunOptions(models=["demographics-logreg"], registry_root=str(registry)))
    [finding] = [f for f in exc.value.result.findings if f.rule == "L107"]
    assert "reads covariate 'age', which carries the target 'age'" in finding.message
    assert finding.line is not None


def test_entry_pretrained_on_a_tested_cohort_is_refused(cohorts, tmp_path):
    root = tmp_path / "registry"
    folder = _entry(
        root,
        "pretrained-on-ext",
        {"  cohorts: []\n  description: None.": "  cohorts: [EXT]\n  description: Pretrained."},
    )
    options = RunOptions(models=["pretrained-on-ext"], registry_root=str(root))
    with pytest.raises(UserError) as exc:
        plan_only(TINY_SPEC, options)
    message = exc.value.message
    assert "declares pretraining on 'ext'" in message and "L104" in message
    assert str(folder / "model.yaml") in message and "nothing was run" in message

    waived = tmp_path / "waived.yaml"
    waived.write_text(
        f"extends: {TINY_SPEC}\nwaivers:\n"
        + "".join(f"  - {w}\n" for w in _tiny_waivers())
        + "  - {rule: L104, cohorts: [ext], reason: the entry saw ext images without labels}\n"
    )
    _, plan, _ = prepare_run(waived, tmp_path / "run", options)
    [dev] = [d for d in plan["deviations"] if d["rule"] == "L104"]
    assert dev["cohorts"] == ["ext"] and "without labels" in dev["message"]


def test_entry_for_another_input_unit_is_refused(cohorts, tmp_path):
    root = tmp_path / "registry"
    _entry(root, "slice-model", {"  unit: image": "  unit: slice"})
    with pytest.raises(UserError, match=r"takes input unit 'slice'.*gives 'image'"):
        plan_only(TINY_SPEC, RunOptions(models=["slice-model"], registry_root=str(root)))


def _tiny_waivers() -> list[str]:
    """The tiny spec's own waivers (a spec's waivers list replaces its base's)."""
    lines = TINY_SPEC.read_text().split("waivers:\n", 1)[1].splitlines()
    return [line.strip()[2:] for line in lines if line.strip().startswith("- ")]


def test_run_summary_prints_the_deviations(capsys):
    from brainbench.runner._api import RunResult
    from brainbench.runner.cli import _print_summary

    message = "covariate 'age' carries the target 'age' (column age) and was withheld"
    provenance = {"units": [], "deviations": [{"rule": "L107", "message": message}]}
    _print_summary(RunResult(Path("run"), provenance), quiet=True)
    assert f"deviation (L107): {message}" in capsys.readouterr().err
