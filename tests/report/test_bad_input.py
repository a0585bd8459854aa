"""Bad input: stated in the report where it applies, a clear error where nothing can be written."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from brainbench.errors import UserError
from brainbench.hashing import sha256_file
from brainbench.report import write_report
from tests.report.fixture import make_run_dir

FAST = 50  # resamples: these tests check statements, not intervals


def _sections(out: Path) -> dict[str, dict]:
    doc = json.loads((out / "evidence.json").read_text())
    return {s["id"]: s for s in doc["sections"]}


def test_empty_predictions_is_a_clear_error(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "run")
    df = pd.read_parquet(run / "predictions.parquet")
    df.iloc[:0].to_parquet(run / "predictions.parquet")
    with pytest.raises(UserError, match="is empty: no model made a prediction"):
        write_report([run], tmp_path / "out", resamples=FAST)
    assert not (tmp_path / "out" / "evidence.html").exists()


def test_no_predictions_and_only_validation_rows(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="has no predictions table"):
        write_report([empty], tmp_path / "out")
    with pytest.raises(UserError, match="does not exist"):
        write_report([tmp_path / "nowhere"], tmp_path / "out")
    run = make_run_dir(tmp_path / "run")
    df = pd.read_parquet(run / "predictions.parquet")
    df[df["partition"] == "validation"].to_parquet(run / "predictions.parquet")
    with pytest.raises(UserError, match="only validation rows"):
        write_report([run], tmp_path / "out")


def test_same_model_in_two_run_dirs_is_refused(tmp_path: Path) -> None:
    a = make_run_dir(tmp_path / "a")
    b = make_run_dir(tmp_path / "b")
    with pytest.raises(UserError, match="has predictions in both"):
        write_report([a, b], tmp_path / "out")


def test_protocol_deviations_are_stated(tmp_path: Path) -> None:
    """Fewer seeds than declared, a model missing a fold, a failed unit, a spec hash mismatch."""
    run = make_run_dir(
        tmp_path / "run",
        seeds=2,
        drop={"model": "cnn3d-small", "fold": 2},
        failed_unit=("voxel-linear", 1, 0),
        spec_sha256="f" * 64,
    )
    (run / "validation.json").write_text("{not json")  # an unreadable optional file
    out = tmp_path / "out"
    write_report([run], out, resamples=FAST)
    secs = _sections(out)
    # The spec rules are re-checked; the data rules' outcome is unknown.
    assert secs["audit"]["status"] == "partial"
    assert any("validation.json" in m for m in secs["audit"]["missing"])
    assert any("validation.json could not be read" in t for t in secs["provenance"]["text"])
    devs = secs["protocol"]["data"]["deviations"]
    kinds = {d["kind"] for d in devs}
    assert {"seeds", "folds", "failed-unit", "spec-hash", "resamples"} <= kinds
    msgs = " ".join(d["message"] for d in devs)
    assert "Model 'cnn3d-small' lacks predictions for repeat 0 fold 2" in msgs
    assert "voxel-linear' has 1 to 2 seed(s) per split" in msgs  # voxel-linear fold 1 lost seed 0
    assert "protocol declares 3" in msgs
    assert "CUDA out of memory" in msgs and "fffffffffffff"[:12] in msgs
    serious = {"seeds", "folds", "failed-unit", "spec-hash"}
    assert all(d["severity"] == "error" for d in devs if d["kind"] in serious)
    cannot = " ".join(secs["conclusions"]["data"]["limits"])
    assert "serious deviation(s) from the pre-registered protocol" in cannot
    md = (out / "evidence.md").read_text()
    assert "The spec hash does not match" in md
    # Comparisons stay paired: runs lacking for some model are left out, and it is said.
    comp = secs["comparisons"]
    assert comp["data"]["results"], comp["text"]
    assert any("left out" in t for t in comp["tables"][0]["notes"])


def test_predictions_only_with_a_metric_undefined_in_a_subgroup(tmp_path: Path) -> None:
    """Self-reported predictions (no spec, cohort, audit or provenance) where one site has a
    single class: the sections that need the missing files say so; the undefined per-site
    metric is stated, not crashed on."""
    run = make_run_dir(tmp_path / "run")
    df = pd.read_parquet(run / "predictions.parquet")
    df = df[df["model"] != "demographics-logreg"]
    s2 = (df["site"] == "S2") & (df["partition"] == "test")
    df.loc[s2, "y_true"] = "AD"
    df = df.drop(columns=["y_pred", "score_CN", "score_AD"])
    preds = tmp_path / "preds.tsv"
    df.to_csv(preds, sep="\t", index=False)
    out = tmp_path / "out"
    # Labels CN/AD without a spec: the positive class cannot be guessed -> a clear error.
    with pytest.raises(UserError, match="Which class is positive"):
        write_report([preds], out, resamples=FAST)
    df["y_true"] = (df["y_true"] == "AD").astype(int)
    df.to_csv(preds, sep="\t", index=False)
    write_report([preds], out, resamples=FAST)
    secs = _sections(out)
    assert secs["identity"]["status"] == "partial"
    assert secs["audit"]["status"] == "unavailable"
    assert any("validation.json" in m for m in secs["audit"]["missing"])
    assert secs["provenance"]["status"] == "unavailable"
    assert secs["confound"]["status"] == "unavailable"
    assert secs["cohort"]["status"] == "partial"
    kinds = {d["kind"] for d in secs["protocol"]["data"]["deviations"]}
    assert "no-spec" in kinds
    gen = secs["generalisation"]
    site = {
        (r["group"]["site"], r["model"]): r
        for r in gen["data"]["levels"]["site"]["results"]
        if r["partition"] == "test"
    }
    assert site[("S2", "cnn3d-small")]["estimate"] is None
    assert any(
        t.startswith("balanced accuracy is undefined on site S2 (test) for cnn3d-small")
        and "class 0 absent" in t
        for t in gen["text"]
    ), gen["text"]
    cannot = " ".join(secs["conclusions"]["data"]["limits"])
    assert "self-reported" in cannot and "no spec" in cannot.lower()
    html = (out / "evidence.html").read_text()
    assert 'data-status="unavailable"' in html and "Missing:" in html


def test_protocol_method_that_cannot_apply_falls_back_and_says_so(tmp_path: Path) -> None:
    """corrected-t needs several splits; with one fold the report uses the paired bootstrap
    and records the deviation."""
    run = make_run_dir(tmp_path / "run", comparison="corrected-t")
    df = pd.read_parquet(run / "predictions.parquet")
    df[df["fold"] == 0].to_parquet(run / "predictions.parquet")
    out = tmp_path / "out"
    write_report([run], out, resamples=FAST)
    secs = _sections(out)
    devs = {d["kind"]: d for d in secs["protocol"]["data"]["deviations"]}
    assert "corrected-t cannot be applied" in devs["comparison-method"]["message"]
    assert "folds" in devs  # folds 1 and 2 are missing for every model
    comp = secs["comparisons"]["data"]
    assert comp["settings"]["method"] == "bootstrap"
    assert {r["method"] for r in comp["results"]} == {"bootstrap"}
    assert any("could not be applied" in t for t in secs["comparisons"]["text"])


def test_spec_rules_are_rechecked_against_the_current_catalogue(tmp_path: Path) -> None:
    """validation.json says valid, but the spec compares models by a naive paired t-test over
    folds (S201): the report re-runs the spec rules and says the audit fails."""
    run = make_run_dir(tmp_path / "run", comparison="paired-t")
    df = pd.read_parquet(run / "predictions.parquet")
    df[df["model"] != "demographics-logreg"].to_parquet(run / "predictions.parquet")
    out = tmp_path / "out"
    write_report([run], out, resamples=FAST)
    secs = _sections(out)
    audit = secs["audit"]
    assert audit["data"]["valid"] is False and audit["data"]["newly_failing"] == ["S201"]
    assert any("S201 fail on the current rule catalogue" in t for t in audit["text"])
    s201 = next(r for r in audit["data"]["rules"] if r["rule"] == "S201")
    assert s201["status"] == "failed" and s201["rechecked"]
    assert "audit rejects the design or its statistical protocol (S201" in " ".join(
        secs["conclusions"]["data"]["limits"]
    )


def test_two_run_dirs_pooled_with_a_self_reported_model(tmp_path: Path) -> None:
    """A run of the runner plus another tool's predictions of one more model: pooled, and the
    tier is stated per model (mixed)."""
    run = make_run_dir(tmp_path / "run")
    df = pd.read_parquet(run / "predictions.parquet")
    df[df["model"] != "cnn3d-small"].to_parquet(run / "predictions.parquet")
    # As if the runner had run two models: its provenance records the file it wrote.
    prov = json.loads((run / "provenance.json").read_text())
    prov["predictions_sha256"] = sha256_file(run / "predictions.parquet")
    (run / "provenance.json").write_text(json.dumps(prov))
    other = tmp_path / "other.parquet"
    df[df["model"] == "cnn3d-small"].assign(model="their-cnn").to_parquet(other)
    out = tmp_path / "out"
    write_report([run, other], out, resamples=FAST)
    doc = json.loads((out / "evidence.json").read_text())
    secs = {s["id"]: s for s in doc["sections"]}
    assert doc["tier"] == "mixed"
    tiers = secs["identity"]["data"]["model_tiers"]
    assert tiers == {
        "demographics-logreg": "reproduced",
        "voxel-linear": "reproduced",
        "their-cnn": "self-reported",
    }
    kinds = {d["kind"] for d in secs["protocol"]["data"]["deviations"]}
    assert {"model-missing", "model-extra"} <= kinds  # cnn3d-small declared, their-cnn not
    assert len(secs["comparisons"]["data"]["results"]) == 3
    assert any("their-cnn are self-reported" in t for t in secs["conclusions"]["data"]["limits"])


def test_labels_outside_the_spec_classes_is_a_clear_error(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "run")
    df = pd.read_parquet(run / "predictions.parquet")
    df["y_true"] = (df["y_true"] == "AD").astype(int)
    preds = tmp_path / "preds.parquet"
    df.to_parquet(preds)
    with pytest.raises(UserError, match=r"declare the classes CN, AD only.*--classes CN,AD"):
        write_report([preds], tmp_path / "out", spec=run / "spec.yaml", resamples=FAST)
    # Without per-class scores nothing declares the classes: the spec's classes do.
    df.drop(columns=["score_CN", "score_AD"]).to_parquet(preds)
    with pytest.raises(UserError, match=r"not the spec's classes \(CN, AD\).*--classes CN,AD"):
        write_report([preds], tmp_path / "out", spec=run / "spec.yaml", resamples=FAST)


def test_multiclass_predictions_without_spec_need_no_positive_class(tmp_path: Path) -> None:
    rows = [
        {
            "model": m,
            "subject": f"s{i:02d}",
            "site": f"S{i % 4}",
            "y_true": ["CN", "MCI", "AD"][i % 3],
            "y_pred": ["CN", "MCI", "AD"][(i + (i % 5 == 0 if m == "good" else i)) % 3],
        }
        for m in ("good", "bad")
        for i in range(60)
    ]
    preds = tmp_path / "three.csv"
    pd.DataFrame(rows).to_csv(preds, index=False)
    write_report([preds], tmp_path / "out", resamples=FAST)
    secs = _sections(tmp_path / "out")
    claims = secs["conclusions"]["data"]["claims"]
    good = next(c for c in claims if c["kind"] == "chance" and c["models"] == ["good"])
    assert "0.33" in good["statement"] and good["status"] == "supported"


@pytest.mark.parametrize(("data_flag", "expected"), [(True, "passed"), (None, "not run")])
def test_clean_data_rules_read_passed_only_when_the_audit_says_they_ran(
    tmp_path: Path, data_flag: bool | None, expected: str
) -> None:
    """A clean cohort leaves no D finding behind: the sheet must tell "passed" (the runner read
    the data, ``"data": true`` in validation.json) from "not run" (no record that it did)."""
    run = make_run_dir(tmp_path / "run")
    audit_file = run / "validation.json"
    clean = {"valid": True, "files": ["spec.yaml"], "findings": [], "waived": []}
    if data_flag is not None:
        clean["data"] = data_flag
    audit_file.write_text(json.dumps(clean))
    out = tmp_path / "out"
    write_report([run], out, resamples=FAST)
    rules = {r["rule"]: r["status"] for r in _sections(out)["audit"]["data"]["rules"]}
    assert rules["D301"] == expected and rules["D302"] == expected
    assert rules["L101"] == "passed"


def test_no_resamples_gives_a_sheet_of_point_estimates(tmp_path: Path, run_dir: Path) -> None:
    """`--resamples 0` (a user's choice) writes the sheet without the bootstrap's parts and says
    so, where it once crashed with exit 70 in the rank stability."""
    from brainbench.cli import main

    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exc:
        main(["report", str(run_dir), "-o", str(out), "--resamples", "0"])
    assert exc.value.code == 0
    secs = _sections(out)
    assert secs["ranking"]["status"] == "unavailable"
    assert any("Rank stability needs bootstrap resamples" in m for m in secs["ranking"]["missing"])
    devs = {d["kind"]: d["message"] for d in secs["protocol"]["data"]["deviations"]}
    assert "point estimates only" in devs["resamples"]
    md = (out / "evidence.md").read_text()
    assert "Rank stability needs bootstrap resamples" in md and "get it.." not in md
