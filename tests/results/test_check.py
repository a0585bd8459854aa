"""`brainbench results check`: a predictions-only entry from a plain CSV against the frozen
split of its benchmark; each finding with its rule, its file and the exit status."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brainbench.results import check_entry
from tests.results.conftest import write_entry


def _run(root: Path, folder: Path, monkeypatch: pytest.MonkeyPatch, *args: str):
    from click.testing import CliRunner

    from brainbench.cli import cli

    monkeypatch.chdir(root)
    return CliRunner().invoke(cli, ["results", "check", "--format", "json", str(folder), *args])


def _rules(result) -> list[str]:
    return [f.rule for f in result.findings]


def test_a_plain_csv_entry_passes(repo: Path, fixture_run: Path, monkeypatch) -> None:
    folder = write_entry(repo, fixture_run)
    out = _run(repo, folder, monkeypatch)
    payload = json.loads(out.output)
    assert out.exit_code == 0, payload["findings"]
    assert payload["findings"] == [] and len(payload["files"]) == 2


def test_missing_extra_and_duplicate_images(repo: Path, fixture_run: Path) -> None:
    folder = write_entry(repo, fixture_run)
    table = pd.read_csv(folder / "predictions.csv")
    test = table[table["partition"] == "test"]
    dropped = test.iloc[0]
    changed = table.drop(index=dropped.name)
    # one test image predicted twice, and one test image moved to a fold where it is trained on
    extra = test.iloc[[1]].assign(image="sub-S9_ses-M00_T1w.nii.gz")
    changed = pd.concat([changed, test.iloc[[2]], extra])
    changed.to_csv(folder / "predictions.csv", index=False)
    result = check_entry(folder, root=repo)
    messages = " | ".join(f.message for f in result.findings)
    assert result.exit_code == 1
    assert _rules(result).count("P506") == 3
    assert "predict an image twice" in messages
    assert "1 of the split's" in messages and dropped["image"] in messages
    assert "1 predictions are not test images" in messages and "sub-S9" in messages


def test_split_hash_version_and_model_name(repo: Path, fixture_run: Path) -> None:
    folder = write_entry(repo, fixture_run)
    card = (folder / "result.yaml").read_text()
    text = card.replace("version: 1.2.0", "version: 1.1.0")
    (folder / "result.yaml").write_text(text.replace("name: outside-cnn", "name: other-name"))
    result = check_entry(folder, root=repo)
    assert "P503" in _rules(result) and "P505" in _rules(result)
    sha = card.split("split_sha256: ")[1].split()[0]
    (folder / "result.yaml").write_text(card.replace(sha, "a" * 64))
    result = check_entry(folder, root=repo)
    assert _rules(result) == ["P504"] and sha in result.findings[0].hint


def test_provenance_fields_are_required(repo: Path, fixture_run: Path) -> None:
    folder = write_entry(repo, fixture_run)
    card = (folder / "result.yaml").read_text()
    card = card.replace("license: CC-BY-4.0\n", "").replace("pretraining: []\n", "")
    (folder / "result.yaml").write_text(card + "gpu_hours: 3\n")
    result = check_entry(folder, root=repo)
    messages = [f.message for f in result.findings]
    assert result.exit_code == 1 and set(_rules(result)) == {"P501"}
    assert any("'license'" in m for m in messages) and any("'pretraining'" in m for m in messages)
    assert any("unknown field 'gpu_hours'" in m for m in messages)
    assert all(f.line is not None for f in result.findings)


def test_training_on_test_subjects(repo: Path, fixture_run: Path) -> None:
    folder = write_entry(repo, fixture_run)
    subjects = pd.read_csv(folder / "train-subjects.tsv", sep="\t")
    table = pd.read_csv(folder / "predictions.csv")
    leaked = table[table["partition"] == "test"]["subject"].iloc[0]
    subjects = pd.concat([subjects, pd.DataFrame({"participant_id": [leaked], "fold": [1]})])
    subjects.to_csv(folder / "train-subjects.tsv", sep="\t", index=False)
    card = (folder / "result.yaml").read_text()
    card = card.replace("pretraining: []", "pretraining: [{name: ExtCohort}]")
    card = card.replace("  - {name: devcohort", "  - {name: extcohort}\n  - {name: devcohort")
    (folder / "result.yaml").write_text(card)
    result = check_entry(folder, root=repo)
    messages = " | ".join(f.message for f in result.findings)
    assert _rules(result) == ["P507"] * 3
    assert f"0 1 {leaked}" in messages and "external-test cohort" in messages
    assert "pretraining[0]" in messages


def test_unreadable_inputs_exit_2(repo: Path, fixture_run: Path, monkeypatch) -> None:
    folder = write_entry(repo, fixture_run)
    table = pd.read_csv(folder / "predictions.csv")
    table.loc[3, "score_AD"] = 1.5  # a probability out of range: the predictions reader refuses
    table.to_csv(folder / "predictions.csv", index=False)
    out = _run(repo, folder, monkeypatch)
    payload = json.loads(out.output)
    assert out.exit_code == 2 and payload["findings"][0]["rule"] == "P500"
    assert "score_AD" in payload["findings"][0]["message"]
    (folder / "result.yaml").write_text("result: 1\nbenchmark: [unclosed\n")
    out = _run(repo, folder, monkeypatch)
    assert out.exit_code == 2 and "result.yaml" in out.output


def test_new_writes_a_card_that_check_reads(repo: Path, fixture_run: Path, monkeypatch) -> None:
    from click.testing import CliRunner

    from brainbench.cli import cli

    made = write_entry(repo, fixture_run, name="source")
    monkeypatch.chdir(repo)
    folder = repo / "results" / "fixture-ad-vs-cn" / "outside-cnn"
    args = ["results", "new", str(folder), "--benchmark", "fixture-ad-vs-cn"]
    args += ["--predictions", str(made / "predictions.csv"), "--name", "source"]
    out = CliRunner().invoke(cli, args)
    assert out.exit_code == 0, out.output
    result = check_entry(folder, root=repo)
    # the skeleton's benchmark, version and split hash are right; its TODOs are findings
    todo = ["method.description", "method.code", "compute.hardware", "contact.name"]
    assert [(f.rule, f.path) for f in result.findings] == [("P501", p) for p in todo] + [
        ("P501", "contact.email")
    ]


def test_the_card_of_contributing_is_valid() -> None:
    """The result.yaml shown in CONTRIBUTING.md, "Submitting results", reads as a card."""
    import re

    import yaml

    from brainbench.results import ResultCard

    guide = (Path(__file__).resolve().parents[2] / "CONTRIBUTING.md").read_text()
    section = guide.split("## Submitting results")[1].split("\n## ")[0]
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", section, re.S) if "result: 1" in b]
    data = yaml.safe_load(block)
    data["split_sha256"] = "a" * 64  # the guide shortens it
    card = ResultCard.model_validate(data)
    assert card.training_data[0].subjects == "train-subjects.tsv"


@settings(max_examples=30, deadline=None)
@given(
    dropped=st.sets(st.integers(0, 23), max_size=6),
    moved=st.sets(st.integers(0, 23), max_size=3),
)
def test_coverage_counts_exactly_what_is_missing_or_extra(dropped: set, moved: set) -> None:
    """Per seed, the missing and extra counts are those of the rows dropped, and of the rows
    moved to a fold where the split does not test them (a property of _check_coverage)."""
    from brainbench.results.check import _check_coverage

    splits = pd.DataFrame(
        [
            {"repeat": 0, "fold": f, "partition": p, "image": f"img{i}", "subject": f"s{i}"}
            for f in range(3)
            for i in range(12)
            for p in ["test" if i % 3 == f else "train"]
        ]
    )
    test = splits[splits["partition"] == "test"]
    preds = pd.concat([test.assign(seed=s) for s in (0, 1)], ignore_index=True)
    preds.loc[sorted(moved - dropped), "fold"] = 9
    preds = preds.drop(index=sorted(dropped))
    findings = _check_coverage(preds, splits, Path("p.csv"))
    missing = extra = 0
    for f in findings:
        n = int(f.message.split(": ")[1].split()[0])
        if "missing" in f.message:
            missing += n
        else:
            extra += n
    moved_only = moved - dropped
    assert missing == len(dropped) + len(moved_only)
    assert extra == len(moved_only)


def test_ids_are_read_as_written(tmp_path: Path) -> None:
    """A CSV's numeric-looking ids stay text, as in the split file (0012 is not 12)."""
    from brainbench.results.check import ID_COLUMNS
    from brainbench.stats._io import read_table

    path = tmp_path / "p.csv"
    path.write_text("model,image,site,y_true,score\nm,0012,002,1,0.5\n")
    table = read_table(path, text_columns=ID_COLUMNS)
    assert table.loc[0, "image"] == "0012" and table.loc[0, "site"] == "002"
    assert read_table(path).loc[0, "image"] == 12  # the default reader is unchanged


def test_shipped_json_schema_equals_generated() -> None:
    from brainbench.results.card import json_schema_text

    shipped = Path(__file__).resolve().parents[2] / "spec" / "schema" / "result-1.schema.json"
    assert shipped.read_text() == json_schema_text(), (
        "regenerate with: brainbench results schema > spec/schema/result-1.schema.json"
    )
