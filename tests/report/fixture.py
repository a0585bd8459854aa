"""A small, fixed run directory (the runner's layout) for the report tests.

``make_run_dir(path)`` writes ``predictions.parquet``, ``cohort.parquet``, ``splits.tsv``,
``spec.yaml``, ``spec.resolved.json``, ``validation.json`` and ``provenance.json`` for a
three-site Alzheimer's-like classification benchmark (CN vs AD) with an external-test cohort,
three models (a demographics baseline, a linear model and a small CNN), three folds and three
seeds. Everything is drawn from a seeded generator, so the files are identical on every call.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

SPEC_YAML = """\
brainbench: 1
id: fixture-ad-vs-cn
version: 1.2.0
title: Fixture benchmark, AD vs CN (report tests)
task:
  type: classification
  target: diagnosis
  classes: [CN, AD]
  input: {modality: T1w, unit: image}
cohorts:
  - id: devcohort
    role: development
    source: {format: tsv, path: dev.tsv}
  - id: extcohort
    role: external-test
    source: {format: tsv, path: ext.tsv}
hierarchy:
  site: site
  scanner: scanner
  subject: participant_id
  session: session_id
splits:
  group: subject
  stratify: [diagnosis]
  test: {method: holdout, size: 0.4}
  validation: {method: kfold, folds: 3}
  repeats: 1
  seed: 7
training:
  model_selection: validation
  fit_preprocessing_on: train
protocol:
  primary_metric: balanced_accuracy
  metrics: [auroc, sensitivity, specificity, brier]
  unit_of_analysis: subject
  confidence:
    {method: hierarchical-bootstrap, level: 0.95, resamples: 2000, clusters: [site, subject]}
  comparison: {method: bootstrap, alpha: 0.05, correction: holm, margin: 0.02}
  seeds: 3
  models: [demographics-logreg, voxel-linear, cnn3d-small]
reporting:
  breakdown: [site, sex]
