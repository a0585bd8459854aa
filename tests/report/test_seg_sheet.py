"""The segmentation evidence sheet against the known truth of tests/report/seg_fixture.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from brainbench.report._figures import FigureWriter
from tests.report import seg_fixture as fx
from tests.report.conftest import SEG_RESAMPLES
from tests.report.test_seg_browser import SEG_SECTION_IDS


def _doc(out: Path) -> dict:
    return json.loads((out / "evidence.json").read_text())


def _sections(out: Path) -> dict[str, dict]:
    return {s["id"]: s for s in _doc(out)["sections"]}


def _built(
    table: pd.DataFrame, tmp_path: Path, resamples: int = 100, seed: int = 0, spec: bool = False
) -> dict:
    """The sheet's sections without writing it (no figure is drawn): id -> section dict."""
    from brainbench.report._context import ReportContext
    from brainbench.report._figures import FigureWriter
    from brainbench.report._model import Section
    from brainbench.report._run import read_runs
    from brainbench.report._seg_analysis import SegAnalysis
    from brainbench.report._seg_sections import SEG_SECTIONS
    from brainbench.report._seg_write import CASE_METRICS

    run = read_runs([fx.make_seg_run_dir(tmp_path / "run", table, spec=spec)], table=CASE_METRICS)
    an = SegAnalysis(run, resamples=resamples, seed=seed)
    ctx = ReportContext(run=run, analysis=an, figures=FigureWriter(tmp_path / "out"))  # type: ignore[arg-type]
    out = {}
    for i, (sid, title, build) in enumerate(SEG_SECTIONS):
        if sid not in ("cases", "ranking"):
            out[sid] = ctx.sections[sid] = build(ctx, Section(sid, i + 1, title))
    return {"analysis": an, **{k: v.to_dict() for k, v in out.items()}}


def test_dispatch_writes_the_segmentation_sheet(seg_report_dir: Path) -> None:
    doc = _doc(seg_report_dir)
    assert doc["task"] == "segmentation"
    assert doc["settings"]["resamples"] == SEG_RESAMPLES
    assert doc["primary_metric"] == "dice" and doc["primary_label"] == "wmh"
    assert [s["id"] for s in doc["sections"]] == list(SEG_SECTION_IDS)
    sec = _sections(seg_report_dir)
    # The shared sections read the run: the provenance hash of the table makes it reproduced.
    assert sec["identity"]["data"]["tier"] == "reproduced"
    assert "segmentation" in sec["identity"]["text"][0]
    assert len(sec["provenance"]["tables"][-1]["rows"]) == 2 * len(fx.SITES)
    md = (seg_report_dir / "evidence.md").read_text()
    assert "(All of them in [section 10](#conclusions).)" in md
    for name in ("cases_1", "cases_2", "rank_blobs_1", "rank_blobs_2"):
        assert (seg_report_dir / "figures" / f"{name}.svg").stat().st_size > 1000


def test_the_better_model_is_found_on_every_metric(seg_report_dir: Path) -> None:
    sec = _sections(seg_report_dir)
    labels = sec["labels"]["data"]["labels"]
    for label in fx.LABELS.values():
        for metric, centre in fx.TRUE["model-a"].items():
            a = labels[label][metric]["model-a"]["mean"]
            # The truth lies in model-a's interval on the label without planted failures.
            if label == "white-matter":
                assert a["ci_low"] <= centre <= a["ci_high"], (label, metric, a)
    comparisons = sec["comparisons"]["data"]["comparisons"]
    assert len(comparisons) == len(fx.LABELS) * 4
    for c in comparisons:
        assert (c["a"], c["b"]) == ("model-a", "model-b")
        if c["metric"] == "relative-volume-error":
            # Best at 0: read on |mean A| - |mean B|, never on the difference of the biases.
            assert c["abs_ci_high"] < 0
            assert c["text"].startswith("model-a's mean relative-volume-error is closer to 0")
            continue
        # HD95 and volume error are lower-is-better: A's advantage is a negative difference,
        # and the reading still names A the better model.
        if c["metric"] == "dice":
            assert c["ci_low"] > 0
        else:
            assert c["ci_high"] < 0 and "lower is better" in c["text"]
        assert c["text"].startswith("model-a is better than model-b"), c["text"]
        assert c["p_adjusted"] >= c["p_value"]
    claims = sec["conclusions"]["data"]["claims"]
    assert [(c["status"], c["models"]) for c in claims] == [("supported", ["model-a", "model-b"])]
    assert claims[0]["statement"].startswith("model-a segments wmh better than model-b")
    html = (seg_report_dir / "evidence.html").read_text()
    assert "Supported by the evidence" in html


