"""The spec language, format version 1, as pydantic v2 models.

Every model forbids unknown keys (a typo is an error, never silently ignored) and every field
carries a description, which becomes the JSON Schema that editors use for completion.
"""

from __future__ import annotations

import itertools
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from brainbench._limits import MAX_REPEATS, MAX_RESAMPLES, MAX_SEED

FORMAT_VERSION = 1

Level = Literal["dataset", "site", "scanner", "subject", "session", "image"]
LEVELS: tuple[str, ...] = ("dataset", "site", "scanner", "subject", "session", "image")
"""Hierarchy levels from outer to inner."""
#: Nesting tiers of the levels: dataset, site and scanner may nest either way round (a
#: scanner shared by two sites), subjects in them, sessions in subjects, images in sessions.
LEVEL_TIERS = {"dataset": 0, "site": 0, "scanner": 0, "subject": 1, "session": 2, "image": 3}


def clusters_out_of_order(clusters: list[str] | tuple[str, ...]) -> list[str] | None:
    """``None`` when ``clusters`` are listed outer first, else the order to give them in."""
    tier = [LEVEL_TIERS.get(c, 0) for c in clusters]
    if all(a <= b for a, b in itertools.pairwise(tier)):
        return None
    return sorted(clusters, key=lambda c: LEVEL_TIERS.get(c, 0))


CLASSIFICATION_METRICS: tuple[str, ...] = (
    "balanced_accuracy",
    "accuracy",
    "sensitivity",
    "specificity",
    "ppv",
    "npv",
    "f1",
    "mcc",
    "auroc",
    "average_precision",
    "brier",
    "log_loss",
    "ece",
    "ece_debiased",
)
REGRESSION_METRICS: tuple[str, ...] = ("mae", "rmse", "r2", "pearson_r")
#: Per-case segmentation metrics (names of ``brainbench.segmentation``; hd95: 95th percentile
#: Hausdorff distance, nsd: normalised surface distance at ``tolerance_mm``).
SEGMENTATION_METRICS: tuple[str, ...] = (
    "dice",
    "iou",
    "hd95",
    "hd",
    "assd",
    "nsd",
    "volume-error",
    "abs-volume-error",
    "relative-volume-error",
    "lesion-f1",
)
# Literal over the tuples (a tuple subscript spreads into the Literal's values).
_ALL_METRICS = CLASSIFICATION_METRICS + REGRESSION_METRICS + SEGMENTATION_METRICS
MetricName = Literal[_ALL_METRICS]  # type: ignore[valid-type]
SegmentationMetricName = Literal[SEGMENTATION_METRICS]  # type: ignore[valid-type]
#: Confidence-interval methods of the spec and of `evaluate/compare --interval` (one list).
IntervalName = Literal[
    "percentile",
    "bca",
    "cluster-bootstrap-t",
    "wild-cluster-rademacher",
    "wild-cluster-webb",
    "cr2",
    "mixed-satterthwaite",
    "calibrated",
]
#: The studentised site-level interval methods (the statistics engine resamples or perturbs the
#: outer cluster level only), those of them that need a weighted-mean metric, and those metrics.
#: Defined here, with the names, so that S204 reads them without importing the engine.
STUDENTISED_INTERVALS = (
    "cluster-bootstrap-t",
    "wild-cluster-rademacher",
    "wild-cluster-webb",
    "cr2",
    "mixed-satterthwaite",
)
MEAN_FORM_INTERVALS = ("wild-cluster-rademacher", "wild-cluster-webb", "cr2", "mixed-satterthwaite")
MEAN_FORM_METRICS = ("accuracy", "balanced_accuracy", "sensitivity", "specificity", "mae", "brier")
ComparisonMethod = Literal[
    "paired-t",
    "corrected-t",
    "corrected-repeated-kfold-t",
    "delong",
    "mcnemar",
    "bootstrap",
    "mixed",
    "bayes",
    "wilcoxon",
    "probability",
]
Fit = Literal["train", "train+validation", "all"]
Tuned = Literal["none", "validation", "test"]

