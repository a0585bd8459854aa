"""``result.yaml``: the card of a results entry (predictions made elsewhere, docs/results.md).

A card says what the predictions are of and where they come from: the benchmark and version,
the sha256 of the frozen split they were made on, the method, the data it was trained and
pretrained on, the compute, the licence of the predictions and whom to ask. Every field is
required except the free-text ones: a field left out is a finding of ``brainbench results
check`` naming its line, never a silent gap on the leaderboard.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import Field

from brainbench.spec.models import StrictModel

CARD_FILE = "result.yaml"
_NAME = r"^[A-Za-z0-9][A-Za-z0-9._+-]*$"


class BenchmarkRef(StrictModel):
    """The benchmark the predictions are for."""

    id: str = Field(pattern=_NAME, description="The benchmark's id (its spec's `id`).")
    version: str = Field(min_length=1, description="Its spec's `version`.")


class Method(StrictModel):
    """What made the predictions."""

    name: str = Field(
        pattern=_NAME,
        max_length=100,
        description="The model name: the `model` column of every prediction row.",
    )
    description: str = Field(min_length=1, description="One or two sentences: architecture, input.")
    code: str = Field(
        min_length=1,
        description="Where the code is (a repository, a DOI), or 'not shared' and why.",
    )
    weights: str = Field(
        "not shared",
        min_length=1,
        description="Where the trained weights are, or 'not shared' (the default).",
    )


class TrainingData(StrictModel):
    """One data set the model was trained (or tuned) on."""

    name: str = Field(
        min_length=1,
        description="A cohort id of the benchmark (its training partitions), or another data set.",
    )
    partitions: list[Literal["train", "validation"]] = Field(
        default_factory=lambda: ["train", "validation"],
        description="For a cohort of the benchmark: the split's partitions used (never test).",
    )
    subjects: str | None = Field(
        None,
        description="A TSV/CSV of the subjects trained on (participant_id, optionally fold and "
        "repeat), relative to the card: checked against the split's test subjects.",
    )


class PretrainingData(StrictModel):
    """Data a model saw before training (transfer learning, self-supervision)."""

    name: str = Field(min_length=1, description="The data set's name, e.g. UK Biobank.")
    description: str | None = Field(None, description="What was learnt from it.")


class Compute(StrictModel):
    """What training took."""

    hardware: str = Field(min_length=1, description="e.g. '1x NVIDIA A100 40 GB'.")
    hours: float | None = Field(None, ge=0, description="Wall-clock hours of training, all folds.")


class Contact(StrictModel):
    """Whom to ask about the predictions."""

    name: str = Field(min_length=1, description="A person or a group.")
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", description="Where to write.")


class ResultCard(StrictModel):
    """The card of a results entry (``results/<benchmark>/<entry>/result.yaml``)."""

    result: Literal[1] = Field(description="Format version of the card: 1.")
    benchmark: BenchmarkRef = Field(description="The benchmark the predictions are for.")
    split_sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description="sha256 of the frozen split file the predictions were made on.",
    )
    predictions: str = Field(
        min_length=1,
        description="The predictions table (CSV, TSV or Parquet), relative to the card.",
    )
    method: Method = Field(description="What made the predictions.")
    training_data: list[TrainingData] = Field(
        min_length=1, description="Every data set trained or tuned on."
    )
    pretraining: list[PretrainingData] = Field(
        description="Data seen before training; an empty list [] when none (say so explicitly)."
    )
    compute: Compute = Field(description="What training took.")
    license: str = Field(min_length=1, description="Licence of the predictions (SPDX id).")
    contact: Contact = Field(description="Whom to ask about the predictions.")


def json_schema_text() -> str:
    """The JSON Schema of result.yaml, as shipped in ``spec/schema/result-1.schema.json``
    (regenerate with ``brainbench results schema > spec/schema/result-1.schema.json``)."""
    schema = ResultCard.model_json_schema()
    return (
        json.dumps({"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}, indent=2)
        + "\n"
    )


SKELETON = """\
# yaml-language-server: $schema=../../../spec/schema/result-1.schema.json
# A results entry of brainbench: predictions made elsewhere on a benchmark's frozen split.
# Check it with `brainbench results check {folder}` (see CONTRIBUTING.md, "Submitting results").
result: 1
benchmark: {{id: {benchmark}, version: {version}}}
split_sha256: {split_sha256}
predictions: {predictions}
method:
  name: {name}
  description: TODO one or two sentences (architecture, input, output)
  code: TODO a repository or DOI, or 'not shared' and why
  weights: not shared
training_data:
  # A cohort of the benchmark (its train and validation partitions), or another data set;
  # 'subjects' (a TSV with participant_id, optionally fold) is checked against the test set.
  - {{name: {cohort}, partitions: [train, validation]}}
pretraining: []  # data seen before training, e.g. [{{name: UK Biobank}}]; [] when none
compute: {{hardware: TODO e.g. 1x NVIDIA A100, hours: null}}
license: CC-BY-4.0
contact: {{name: TODO, email: TODO@example.org}}
"""