def test_empty_cases_are_counted_and_say_how_they_entered(seg_report_dir: Path) -> None:
    sec = _sections(seg_report_dir)
    wmh = sec["labels"]["data"]["labels"]["wmh"]
    a_dice, b_dice = wmh["dice"]["model-a"]["mean"], wmh["dice"]["model-b"]["mean"]
    # A predicted nothing where the reference is empty: Dice 1 by Metrics Reloaded, counted in.
    assert a_dice["status_counts"]["both-empty"] == 1
    assert a_dice["n_undefined"] == 0 and a_dice["n_cases"] == 24
    assert "both masks empty entered with dice = 1" in a_dice["empty_handling"]
    # B: a false positive on the empty reference and a missed lesion, both Dice 0, counted in.
    assert b_dice["status_counts"]["empty-reference"] == 1
    assert b_dice["status_counts"]["empty-prediction"] == 1
    assert b_dice["n_undefined"] == 0 and b_dice["n_cases"] == 24
    # The relative volume error of an empty reference is undefined: left out and counted.
    rve = wmh["relative-volume-error"]["model-b"]["mean"]
    assert rve["n_undefined"] == 1 and rve["n_cases"] == 23
    row = next(
        r
        for r in sec["labels"]["tables"][0]["rows"]
        if r[0].startswith("relative-volume-error") and r[1] == "model-b"
    )
    assert row[7:10] == ["1", "1", "0"] and row[10].startswith("1 [") and row[11] == "1"
    notes = " ".join(sec["labels"]["tables"][0]["notes"])
    assert "undefined (0 volume) and excluded" in notes
    empty = sec["worst"]["data"]["empty"]
    assert {(e["model"], e["image"], e["status"]) for e in empty} == {
        ("model-a", fx.EMPTY_REF, "both-empty"),
        ("model-b", fx.EMPTY_REF, "empty-reference"),
        ("model-b", fx.EMPTY_PRED, "empty-prediction"),
    }
    text = " ".join(r[-1] for r in sec["worst"]["tables"][1]["rows"])
    assert "relative-volume-error undefined (left out)" in text


def test_worst_cases_are_listed_with_their_ids(seg_report_dir: Path) -> None:
    worst = _sections(seg_report_dir)["worst"]["data"]["worst"]
    b = [w for w in worst if w["model"] == "model-b" and w["label"] == "wmh"]
    # Lowest Dice first: the two empty cases (0), then the planted failure (0.05).
    assert [w["image"] for w in b[:3]] == [*sorted([fx.EMPTY_REF, fx.EMPTY_PRED]), fx.WORST]
    assert b[2] == {
        "label": "wmh",
        "model": "model-b",
        "subject": "sub-s3n2",
        "session": "ses-2",
        "image": fx.WORST,
        "site": "site-3",
        "value": 0.05,
        "status": "ok",
    }