FieldRef = Annotated[
    str | Annotated[list[str], Field(min_length=1)],
    Field(
        description="A column of the cohort table (participants.tsv, sessions.tsv, a manifest) "
        "or a BIDS sidecar field (e.g. InstitutionName); a list of fields is joined into one id "
        "(e.g. [Manufacturer, ManufacturersModelName, MagneticFieldStrength] for a scanner)."
    ),
]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GrownModel(StrictModel):
    """A model that gained fields after format 1 was published: a field of ``ADDED`` left at its
    default is not dumped, so the spec's sha256 (recorded by run folders and reports) stays
    that of earlier releases. The one way a model keeps its hash while it grows
    (``tests/spec/test_hash_stability.py`` checks every shipped spec and the committed runs)."""

    ADDED: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _omit_added_defaults(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        out = handler(self)
        for key in self.ADDED:
            if key in out and getattr(self, key) == type(self).model_fields[key].get_default(
                call_default_factory=True
            ):
                out.pop(key)
        return out


class SliceInput(StrictModel):
    """How slices are cut from each image (ClinicaDL ``prepare-data slice``; same defaults)."""

    direction: Literal["sagittal", "coronal", "axial"] = Field(
        "sagittal",
        description="Axis cut across: sagittal (first image axis), coronal (second) or axial "
        "(third), as ClinicaDL's slice_direction 0, 1, 2.",
    )
    discarded: tuple[Annotated[int, Field(ge=0)], Annotated[int, Field(ge=0)]] = Field(
        (0, 0),
        description="Slices dropped at the beginning and at the end of that axis (ClinicaDL's "
        "discarded_slices).",
    )
    mode: Literal["rgb", "single"] = Field(
        "rgb",
        description="'rgb': each slice repeated on 3 channels (for 2D networks pretrained on "
        "photographs), 'single': one channel per image channel (ClinicaDL's slice_mode).",
    )


class PatchInput(StrictModel):
    """How cubic patches are cut from each image (ClinicaDL ``prepare-data patch``)."""

    size: int = Field(50, ge=1, description="Edge of a cubic patch in voxels.")
    stride: int = Field(
        50, ge=1, description="Step between patch origins in voxels (smaller than size: overlap)."
    )


class RoiInput(StrictModel):
    """Regions of interest: binary masks, or labels of an atlas, on the images' voxel grid."""

    masks: list[str] | None = Field(
        None,
        min_length=1,
        description="Binary mask files (NIfTI, 0/1, the images' shape), one region each; "
        "relative paths are resolved from the spec's folder.",
    )
    atlas: str | None = Field(
        None,
        description="A label atlas (NIfTI, the images' shape) whose `labels` are the regions.",
    )
    labels: list[int] | None = Field(
        None, min_length=1, description="Atlas labels used as regions (with `atlas`)."
    )
    names: list[str] | None = Field(
        None,
        min_length=1,
        description="ClinicaDL region names (e.g. leftHippocampusBox): masks read from the caps "
        "cohort's masks/tpl-<template>/ folder as ClinicaDL finds them "
        "(*_roi-<name>_mask.nii*, desc-Crop ones for cropped images, the shortest name).",
    )
    template: str = Field(
        "MNI152NLin2009cSym",
        description="With `names`: the template of the masks folder (ClinicaDL's for "
        "t1-linear and pet-linear).",
    )
    crop: bool = Field(
        True,
        description="Crop each region to its bounding box (ClinicaDL's default); false keeps the "
        "whole masked image. Boxes of different sizes are zero-padded to the largest.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> RoiInput:
        if [self.masks, self.atlas, self.names].count(None) != 2:
            raise ValueError(
                "give one of 'masks', 'atlas' (with 'labels') or 'names' (ClinicaDL's CAPS masks)"
            )
        if self.atlas is not None and not self.labels:
            raise ValueError("'atlas' needs 'labels': the atlas values used as regions")
        if self.masks is not None and self.labels is not None:
            raise ValueError("'labels' goes with 'atlas', not with 'masks'")
        return self


class InputSpec(GrownModel):
    """What a model sees."""

    ADDED: ClassVar[tuple[str, ...]] = ("slices", "patches", "roi", "aggregation")

    modality: str = Field("T1w", description="Imaging modality (BIDS suffix): T1w, FLAIR, pet...")
    unit: Literal["image", "slice", "patch", "roi"] = Field(
        "image",
        description="What one model input is: a whole 3D image, a 2D slice, a 3D patch or a "
        "region of interest. Slices and patches of one image must never be split apart (L101).",
    )
    slices: SliceInput | None = Field(
        None, description="unit: slice only: direction, discarded slices, channels."
    )
    patches: PatchInput | None = Field(None, description="unit: patch only: size and stride.")
    roi: RoiInput | None = Field(
        None, description="unit: roi (required there): the regions, from masks or an atlas."
    )
    aggregation: Literal["mean", "weighted"] = Field(
        "mean",
        description="How the runner turns a model's per-unit outputs into one prediction per "
        "image: 'mean' (soft vote: mean of the class probabilities; mean value for "
        "regression) or 'weighted' (ClinicaDL's soft voting: each unit position weighted by "
        "its accuracy on the validation partition; classification only).",
    )

    @model_validator(mode="after")
    def _unit_options(self) -> InputSpec:
        for name, unit in (("slices", "slice"), ("patches", "patch"), ("roi", "roi")):
            if getattr(self, name) is not None and self.unit != unit:
                raise ValueError(f"'{name}' is for unit: {unit}, the unit is {self.unit}")
        if self.unit == "roi" and self.roi is None:
            raise ValueError("unit: roi needs 'roi' (masks, or an atlas with labels)")
        return self


class SegmentationLabel(StrictModel):
    """One label of the reference masks: its voxel value and its name."""

    value: int = Field(ge=1, le=255, description="Voxel value in the masks (0 is background).")
    name: str = Field(
        pattern=r"^[A-Za-z][A-Za-z0-9_-]*$", description="Label name, e.g. csf, wmh, lesion."
    )
    kind: Literal["structure", "lesion"] = Field(
        "structure",
        description="structure: one connected object per image (tissue, hippocampus); lesion: "
        "instance-like, any number of separate objects (white-matter hyperintensities, "
        "metastases), for which Metrics Reloaded asks a detection metric (lesion-f1).",
    )


def _label_list(value: Any) -> Any:
    """``{1: csf, 4: {name: wmh, kind: lesion}}`` or ``[csf, gm]`` (values 1, 2...) as a list
    of ``{value, name, kind}``; anything else is left to the field's own validation."""
    if isinstance(value, dict):
        out = []
        for key, item in value.items():
            entry = dict(item) if isinstance(item, dict) else {"name": item}
            out.append({"value": key, **entry})
        return out
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [{"value": k, "name": v} for k, v in enumerate(value, start=1)]
    return value


class _LabelBody(StrictModel):
    """A label's name and kind, the value being its key (``4: {name: wmh, kind: lesion}``)."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]*$", description="Label name.")
    kind: Literal["structure", "lesion"] = Field(
        "structure", description="structure, or lesion (instance-like)."
    )


# What a user may write for task.labels (the JSON Schema's view; _label_list normalises it).
LabelsInput = (
    dict[int, Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]*$")] | _LabelBody]
    | list[str]
    | list[SegmentationLabel]
)


class ReferenceMasks(StrictModel):
    """Where each image's reference mask (integer labels, the image's grid) is read from."""

    source: Literal["bids-derivative", "caps", "column"] = Field(
        description="bids-derivative: a BIDS derivative folder mirroring the cohort "
        "(sub-<s>/[ses-<t>/]anat/sub-<s>[_ses-<t>]_<suffix>.nii[.gz]); caps: a CAPS-like "
        "folder (subjects/sub-<s>/ses-<t>/**/sub-<s>_ses-<t>*_<suffix>.nii[.gz]); column: a "
        "column of the cohort table (a manifest) holding each mask's path."
    )
    path: str | None = Field(
        None,
        description="bids-derivative, caps: the folder, relative to each cohort's source "
        "folder (e.g. derivatives/reference) or absolute; ${VAR} expanded.",
    )
    suffix: str = Field(
        "dseg",
        pattern=r"^[A-Za-z0-9]+$",
        description="bids-derivative, caps: the mask files' suffix (BIDS dseg, mask...).",
    )
    column: str | None = Field(
        None,
        description="column: the column with each mask's path (relative paths from the "
        "manifest's folder).",
    )

    @model_validator(mode="after")
    def _fields_of_source(self) -> ReferenceMasks:
        if self.source == "column":
            if self.column is None or self.path is not None:
                raise ValueError("a 'column' reference needs 'column' (and no 'path')")
        elif self.path is None or self.column is not None:
            raise ValueError(f"a '{self.source}' reference needs 'path' (and no 'column')")
        return self


class Task(GrownModel):
    """The prediction task."""

    ADDED: ClassVar[tuple[str, ...]] = ("labels", "reference")

    type: Literal["classification", "regression", "segmentation"] = Field(
        description="Task type: classification and regression predict one value per image, "
        "segmentation one label mask per image."
    )
    target: str | None = Field(
        None,
        description="Column holding the label (classification) or value (regression); "
        "segmentation: none (the reference masks are the target).",
    )
    classes: list[str] | None = Field(
        None,
        min_length=2,
        description="Classification only: the class names, negative first; the last is the "
        "positive class for binary metrics (sensitivity, AUROC).",
    )
    input: InputSpec = Field(
        default_factory=InputSpec, description="What a model sees: modality and input unit."
    )
    labels: Annotated[
        list[SegmentationLabel] | None,
        BeforeValidator(_label_list, json_schema_input_type=LabelsInput | None),
    ] = Field(
        None,
        min_length=1,
        description="Segmentation only: the labels scored, as a mapping value -> name "
        "({1: csf, 4: {name: wmh, kind: lesion}}) or a list of names (values 1, 2...).",
    )
    reference: ReferenceMasks | None = Field(
        None, description="Segmentation only: where the reference masks are read from."
    )

    @model_validator(mode="after")
    def _classes_match_type(self) -> Task:
        if self.type == "segmentation":
            return self._segmentation()
        if self.target is None:
            raise ValueError(f"a {self.type} task needs 'target' (the column to predict)")
        if self.labels is not None or self.reference is not None:
            raise ValueError("'labels' and 'reference' are for a segmentation task")
        if self.type == "classification":
            if not self.classes:
                raise ValueError("a classification task needs 'classes' (negative first)")
            if len(set(self.classes)) != len(self.classes):
                raise ValueError("'classes' lists a class twice")
        elif self.classes is not None:
            raise ValueError("a regression task takes no 'classes'")
        if self.type == "regression" and self.input.aggregation == "weighted":
            raise ValueError(
                "input.aggregation 'weighted' weighs units by validation accuracy: "
                "classification only (use 'mean' for regression)"
            )
        return self

    def _segmentation(self) -> Task:
        if self.labels is None or self.reference is None:
            raise ValueError("a segmentation task needs 'labels' and 'reference'")
        if self.target is not None or self.classes is not None:
            raise ValueError(
                "a segmentation task takes no 'target' or 'classes' (its labels are 'labels')"
            )
        if self.input.unit != "image":
            raise ValueError("a segmentation task takes whole images (input.unit: image)")
        for what in ("value", "name"):
            seen = [getattr(label, what) for label in self.labels]
            twice = sorted({str(v) for v in seen if seen.count(v) > 1})
            if twice:
                raise ValueError(f"labels: {what} {', '.join(twice)} listed twice")
        return self


class Source(GrownModel):
    """Where a cohort's data is read from."""

    ADDED: ClassVar[tuple[str, ...]] = (
        "preprocessing", "crop", "tracer", "suvr_region", "labels", "bids", "space", "desc", "res"
    )  # fmt: skip

    format: Literal["bids", "tsv", "csv", "caps"] = Field(
        description="bids: a BIDS folder (participants.tsv, sessions.tsv, sidecars); tsv/csv: a "
        "manifest with one row per image (ClinicaDL-style TSVs included); caps: a ClinicaDL/"
        "Clinica CAPS folder of preprocessed images, with labels from `labels` or `bids`."
    )
    path: str = Field(
        description="Folder (bids, caps) or file (tsv/csv); relative to the spec file; ${VAR} "
        "and ${VAR:-default} are expanded from the environment."
    )
    image_column: str | None = Field(
        None, description="Manifests only: the column with each image's path."
    )
    preprocessing: Literal["t1-linear", "pet-linear"] | None = Field(
        None,
        description="caps: the Clinica pipeline whose images are read (subjects/sub-*/ses-*/"
        "t1_linear/ or pet_linear/).",
    )
    crop: bool = Field(
        True,
        description="caps: read the cropped images (desc-Crop, ClinicaDL's default); false "
        "reads the uncropped ones.",
    )
    tracer: str | None = Field(
        None, description="caps, pet-linear: the tracer entity (trc-), e.g. 18FFDG, 18FAV45."
    )
    suvr_region: str | None = Field(
        None,
        description="caps, pet-linear: the SUVR reference region entity (suvr-), e.g. "
        "cerebellumPons2, pons2.",
    )
    labels: str | None = Field(
        None,
        description="caps or bids: a TSV with one row per session (participant_id, session_id, "
        "diagnosis, age, sex...), such as `clinicadl tsvtools get-labels` writes, listing the "
        "sessions and their labels (images from the CAPS or BIDS folder); relative to the spec "
        "file, ${VAR} expanded.",
    )
    bids: str | None = Field(
        None,
        description="caps: the companion BIDS folder whose participants.tsv and sessions.tsv "
        "give labels and covariates (when no `labels` TSV is given).",
    )
    space: str | None = Field(
        None, description="bids (derivatives): keep only images with this space- entity."
    )
    desc: str | None = Field(
        None, description="bids (derivatives): keep only images with this desc- entity."
    )
    res: str | None = Field(
        None, description="bids (derivatives): keep only images with this res- entity."
    )

    @model_validator(mode="after")
    def _format_fields(self) -> Source:
        caps_only = ("preprocessing", "tracer", "suvr_region", "bids")
        if self.labels is not None and self.format not in ("caps", "bids"):
            raise ValueError("labels: only for format 'caps' or 'bids' (it lists the sessions)")
        entities = [f for f in ("space", "desc", "res") if getattr(self, f) is not None]
        if entities and self.format != "bids":
            raise ValueError(f"{', '.join(entities)}: only for format 'bids' (BIDS entities)")
        if self.format != "caps":
            given = [f for f in caps_only if getattr(self, f) is not None]
            if given:
                raise ValueError(f"{', '.join(given)}: only for format 'caps'")
            return self
        if self.preprocessing is None:
            raise ValueError("a caps source needs 'preprocessing' (t1-linear or pet-linear)")
        if self.labels is None and self.bids is None:
            raise ValueError(
                "a caps source needs 'labels' (a get-labels TSV) or 'bids' (the companion BIDS "
                "folder) for its labels and covariates"
            )
        pet = (self.tracer, self.suvr_region)
        if self.preprocessing == "pet-linear" and None in pet:
            raise ValueError("a pet-linear caps source needs 'tracer' and 'suvr_region'")
        if self.preprocessing == "t1-linear" and pet != (None, None):
            raise ValueError("'tracer' and 'suvr_region' are for pet-linear only")
        if self.image_column is not None:
            raise ValueError("image_column: not for format 'caps' (its file names are fixed)")
        return self


class ConversionLabel(StrictModel):
    """A label derived from the longitudinal diagnosis: stable vs converting within a horizon.

    The rules are ClinicaDL's (``clinicadl tsvtools get-labels``, ``mci_stability``; Wen et al.
    2020, Medical Image Analysis 63:101694): the subject's first session is the input image.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="The new column; `task.target` names it.",
    )
    rule: Literal["conversion"] = Field(
        "conversion",
        description="conversion: stable vs progressive from baseline within `horizon_months`.",
    )
    from_: str = Field(
        "diagnosis", alias="from", description="The column of the diagnosis at each session."
    )
    baseline: list[str] = Field(
        default_factory=lambda: ["MCI", "EMCI", "LMCI"],
        min_length=1,
        description="Diagnoses a subject must have at baseline (its first session).",
    )
    progressed: list[str] = Field(
        default_factory=lambda: ["AD", "Dementia"],
        min_length=1,
        description="Diagnoses that mean conversion (progression).",
    )
    reverted: list[str] = Field(
        default_factory=lambda: ["CN"],
        description="Diagnoses that mean reversion (such subjects are excluded).",
    )
    horizon_months: int = Field(ge=1, description="The horizon in months, e.g. 36.")
    months: str | None = Field(
        None,
        description="Column of months since baseline; default: read from session ids "
        "ses-M<months> (ses-M000, ses-M036).",
    )
    stable: str = Field("sMCI", description="Class name of the stable subjects.")
    progressive: str = Field("pMCI", description="Class name of the converting subjects.")

    @model_validator(mode="after")
    def _disjoint(self) -> ConversionLabel:
        groups = {"baseline": self.baseline, "progressed": self.progressed,
                  "reverted": self.reverted}  # fmt: skip
        seen: dict[str, str] = {}
        for key, values in groups.items():
            for v in values:
                if v in seen:
                    raise ValueError(f"diagnosis '{v}' is in both '{seen[v]}' and '{key}'")
                seen[v] = key
        if self.stable == self.progressive:
            raise ValueError("'stable' and 'progressive' must be different class names")
        return self


class Covariate(StrictModel):
    """A clinical covariate handed to the models (and the confound baseline)."""

    name: str = Field(description="Column of the cohort table, e.g. age, sex, mmse, apoe4.")
    type: Literal["numeric", "categorical"] = Field(
        description="numeric: read as a number; categorical: read as text."
    )


class Cohort(StrictModel):
    """One cohort: a data set playing a role in the benchmark."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="Short unique id.")
    role: Literal["development", "external-test"] = Field(
        description="development: split into train/validation/test; external-test: only ever "
        "predicted, never trained or tuned on."
    )
    source: Source = Field(description="Where the data is read from.")
    include: str | None = Field(
        None,
        description="Row filter in brainbench's safe expression language, e.g. "
        "\"diagnosis in ['CN', 'AD'] and age >= 55\" (and, or, not, in, is missing, comparisons).",
    )
    description: str | None = Field(None, description="Free text.")

    @field_validator("include")
    @classmethod
    def _filter_parses(cls, value: str | None) -> str | None:
        if value is not None:
            from brainbench.spec.filter import FilterError, parse_filter

            try:
                parse_filter(value)
            except FilterError as exc:
                raise ValueError(exc.message.replace("\n", " | ")) from None
        return value


class Hierarchy(GrownModel):
    """Where each level's id comes from, outer to inner. A level left out is absent."""

    ADDED: ClassVar[tuple[str, ...]] = ("shared_sites",)

    dataset: FieldRef | None = Field(
        None, description="Dataset id column or field; default: the cohort id."
    )
    site: FieldRef | None = Field(None, description="Acquisition site.")
    scanner: FieldRef | None = Field(None, description="Scanner (nested in a site).")
    subject: FieldRef = Field("participant_id", description="Subject (participant) id.")
    session: FieldRef | None = Field("session_id", description="Session (visit) id.")
    shared_sites: bool = Field(
        False,
        description="false (default): with several cohorts, site ids are qualified by the cohort "
        "id (adni/1 and aibl/1 are different sites); true: equal site ids of different cohorts "
        "are the same site.",
    )


class SplitTest(StrictModel):
    """How the test partition is drawn."""

    method: Literal["holdout", "kfold", "leave-group-out", "external"] = Field(
        description="holdout: one test set of `size`; kfold: every group tested once over "
        "`folds`; leave-group-out: each value of `group` (e.g. site) held out in turn; external: "
        "the external-test cohorts are the only test sets."
    )
    size: float | None = Field(
        None, gt=0, lt=1, description="holdout: fraction of groups in the test set."
    )
    folds: int | None = Field(None, ge=2, description="kfold: number of outer folds.")
    group: Level | None = Field(None, description="leave-group-out: the level held out.")
    sessions: Literal["all", "baseline"] = Field(
        "all",
        description="baseline: test subjects contribute only their first session (the others "
        "are dropped, never moved to training).",
    )

    @model_validator(mode="after")
    def _method_fields(self) -> SplitTest:
        if self.method == "holdout" and self.size is None:
            raise ValueError("a holdout test split needs 'size' (e.g. 0.2)")
        if self.method == "kfold" and self.folds is None:
            raise ValueError("a kfold test split needs 'folds' (e.g. 5)")
        if self.method == "leave-group-out" and self.group is None:
            raise ValueError("a leave-group-out test split needs 'group' (e.g. site)")
        return self


class SplitValidation(StrictModel):
    """How the validation partition (early stopping, model selection) is drawn from train."""

    method: Literal["holdout", "kfold", "none"] = Field(
        "holdout", description="holdout, kfold (inner folds), or none."
    )
    size: float | None = Field(
        0.2, gt=0, lt=1, description="holdout: fraction of training groups used for validation."
    )
    folds: int | None = Field(None, ge=2, description="kfold: number of inner folds.")

    @model_validator(mode="after")
    def _method_fields(self) -> SplitValidation:
        if self.method == "kfold" and self.folds is None:
            raise ValueError("a kfold validation split needs 'folds'")
        return self


class SplitFile(StrictModel):
    """The frozen split table, pinned by its hash (written by `brainbench split`)."""

    path: str = Field(description="Path of the split TSV, relative to the spec file.")
    sha256: str | None = Field(
        None,
        pattern=r"^[0-9a-f]{64}$",
        description="sha256 of the file; validate refuses a file that does not match.",
    )


class Splits(StrictModel):
    """The split protocol."""

    group: Level = Field(
        "subject",
        description="The unit never cut across partitions: subject, site or dataset. Finer "
        "levels (session, image) leak (L101).",
    )
    stratify: list[str] = Field(
        default_factory=list,
        description="Columns to balance across partitions (label, sex; numeric ones are binned).",
    )
    test: SplitTest = Field(description="How the test partition (or partitions) is drawn.")
    validation: SplitValidation = Field(
        default_factory=SplitValidation, description="How validation is drawn from training."
    )
    repeats: int = Field(
        1, ge=1, le=MAX_REPEATS, description="Repetitions of the whole split with new seeds."
    )
    seed: int = Field(ge=0, le=MAX_SEED, description="Seed of the split generator.")
    file: SplitFile | None = Field(None, description="The frozen split file and its hash.")


class Pretraining(StrictModel):
    """Data a model saw before this benchmark (transfer learning)."""

    cohorts: list[str] = Field(
        default_factory=list,
        description="Cohort ids or dataset names used for pretraining; none may be tested (L104).",
    )


class Training(StrictModel):
    """What each stage of training may look at."""

    model_selection: Literal["validation", "test", "none"] = Field(
        "validation",
        description="Partition used for early stopping and hyper-parameter choice (never test).",
    )
    fit_preprocessing_on: Fit = Field(
        "train",
        description="Partition on which intensity normalisation and augmentation statistics "
        "are fitted.",
    )
    feature_selection_on: Fit = Field(
        "train", description="Partition on which feature selection is fitted."
    )
    pretraining: Pretraining = Field(
        default_factory=Pretraining, description="Data seen before this benchmark."
    )
    ensemble_tuned_on: Tuned = Field(
        "none", description="Partition on which ensemble weights are tuned."
    )
    thresholds_tuned_on: Tuned = Field(
        "none", description="Partition on which decision thresholds are tuned."
    )


class Confidence(StrictModel):
    """Confidence intervals of every reported metric."""

    method: Literal["hierarchical-bootstrap", "bootstrap", "delong"] = Field(
        "hierarchical-bootstrap",
        description="hierarchical-bootstrap resamples `clusters` in order; bootstrap resamples "
        "units independently; delong is for AUROC on independent units.",
    )
    interval: IntervalName = Field(
        "percentile",
        description="percentile or BCa (Efron 1987) of the hierarchical bootstrap; "
        "cluster-bootstrap-t, wild-cluster-rademacher, wild-cluster-webb or cr2 (CR2 with "
        "Bell-McCaffrey df): studentised over the outer cluster level (docs/statistics.md); "
        "calibrated: the method the calibration grid chose for each metric and the test "
        "set's number of sites and subjects per site "
        "(recommended; the default stays percentile so that existing specs keep their hash).",
    )
    level: float = Field(0.95, gt=0.5, lt=1, description="Confidence level.")
    resamples: int = Field(10_000, ge=0, le=MAX_RESAMPLES, description="Bootstrap resamples.")
    clusters: list[Level] = Field(
        default_factory=list,
        description="Levels resampled by the hierarchical bootstrap, outer first "
        "(e.g. [site, subject]).",
    )


class Comparison(StrictModel):
    """How models are compared (paired, on the same splits)."""

    method: ComparisonMethod = Field(
        description="corrected-t (Nadeau & Bengio 2003), corrected-repeated-kfold-t (Bouckaert & "
        "Frank 2004), delong, mcnemar, bootstrap (paired hierarchical), mixed (mixed-effects "
        "model), bayes (correlated Bayesian t-test), wilcoxon, probability (P(A>B)); paired-t is "
        "the naive test over folds (S201)."
    )
    alpha: float = Field(0.05, gt=0, lt=0.5, description="Family-wise (or FDR) level.")
    correction: Literal["holm", "bh", "none"] = Field(
        "holm", description="Multiplicity correction: Holm (FWER) or Benjamini-Hochberg (FDR)."
    )
    margin: float = Field(
        0.0, ge=0, description="Smallest difference that matters (superiority/non-inferiority)."
    )
    hypothesis: Literal["superiority", "non-inferiority", "equivalence"] = Field(
        "superiority", description="What a comparison must show, against `margin`."
    )
    rope: float | None = Field(
        None, ge=0, description="bayes: half-width of the region of practical equivalence."
    )


class PrimaryResult(StrictModel):
    """Which test set carries the primary result when there are several (external cohorts)."""

    # Not `on`: YAML 1.1 reads a bare `on` key as the boolean true.
    test_set: Literal["test", "cohort", "each-external", "pooled-external"] = Field(
        description="test: the internal test partition; cohort: the external-test cohort named "
        "in `cohort`; each-external: every external-test cohort is a separate primary endpoint, "
        "with `correction` across them; pooled-external: the external-test cohorts pooled into "
        "one test set."
    )
    cohort: str | None = Field(None, description="test_set: cohort: the external-test cohort's id.")
    correction: Literal["holm", "bh", "none"] = Field(
        "holm",
        description="each-external: multiplicity correction across the cohorts' comparisons.",
    )

    @model_validator(mode="after")
    def _cohort_named(self) -> PrimaryResult:
        if (self.test_set == "cohort") != (self.cohort is not None):
            raise ValueError("primary_result: give `cohort` exactly when `test_set` is 'cohort'")
        return self


class Planning(StrictModel):
    """Assumptions with which the test set is planned (rule D306, ``brainbench plan``).

    The defaults are the constants D306 used before this block existed."""

    value: float | None = Field(
        None,
        description="Assumed true value of the primary metric; default 0.80 for metrics on "
        "[0, 1]. For pearson_r and r2: the assumed Pearson r (default 0.5). Not used for MAE "
        "and RMSE (see error_sd).",
    )
    site_icc: float = Field(
        0.05,
        ge=0,
        lt=1,
        description="Intra-class correlation of units within a site, scanner or dataset.",
    )
    subject_icc: float = Field(
        0.5,
        ge=0,
        lt=1,
        description="Intra-class correlation of sessions or images within a subject.",
    )
    error_sd: float | None = Field(
        None,
        gt=0,
        description="MAE, RMSE: SD of the prediction errors, in the target's units; default "
        "the SD of the target over development subjects (an upper bound: the error of "
        "predicting the mean).",
    )
    model_correlation: float = Field(
        0.5,
        gt=-1,
        lt=1,
        description="Correlation between two models' per-unit outcomes (minimal detectable "
        "difference of a paired comparison).",
    )
    power: float = Field(0.8, gt=0.5, lt=1, description="Power of the planned comparison.")
    test_subjects: int | None = Field(
        None,
        ge=2,
        description="`brainbench plan` without --data: subjects in the test set.",
    )
    test_sites: int | None = Field(
        None,
        ge=1,
        description="`brainbench plan` without --data: sites in the test set (subjects "
        "spread equally).",
    )
    sessions_per_subject: int = Field(
        1,
        ge=1,
        description="`brainbench plan` without --data: sessions per subject (used when the "
        "unit of analysis is the session or image).",
    )
    prevalence: float = Field(
        0.5,
        gt=0,
        lt=1,
        description="`brainbench plan` without --data: fraction of the test set in the "
        "positive (last) class.",
    )

    @model_validator(mode="after")
    def _sites_hold_subjects(self) -> Planning:
        sites, subjects = self.test_sites, self.test_subjects
        if sites is not None and subjects is not None and sites > subjects:
            raise ValueError(
                f"test_sites {sites} exceeds test_subjects {subjects}: every planned site "
                "holds at least one subject"
            )
        return self


class SegmentationMetric(GrownModel):
    """A segmentation metric with its parameters (``{name: nsd, tolerance_mm: 1.0}``)."""

    # Parameters left at their defaults are not dumped: a metric is hashed as its name.
    ADDED: ClassVar[tuple[str, ...]] = ("tolerance_mm", "min_overlap")

    name: SegmentationMetricName = Field(
        description="dice, iou (overlap); hd95, hd, assd, nsd (boundary, mm); volume-error, "
        "abs-volume-error (mL), relative-volume-error; lesion-f1 (detection)."
    )
    tolerance_mm: float | None = Field(
        None,
        gt=0,
        description="nsd only: the boundary tolerance in mm (Nikolov et al. 2021), chosen "
        "from the inter-rater variability of the structure.",
    )
    min_overlap: int = Field(
        1,
        ge=1,
        description="lesion-f1 only: voxels a predicted component must share with a reference "
        "component to detect it.",
    )

    @model_validator(mode="after")
    def _parameters_of_metric(self) -> SegmentationMetric:
        if self.tolerance_mm is not None and self.name != "nsd":
            raise ValueError(f"tolerance_mm is a parameter of nsd, not of {self.name}")
        if self.min_overlap != 1 and self.name != "lesion-f1":
            raise ValueError(f"min_overlap is a parameter of lesion-f1, not of {self.name}")
        return self


def _metric_entry(value: Any) -> Any:
    """A segmentation metric given as a mapping is a :class:`SegmentationMetric`."""
    return SegmentationMetric.model_validate(value) if isinstance(value, dict) else value


class Protocol(GrownModel):
    """The pre-registered statistical analysis."""

    ADDED: ClassVar[tuple[str, ...]] = ("planning", "primary_result", "primary_label")

    primary_metric: MetricName = Field(description="The one metric conclusions rest on.")
    metrics: list[Annotated[MetricName | SegmentationMetric, BeforeValidator(_metric_entry)]] = (
        Field(
            default_factory=list,
            description="Secondary metrics; segmentation metrics with parameters as mappings "
            "({name: nsd, tolerance_mm: 1.0}).",
        )
    )
    primary_label: str | None = Field(
        None,
        description="Segmentation: the label the primary metric is read on (default: the "
        "first lesion label, else the first label).",
    )
    unit_of_analysis: Literal["image", "session", "subject"] = Field(
        "subject",
        description="Level at which metrics are computed (scores of a unit's images averaged).",
    )
    confidence: Confidence = Field(default_factory=Confidence, description="Intervals.")
    comparison: Comparison | None = Field(None, description="Model comparisons, if any.")
    seeds: int = Field(1, ge=1, description="Training runs (seeds) per model and fold.")
    models: list[str] = Field(
        default_factory=list, description="Registry ids of the models this benchmark runs."
    )
    ci_half_width: float | None = Field(
        None,
        gt=0,
        description="Largest acceptable CI half-width of the primary metric, in the metric's "
        "units: on its own scale for a bounded metric (below half its range, e.g. < 0.5 for "
        "balanced accuracy), in the target's units for MAE and RMSE (checked by D306).",
    )
    primary_result: PrimaryResult | None = Field(
        None,
        description="Which test set the primary result is on; default: the internal test "
        "partition, or with `test: {method: external}` the one external-test cohort (several: "
        "each one a separate endpoint, Holm-corrected, reported as not pre-registered).",
    )
    planning: Planning = Field(
        default_factory=Planning,
        description="Assumptions for planning the test set (D306, `brainbench plan`).",
    )

    @model_validator(mode="after")
    def _half_width_on_the_metric_scale(self) -> Protocol:
        if self.ci_half_width is None:
            return self
        # Imported here: the metric table pulls in numpy/pandas, which plain specs never need.
        from brainbench.stats import metric_info

        info = metric_info(self.primary_metric)
        low, high = info.bounds
        if info.bounded and self.ci_half_width >= (high - low) / 2:
            raise ValueError(
                f"ci_half_width {self.ci_half_width:g} is not below half the range of "
                f"{self.primary_metric} [{low:g}, {high:g}]: such an interval excludes nothing"
            )
        return self

    @model_validator(mode="after")
    def _planned_value_in_range(self) -> Protocol:
        value = self.planning.value
        if value is None:
            return self
        from brainbench.stats import metric_info

        metric = self.primary_metric
        info = metric_info(metric)
        if info.in_target_units:
            raise ValueError(
                f"planning.value is not used for {metric} (in the target's units): give "
                "planning.error_sd, the SD of the prediction errors, instead"
            )
        low, high = (-1.0, 1.0) if metric in ("pearson_r", "r2") else info.bounds
        if not low < value < high:
            what = "the assumed Pearson r" if metric in ("pearson_r", "r2") else metric
            raise ValueError(
                f"planning.value {value:g} ({what}) must lie strictly inside ({low:g}, {high:g})"
            )
        return self


class Reporting(StrictModel):
    """What the evidence sheet breaks results down by."""

    breakdown: list[str] = Field(
        default_factory=list, description="Levels or columns for per-group results (site, sex)."
    )


class Waiver(GrownModel):
    """Silences one rule, with a reason that every report shows; optionally only the findings
    within a scope (cohorts, ids, fingerprints), every other finding of the rule stays."""

    ADDED: ClassVar[tuple[str, ...]] = ("cohorts", "ids", "fingerprints")

    rule: str = Field(pattern=r"^[A-Z]\d{3}$", description="Rule id, e.g. D302.")
    reason: str = Field(min_length=10, description="Why the rule does not apply here.")
    cohorts: list[str] | None = Field(
        None,
        min_length=1,
        description="Only findings about these cohorts (ids, or dataset names for pretraining); "
        "a finding that names no cohort, or another one, stays.",
    )
    ids: list[str] | None = Field(
        None,
        min_length=1,
        description="Only findings about these subject or image ids (e.g. a known reuse of a "
        "subject id by two cohorts); a finding naming any other id stays.",
    )
    fingerprints: list[Annotated[str, Field(pattern=r"^[0-9a-f]{12}$")]] | None = Field(
        None,
        min_length=1,
        description="Only the findings with these fingerprints (printed by `brainbench "
        "validate` under each finding).",
    )


class Spec(GrownModel):
    """A brainbench benchmark spec."""

    ADDED: ClassVar[tuple[str, ...]] = ("labels", "covariates")

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title="brainbench benchmark spec (format 1)",
        json_schema_extra={"$id": "https://brainbench.dev/schema/brainbench-1.schema.json"},
    )

    brainbench: Literal[1] = Field(description="Format version of the spec language (1).")
    extends: str | list[str] | None = Field(
        None,
        description="Base spec(s) this spec extends, relative to this file; mappings are merged "
        "key by key, lists and values replaced.",
    )
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", description="Benchmark id.")
    version: str = Field(
        pattern=r"^\d+\.\d+\.\d+$",
        description="The benchmark's semver: cohorts, splits or target change -> major; "
        "protocol -> minor; text -> patch.",
    )
    title: str = Field(description="One-line title.")
    description: str | None = Field(None, description="Free text.")
    task: Task = Field(description="The prediction task: type, target, classes, input.")
    cohorts: list[Cohort] = Field(min_length=1, description="The cohorts and their roles.")
    hierarchy: Hierarchy = Field(
        default_factory=Hierarchy, description="Where each hierarchy level's id comes from."
    )
    splits: Splits = Field(description="The split protocol: group, stratification, partitions.")
    training: Training = Field(default_factory=Training, description="Training constraints.")
    protocol: Protocol = Field(description="Pre-registered statistical protocol.")
    reporting: Reporting = Field(default_factory=Reporting, description="Report breakdowns.")
    labels: list[ConversionLabel] = Field(
        default_factory=list,
        description="Labels derived from the longitudinal data (sMCI vs pMCI); `task.target` "
        "may name one.",
    )
    covariates: list[Covariate] = Field(
        default_factory=list,
        description="Clinical covariates handed to the models besides age and sex (mmse, apoe4, "
        "education...); a covariate that defines the label is refused unless waived.",
    )
    waivers: list[Waiver] = Field(default_factory=list, description="Rules waived, with reasons.")

    @model_validator(mode="after")
    def _consistent(self) -> Spec:
        allowed = {
            "classification": CLASSIFICATION_METRICS,
            "regression": REGRESSION_METRICS,
            "segmentation": SEGMENTATION_METRICS,
        }[self.task.type]
        for entry in [self.protocol.primary_metric, *self.protocol.metrics]:
            metric = entry.name if isinstance(entry, SegmentationMetric) else entry
            if metric not in allowed:
                raise ValueError(
                    f"protocol: metric '{metric}' does not apply to a {self.task.type} task "
                    f"(use one of {', '.join(allowed)})"
                )
        for label in self.labels:
            if label.name == self.task.target and self.task.type == "classification":
                extra = set(self.task.classes or ()) - {label.stable, label.progressive}
                if extra:
                    raise ValueError(
                        f"task.classes {sorted(extra)} are not classes of label '{label.name}' "
                        f"(use [{label.stable}, {label.progressive}])"
                    )
        names = [c.name for c in self.covariates]
        if len(set(names)) != len(names):
            raise ValueError("covariates: a covariate is listed twice")
        if self.task.target in names:
            raise ValueError(f"covariates: '{self.task.target}' is the target itself")
        if self.splits.test.method == "external" and not any(
            c.role == "external-test" for c in self.cohorts
        ):
            raise ValueError(
                "splits.test.method is 'external' but no cohort has role 'external-test'"
            )
        self._check_primary_result()
        self._check_segmentation()
        return self

    def _check_segmentation(self) -> None:
        label = self.protocol.primary_label
        if label is None:
            return
        names = [x.name for x in self.task.labels or ()]
        if self.task.type != "segmentation":
            raise ValueError("protocol.primary_label is for a segmentation task")
        if label not in names:
            raise ValueError(
                f"protocol.primary_label '{label}' is not a label of task.labels "
                f"({', '.join(names)})"
            )

    def segmentation_metrics(self) -> list[SegmentationMetric]:
        """The primary metric then the secondary ones, as :class:`SegmentationMetric` (a name
        alone takes the defaults); the primary one's parameters are those of its entry in
        ``protocol.metrics`` when it has one."""
        out: list[SegmentationMetric] = []
        entries = [
            m if isinstance(m, SegmentationMetric) else SegmentationMetric(name=m)
            for m in self.protocol.metrics
        ]
        primary = self.protocol.primary_metric
        out.append(
            next((m for m in entries if m.name == primary), None)
            or SegmentationMetric(name=primary)
        )
        out += [m for m in entries if m not in out]
        return out

    def primary_label(self) -> str:
        """The label the primary segmentation metric is read on."""
        if self.protocol.primary_label is not None:
            return self.protocol.primary_label
        labels = self.task.labels or []
        lesions = [x.name for x in labels if x.kind == "lesion"]
        return lesions[0] if lesions else labels[0].name

    def _check_primary_result(self) -> None:
        pr = self.protocol.primary_result
        if pr is None:
            return
        external = [c.id for c in self.cohorts if c.role == "external-test"]
        if pr.test_set == "test" and self.splits.test.method == "external":
            raise ValueError(
                "protocol.primary_result.test_set is 'test' but splits.test.method is 'external': "
                "there is no internal test partition (name an external cohort, each-external "
                "or pooled-external)"
            )
        if pr.test_set != "test" and not external:
            raise ValueError(
                f"protocol.primary_result.test_set is '{pr.test_set}' but no cohort has role "
                "'external-test'"
            )
        if pr.test_set == "cohort" and pr.cohort not in external:
            raise ValueError(
                f"protocol.primary_result.cohort '{pr.cohort}' is not an external-test cohort "
                f"(external-test cohorts: {', '.join(external)})"
            )
