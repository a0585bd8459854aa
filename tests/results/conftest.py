"""A repository in tmp_path with a benchmark whose frozen split is pinned, and a results
entry made from a plain CSV (not ClinicaDL's output) of the report fixture's predictions."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from brainbench.hashing import sha256_file
from tests.gitrepo import git
from tests.report.fixture import SPEC_YAML, make_run_dir

BENCH = "fixture-ad-vs-cn"
CARD = """\
result: 1
benchmark: {{id: fixture-ad-vs-cn, version: 1.2.0}}
split_sha256: {sha}
predictions: predictions.csv
method:
  name: outside-cnn
  description: A 3D CNN trained by another group on the frozen split.
  code: not shared (institutional policy)
training_data:
  - {{name: devcohort, partitions: [train, validation], subjects: train-subjects.tsv}}
pretraining: []
compute: {{hardware: 1x NVIDIA A100, hours: 3.5}}
license: CC-BY-4.0
contact: {{name: A. Researcher, email: a.researcher@example.org}}
"""


@pytest.fixture(scope="session")
def fixture_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run_dir(tmp_path_factory.mktemp("results-fixture") / "run", seeds=1)


def write_entry(root: Path, run: Path, name: str = "outside-cnn") -> Path:
    """``results/<bench>/<name>/``: a CSV of one model's test predictions with its own
    column order and model name, a card, and the subjects it was trained on per fold."""
    preds = pd.read_parquet(run / "predictions.parquet")
    preds = preds[(preds["model"] == "cnn3d-small") & (preds["partition"] != "validation")]
    columns = ["image", "subject", "session", "site", "fold", "seed", "partition", "model"]
    table = preds.assign(model=name)[[*columns, "y_true", "score_CN", "score_AD", "y_pred"]]
    folder = root / "results" / BENCH / name
    folder.mkdir(parents=True)
    table.to_csv(folder / "predictions.csv", index=False)
    splits = pd.read_csv(run / "splits.tsv", sep="\t")
    train = splits[splits["partition"].isin(["train", "validation"])]
    train[["subject", "fold"]].drop_duplicates().rename(
        columns={"subject": "participant_id"}
    ).to_csv(folder / "train-subjects.tsv", sep="\t", index=False)
    sha = sha256_file(root / "spec" / "benchmarks" / "splits.tsv")
    (folder / "result.yaml").write_text(CARD.format(sha=sha).replace("outside-cnn", name))
    return folder


@pytest.fixture
def repo(tmp_path: Path, fixture_run: Path) -> Path:
    """A git repository (main = origin/main) holding the benchmark; no results entry yet."""
    bench = tmp_path / "spec" / "benchmarks"
    bench.mkdir(parents=True)
    (bench / "splits.tsv").write_bytes((fixture_run / "splits.tsv").read_bytes())
    sha = sha256_file(bench / "splits.tsv")
    spec = SPEC_YAML.replace(
        "  seed: 7\n", f"  seed: 7\n  file: {{path: splits.tsv, sha256: {sha}}}\n"
    )
    # small bootstraps keep the workflow test fast (the sheet is what is tested, not its CIs)
    (bench / "fixture.yaml").write_text(spec.replace("resamples: 2000", "resamples: 100"))
    schema = tmp_path / "spec" / "schema"
    schema.mkdir()
    shipped = Path(__file__).resolve().parents[2] / "spec" / "schema" / "result-1.schema.json"
    (schema / shipped.name).write_bytes(shipped.read_bytes())
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "README.md").write_text("results entries\n")
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "init")
    git(tmp_path, "update-ref", "refs/remotes/origin/main", "HEAD")
    return tmp_path