def test_lower_is_better_primary_ranks_and_lists_worst_correctly(tmp_path: Path) -> None:
    """A table with HD95 as its first metric: the lowest mean ranks first and the worst
    cases are the largest distances."""
    table = fx.case_metrics()
    sec = _built(
        table[table["metric"].isin(["hd95", "abs-volume-error"])], tmp_path, resamples=200, seed=1
    )
    an = sec["analysis"]
    assert an.primary == "hd95"
    rank, _ = an.rankings["wmh"]
    assert rank.ranks == {"model-a": 1, "model-b": 2}
    assert rank.p_first["model-a"] == 1.0 and rank.kendall_tau["mean"] == 1.0
    worst = [w for w in sec["worst"]["data"]["worst"] if w["model"] == "model-b"]
    # Largest distances first: the two cases with an empty mask (the image diagonal), then
    # the planted failure.
    assert [w["value"] for w in worst[:3]] == pytest.approx([fx.DIAGONAL, fx.DIAGONAL, 40.0])
    assert worst[2]["image"] == fx.WORST
    assert "highest values" in sec["worst"]["text"][0]
    claims = sec["conclusions"]["data"]["claims"]
    assert claims[0]["status"] == "supported"
    assert claims[0]["statement"].startswith("model-a segments wmh better")


def test_a_ranking_that_flips_is_not_stable(tmp_path: Path) -> None:
    """Two models equal on average: each ranks first in a fair share of the resamples and
    Kendall's tau is far from 1."""
    table = fx.case_metrics()
    table = table[table["metric"] == "dice"].copy()
    rng = np.random.default_rng(3)
    table["value"] = np.where(
        table["status"] == "ok", 0.7 + 0.1 * rng.standard_normal(len(table)), table["value"]
    )
    an = _built(table, tmp_path)["analysis"]
    rank, _ = an.rankings["white-matter"]
    assert 0.1 < rank.p_first["model-a"] < 0.9
    assert rank.kendall_tau["mean"] < 0.8


def test_too_few_resamples_for_holm_is_said(tmp_path: Path) -> None:
    sec = _built(fx.case_metrics(), tmp_path, resamples=100)
    text = " ".join(sec["comparisons"]["text"])
    assert "smallest bootstrap p-value is 0.020" in text and "8 rows" in text
    assert sec["conclusions"]["data"]["claims"][0]["status"] == "not supported"


def ranking_text(an, folder: Path) -> list[str]:
    """The ranking section's paragraphs (the section draws figures: built on its own)."""
    from brainbench.report._context import ReportContext
    from brainbench.report._model import Section
    from brainbench.report._seg_sections import ranking

    ctx = ReportContext(run=an.run, analysis=an, figures=FigureWriter(folder))  # type: ignore[arg-type]
    return ranking(ctx, Section("ranking", 9, "Ranking")).text


def test_few_subjects_are_not_estimable(tmp_path: Path) -> None:
    """Two subjects of one site: intervals and the claim are 'not estimable', never a
    confident-looking interval."""
    table = fx.case_metrics()
    sec = _built(table[table["subject"].isin(["sub-s1n2", "sub-s1n3"])], tmp_path)
    mean = sec["labels"]["data"]["labels"]["wmh"]["dice"]["model-a"]["mean"]
    assert "only 2 subjects" in mean["not_estimable"]
    rows = sec["labels"]["tables"][0]["rows"]
    assert "interval not estimable" in rows[0][2]
    claims = sec["conclusions"]["data"]["claims"]
    assert claims and all(c["status"] == "not estimable" for c in claims)
    limits = sec["conclusions"]["data"]["limits"]
    assert any("1 site(s)" in x for x in limits) and any(
        "Only 2 test subjects" in x for x in limits
    )
    assert any("One site only" in t for t in sec["breakdowns"]["text"])
    ranking = " ".join(ranking_text(sec["analysis"], tmp_path / "figs"))
    assert "stability not estimable: 2 subjects give 3 distinct resamples" in ranking


