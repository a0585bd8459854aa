"""Fixture entries for registry tests: a tiny numpy-only model written into tmp_path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
REFERENCE_IDS = ("cnn3d-small", "demographics-logreg", "resnet3d", "voxel-linear")

MODEL_YAML = """\
brainbench-model: 1
id: {id}
version: {version}
title: Class prior (test fixture)
description: Predicts the training class frequencies; used by the registry tests.
authors:
  - name: Test Author
license: {license}
task_types: [classification, regression]
input:
  modality: T1w
  unit: image
  spatial_shape: [6, 7, 5]
  voxel_spacing: [4.0, 4.0, 4.0]
  channels: 1
  intensity_normalisation: none
framework: sklearn
entrypoint: {entrypoint}
hyperparameters:
  smoothing:
    default: 1.0
    description: Added to every class count.
resources:
  gpu: none
  expected_time:
    cpu_minutes: 0.0
    setting: anything, instantly
pretraining:
  cohorts: []
  description: None.
"""

MODEL_PY = """\
import numpy as np


class Prior:
    def __init__(self, task, smoothing):
        self.task = task
        self.smoothing = smoothing

    def fit(self, train, validation, ctx):
        if self.task.type == "classification":
            counts = np.bincount(train.labels, minlength=self.task.n_classes) + self.smoothing
            self.p = counts / counts.sum()
        else:
            self.p = float(np.mean(train.labels))

    def predict(self, inputs):
        n = len(inputs)
        if self.task.type == "classification":
            return np.tile(self.p, (n, 1))
        return np.full(n, self.p)


def build(task, hyperparameters):
    return Prior(task, hyperparameters["smoothing"])
"""

README = """\
# prior
## What it is
The class prior.
## Expected cost
None.
## Training data
None.
## References
None.
"""

CHANGELOG = """\
# Changelog
## [{version}] - 2026-11-26
- First version.
"""


def write_entry(
    parent: Path,
    entry_id: str = "prior",
    *,
    version: str = "1.0.0",
    license: str = "MIT",
    entrypoint: str = "model:build",
    model_py: str | None = MODEL_PY,
    yaml_text: str | None = None,
    readme: str | None = README,
    changelog: str | None = CHANGELOG,
) -> Path:
    """Write a registry entry folder ``parent/entry_id`` and return it."""
    folder = parent / entry_id
    folder.mkdir(parents=True, exist_ok=True)
    if yaml_text is None:
        yaml_text = MODEL_YAML.format(
            id=entry_id, version=version, license=license, entrypoint=entrypoint
        )
    (folder / "model.yaml").write_text(yaml_text)
    if model_py is not None:
        (folder / "model.py").write_text(textwrap.dedent(model_py))
    if readme is not None:
        (folder / "README.md").write_text(readme)
    if changelog is not None:
        (folder / "CHANGELOG.md").write_text(changelog.format(version=version))
    return folder


@pytest.fixture
def entry(tmp_path: Path) -> Path:
    """A valid fixture entry under ``tmp_path/registry/models/prior``."""
    return write_entry(tmp_path / "registry" / "models")
