"""``brainbench results check``: a results entry against its benchmark's spec and frozen split.

A results entry is a folder ``results/<benchmark>/<entry>/`` holding a card
(:mod:`brainbench.results.card`) and a predictions table made by any tool (docs/design.md,
"The predictions table"). The check, each with a rule id (docs/results.md):

* P501 the card reads as YAML and holds every provenance field, of the right type;
* P502 the benchmark is known (a spec with that id) and P503 its version is the card's;
* P504 the card's split sha256 is the frozen split's (the spec's ``splits.file``, or
  ``--split``), which must itself match the spec's pin;
* P505 the predictions table reads within the predictions reader's limits, scores in range
  (:func:`brainbench.stats.check_predictions`), one model, named as the card's method;
* P506 every test image of the split (the test partition and each external-test cohort) is
  predicted exactly once per (repeat, fold, seed): none missing, none extra, no duplicate;
* P507 no test subject is in the declared training data, no benchmark test cohort is named as
  training or pretraining data.

Exit status: 0 every entry passes, 1 findings, 2 an input cannot be read.

What this cannot check: that the declared training data is all the model saw. A subjects
list makes the overlap check exact; without one, the card's word is all there is, and the
leaderboard lists the entry as *self-reported*.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from brainbench.errors import EXIT_UNREADABLE, UserError
from brainbench.hashing import sha256_file
from brainbench.results.card import CARD_FILE, ResultCard
from brainbench.validate.findings import CheckResult, Finding, Severity

#: Split partitions a model trains on; every other partition is a test set.
TRAINING_PARTITIONS = ("train", "validation")
#: Where benchmark specs are looked up by id (relative to the repository root).
SPEC_FOLDERS = ("spec/benchmarks", "spec/demo")
_SHOWN = 5
ID_COLUMNS = ("dataset", "site", "scanner", "subject", "session", "image", "partition")


@dataclass
class Entry:
    """A results entry as the check sees it."""

    folder: Path
    card: ResultCard
    card_file: Path
    spec_file: Path
    predictions: Path


def results_root(start: Path | None = None) -> Path:
    """The repository root: the nearest folder above ``start`` (default: the working
    directory) holding ``results/`` or ``spec/``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "results").is_dir() or (folder / "spec" / "benchmarks").is_dir():
            return folder
    return here


def entry_folder(path: Path) -> Path:
    """The entry folder of ``path`` (a folder holding result.yaml, or that file)."""
    if path.is_file() and path.name == CARD_FILE:
        return path.parent
    if path.is_dir() and (path / CARD_FILE).is_file():
        return path
    raise UserError(
        f"{path} is not a results entry: give a folder holding {CARD_FILE} (write one with "
        "`brainbench results new`), or the card itself."
    )


def entry_folders(root: Path) -> list[Path]:
    """Every ``results/<benchmark>/<entry>/`` folder holding a card, sorted."""
    return sorted(p.parent for p in (root / "results").glob(f"*/*/{CARD_FILE}"))


def changed_entries(ref: str, root: Path) -> list[Path] | None:
    """Entry folders under ``root/results`` changed since the merge base with ``ref``."""
    from brainbench.registry.check import changed_paths

    folder = root / "results"
    paths = changed_paths(ref, folder if folder.is_dir() else root)
    if paths is None:
        return None
    names = {tuple(p.split("/")[:2]) for p in paths if p.count("/") >= 2}
    return sorted(folder / a / b for a, b in names if (folder / a / b / CARD_FILE).is_file())


def find_spec(benchmark: str, root: Path) -> Path | None:
    """The spec file whose ``id`` is ``benchmark`` under ``root``'s spec folders."""
    from brainbench.spec.yaml_loader import YamlError, load_yaml_document

    for sub in SPEC_FOLDERS:
        for path in sorted((root / sub).glob("*.yaml")):
            try:
                data = load_yaml_document(path).data
            except YamlError:
                continue
            if isinstance(data, dict) and data.get("id") == benchmark:
                return path
    return None


def _finding(rule: str, message: str, file: Path, **kw: Any) -> Finding:
    return Finding(rule=rule, severity=Severity.ERROR, message=message, file=str(file), **kw)