def test_nsd_at_two_tolerances_are_two_measures(tmp_path: Path) -> None:
    table = fx.case_metrics()
    dice = table[table["metric"] == "dice"]
    nsd = [dice.assign(metric="nsd", tolerance_mm=t) for t in (1.0, 2.0)]
    sec = _built(pd.concat([dice, *nsd], ignore_index=True), tmp_path, resamples=50)
    labels = sec["labels"]["data"]["labels"]["wmh"]
    assert set(labels) == {"dice", "nsd@1mm", "nsd@2mm"}
    assert labels["nsd@1mm"]["model-a"]["mean"]["estimate"] == pytest.approx(
        labels["dice"]["model-a"]["mean"]["estimate"]
    )
    assert "nsd@2mm (proportion; higher is better)" in str(sec["labels"]["tables"][0]["rows"])


def test_a_constant_metric_is_not_estimable(tmp_path: Path) -> None:
    """Every case at the same distance (a model that never predicts the label: the image
    diagonal everywhere) gives a degenerate interval, whatever float rounding leaves."""
    table = fx.case_metrics()
    table = table[table["metric"] == "hd95"].copy()
    b = table["model"] == "model-b"
    table.loc[b, ["value", "status"]] = [fx.DIAGONAL, "empty-prediction"]
    sec = _built(table, tmp_path)
    mean = sec["labels"]["data"]["labels"]["wmh"]["hd95"]["model-b"]["mean"]
    assert "zero-width interval" in mean["not_estimable"]
    # Mixed cases whose mean is the same in every resample (one subject in a fixed site, all
    # others equal) leave percentiles 1e-13 apart: still degenerate.
    from types import SimpleNamespace

    rounded = SimpleNamespace(
        estimate=288.902, ci_low=288.902, ci_high=288.902 + 1e-13, level=0.95, n_subjects=8,
        clusters={"subject": 8},
    )  # fmt: skip
    assert "zero-width interval" in sec["analysis"].why(rounded)


def test_leaderboard_lists_a_segmentation_sheet(seg_report_dir: Path, tmp_path: Path) -> None:
    """The leaderboard reads the primary metric on the primary label and its ranking; the
    fixture's run folder has no splits.tsv, so its tier is not verified (and says why)."""
    import shutil

    from brainbench.report import write_leaderboard

    reports = tmp_path / "reports" / "seg"
    shutil.copytree(seg_report_dir, reports)
    run = fx.make_seg_run_dir(tmp_path / "runs" / "run")
    write_leaderboard(tmp_path / "reports", tmp_path / "board", resamples=20, runs=[run.parent])
    md = (tmp_path / "board" / "index.md").read_text()
    assert "dice on test, label wmh (higher is better)" in md
    rows = [line for line in md.splitlines() if line.startswith("| model-")]
    assert [r.split(" | ")[0] for r in rows] == ["| model-a", "| model-b"]
    assert rows[0].split(" | ")[3] == "1.0"  # model-a ranks first
    assert "the run folder has no splits.tsv" in md


def test_leaderboard_shows_no_interval_the_sheet_calls_not_estimable(tmp_path: Path) -> None:
    """Two subjects: the sheet says 'not estimable'; the leaderboard must not show the
    bootstrap's narrow interval as a result either (it did: 0.215 [0.212, 0.218] from the
    segmentation demo's 4 test subjects)."""
    from brainbench.report import write_leaderboard, write_report

    table = fx.case_metrics()
    run = fx.make_seg_run_dir(
        tmp_path / "runs" / "run", table[table["subject"].isin(["sub-s1n2", "sub-s1n3"])]
    )
    write_report([run], tmp_path / "reports" / "seg", resamples=50)
    write_leaderboard(tmp_path / "reports", tmp_path / "board", resamples=20)
    md = (tmp_path / "board" / "index.md").read_text()
    rows = [line.split(" | ") for line in md.splitlines() if line.startswith("| model-")]
    assert rows and all(r[2] == "not estimable" for r in rows), rows


