"""The registry entry format (``registry/models/<id>/model.yaml``), version 1.

Strict pydantic v2 models (unknown keys are errors) with a description on every field; the JSON
Schema generated from them ships as ``spec/schema/model-1.schema.json`` (regenerate it with
``brainbench registry schema > spec/schema/model-1.schema.json``).
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FORMAT_VERSION = 1
SCHEMA_ID = "https://brainbench.dev/schema/model-1.schema.json"

SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
ENTRY_ID = r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$"
ENTRYPOINT = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$"
SPDX_EXPR = r"^[A-Za-z0-9.+-]+( (AND|OR|WITH) [A-Za-z0-9.+-]+)*$"
SHA256 = r"^[0-9a-f]{64}$"
DOI = r"^10\.\d{4,9}/\S+$"

#: Training-recipe fields passed to the model factory among its hyper-parameters.
RECIPE_KEYS = (
    "epochs",
    "batch_size",
    "optimiser",
    "learning_rate",
    "weight_decay",
    "patience",
    "augmentation",
    "intensity_normalisation",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Author(_Strict):
    """A person (or group) credited for the entry."""

    name: str = Field(min_length=1, description="Full name, or the name of a group.")
    affiliation: str | None = Field(None, description="Institution.")
    email: str | None = Field(None, description="Contact address for questions about the entry.")
    orcid: str | None = Field(
        None, pattern=r"^\d{4}-\d{4}-\d{4}-\d{3}[\dX]$", description="ORCID iD (0000-0000-...)."
    )


class Reference(_Strict):
    """A publication the model comes from or is described in."""

    text: str = Field(min_length=1, description="Citation in free text (authors, year, venue).")
    doi: str | None = Field(None, pattern=DOI, description="DOI without the https prefix.")
    url: str | None = Field(None, description="Link when there is no DOI.")


class InputContract(_Strict):
    """What the model expects to receive: one array of shape (channels, X, Y, Z) per image."""

    modality: str = Field(
        min_length=1,
        description="Image modality or derived map the model was designed for (BIDS suffix or "
        "derivative name): T1w, FLAIR, PET, T1w-graymatter...",
    )
    unit: Literal["image", "slice", "patch", "roi"] = Field(
        "image", description="What one input is: a whole image, a 2D slice, a 3D patch, a region."
    )
    spatial_shape: tuple[int, int, int] = Field(
        description="Spatial shape (X, Y, Z) in voxels that the entry is checked with; the "
        "forward-pass check of `brainbench registry check` uses it (unit slice: slices of "
        "X x Y; patch and roi: inputs of X x Y x Z)."
    )
    shape_policy: Literal["any", "exact"] = Field(
        "any",
        description="'any': the model adapts to the spatial shape it is given (TaskInfo); "
        "'exact': the runner must resample or crop images to `spatial_shape`.",
    )
    voxel_spacing: tuple[float, float, float] = Field(
        description="Voxel size in mm (X, Y, Z) the model was designed for."
    )
    channels: int = Field(1, ge=1, description="Number of channels (images stacked per input).")
    intensity_normalisation: Literal["none", "zscore-image", "zscore-train", "minmax-image"] = (
        Field(
            "zscore-image",
            description="Intensity normalisation the model applies itself: 'zscore-image' per "
            "image, 'zscore-train' with statistics fitted on the training partition only, "
            "'minmax-image' to [0, 1] per image, or 'none'.",
        )
    )

    @field_validator("spatial_shape")
    @classmethod
    def _positive_shape(cls, v: tuple[int, int, int]) -> tuple[int, int, int]:
        if any(s < 1 for s in v):
            raise ValueError(f"every dimension must be at least 1, got {list(v)}")
        return v

    @field_validator("voxel_spacing")
    @classmethod
    def _positive_spacing(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(s <= 0 for s in v):
            raise ValueError(f"every spacing must be positive, got {list(v)}")
        return v


class SearchRange(_Strict):
    """A numeric search interval for a hyper-parameter."""

    low: float = Field(description="Lower bound (inclusive).")
    high: float = Field(description="Upper bound (inclusive).")
    log: bool = Field(False, description="Sample on a log scale.")

    @model_validator(mode="after")
    def _ordered(self) -> SearchRange:
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) is below low ({self.low})")
        if self.log and self.low <= 0:
            raise ValueError("a log-scale range needs low > 0")
        return self


Scalar = str | int | float | bool | None


class HyperParameter(_Strict):
    """One hyper-parameter: its default and, optionally, where a search may look."""

    default: Scalar | list[Scalar] = Field(
        description="Value used unless the benchmark or the user overrides it."
    )
    description: str = Field(min_length=1, description="What it controls.")
    search: list[Scalar | list[Scalar]] | SearchRange | None = Field(
        None,
        description="Search space for tuning on the validation partition: a list of choices or "
        "a numeric range. Omit when the parameter is not tuned.",
    )


class EarlyStopping(_Strict):
    """Early stopping; it only ever looks at the validation partition."""

    monitor: Literal["validation-loss"] = Field(
        "validation-loss",
        description="Quantity watched on the validation partition (never the test partition).",
    )
    patience: int = Field(ge=1, description="Epochs without improvement before stopping.")
    restore_best: bool = Field(True, description="Restore the weights of the best epoch.")


class TrainingRecipe(_Strict):
    """How the model is trained; values reach the factory among the hyper-parameters."""

    epochs: int = Field(ge=1, description="Maximum number of epochs.")
    batch_size: int = Field(ge=1, description="Images per optimisation step.")
    optimiser: Literal["adam", "adamw", "sgd"] = Field(description="Optimiser.")
    learning_rate: float = Field(gt=0, description="Initial learning rate.")
    weight_decay: float = Field(0.0, ge=0, description="Weight decay (L2 penalty).")
    early_stopping: EarlyStopping | None = Field(
        None, description="Early stopping on the validation partition; omit to train all epochs."
    )
    augmentation: list[str] = Field(
        default_factory=list,
        description="Augmentations applied to training images only (e.g. 'flip-x'); empty: none.",
    )


class ExpectedTime(_Strict):
    """Measured cost of one fit, with the setting it was measured in."""

    cpu_minutes: float | None = Field(None, ge=0, description="Minutes per fit on CPU.")
    gpu_minutes: float | None = Field(None, ge=0, description="Minutes per fit on one GPU.")
    setting: str = Field(
        min_length=1,
        description="What the figures were measured on: number and shape of images, epochs, "
        "hardware.",
    )


class Resources(_Strict):
    """What one fit needs."""

    gpu: Literal["none", "optional", "required"] = Field(
        "optional", description="Whether a GPU is needed."
    )
    gpu_memory_gb: float | None = Field(
        None, ge=0, description="Peak GPU memory of one fit in GiB (at the declared shape)."
    )
    cpu_memory_gb: float | None = Field(None, ge=0, description="Peak host memory in GiB.")
    expected_time: ExpectedTime = Field(description="Measured time of one fit.")


class Pretraining(_Strict):
    """The data the model saw before the benchmark (validate's rule L104 reads it)."""

    cohorts: list[str] = Field(
        description="Datasets or cohorts used for pretraining or to produce the weights, by "
        "their usual id (e.g. 'adni', 'ukbb', 'oasis3'); an empty list means none: the model "
        "is trained from scratch on the benchmark's training partition only."
    )
    description: str = Field(
        min_length=1,
        description="Free-text statement of what was seen (subjects, images, tasks).",
    )


class Weights(_Strict):
    """Pretrained weights to fetch before use (never downloaded by the tests)."""

    url: str = Field(pattern=r"^https?://", description="Download location.")
    sha256: str = Field(pattern=SHA256, description="SHA-256 of the file, lower-case hex.")
    size_mb: float | None = Field(None, ge=0, description="Size of the file in MB.")


class ModelEntry(_Strict):
    """A model of the brainbench registry (``registry/models/<id>/model.yaml``)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        json_schema_extra={"$id": SCHEMA_ID},
        title="brainbench model entry",
    )

    brainbench_model: Literal[1] = Field(
        alias="brainbench-model", description="Format version of the entry file (1)."
    )
    id: str = Field(
        pattern=ENTRY_ID,
        description="Registry id: lower-case letters, digits and dashes; equals the folder name.",
    )
    version: str = Field(
        pattern=SEMVER.pattern,
        description="Semantic version of the entry; bump it (with a CHANGELOG.md entry) on every "
        "change. Major: predictions change for the same data and seed.",
    )
    title: str = Field(min_length=1, description="One-line name of the model.")
    description: str = Field(min_length=1, description="A paragraph: what the model is.")
    authors: list[Author] = Field(min_length=1, description="Who wrote the entry.")
    license: str = Field(
        pattern=SPDX_EXPR,
        description="SPDX licence identifier or expression of the entry's code and weights "
        "(e.g. Apache-2.0, MIT, BSD-3-Clause).",
    )
    references: list[Reference] = Field(
        default_factory=list, description="Publications to cite when using the model."
    )
    task_types: list[Literal["classification", "regression", "segmentation"]] = Field(
        min_length=1, description="Task types the model supports."
    )
    input: InputContract = Field(description="The input contract.")
    framework: Literal["torch", "sklearn"] = Field(description="Library the model is built on.")
    entrypoint: str = Field(
        pattern=ENTRYPOINT,
        description="'module:factory'. The module is a Python file of the entry's folder "
        "(dots for sub-folders); the factory is called as factory(task: TaskInfo, "
        "hyperparameters: dict) and returns an object with fit() and predict().",
    )
    hyperparameters: dict[str, HyperParameter] = Field(
        default_factory=dict, description="Hyper-parameters by name, with defaults."
    )
    training: TrainingRecipe | None = Field(
        None, description="Training recipe; required for torch models."
    )
    resources: Resources = Field(description="Expected cost of one fit.")
    pretraining: Pretraining = Field(
        description="Training-data declaration: what the model saw before the benchmark."
    )
    weights: Weights | None = Field(None, description="Pretrained weights, if any.")
    tags: list[str] = Field(default_factory=list, description="Free keywords for search.")

    @field_validator("task_types")
    @classmethod
    def _unique_tasks(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("task types are listed twice")
        return v

    @model_validator(mode="after")
    def _consistency(self) -> ModelEntry:
        if self.framework == "torch" and self.training is None:
            raise ValueError("a torch model needs a 'training' recipe")
        clash = sorted(set(self.hyperparameters) & set(RECIPE_KEYS))
        if clash and self.training is not None:
            raise ValueError(
                f"hyper-parameter(s) {clash} clash with the training recipe's fields; "
                "set them under 'training'"
            )
        if "intensity_normalisation" in self.hyperparameters:
            raise ValueError(
                "'intensity_normalisation' is set under 'input', not as a hyper-parameter"
            )
        if self.weights is not None and not self.pretraining.cohorts:
            raise ValueError(
                "weights are declared but 'pretraining.cohorts' is empty: list the data the "
                "weights were trained on"
            )
        return self

    @property
    def module(self) -> str:
        """The module part of the entrypoint."""
        return self.entrypoint.split(":")[0]

    @property
    def factory(self) -> str:
        """The factory part of the entrypoint."""
        return self.entrypoint.split(":")[1]

    def default_hyperparameters(self) -> dict[str, Any]:
        """The flat dict the factory receives by default.

        ``intensity_normalisation`` (from ``input``), the training recipe's fields (``epochs``,
        ``batch_size``, ``optimiser``, ``learning_rate``, ``weight_decay``, ``patience`` (None
        without early stopping), ``augmentation``) when there is a recipe, then every
        hyper-parameter's default.
        """
        out: dict[str, Any] = {"intensity_normalisation": self.input.intensity_normalisation}
        if self.training is not None:
            out.update(
                epochs=self.training.epochs,
                batch_size=self.training.batch_size,
                optimiser=self.training.optimiser,
                learning_rate=self.training.learning_rate,
                weight_decay=self.training.weight_decay,
                patience=(
                    self.training.early_stopping.patience
                    if self.training.early_stopping is not None
                    else None
                ),
                augmentation=list(self.training.augmentation),
            )
        for name, hp in self.hyperparameters.items():
            out[name] = hp.default
        return out


def parse_version(version: str) -> tuple[tuple[int, int, int], tuple[Any, ...]]:
    """A sortable key of a semantic version (release before pre-release, SemVer 2.0 rule 11)."""
    m = SEMVER.match(version)
    if m is None:
        raise ValueError(f"not a semantic version: '{version}'")
    core = (int(m.group(1)), int(m.group(2)), int(m.group(3)))
    pre = m.group(4)
    if pre is None:
        return core, (1,)
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return core, (0, *parts)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the entry format (draft 2020-12)."""
    schema = ModelEntry.model_json_schema(by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def json_schema_text() -> str:
    """The JSON Schema as shipped in ``spec/schema/model-1.schema.json``."""
    return json.dumps(json_schema(), indent=2, sort_keys=False) + "\n"


__all__ = [
    "FORMAT_VERSION",
    "RECIPE_KEYS",
    "Author",
    "EarlyStopping",
    "ExpectedTime",
    "HyperParameter",
    "InputContract",
    "ModelEntry",
    "Pretraining",
    "Reference",
    "Resources",
    "SearchRange",
    "TrainingRecipe",
    "Weights",
    "json_schema",
    "json_schema_text",
    "parse_version",
]
