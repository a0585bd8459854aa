"""The tier a leaderboard lists: derived from a run folder it can check, never self-declared.

An evidence sheet is a JSON file anyone can edit, so its ``tier`` field proves nothing. A model
is listed as *reproduced* only when the leaderboard finds the run folder whose predictions the
sheet was made from (matched by the sha256 the sheet records) and that folder holds together:

1. ``provenance.json`` records the same predictions sha256, and the runner's completed work
   units of the model;
2. ``splits.tsv`` hashes to the provenance's ``split_sha256``;
3. the spec the provenance names (``spec.sha256``) is the sheet's ``run_spec_sha256`` and, when
   ``spec.resolved.json`` is there, that spec hashes to it;
4. the primary metric recomputed from those predictions (point estimates, no resampling) is
   the estimate the sheet shows, for every model.

A segmentation sheet is checked the same way against ``case_metrics.parquet`` (its sha256 in
``case_metrics_sha256``), its primary metric's means on the primary label recomputed with
:func:`brainbench.segmentation.statistics.summarise`.

A model a sheet declares reproduced that fails any check is *unverified* (the reason is kept);
a model the sheet declares self-reported stays *self-reported*. The seal level is read from
the provenance's ``seal`` entry when the runner recorded one.

What this does not prove: that the runner, and not a person with the same tools, wrote the run
folder. The hashes bind the sheet to the folder; only a sealed, signed run would bind the
folder to the runner (docs/report.md, "Tiers").
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from brainbench.errors import BrainbenchWarning, UserError
from brainbench.hashing import sha256_file

REPRODUCED, SELF_REPORTED, UNVERIFIED = "reproduced", "self-reported", "unverified"
#: Run folders searched at most (a leaderboard pointed at a whole disk stays bounded).
MAX_RUN_FOLDERS = 10_000
_OK = ("ok", "done", "success", "completed")


@dataclass
class Verdict:
    """What the leaderboard can say about one sheet."""

    model_tiers: dict[str, str]
    seal: str = "n/a"
    run: Path | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def tier(self) -> str:
        tiers = set(self.model_tiers.values())
        if len(tiers) == 1:
            return tiers.pop()
        return "mixed" if tiers else UNVERIFIED


def index_runs(roots: list[Path]) -> dict[str, Path]:
    """Run folders (holding ``provenance.json`` and ``predictions.parquet``) under ``roots``,
    keyed by the sha256 of their predictions file."""
    found: dict[str, Path] = {}
    seen = 0
    for root in roots:
        if not root.is_dir():
            raise UserError(f"The runs folder {root} does not exist.")
        for prov in sorted(root.rglob("provenance.json")):
            folder = prov.parent
            pred = _results_file(folder)
            if prov.is_symlink() or pred is None:
                continue
            seen += 1
            if seen > MAX_RUN_FOLDERS:
                raise UserError(
                    f"More than {MAX_RUN_FOLDERS:,} run folders under "
                    f"{', '.join(map(str, roots))}: "
                    "point --runs at the folder of the published runs."
                )
            found.setdefault(sha256_file(pred), folder)
    return found


#: The results table of a run folder and the provenance key holding its sha256.
RESULTS = (
    ("predictions.parquet", "predictions_sha256"),
    ("case_metrics.parquet", "case_metrics_sha256"),
)


def _results_file(folder: Path) -> Path | None:
    """The run folder's predictions (or segmentation case metrics), a regular file, or None."""
    for name, _ in RESULTS:
        path = folder / name
        if path.is_file() and not path.is_symlink():
            return path
    return None


