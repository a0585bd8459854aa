"""The scenario matrix: designs whose truth is known, and the claims the evidence sheet makes.

Covered: binary, 3-class and regression; holdout, repeated k-fold, leave-site-out and
external-only with two external cohorts (each cohort an endpoint, one named cohort, pooled);
one run folder and pooled run folders; deviations read from provenance.json; a test set too
small to estimate anything. In every design the ``signal`` model sees the label and ``noise``
and the demographics baseline do not, so the sheet must say: signal above chance, better than
noise, learns more than demographics; noise not above chance.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.scenarios.truth import BASELINE, NOISE, SIGNAL, Scenario, make_run

RESAMPLES = 200


def sheet(
    tmp: Path,
    sc: Scenario,
    folders: list[tuple[str, ...]] | None = None,
    resamples: int = RESAMPLES,
) -> dict[str, Any]:
    """Write the sheet of ``sc`` (one run folder per entry of ``folders``) and read it back."""
    from brainbench.report import write_report

    runs = [make_run(tmp / f"run{i}", sc, m) for i, m in enumerate(folders or [sc.models])]
    write_report(runs, tmp / "out", resamples=resamples, seed=0)
    doc = json.loads((tmp / "out" / "evidence.json").read_text())
    secs = {s["id"]: s for s in doc["sections"]}
    md = (tmp / "out" / "evidence.md").read_text()
    return {
        "secs": secs,
        "claims": secs["conclusions"]["data"]["claims"],
        "box": md[md.index("## Key findings") : md.index("## Contents")],
        "md": md,
        "deviations": secs["protocol"]["data"]["deviations"],
    }


def claim(s: dict, kind: str, model: str, partition: str) -> dict:
    found = [
        c
        for c in s["claims"]
        if c["kind"] == kind and c["models"][0] == model and c["partition"] == partition
    ]
    assert len(found) == 1, (kind, model, partition, [c["statement"] for c in s["claims"]])
    return found[0]


def assert_truth(s: dict, partition: str, chance: bool = True) -> None:
    """The known truth on one test set, and a box that cannot contradict itself."""
    best = claim(s, "best", SIGNAL, partition)
    assert best["status"] == "supported", best
    base = claim(s, "baseline", SIGNAL, partition)
    assert base["status"] == "supported" and base["key"], base
    assert base["sentence"] in s["box"]
    if chance:
        assert claim(s, "chance", SIGNAL, partition)["status"] == "supported"
        assert claim(s, "chance", NOISE, partition)["status"] == "not supported"
    statements = [c["statement"] for c in s["claims"]]
    assert len(statements) == len(set(statements))
    assert "[0.500, 0.500]" not in s["box"]


def test_binary_holdout(tmp_path: Path) -> None:
    s = sheet(tmp_path, Scenario("binary", "holdout"))
    assert_truth(s, "test")
    assert s["secs"]["conclusions"]["data"]["primary_result"]["partitions"] == ["test"]
    # Calibration: "best calibrated" only among the models shown above chance.
    cal = " ".join(s["secs"]["calibration"]["text"])
    assert NOISE not in cal.split("Best calibrated")[-1]


def test_three_class_holdout_needs_no_positive_class(tmp_path: Path) -> None:
    s = sheet(tmp_path, Scenario("3-class", "holdout"))
    assert_truth(s, "test")
    assert "0.33" in claim(s, "chance", SIGNAL, "test")["statement"]


def test_regression_holdout_reads_lower_is_better(tmp_path: Path) -> None:
    s = sheet(tmp_path, Scenario("regression", "holdout"))
    assert_truth(s, "test", chance=False)
    best = claim(s, "best", SIGNAL, "test")
    assert "lower is better" in best["statement"] and "lowest mae" in best["evidence"]
    base = claim(s, "baseline", SIGNAL, "test")
    assert "model − baseline; lower is better) -" in base["evidence"]  # a negative difference
    fig = next(f for f in s["secs"]["confound"]["figures"] if f["id"] == "forest_baseline")
    assert "left of 0" in fig["caption"]
    assert "0.2 on the" not in " ".join(s["secs"]["conclusions"]["data"]["limits"])


def test_repeated_kfold(tmp_path: Path) -> None:
    s = sheet(tmp_path, Scenario("binary", "kfold"))
    assert_truth(s, "test")
    assert "a single training split" not in s["md"]


def test_leave_site_out_with_deviations(tmp_path: Path) -> None:
    sc = Scenario(
        "binary",
        "leave-site-out",
        seeds=1,
        provenance={
            "max_epochs": 1,
            "device": "cuda",
            "amp": False,
            "hyperparameters": {NOISE: {"lr": 0.1}},
            "seeds": 1,
            "unit_devices": {SIGNAL: "NVIDIA H100", NOISE: "cpu", BASELINE: "cpu"},
            "deviations": [
                {
                    "rule": "L107",
                    "kind": "covariate-withheld",
                    "covariates": ["age"],
                    "models": [BASELINE],
                    "message": "covariate 'age' carries the target and was withheld",
                }
            ],
        },
        failed=(NOISE, 0, 0),
    )
    s = sheet(tmp_path, sc)
    kinds = {d["kind"] for d in s["deviations"]}
    assert {"epoch-cap", "hyperparameters", "failed-unit", "devices", "amp"} <= kinds
    assert "covariate-withheld" in kinds  # recorded by the runner's own audit
    best = claim(s, "best", SIGNAL, "test")
    # The conclusion rests on capped, overridden, partly failed runs: the box says so.
    assert "epochs capped at 1" in best["affected_by"]
    assert any("--hp lr=0.1" in a for a in best["affected_by"])
    assert "Affected by: epochs capped at 1" in s["box"]
    assert claim(s, "chance", SIGNAL, "test")["status"] == "supported"
    # One repeat of site folds that partition the test units: no "single training split".
    assert "the k test folds are pooled into one estimate per repeat" in s["md"]


def test_external_only_each_cohort_is_an_endpoint(tmp_path: Path) -> None:
    sc = Scenario(
        "binary", "external", external=("extA", "extB"), primary_result="{test_set: each-external}"
    )
    # Holm over 3 pairs x 2 cohorts: a bootstrap p-value is at least 2 / (B + 1), so B = 500.
    s = sheet(tmp_path, sc, resamples=500)
    data = s["secs"]["conclusions"]["data"]
    assert data["primary_result"] == {"mode": "each-external", "partitions": ["extA", "extB"]}
    for cohort in ("extA", "extB"):
        assert_truth(s, cohort)
        assert f"on {cohort} (primary)" in s["box"]
    comps = s["secs"]["comparisons"]["data"]["results"]
    assert {r["partition"] for r in comps} == {"extA", "extB"}
    assert all(r["correction"] == "holm over pairs x endpoints" for r in comps)
    ext = s["secs"]["generalisation"]["data"]["external"]
    assert all(v["change"] is None for rows in ext.values() for v in rows.values())


def test_external_only_named_cohort_and_undeclared(tmp_path: Path) -> None:
    sc = Scenario(
        "binary",
        "external",
        external=("extA", "extB"),
        primary_result="{test_set: cohort, cohort: extB}",
    )
    s = sheet(tmp_path / "named", sc)
    assert s["secs"]["conclusions"]["data"]["primary_result"]["partitions"] == ["extB"]
    assert_truth(s, "extB")
    assert "extA (external)" in s["box"]  # the other cohort still reaches the key findings
    undeclared = sheet(
        tmp_path / "undeclared", Scenario("binary", "external", external=("extA", "extB"))
    )
    assert any(d["kind"] == "primary-result" for d in undeclared["deviations"])
    assert undeclared["secs"]["conclusions"]["data"]["primary_result"]["mode"] == "each-external"


def test_external_pooled_from_two_run_folders(tmp_path: Path) -> None:
    sc = Scenario(
        "regression",
        "external",
        external=("extA", "extB"),
        primary_result="{test_set: pooled-external}",
    )
    s = sheet(tmp_path, sc, folders=[(SIGNAL, BASELINE), (NOISE,)])
    assert s["secs"]["conclusions"]["data"]["primary_result"]["partitions"] == ["external-pooled"]
    assert_truth(s, "external-pooled", chance=False)
    ident = s["secs"]["identity"]["data"]["models"]
    assert {m["id"] for m in ident} == {SIGNAL, BASELINE, NOISE}


def test_four_subjects_are_not_estimable(tmp_path: Path) -> None:
    # 4 test subjects: C(7, 4) = 35 distinct resamples, too few for a 95% percentile interval.
    s = sheet(tmp_path, Scenario("binary", "holdout", sites=1, per_site=8, accuracy=1.0))
    for c in s["claims"]:
        assert c["status"] == "not estimable", c
    assert "not estimable" in s["box"]


@pytest.mark.slow
def test_bigger_matrix(tmp_path: Path) -> None:
    for task in ("binary", "3-class", "regression"):
        for design in ("holdout", "kfold", "leave-site-out"):
            sc = Scenario(task, design, sites=6, per_site=24, seeds=2, external=("extA",))
            s = sheet(tmp_path / f"{task}-{design}", sc)
            assert_truth(s, "test", chance=task != "regression")