waivers:
  - {rule: D302, reason: the fixture's sites differ in prevalence on purpose}
"""

MODELS = {"demographics-logreg": 0.35, "voxel-linear": 0.9, "cnn3d-small": 1.0}
SITES = {"devcohort": ["S1", "S2", "S3"], "extcohort": ["X1"]}
SCANNERS = {"S1": "Siemens-3T", "S2": "GE-3T", "S3": "Siemens-1.5T", "X1": "Philips-3T"}


def _cohort(rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for cohort, sites in SITES.items():
        n_per_site = 16 if cohort == "devcohort" else 14
        for site in sites:
            for k in range(n_per_site):
                subject = f"sub-{site}{k:02d}"
                ad = bool((k + (site == "S3")) % 2)
                age = float(np.round(rng.normal(74 if ad else 71, 6), 1))
                sex = "F" if rng.random() < (0.45 if ad else 0.55) else "M"
                n_sessions = 1 if cohort == "extcohort" else 1 + int(k % 3 == 0)
                for s in range(n_sessions):
                    session = f"ses-M{12 * s:02d}"
                    rows.append(
                        {
                            "dataset": cohort,
                            "site": site,
                            "scanner": SCANNERS[site],
                            "subject": subject,
                            "session": session,
                            "image": f"{subject}_{session}_T1w.nii.gz",
                            "cohort": cohort,
                            "role": "development" if cohort == "devcohort" else "external-test",
                            "diagnosis": "AD" if ad else "CN",
                            "age": age + s,
                            "sex": sex,
                        }
                    )
    return pd.DataFrame(rows)


def _splits(cohort: pd.DataFrame) -> pd.DataFrame:
    rows = []
    dev = cohort[cohort["cohort"] == "devcohort"]
    subjects = sorted(dev["subject"].unique())
    test = {s for i, s in enumerate(subjects) if i % 5 in (0, 2)}
    train_subjects = [s for s in subjects if s not in test]
    for _, r in cohort.iterrows():
        ids = {k: r[k] for k in ("cohort", "subject", "session", "image")}
        if r["cohort"] == "extcohort":
            for fold in range(3):
                rows.append({**ids, "repeat": 0, "fold": fold, "partition": "extcohort"})
            continue
        for fold in range(3):
            if r["subject"] in test:
                part = "test"
            else:
                part = "validation" if train_subjects.index(r["subject"]) % 3 == fold else "train"
            rows.append({**ids, "repeat": 0, "fold": fold, "partition": part})
    return pd.DataFrame(rows)


def _predictions(
    cohort: pd.DataFrame, splits: pd.DataFrame, rng: np.random.Generator, seeds: int
) -> pd.DataFrame:
    site_effect = {"S1": 0.0, "S2": 0.3, "S3": -0.3, "X1": -0.5}
    subj_noise = {s: rng.normal(0, 0.8) for s in sorted(cohort["subject"].unique())}
    scored = splits[splits["partition"] != "train"].merge(
        cohort, on=["cohort", "subject", "session", "image"], how="left"
    )
    rows = []
    for model, strength in MODELS.items():
        for fold, seed in [(f, s) for f in range(3) for s in range(seeds)]:
            part = scored[scored["fold"] == fold]
            run_noise = rng.normal(0, 0.15)
            for _, r in part.iterrows():
                label = 1.0 if r["diagnosis"] == "AD" else -1.0
                z = (
                    strength * label
                    + site_effect[r["site"]]
                    + subj_noise[r["subject"]]
                    + run_noise
                    + rng.normal(0, 0.4)
                )
                p = float(np.round(1 / (1 + np.exp(-z)), 6))
                rows.append(
                    {
                        "model": model,
                        "repeat": 0,
                        "fold": int(fold),
                        "seed": int(seed),
                        "partition": r["partition"],
                        "cohort": r["cohort"],
                        "dataset": r["dataset"],
                        "site": r["site"],
                        "scanner": r["scanner"],
                        "subject": r["subject"],
                        "session": r["session"],
                        "image": r["image"],
                        "y_true": r["diagnosis"],
                        "y_pred": "AD" if p >= 0.5 else "CN",
                        "score_CN": float(np.round(1 - p, 6)),
                        "score_AD": p,
                        "score": p,
                    }
                )
    return pd.DataFrame(rows)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_run_dir(
    path: Path,
    *,
    seeds: int = 3,
    drop: dict[str, object] | None = None,
    failed_unit: tuple[str, int, int] | None = None,
    spec_sha256: str | None = None,
    comparison: str = "bootstrap",
) -> Path:
    """Write the fixture run directory into ``path`` (created) and return it.

    Parameters
    ----------
    seeds
        Seeds per (model, fold) in the predictions (the spec declares 3).
    drop
        Rows to remove from the predictions, e.g. ``{"model": "cnn3d-small", "fold": 2}``.
    failed_unit
        ``(model, fold, seed)`` recorded as failed in the provenance (and its rows removed).
    spec_sha256
        Hash recorded in the provenance instead of the spec's own (a mismatch).
    comparison
        The spec's ``protocol.comparison.method``.
    """
    from brainbench.spec import load_spec

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20240607)
    cohort = _cohort(rng)
    splits = _splits(cohort)
    preds = _predictions(cohort, splits, rng, seeds)
    drops = []
    if drop:
        drops.append(drop)
    if failed_unit:
        drops.append({"model": failed_unit[0], "fold": failed_unit[1], "seed": failed_unit[2]})
    for d in drops:
        mask = np.ones(len(preds), dtype=bool)
        for k, v in d.items():
            mask &= (preds[k] == v).to_numpy()
        preds = preds[~mask]
    preds = preds.reset_index(drop=True)
    preds.to_parquet(path / "predictions.parquet", index=False)
    cohort.to_parquet(path / "cohort.parquet", index=False)
    splits.to_csv(path / "splits.tsv", sep="\t", index=False)
    (path / "spec.yaml").write_text(
        SPEC_YAML.replace("comparison: {method: bootstrap", f"comparison: {{method: {comparison}")
    )
    loaded = load_spec(path / "spec.yaml")
    (path / "spec.resolved.json").write_text(
        json.dumps(loaded.spec.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"
    )
    validation = {
        "valid": True,
        "files": ["spec.yaml"],
        "findings": [
            {
                "rule": "D303",
                "severity": "warning",
                "message": "'age' differs between AD and CN: SMD = +0.73",
                "file": "participants.tsv",
                "path": None,
                "line": None,
                "column": None,
                "hint": "match the classes on the covariate, or report adjusted results",
                "reference": "Austin 2009, doi:10.1002/sim.3697",
            }
        ],
        "waived": [
            {
                "rule": "D302",
                "severity": "error",
                "message": "site S3 is confounded with the label",
                "file": "spec.yaml",
                "path": "splits",
                "line": 24,
                "column": 3,
                "hint": None,
                "reference": None,
                "waiver_reason": "the fixture's sites differ in prevalence on purpose",
            }
        ],
    }
    (path / "validation.json").write_text(json.dumps(validation, indent=2) + "\n")
    units = []
    for model in MODELS:
        for fold in range(3):
            for seed in range(seeds):
                failed = failed_unit == (model, fold, seed)
                units.append(
                    {
                        "model": model,
                        "repeat": 0,
                        "fold": fold,
                        "seed": seed,
                        "status": "failed" if failed else "ok",
                        "seconds": 1.5 + fold + 0.25 * seed,
                        "log": f"logs/{model}-r0-f{fold}-s{seed}.log",
                        "error": "RuntimeError: CUDA out of memory" if failed else None,
                    }
                )
    provenance = {
        "brainbench_version": "0.1.0",
        "git_commit": "0123456789abcdef0123456789abcdef01234567",
        "spec": {
            "id": "fixture-ad-vs-cn",
            "version": "1.2.0",
            "sha256": spec_sha256 or loaded.sha256,
            "file": "spec.yaml",
        },
        "split_sha256": _sha256(path / "splits.tsv"),
        "cohort_sha256": _sha256(path / "cohort.parquet"),
        "predictions_sha256": _sha256(path / "predictions.parquet"),
        "models": [{"id": m, "version": "1.0.0"} for m in MODELS],
        "packages": {"numpy": "2.0.0", "torch": "2.3.0", "monai": "1.3.0"},
        "device": {"type": "cpu", "name": "x86_64", "cuda": None},
        "host": "fixture-host",
        "seeds": list(range(seeds)),
        "deterministic": True,
        "started": "2026-01-02T10:00:00+00:00",
        "finished": "2026-01-02T10:42:00+00:00",
        "units": units,
    }
    (path / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n")
    return path