def seal_level(provenance: dict[str, Any]) -> str:
    """The runner's ``seal`` entry as text: a string as is, a mapping by its ``level`` or its
    list of ``layers``; ``not recorded`` when absent, ``unreadable`` when of another shape."""
    seal = provenance.get("seal")
    if seal is None:
        return "not recorded"
    if isinstance(seal, str):
        return _clip(seal)
    if isinstance(seal, dict):
        level = seal.get("level")
        if isinstance(level, str):
            return _clip(level)
        layers = seal.get("layers")
        if isinstance(layers, list) and all(isinstance(x, str) for x in layers):
            return _clip(", ".join(layers) or "unsealed")
    return "unreadable"


def _clip(text: str, n: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."


def _read_provenance(folder: Path) -> dict[str, Any] | None:
    path = folder / "provenance.json"
    try:
        if path.stat().st_size > 64 * 1024**2:
            return None
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _claims(sheet: dict[str, Any], models: list[str]) -> dict[str, str]:
    """The tier the sheet declares for each model (what it may not raise, only lower)."""
    ident = sheet.get("identity") or {}
    declared = ident.get("model_tiers") if isinstance(ident.get("model_tiers"), dict) else {}
    default = sheet.get("tier") if isinstance(sheet.get("tier"), str) else SELF_REPORTED
    return {m: str(declared.get(m, default)) for m in models}


def verify(sheet: dict[str, Any], models: list[dict[str, Any]], runs: dict[str, Path]) -> Verdict:
    """The tiers of ``models`` (the sheet's primary results) under the checks above.

    ``sheet`` holds the sheet's ``identity`` section data, its ``tier``, ``unit`` and
    ``primary`` (metric, partition) and ``predictions_sha256`` (one hash per source).
    """
    names = [str(m["model"]) for m in models]
    claims = _claims(sheet, names)
    verdict = Verdict({m: SELF_REPORTED for m in names})
    wanted = [m for m in names if claims[m] != SELF_REPORTED]
    if not wanted:
        return verdict
    problems = verdict.problems
    hashes = sheet.get("predictions_sha256")
    folder = None
    if not isinstance(hashes, list) or not hashes:
        problems.append(
            "the sheet records no predictions sha256 (an older brainbench wrote it): "
            "rewrite it with `brainbench report`"
        )
    elif len(hashes) > 1:
        problems.append("the sheet pools several run folders; only single-run sheets are checked")
    else:
        folder = runs.get(str(hashes[0]))
        if folder is None:
            problems.append(
                "no run folder with the sheet's predictions was found (give it with --runs)"
            )
    prov = _read_provenance(folder) if folder is not None else None
    if folder is not None and prov is None:
        problems.append(f"{folder / 'provenance.json'} cannot be read as a JSON object")
    if prov is not None and folder is not None:
        verdict.run = folder
        verdict.seal = seal_level(prov)
        problems += _check_folder(folder, prov, sheet, models)
        ran = {
            str(u.get("model"))
            for u in (prov.get("units") if isinstance(prov.get("units"), list) else [])
            if isinstance(u, dict) and str(u.get("status", "")).lower() in _OK
        }
    else:
        ran = set()
    for m in wanted:
        verdict.model_tiers[m] = REPRODUCED if not problems and m in ran else UNVERIFIED
    if not problems and any(verdict.model_tiers[m] == UNVERIFIED for m in wanted):
        problems.append("the provenance records no completed work unit of some models")
    return verdict


def _check_folder(
    folder: Path, prov: dict[str, Any], sheet: dict[str, Any], models: list[dict[str, Any]]
) -> list[str]:
    problems = []
    pred = _results_file(folder)
    key = dict(RESULTS)[pred.name] if pred is not None else "predictions_sha256"
    if pred is None or prov.get(key) != sha256_file(pred):
        name = pred.name if pred is not None else "predictions.parquet"
        problems.append(f"provenance.json does not record the sha256 of {name}")
    splits = folder / "splits.tsv"
    if not splits.is_file() or splits.is_symlink():
        problems.append("the run folder has no splits.tsv")
    elif prov.get("split_sha256") != sha256_file(splits):
        problems.append("splits.tsv does not hash to the provenance's split_sha256")
    pspec = prov.get("spec") if isinstance(prov.get("spec"), dict) else {}
    ident = sheet.get("identity") or {}
    if not pspec.get("sha256") or pspec.get("sha256") != ident.get("run_spec_sha256"):
        problems.append("the provenance's spec sha256 is not the sheet's run_spec_sha256")
    resolved = folder / "spec.resolved.json"
    if resolved.is_file():
        from brainbench.report._run import _load_resolved

        notes: list[str] = []
        got = _load_resolved(resolved, notes)
        if got is None or got[1] != pspec.get("sha256"):
            problems.append("spec.resolved.json does not hash to the provenance's spec sha256")
    if not problems:
        problems += _check_estimates(folder, sheet, models)
    return problems


def _check_estimates(
    folder: Path, sheet: dict[str, Any], models: list[dict[str, Any]]
) -> list[str]:
    """Recompute the primary metric's point estimates from the run's predictions."""
    from brainbench.report import _stats
    from brainbench.report._run import read_runs

    metric, partition, unit = sheet.get("metric"), sheet.get("partition"), sheet.get("unit")
    if sheet.get("segmentation_label") is not None:
        return _check_segmentation_estimates(folder, sheet, models)
    try:
        run = read_runs([folder])
        df = run.predictions
        if run.spec is not None and run.spec.task.type == "classification":
            task = _stats.make_task("classification", run.spec.task.classes)
        elif run.spec is not None:
            task = _stats.make_task("regression")
        else:
            task = _stats.infer_task(df)
        got = _stats.evaluate(
            df, [str(metric)], task=task, unit=str(unit), method="none", partitions=[partition]
        )
    except (UserError, TypeError, ValueError) as exc:
        return [f"the primary metric cannot be recomputed from the run ({exc})"]
    recomputed = {r.model: r.estimate for r in got.results if not r.group}
    return _mismatch(models, recomputed, f"{metric}", "predictions")


def _check_segmentation_estimates(
    folder: Path, sheet: dict[str, Any], models: list[dict[str, Any]]
) -> list[str]:
    """Recompute a segmentation sheet's primary estimates (mean of the primary metric on the
    primary label) from the run's case metrics."""
    from brainbench.report._seg_data import read_case_metrics
    from brainbench.segmentation.statistics import summarise

    metric, label = sheet.get("metric"), sheet.get("segmentation_label")
    try:
        table = read_case_metrics(folder / "case_metrics.parquet")
        with warnings.catch_warnings():  # interval limits: no interval is drawn here
            warnings.simplefilter("ignore", BrainbenchWarning)
            got = summarise(table, n_resamples=0, partition=str(sheet.get("partition")))
    except (UserError, TypeError, ValueError) as exc:
        return [f"the primary metric cannot be recomputed from the run ({exc})"]
    # One tolerance per metric in a sheet's primary measure (the first, as the sheet reads it).
    recomputed: dict[str, float] = {}
    for r in got:
        if r.metric == metric and r.label == label:
            recomputed.setdefault(r.model, r.estimate)
    return _mismatch(models, recomputed, f"{metric} on {label}", "case metrics")


def _mismatch(
    models: list[dict[str, Any]], recomputed: dict[str, float], what: str, source: str
) -> list[str]:
    """The first model whose shown estimate is not the recomputed one, as a problem."""
    for m in models:
        shown, real = m.get("estimate"), recomputed.get(str(m["model"]))
        if not _same(shown, real):
            return [
                f"the sheet shows {what} {shown!r} for {m['model']!r} but its run's {source} "
                f"give {real!r}"
            ]
    return []


def _same(shown: Any, real: float | None) -> bool:
    """Equal up to the sheet's rounding (6 decimals, ``json_ready`` in report._model)."""
    if real is None or not math.isfinite(real):
        return shown is None
    return isinstance(shown, (int, float)) and abs(float(shown) - real) <= 5e-7 + 1e-12
