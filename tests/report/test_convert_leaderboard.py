"""`brainbench convert clinicadl`, a report on converted predictions, `brainbench leaderboard`,
and the command-line contract (exit 2 with one paragraph on a user's mistake)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from brainbench.cli import main
from brainbench.errors import UserError
from brainbench.report import convert_clinicadl, write_leaderboard, write_report


def _clinicadl_maps(run: Path, root: Path) -> list[Path]:
    """ClinicaDL-style prediction TSVs of one model made from the fixture's predictions."""
    df = pd.read_parquet(run / "predictions.parquet")
    df = df[(df["model"] == "cnn3d-small") & (df["seed"] == 0) & (df["fold"] < 2)]
    paths = []
    for (fold, part), rows in df.groupby(["fold", "partition"]):
        group = "test" if part == "test" else ("validation" if part == "validation" else part)
        folder = root / "maps_cnn" / f"split-{fold}" / "best-loss" / group
        folder.mkdir(parents=True, exist_ok=True)
        out = pd.DataFrame(
            {
                "participant_id": rows["subject"],
                "session_id": rows["session"],
                # ClinicaDL 1.x codes the classes sorted: AD=0, CN=1
                "true_label": (rows["y_true"] == "CN").astype(int),
                "predicted_label": (rows["y_pred"] == "CN").astype(int),
                "proba0": rows["score_AD"],
                "proba1": rows["score_CN"],
            }
        )
        path = folder / f"{group}_image_level_prediction.tsv"
        out.to_csv(path, sep="\t", index=False)
        paths.append(path)
    return paths


def test_convert_clinicadl_mapping(run_dir: Path, tmp_path: Path) -> None:
    tsvs = _clinicadl_maps(run_dir, tmp_path)
    hier = tmp_path / "participants.tsv"
    cohort = pd.read_parquet(run_dir / "cohort.parquet")
    cohort.rename(columns={"subject": "participant_id"})[
        ["participant_id", "site", "dataset"]
    ].drop_duplicates().to_csv(hier, sep="\t", index=False)
    out, n, _ = convert_clinicadl(
        tsvs, tmp_path / "preds.parquet", classes=["CN", "AD"], positive="AD", hierarchy=hier
    )
    df = pd.read_parquet(out)
    assert n == len(df) > 0
    assert set(df["model"]) == {"maps_cnn"}
    assert set(df["fold"]) == {0, 1}
    assert set(df["partition"]) == {"test", "validation", "extcohort"}
    assert set(df["y_true"]) == {"CN", "AD"}
    assert np.allclose(df["score"], df["score_AD"])
    assert df["image"].str.match(r"^sub-.*_ses-M\d\d$").all()
    assert df["site"].notna().all()

    # The report runs on them (self-reported tier; sections needing run files say so).
    report = tmp_path / "report"
    write_report([out], report, spec=run_dir / "spec.yaml", resamples=50)
    doc = json.loads((report / "evidence.json").read_text())
    secs = {s["id"]: s for s in doc["sections"]}
    assert doc["tier"] == "self-reported"
    assert secs["provenance"]["status"] == "unavailable"
    assert secs["primary"]["status"] == "ok"
    assert secs["comparisons"]["status"] == "unavailable"
    kinds = {d["kind"] for d in secs["protocol"]["data"]["deviations"]}
    assert {"model-missing", "model-extra", "seeds"} <= kinds


def test_convert_clinicadl_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "test_image_level_prediction.tsv"
    bad.write_text("participant_id\tlabel\nsub-01\t1\n")
    with pytest.raises(UserError, match="lacks the ClinicaDL column"):
        convert_clinicadl(bad, tmp_path / "p.parquet")
    good = tmp_path / "ok.tsv"
    good.write_text(
        "participant_id\tsession_id\ttrue_label\tpredicted_label\tproba0\tproba1\n"
        "sub-01\tses-M00\t2\t1\t0.2\t0.8\n"
    )
    with pytest.raises(UserError, match="not a class index"):
        convert_clinicadl(good, tmp_path / "p.parquet")
    with pytest.raises(UserError, match="names 3 class"):
        convert_clinicadl(good, tmp_path / "p.parquet", classes=["a", "b", "c"])


