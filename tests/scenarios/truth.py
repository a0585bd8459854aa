"""Run folders with a known truth, for the scenario matrix of the evidence sheet.

``make_run(path, Scenario(...))`` writes what ``brainbench run`` writes (predictions.parquet,
spec.yaml, provenance.json) for a design whose ground truth fixes the answer: the ``signal``
model sees the label (classification: right with probability ``accuracy``; regression: the
target plus N(0, 2^2) noise), the ``noise`` model and the demographics baseline do not (random
labels, or the cohort mean plus N(0, 8^2)). Every draw comes from a seeded generator.

The predictions are built directly, not trained: what these scenarios test is the sheet's
reading of a design (direction, status, primary cohort, deviations), not the runner.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SIGNAL, NOISE, BASELINE = "signal", "noise", "demographics-logreg"


@dataclass
class Scenario:
    """One design. ``task``: binary, 3-class or regression; ``design``: holdout, kfold (repeated
    k-fold), leave-site-out or external (external cohorts only)."""

    task: str = "binary"
    design: str = "holdout"
    models: tuple[str, ...] = (SIGNAL, NOISE, BASELINE)
    sites: int = 4
    per_site: int = 24
    external: tuple[str, ...] = ()
    primary_result: str | None = None  # YAML flow mapping, e.g. "{test_set: each-external}"
    seeds: int = 1
    accuracy: float = 0.95
    provenance: dict[str, Any] = field(default_factory=dict)
    failed: tuple[str, int, int] | None = None  # (model, fold, seed) failed
    seed: int = 0


def _classes(task: str) -> list[str]:
    return {"binary": ["CN", "AD"], "3-class": ["CN", "MCI", "AD"]}.get(task, [])


def _subjects(sc: Scenario, rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    cohorts = [("dev", sc.sites)] + [(c, 4) for c in sc.external]
    classes = _classes(sc.task)
    for cohort, n_sites in cohorts:
        for s in range(n_sites):
            for k in range(sc.per_site):
                # (k // 4) cycles the classes within every test set (even k in a holdout)
                y: Any = classes[(k // 4) % len(classes)] if classes else float(rng.uniform(55, 85))
                rows.append(
                    {
                        "cohort": cohort,
                        "site": f"{cohort}-S{s}",
                        "subject": f"sub-{cohort}{s}x{k:02d}",
                        "y_true": y,
                    }
                )
    return pd.DataFrame(rows)


def _runs(sc: Scenario, subj: pd.DataFrame) -> list[tuple[int, int, str, pd.DataFrame]]:
    """(repeat, fold, partition, rows) of every test set the design makes."""
    dev = subj[subj["cohort"] == "dev"]
    ext = [(0, 0, c, subj[subj["cohort"] == c]) for c in sc.external]
    if sc.design == "external":
        return ext
    if sc.design == "holdout":
        test = dev[dev["subject"].str[-2:].astype(int) % 2 == 0]
        return [(0, 0, "test", test), *ext]
    if sc.design == "leave-site-out":
        return [
            (0, f, "test", dev[dev["site"] == site])
            for f, site in enumerate(sorted(dev["site"].unique()))
        ] + ext
    out = []  # repeated 3-fold, 2 repeats
    ids = sorted(dev["subject"])
    for r in range(2):
        order = np.random.default_rng(100 + r).permutation(len(ids))
        for f in range(3):
            chosen = {ids[i] for i in order[f::3]}
            out.append((r, f, "test", dev[dev["subject"].isin(chosen)]))
    return out + ext


def _predict(sc: Scenario, model: str, rows: pd.DataFrame, rng: np.random.Generator) -> dict:
    n = len(rows)
    classes = _classes(sc.task)
    y = rows["y_true"].to_numpy()
    if not classes:
        if model == SIGNAL:
            return {"y_pred": y + rng.normal(0, 2, n)}
        return {"y_pred": 70 + rng.normal(0, 8, n)}
    codes = np.array([classes.index(v) for v in y])
    if model == SIGNAL:
        right = rng.random(n) < sc.accuracy
        other = (codes + rng.integers(1, len(classes), n)) % len(classes)
        pred = np.where(right, codes, other)
    else:
        pred = rng.integers(0, len(classes), n)
    out: dict[str, Any] = {"y_pred": [classes[i] for i in pred]}
    if len(classes) == 2:
        p = np.clip(0.5 + (pred - 0.5) * rng.uniform(0.1, 0.9, n), 0.01, 0.99)
        out["score"] = np.round(p, 6)
        out["score_AD"] = out["score"]
        out["score_CN"] = np.round(1 - p, 6)
    return out


def _spec(sc: Scenario, models: tuple[str, ...]) -> str:
    classes = _classes(sc.task)
    test = {
        "holdout": "{method: holdout, size: 0.25}",
        "kfold": "{method: kfold, folds: 3}",
        "leave-site-out": "{method: leave-group-out, group: site}",
        "external": "{method: external}",
    }[sc.design]
    cohorts = "  - {id: dev, role: development, source: {format: tsv, path: dev.tsv}}\n" + "".join(
        f"  - {{id: {c}, role: external-test, source: {{format: tsv, path: {c}.tsv}}}}\n"
        for c in sc.external
    )
    task = (
        f"  type: classification\n  target: diagnosis\n  classes: [{', '.join(classes)}]\n"
        if classes
        else "  type: regression\n  target: age\n"
    )
    metric = "balanced_accuracy" if classes else "mae"
    return (
        f"brainbench: 1\nid: scenario-{sc.task}-{sc.design}\nversion: 1.0.0\n"
        f"title: Scenario {sc.task} x {sc.design}\ntask:\n{task}cohorts:\n{cohorts}"
        "hierarchy: {site: site, subject: participant_id, session: null}\n"
        f"splits:\n  group: subject\n  test: {test}\n  validation: {{method: none}}\n"
        f"  repeats: {2 if sc.design == 'kfold' else 1}\n  seed: 1\n"
        f"protocol:\n  primary_metric: {metric}\n  unit_of_analysis: subject\n"
        "  confidence:\n    {method: hierarchical-bootstrap, resamples: 200,\n"
        "     clusters: [site, subject]}\n"
        "  comparison: {method: bootstrap, alpha: 0.05, correction: holm, margin: 0.0}\n"
        f"  seeds: {sc.seeds}\n  models: [{', '.join(models)}]\n"
        + (f"  primary_result: {sc.primary_result}\n" if sc.primary_result else "")
    )


def make_run(path: Path, sc: Scenario, models: tuple[str, ...] | None = None) -> Path:
    """Write one run folder of ``sc`` (only ``models``, default all) into ``path``."""
    from brainbench.spec import load_spec

    models = models or sc.models
    rng = np.random.default_rng(sc.seed)
    subj = _subjects(sc, rng)
    frames, units = [], []
    for model in sc.models:  # draw every model, so that a subset gets the same numbers
        for repeat, fold, part, rows in _runs(sc, subj):
            for seed in range(sc.seeds):
                pred = _predict(sc, model, rows, rng)
                failed = sc.failed == (model, fold, seed)
                if model not in models:
                    continue
                units.append(
                    {
                        "model": model,
                        "repeat": repeat,
                        "fold": fold,
                        "seed": seed,
                        "status": "failed" if failed else "ok",
                        "error": "RuntimeError: out of memory" if failed else None,
                        "device": sc.provenance.get("unit_devices", {}).get(model, "cpu"),
                    }
                )
                if failed:
                    continue
                frames.append(
                    rows.assign(
                        model=model, repeat=repeat, fold=fold, seed=seed, partition=part, **pred
                    )
                )
    path.mkdir(parents=True, exist_ok=True)
    df = pd.concat(frames, ignore_index=True).drop_duplicates(
        ["model", "repeat", "fold", "seed", "partition", "subject"]
    )
    df.to_parquet(path / "predictions.parquet", index=False)
    (path / "spec.yaml").write_text(_spec(sc, sc.models))
    loaded = load_spec(path / "spec.yaml")
    prov = {
        "brainbench_version": "0.1.0",
        "spec": {"id": loaded.spec.id, "version": "1.0.0", "sha256": loaded.sha256},
        "models": [{"id": m, "version": "1.0.0"} for m in models],
        "device": {"type": sc.provenance.get("device", "cpu"), "name": "x86_64"},
        "amp": sc.provenance.get("amp", False),
        "max_epochs": sc.provenance.get("max_epochs"),
        "hyperparameters": sc.provenance.get("hyperparameters", {}),
        "seeds": {"count": sc.provenance.get("seeds", sc.seeds)},
        "deviations": sc.provenance.get("deviations", []),
        "units": units,
    }
    (path / "provenance.json").write_text(json.dumps(prov, indent=2) + "\n")
    (path / "validation.json").write_text(json.dumps({"valid": True, "findings": []}) + "\n")
    return path