def test_external_test_sets_are_reported(tmp_path: Path) -> None:
    """Rows of an external-test cohort: the primary metric on it, beside the test partition,
    and in the estimates of the key findings."""
    table = fx.case_metrics()
    ext = table[table["site"] == "site-4"].assign(partition="ext-cohort", cohort="ext-cohort")
    sec = _built(pd.concat([table, ext], ignore_index=True), tmp_path, resamples=50)
    other = sec["labels"]["data"]["other_partitions"]["ext-cohort"]["wmh"]
    assert other["model-a"]["mean"]["n_cases"] == 6 and other["model-a"]["mean"]["n_sites"] == 1
    caption = sec["labels"]["tables"][-1]["caption"]
    assert caption.startswith("dice (proportion; higher is better) on the other test sets")
    assert any(
        e.startswith("model-a on ext-cohort") for e in sec["conclusions"]["data"]["estimates"]
    )


def test_run_folders_of_one_model_each_are_pooled(tmp_path: Path) -> None:
    from brainbench.report._run import read_runs
    from brainbench.report._seg_analysis import SegAnalysis
    from brainbench.report._seg_write import CASE_METRICS

    table = fx.case_metrics()
    dirs = [fx.make_seg_run_dir(tmp_path / m, table[table["model"] == m]) for m in fx.MODELS]
    run = read_runs(dirs, table=CASE_METRICS)
    assert run.tier == "reproduced" and len(run.predictions_sha256) == 2
    an = SegAnalysis(run, resamples=20)
    assert an.models == list(fx.MODELS)
    (comparison,) = an.comparisons["wmh", "dice"]
    assert comparison.n_cases == 24  # every case, paired across the two folders


def test_the_spec_sets_the_protocol_and_its_deviations(tmp_path: Path) -> None:
    """With a spec: its primary metric and label, model order and breakdown levels are used;
    what the table cannot give is a stated deviation."""
    sec = _built(fx.case_metrics(), tmp_path, resamples=400, spec=True)
    an = sec["analysis"]
    assert (an.primary, an.primary_label) == ("hd95", "white-matter")
    assert an.models == ["model-b", "model-a"]
    assert an.metrics[:3] == ["hd95", "dice", "abs-volume-error"]
    assert an.breakdown_levels == ["scanner"]
    devs = " ".join(d["message"] for d in sec["protocol"]["data"]["deviations"])
    assert "reporting.breakdown sex" in devs and "metric(s) nsd" in devs
    assert "400 bootstrap resamples" in devs
    rows = {r[0]: r[1:] for r in sec["protocol"]["tables"][0]["rows"]}
    assert rows["Secondary metrics"][0] == "dice, abs-volume-error, nsd (tolerance_mm 1.0)"
    assert sec["breakdowns"]["tables"][0]["caption"].endswith("by scanner")
    claim = sec["conclusions"]["data"]["claims"][0]
    assert claim["status"] == "supported"
    assert claim["statement"].startswith("model-a segments white-matter better than model-b")


def test_no_resamples_gives_point_estimates(tmp_path: Path) -> None:
    """--resamples 0: point estimates, every interval and claim 'not estimable', no ranking."""
    sec = _built(fx.case_metrics(), tmp_path, resamples=0)
    mean = sec["labels"]["data"]["labels"]["wmh"]["dice"]["model-a"]["mean"]
    assert mean["estimate"] == pytest.approx(0.809, abs=0.01)
    assert mean["not_estimable"] == "no bootstrap resamples (--resamples 0): point estimates only"
    claim = sec["conclusions"]["data"]["claims"][0]
    assert claim["status"] == "not estimable"
    assert claim["evidence"].startswith("Difference model-a - model-b: 0.2")
    assert "point estimates" in " ".join(sec["comparisons"]["text"])
    assert sec["analysis"].rankings["wmh"] == (None, "no bootstrap resamples")