def test_leaderboard_across_benchmarks(report_dir: Path, run_dir: Path, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    a = reports / "fixture"
    a.mkdir(parents=True)
    shutil.copyfile(report_dir / "evidence.json", a / "evidence.json")
    shutil.copyfile(report_dir / "evidence.html", a / "evidence.html")
    doc = json.loads((report_dir / "evidence.json").read_text())
    doc["benchmark"] = {"id": "other-benchmark", "version": "2.0.0"}
    doc["tier"] = "self-reported"
    for s in doc["sections"]:
        if s["id"] == "identity":
            s["data"]["model_tiers"] = {}
        if s["id"] == "primary":
            for r in s["data"]["results"]:
                if r["model"] == "voxel-linear":
                    r["estimate"] = 0.99
    (reports / "other").mkdir()
    (reports / "other" / "evidence.json").write_text(json.dumps(doc))
    html = write_leaderboard(reports, tmp_path / "board", resamples=100, runs=[run_dir])
    md = (tmp_path / "board" / "index.md").read_text()
    page = html.read_text()
    assert "Mean rank over 2 benchmarks" in md and "Friedman p " in md
    assert "other-benchmark 2.0.0" in md and "fixture-ad-vs-cn 1.2.0" in md
    assert "self-reported" in md and "reproduced" in md
    assert "Rank interval" in md and "audit passed" in md
    assert 'href="../reports/fixture/evidence.html"' in page
    assert page.count("<table>") == 3 and page.count("<th") >= 3 * 3
    board = json.loads((tmp_path / "board" / "leaderboard.json").read_text())
    assert board["across"]["n_tasks"] == 2
    with pytest.raises(UserError, match=r"No evidence\.json"):
        write_leaderboard(tmp_path / "board", tmp_path / "x")


def test_leaderboard_shows_waived_rules(report_dir: Path, tmp_path: Path) -> None:
    doc = json.loads((report_dir / "evidence.json").read_text())
    for s in doc["sections"]:
        if s["id"] == "audit":
            s["data"]["rules"].append({"rule": "L101", "status": "waived", "findings": []})
    (tmp_path / "reports" / "waived").mkdir(parents=True)
    (tmp_path / "reports" / "waived" / "evidence.json").write_text(json.dumps(doc))
    write_leaderboard(tmp_path / "reports", tmp_path / "board", resamples=10)
    md = (tmp_path / "board" / "index.md").read_text()
    assert "audit passed with 2 waiver(s) (D302, L101)" in md  # the fixture waives D302


def test_cli_contract(report_dir: Path, run_dir: Path, tmp_path: Path, capsys) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SystemExit) as exc:
        main(["report", str(empty), "-o", str(tmp_path / "out")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no predictions table" in err and "Traceback" not in err

    reports = tmp_path / "reports" / "one"
    reports.mkdir(parents=True)
    shutil.copyfile(report_dir / "evidence.json", reports / "evidence.json")
    with pytest.raises(SystemExit) as exc:
        main(["leaderboard", str(tmp_path / "reports"), "-o", str(tmp_path / "board")])
    assert exc.value.code == 0
    md = (tmp_path / "board" / "index.md").read_text()
    assert "need at least two benchmarks" in md and "cnn3d-small" in md

    tsv = tmp_path / "test_image_level_prediction.tsv"
    tsv.write_text(
        "participant_id\tsession_id\ttrue_label\tpredicted_label\tproba0\tproba1\n"
        "sub-01\tses-M00\t1\t1\t0.2\t0.8\nsub-02\tses-M00\t0\t0\t0.7\t0.3\n"
    )
    with pytest.raises(SystemExit) as exc:
        main(["convert", "clinicadl", str(tsv), "-o", str(tmp_path / "p.tsv"), "--model", "m"])
    assert exc.value.code == 0
    assert "wrote 2 prediction(s)" in capsys.readouterr().out


def test_leaderboard_lists_self_reported_apart_and_filters_tiers(
    report_dir: Path, run_dir: Path, tmp_path: Path
) -> None:
    """A self-reported sheet (e.g. a results entry) of the same benchmark is listed after the
    reproduced one, and --tier keeps one tier."""
    reports = tmp_path / "reports"
    (reports / "a").mkdir(parents=True)
    shutil.copyfile(report_dir / "evidence.json", reports / "a" / "evidence.json")
    doc = json.loads((report_dir / "evidence.json").read_text())
    doc["tier"] = "self-reported"
    doc["predictions_sha256"] = ["0" * 64]  # not the run's: nothing to verify
    for s in doc["sections"]:
        if s["id"] == "identity":
            s["data"]["model_tiers"] = {}
        if s["id"] == "primary":
            for r in s["data"]["results"]:
                r["model"] = "outside-" + r["model"]
        if s["id"] == "ranks":
            s["data"] = {}
    (reports / "0-outside").mkdir()  # sorts first on disk: the tier orders the tables
    (reports / "0-outside" / "evidence.json").write_text(json.dumps(doc))
    write_leaderboard(reports, tmp_path / "all", resamples=0, runs=[run_dir])
    board = json.loads((tmp_path / "all" / "leaderboard.json").read_text())
    assert [b["tier"] for b in board["benchmarks"]] == ["reproduced", "self-reported"]
    md = (tmp_path / "all" / "index.md").read_text()
    assert md.index("1.2.0 (reproduced)") < md.index("1.2.0 (self-reported)")

    args = ["leaderboard", str(reports), "-o", str(tmp_path / "self"), "--runs", str(run_dir)]
    result = main_cli([*args, "--tier", "self-reported", "--resamples", "0"])
    assert result == 0
    board = json.loads((tmp_path / "self" / "leaderboard.json").read_text())
    models = {m["model"] for b in board["benchmarks"] for m in b["models"]}
    assert models and all(m.startswith("outside-") for m in models)
    with pytest.raises(UserError, match="No model of tier unverified"):
        write_leaderboard(
            reports, tmp_path / "none", resamples=0, runs=[run_dir], tiers=["unverified"]
        )


def main_cli(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as done:
        main(argv)
    return int(done.value.code or 0)


def test_no_resamples_leaves_the_joint_ranks_without_interval_and_says_so(tmp_path: Path) -> None:
    """`leaderboard --resamples 0` on the committed sheets (several benchmarks, a joint ranking):
    the ranks, no interval, and a note saying why."""
    reports = Path(__file__).resolve().parents[2] / "reports"
    write_leaderboard(reports, tmp_path / "board", resamples=0)
    md = (tmp_path / "board" / "index.md").read_text()
    assert "No bootstrap (--resamples 0): the ranks have no interval." in md
    assert "| n/a |" in md.split("## Mean rank")[1].split("## ")[0]
