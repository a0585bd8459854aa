"""The run folder contract: files, columns, hashes and provenance fields."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from brainbench.runner import InvalidSpec, run_benchmark
from brainbench.spec import load_spec

from .conftest import FAST_MODELS, REPO, TINY_SPEC


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_run_folder_files_and_provenance(baseline_run):
    run = baseline_run.run_dir
    for name in (
        "predictions.parquet",
        "cohort.parquet",
        "splits.tsv",
        "spec.yaml",
        "spec.resolved.json",
        "validation.json",
        "provenance.json",
        "plan.json",
    ):
        assert (run / name).is_file(), name
    # tiny.yaml extends the demo spec: the run folder keeps it resolved, and its parts
    parts = json.loads((run / "spec.parts.json").read_text())
    assert [Path(p["file"]).name for p in parts["parts"]] == [
        "tiny.yaml",
        "ad-vs-cn-synthetic.yaml",
    ]
    for part in parts["parts"]:
        assert _sha(run / part["copy"]) == _sha(Path(part["file"])) == part["sha256"]
    assert (run / parts["parts"][0]["copy"]).read_bytes() == TINY_SPEC.read_bytes()
    assert load_spec(run / "spec.yaml").sha256 == parts["resolved_sha256"]
    resolved = json.loads((run / "spec.resolved.json").read_text())
    assert resolved["id"] == "runner-tests-tiny" and resolved["task"]["classes"] == ["CN", "AD"]
    validation = json.loads((run / "validation.json").read_text())
    assert validation["valid"] is True and validation["data"] is True  # the runner read the data
    assert {w["rule"] for w in validation["waived"]} >= {"D306"}

    prov = json.loads((run / "provenance.json").read_text())
    for key in (
        "brainbench_version",
        "git_commit",
        "spec",
        "split_sha256",
        "cohort_sha256",
        "models",
        "packages",
        "device",
        "host",
        "seeds",
        "deterministic",
        "started",
        "finished",
        "units",
    ):
        assert key in prov, key
    assert set(prov["spec"]) >= {"id", "version", "sha256", "file"}
    assert prov["spec"]["sha256"] == parts["resolved_sha256"]
    from brainbench.report._run import read_runs

    reread = read_runs([run])  # the report reads the spec from the run folder alone
    assert reread.spec_file == str(run / "spec.yaml") and not reread.notes
    assert reread.spec_sha256 == prov["spec"]["sha256"]
    assert prov["split_sha256"] == _sha(run / "splits.tsv")
    assert prov["predictions_sha256"] == _sha(run / "predictions.parquet")
    assert [m["id"] for m in prov["models"]] == FAST_MODELS
    assert all(m["version"] for m in prov["models"])
    assert set(prov["packages"]) >= {"python", "numpy", "torch", "monai", "nibabel"}
    assert prov["device"]["type"] == "cpu" and "cuda" in prov["device"]
    assert prov["seeds"]["count"] == 2 and prov["deterministic"] is False
    assert len(prov["units"]) == 4
    for u in prov["units"]:
        assert set(u) >= {
            "model",
            "repeat",
            "fold",
            "seed",
            "status",
            "seconds",
            "log",
            "error",
            "output_sha256",
        }
        assert u["status"] == "ok" and u["error"] is None
        assert u["output_sha256"] == _sha(run / "units" / f"{u['id']}.parquet")
        assert (run / u["log"]).is_file()


def test_each_volume_is_decoded_once_per_run(baseline_run):
    units = {u["id"]: u for u in baseline_run.units}
    first, second = units["voxel-linear__r0-f0-s0"], units["voxel-linear__r0-f0-s1"]
    splits = pd.read_csv(baseline_run.run_dir / "splits.tsv", sep="\t")
    assert first["images_sent"] == len(splits)  # every image of the fold, once
    assert second["images_sent"] == len(splits)  # a fresh model process per unit...
    meta = baseline_run.run_dir / "units"
    decoded = [json.loads((meta / f"{u}.json").read_text())["images_decoded"] for u in units]
    assert sum(decoded) == len(splits)  # ...served from the runner's cache: decoded once
    assert units["demographics-logreg__r0-f0-s0"]["images_sent"] == 0  # never asked


def test_predictions_table_columns(baseline_run):
    df = pd.read_parquet(baseline_run.run_dir / "predictions.parquet")
    for col in (
        "model",
        "repeat",
        "fold",
        "seed",
        "partition",
        "cohort",
        "dataset",
        "site",
        "scanner",
        "subject",
        "session",
        "image",
        "y_true",
        "y_pred",
        "score_CN",
        "score_AD",
        "score",
    ):
        assert col in df.columns, col
    for col in ("repeat", "fold", "seed"):
        assert df[col].dtype == "int64"
    assert set(df["partition"]) == {"validation", "test", "ext"}
    assert ((df["score_CN"] + df["score_AD"] - 1).abs() < 1e-6).all()
    assert (df["score"] == df["score_AD"]).all()
    assert set(df["y_pred"]) <= {"CN", "AD"} and df["y_true"].notna().all()
    assert set(df["seed"]) == {0, 1}
    # every test and external image once per unit; sessions: baseline keeps first visits only
    splits = pd.read_csv(baseline_run.run_dir / "splits.tsv", sep="\t")
    scored = splits[splits["partition"] != "train"]
    per_unit = df.groupby(["model", "seed"]).size()
    assert (per_unit == len(scored)).all()
    assert not df.duplicated(["model", "seed", "partition", "cohort", "image"]).any()
    cohort = pd.read_parquet(baseline_run.run_dir / "cohort.parquet")
    for col in ("subject", "session", "image", "cohort", "age", "sex", "diagnosis", "site"):
        assert col in cohort.columns, col


def test_invalid_spec_is_refused_before_any_unit(cohorts, registry, tmp_path):
    leaky = REPO / "spec" / "demo" / "ad-vs-cn-synthetic-leaky.yaml"
    with pytest.raises(InvalidSpec) as info:
        run_benchmark(leaky, FAST_MODELS, out=tmp_path / "run", registry_root=registry)
    assert {f.rule for f in info.value.result.findings} >= {"L101", "L103"}
    assert not (tmp_path / "run" / "units").exists()


def test_cli_prints_findings_and_exits_1(cohorts, tmp_path, capsys):
    from brainbench.cli import main

    leaky = REPO / "spec" / "demo" / "ad-vs-cn-synthetic-leaky.yaml"
    with pytest.raises(SystemExit) as info:
        main(["run", str(leaky), "--out", str(tmp_path / "run")])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "L101" in err and "refusing to run" in err


def test_pinned_split_file_hash_mismatch_is_refused(baseline_run, registry, tmp_path):
    folder = tmp_path / "spec"
    folder.mkdir()
    splits = folder / "splits.tsv"
    shutil.copy(baseline_run.run_dir / "splits.tsv", splits)
    good = _sha(splits)
    text = TINY_SPEC.read_text().replace("../../../spec/demo/", str(REPO / "spec" / "demo") + "/")
    pinned = folder / "pinned.yaml"
    pinned.write_text(text + f"splits:\n  file: {{path: splits.tsv, sha256: '{good}'}}\n")
    result = run_benchmark(
        pinned, ["demographics-logreg"], out=tmp_path / "ok", seeds=1, registry_root=registry
    )
    assert result.ok and result.provenance["split_sha256"] == good
    assert result.provenance["split_origin"].endswith("splits.tsv")
    splits.write_text(splits.read_text().replace("\ttrain\n", "\ttest\n", 1))
    with pytest.raises(InvalidSpec) as info:
        run_benchmark(
            pinned, ["demographics-logreg"], out=tmp_path / "bad", seeds=1, registry_root=registry
        )
    assert any("sha256" in f.message for f in info.value.result.findings)


def test_unknown_model_is_a_user_error(cohorts, registry, tmp_path):
    from brainbench.errors import UserError

    with pytest.raises(UserError, match="Did you mean 'voxel-linear'"):
        run_benchmark(TINY_SPEC, ["voxel-linaer"], out=tmp_path / "run", registry_root=registry)


def test_unknown_hyperparameter_is_refused_before_any_unit(cohorts, registry, tmp_path):
    from brainbench.errors import UserError

    with pytest.raises(UserError, match="no hyper-parameter 'lerning_rate'"):
        run_benchmark(
            TINY_SPEC,
            ["cnn3d-small"],
            out=tmp_path / "run",
            registry_root=registry,
            hyperparameters={"cnn3d-small": {"lerning_rate": 0.1}},
        )
    assert not (tmp_path / "run" / "units").exists()