def _dotted(loc: Sequence[Any]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


def load_card(folder: Path) -> tuple[ResultCard | None, list[Finding]]:
    """The card of ``folder`` (None when invalid) and its findings (P501): fields missing or
    of the wrong type, and values still reading TODO (the skeleton's placeholders).

    Raises
    ------
    UserError
        The card cannot be read as YAML (exit 2).
    """
    from brainbench.registry._yaml import YamlLoadError, load_marked

    path = folder / CARD_FILE
    try:
        doc = load_marked(path)
    except YamlLoadError as exc:
        where = f":{exc.line}" if exc.line else ""
        raise UserError(f"{exc.file}{where}: {exc.message}") from None
    if not isinstance(doc.data, dict):
        return None, [_finding("P501", "the card is not a mapping of fields", path, line=1)]
    todo = [
        _finding(
            "P501",
            f"'{_dotted(loc)}' is still a TODO of the skeleton card",
            path,
            path=_dotted(loc),
            line=doc.locate(loc)[0],
        )
        for loc, value in _leaves(doc.data, ())
        if isinstance(value, str) and "TODO" in value
    ]
    try:
        return ResultCard.model_validate(doc.data), todo
    except ValidationError as exc:
        findings = []
        for err in exc.errors(include_url=False):
            loc = tuple(p for p in err["loc"] if isinstance(p, int) or "[" not in str(p))
            line, column = doc.locate(loc)
            if err["type"] == "missing":
                message = f"missing required field '{_dotted(loc)}' (a provenance field)"
            elif err["type"] == "extra_forbidden":
                message = f"unknown field '{_dotted(loc)}'"
            else:
                message = f"{_dotted(loc)}: {err['msg']} (got {err.get('input')!r})"
            findings.append(
                _finding("P501", message, path, path=_dotted(loc), line=line, column=column)
            )
        return None, todo + findings


def _leaves(data: Any, loc: tuple[Any, ...]) -> list[tuple[tuple[Any, ...], Any]]:
    if isinstance(data, dict):
        return [leaf for k, v in data.items() for leaf in _leaves(v, (*loc, k))]
    if isinstance(data, list):
        return [leaf for i, v in enumerate(data) for leaf in _leaves(v, (*loc, i))]
    return [(loc, data)]


def check_entry(
    folder: Path, *, root: Path, spec: Path | None = None, split: Path | None = None
) -> CheckResult:
    """Check one results entry (see the module doc)."""
    folder = entry_folder(folder)
    card_file = folder / CARD_FILE
    result = CheckResult(files=[str(card_file)])
    try:
        _check(folder, card_file, result, root=root, spec=spec, split=split)
    except UserError as exc:
        result.findings.append(_finding("P500", exc.message, card_file))
        result.status = EXIT_UNREADABLE
    return result


def _check(
    folder: Path,
    card_file: Path,
    result: CheckResult,
    *,
    root: Path,
    spec: Path | None,
    split: Path | None,
) -> None:
    from brainbench.spec import load_spec
    from brainbench.split._files import read_split_file

    card, findings = load_card(folder)
    result.findings += findings
    if card is None:
        return
    spec_file = spec or find_spec(card.benchmark.id, root)
    if spec_file is None:
        result.findings.append(
            _finding(
                "P502",
                f"no benchmark with id '{card.benchmark.id}' under "
                f"{', '.join(str(root / s) for s in SPEC_FOLDERS)}",
                card_file,
                path="benchmark.id",
                hint="use the id of a benchmark spec (brainbench validate lists them), or give "
                "its spec with --spec",
            )
        )
        return
    loaded = load_spec(spec_file)
    if loaded.spec.id != card.benchmark.id:
        result.findings.append(
            _finding(
                "P502",
                f"the card is for benchmark '{card.benchmark.id}' but the spec {spec_file} is "
                f"'{loaded.spec.id}'",
                card_file,
                path="benchmark.id",
            )
        )
        return
    if loaded.spec.version != card.benchmark.version:
        result.findings.append(
            _finding(
                "P503",
                f"the card is for version {card.benchmark.version} of {card.benchmark.id}; the "
                f"spec is version {loaded.spec.version}",
                card_file,
                path="benchmark.version",
                hint="predictions are only comparable on the version they were made for: remake "
                "them on the current frozen split, or check against that version's spec",
            )
        )
    split_file, pinned = _split_file(loaded, split)
    actual = sha256_file(split_file)
    if pinned is not None and actual != pinned:
        raise UserError(
            f"{split_file}: sha256 is {actual}, but the spec {spec_file} pins {pinned}: the "
            "split file is not the benchmark's frozen split."
        )
    if card.split_sha256 != actual:
        result.findings.append(
            _finding(
                "P504",
                f"split_sha256 {card.split_sha256[:12]}... is not the sha256 of the benchmark's "
                f"frozen split {split_file.name} ({actual[:12]}...)",
                card_file,
                path="split_sha256",
                hint="the predictions were made on another split: remake them on the frozen "
                f"split, whose sha256 is {actual}",
            )
        )
        return
    splits = read_split_file(split_file)
    pred_file = (folder / card.predictions).resolve()
    if folder.resolve() not in pred_file.parents:
        raise UserError(
            f"{card_file}: predictions '{card.predictions}' is outside the entry folder; keep "
            "the table beside the card."
        )
    result.files.append(str(pred_file))
    preds = _read_predictions(pred_file, result)
    result.findings += _check_model(preds, card, pred_file)
    result.findings += _check_coverage(preds, splits, pred_file)
    result.findings += _check_training(card, folder, card_file, splits, loaded.spec)


def _split_file(loaded: Any, split: Path | None) -> tuple[Path, str | None]:
    pinned = loaded.spec.splits.file
    if split is not None:
        return split, pinned.sha256 if pinned else None
    if pinned is None:
        raise UserError(
            f"The benchmark {loaded.spec.id} ({loaded.file}) has no frozen split "
            "(splits.file in its spec): give the split file with --split, or freeze one with "
            "`brainbench split` and pin it in the spec."
        )
    return loaded.resolve_path(pinned.path), pinned.sha256


def _read_predictions(path: Path, result: CheckResult) -> pd.DataFrame:
    """The table through the predictions reader; duplicates become a finding (P506), not a
    refusal, so that the other checks still run."""
    from brainbench.stats import check_predictions
    from brainbench.stats._io import read_table

    # ids as written: the split file's ids are text, and 0012 must not become 12
    raw = read_table(path, text_columns=ID_COLUMNS)
    keys = [c for c in ("model", "repeat", "fold", "seed", "partition", "image") if c in raw]
    if "image" in raw:
        dup = raw.duplicated(keys, keep=False)
        if dup.any():
            rows = [int(i) + 1 for i in dup.to_numpy().nonzero()[0][:2]]
            result.findings.append(
                _finding(
                    "P506",
                    f"{int(dup.sum())} rows predict an image twice (first: data rows "
                    f"{rows[0]} and {rows[1]}, image {raw['image'].iloc[rows[0] - 1]})",
                    path,
                    hint="keep one prediction per (repeat, fold, seed, partition, image)",
                )
            )
            raw = raw.drop_duplicates(keys)
    return check_predictions(raw, source=str(path))


def _check_model(preds: pd.DataFrame, card: ResultCard, path: Path) -> list[Finding]:
    models = sorted(preds["model"].unique())
    if models == [card.method.name]:
        return []
    return [
        _finding(
            "P505",
            f"the model column holds {', '.join(models[:_SHOWN])}; a results entry holds one "
            f"model, named as the card's method.name ('{card.method.name}')",
            path,
            hint="one entry per model: split the table, or rename the model column",
        )
    ]


def _ids(frame: pd.DataFrame, cols: list[str]) -> str:
    rows = frame[cols].head(_SHOWN).astype(str).agg(" ".join, axis=1)
    return "; ".join(rows) + (" ..." if len(frame) > _SHOWN else "")


def _check_coverage(preds: pd.DataFrame, splits: pd.DataFrame, path: Path) -> list[Finding]:
    if "image" not in preds:
        return [
            _finding(
                "P506",
                "the table has no 'image' column: the split's test images cannot be matched",
                path,
                hint="add the image id of each prediction, as the split file writes it",
            )
        ]
    keys = ["repeat", "fold", "partition", "image"]
    test = splits[~splits["partition"].isin(TRAINING_PARTITIONS)][keys].astype(str)
    test = test.drop_duplicates()
    scored = preds[~preds["partition"].isin(TRAINING_PARTITIONS)].copy()
    scored[keys] = scored[keys].astype(str)
    findings = []
    seeds = sorted(scored["seed"].unique()) or [0]
    for seed in seeds:
        got = scored[scored["seed"] == seed][keys]
        both = test.merge(got, on=keys, how="outer", indicator=True)
        missing = both[both["_merge"] == "left_only"]
        extra = both[both["_merge"] == "right_only"]
        if len(missing):
            findings.append(
                _finding(
                    "P506",
                    f"seed {seed}: {len(missing)} of the split's {len(test)} test predictions "
                    f"are missing (repeat fold partition image: {_ids(missing, keys)})",
                    path,
                    hint="predict every test image of every fold and repeat of the frozen split",
                )
            )
        if len(extra):
            findings.append(
                _finding(
                    "P506",
                    f"seed {seed}: {len(extra)} predictions are not test images of the split in "
                    f"their fold (repeat fold partition image: {_ids(extra, keys)})",
                    path,
                    hint="an image predicted in a partition or fold where the split does not "
                    "test it was made on another split, or is a training image",
                )
            )
    return findings


def _subjects(path: Path, card_file: Path) -> pd.DataFrame:
    from brainbench.stats._io import read_table

    table = read_table(path, "training subjects table", text_columns=("participant_id", "subject"))
    col = next((c for c in ("participant_id", "subject") if c in table), None)
    if col is None:
        raise UserError(
            f"The training subjects table {path} (named in {card_file}) needs a "
            "'participant_id' column, optionally with 'fold' and 'repeat'."
        )
    out = pd.DataFrame({"subject": table[col].astype(str)})
    for c in ("repeat", "fold"):
        if c in table:
            out[c] = table[c].astype(str)
    return out


def _check_training(
    card: ResultCard, folder: Path, card_file: Path, splits: pd.DataFrame, spec: Any
) -> list[Finding]:
    findings = []
    external = {c.id.lower() for c in spec.cohorts if c.role == "external-test"}
    cohorts = {c.id.lower() for c in spec.cohorts}
    for i, data in enumerate(card.training_data):
        if data.name.lower() in external:
            findings.append(
                _finding(
                    "P507",
                    f"training_data[{i}] is '{data.name}', an external-test cohort of the "
                    "benchmark: its images are test images",
                    card_file,
                    path=f"training_data[{i}].name",
                )
            )
        if data.subjects is None:
            continue
        listed = _subjects(folder / data.subjects, card_file)
        test = splits[~splits["partition"].isin(TRAINING_PARTITIONS)]
        test = test[["repeat", "fold", "subject"]].astype(str).drop_duplicates()
        on = ["subject", *[c for c in ("repeat", "fold") if c in listed]]
        leaked = test.merge(listed.drop_duplicates(), on=on)
        if len(leaked):
            findings.append(
                _finding(
                    "P507",
                    f"training_data[{i}] ({data.subjects}) lists "
                    f"{leaked['subject'].nunique()} subject(s) that the frozen split tests "
                    f"(repeat fold subject: {_ids(leaked, ['repeat', 'fold', 'subject'])})",
                    card_file,
                    path=f"training_data[{i}].subjects",
                    hint="retrain without them: with per-fold training sets, give 'fold' (and "
                    "'repeat') columns so each fold is checked against its own test set",
                )
            )
    for i, data in enumerate(card.pretraining):
        if data.name.lower() in cohorts:
            findings.append(
                _finding(
                    "P507",
                    f"pretraining[{i}] is '{data.name}', a cohort of the benchmark that holds "
                    "test images: pretraining on it leaks them",
                    card_file,
                    path=f"pretraining[{i}].name",
                )
            )
    return findings


def check_entries(
    folders: Sequence[Path], *, root: Path, spec: Path | None = None, split: Path | None = None
) -> CheckResult:
    """Check several entries; the result's exit code is the worst of theirs."""
    total = CheckResult()
    for folder in folders:
        total.extend(check_entry(folder, root=root, spec=spec, split=split))
    return total


def new_entry(
    folder: Path,
    *,
    benchmark: str,
    predictions: Path,
    name: str,
    root: Path,
    spec: Path | None = None,
    split: Path | None = None,
) -> Path:
    """Write a skeleton card into ``folder`` (created) beside a copy of ``predictions``; the
    benchmark's version and its frozen split's sha256 come from the spec. Returns the card."""
    import shutil

    from brainbench.results.card import SKELETON
    from brainbench.spec import load_spec

    spec_file = spec or find_spec(benchmark, root)
    if spec_file is None:
        raise UserError(f"no spec of benchmark '{benchmark}' under {root}: give it with --spec.")
    loaded = load_spec(spec_file)
    split_file, _ = _split_file(loaded, split)
    card = folder / CARD_FILE
    if card.exists():
        raise UserError(f"{card} exists: edit it, or start the entry in another folder.")
    if not predictions.is_file():
        raise UserError(f"The predictions table {predictions} does not exist.")
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(predictions, folder / predictions.name)
    dev = next((c.id for c in loaded.spec.cohorts if c.role == "development"), "TODO")
    card.write_text(
        SKELETON.format(
            folder=folder,
            benchmark=loaded.spec.id,
            version=loaded.spec.version,
            split_sha256=sha256_file(split_file),
            predictions=predictions.name,
            name=name,
            cohort=dev,
        ),
        encoding="utf-8",
    )
    return card


def report_entry(
    folder: Path,
    out: Path,
    *,
    root: Path,
    spec: Path | None = None,
    resamples: int | None = None,
    seed: int = 0,
) -> Path:
    """Write the evidence sheet of one entry into ``out/<benchmark>/<entry>/``; its html."""
    from brainbench.report._write import write_report

    card, findings = load_card(folder)
    if card is None or findings:
        raise UserError(
            f"{folder / CARD_FILE} is not a valid card ({findings[0].message}): run "
            "`brainbench results check` on it first.",
            exit_code=1,
        )
    spec_file = spec or find_spec(card.benchmark.id, root)
    if spec_file is None:
        raise UserError(f"no spec of benchmark '{card.benchmark.id}': give it with --spec.")
    sheet = out / card.benchmark.id / folder.name
    html = write_report(
        [folder / card.predictions], sheet, spec=spec_file, resamples=resamples, seed=seed
    )
    # the card travels with the sheet: who made the predictions, on what data, under what licence
    (sheet / CARD_FILE).write_bytes((folder / CARD_FILE).read_bytes())
    return html
