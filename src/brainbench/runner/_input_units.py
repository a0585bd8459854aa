"""Input units: slices, patches and regions cut from each decoded image, and their aggregation.

A benchmark whose ``task.input.unit`` is ``slice``, ``patch`` or ``roi`` gives its models one
input per unit, cut by the runner from the decoded image the way ClinicaDL's ``prepare-data``
does (``clinicadl/prepare_data/prepare_data_utils.py``):

* **slice** (``extract_slices``): the image is cut across one axis (``direction``: sagittal =
  first axis, coronal = second, axial = third); ``discarded = (b, e)`` drops the first ``b`` and
  the last ``e`` slices of that axis; ``mode: rgb`` repeats each slice on three channels.
  Defaults as ClinicaDL's: sagittal, (0, 0), rgb.
* **patch** (``extract_patches``): cubic patches of edge ``size`` every ``stride`` voxels along
  each axis (``tensor.unfold``; voxels past the last full patch are not covered), numbered in
  C order over (first, second, third axis). Defaults: 50 and 50.
* **roi** (``extract_roi``): the image times a binary mask, cropped to the mask's bounding box
  unless ``crop: false``. Masks come from files or from labels of an atlas; unlike ClinicaDL,
  boxes of different sizes are zero-padded (at their end) to the largest, so that one model
  sees inputs of one shape.

Every image of a run has the same shape, so every image has the same number ``K`` of units,
and unit ``k`` is at the same place in every image. The training and validation labels are the
image's label repeated on its units; the covariates are the image's row repeated (its ``image``
id lets a model group its units). All units of an image are in the image's partition, so the
split never separates them (rule L101 guards the spec's side: ``splits.group`` may not be
``image`` for slice or patch input).

Aggregation back to one prediction per image (the runner's predictions table stays one row per
image; the report's ``unit_of_analysis`` then averages images to sessions or subjects):

* ``mean``: soft vote, the mean over the ``K`` units of the class probabilities (regression:
  of the predicted values), Wen et al. 2020 (Medical Image Analysis 63:101694), section 3.6.
* ``weighted``: ClinicaDL's soft voting (``ClassificationManager.ensemble_prediction``, after
  Raschka 2015): unit position ``k`` weighted by ``w_k = a_k / sum_j a_j`` where ``a_k`` is the
  fraction of validation images whose unit ``k`` the model classified correctly (argmax of its
  probabilities); then the weighted mean of the probabilities. Needs a validation partition;
  when every ``a_k`` is 0 it falls back to equal weights and says so in the unit's log.

The predicted class of an image is the argmax of its aggregated probabilities (the runner's
rule for every model).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from brainbench.errors import UserError

if TYPE_CHECKING:
    from brainbench.registry.interface import LabelledImageSet, TaskInfo, UnlabelledImageSet
    from brainbench.spec import LoadedSpec

DIRECTIONS = {"sagittal": 0, "coronal": 1, "axial": 2}
CLINICADL_SOURCE = "ClinicaDL clinicadl/prepare_data/prepare_data_utils.py"


@dataclass(frozen=True)
class UnitPlan:
    """Where the units of one image are: everything but the ROI masks' voxels (JSON-able)."""

    unit: str
    image_shape: tuple[int, int, int, int]
    aggregation: str = "mean"
    direction: int = 0
    discarded: tuple[int, int] = (0, 0)
    rgb: bool = True
    patch_size: int = 50
    stride: int = 50
    roi_names: tuple[str, ...] = ()
    roi_box: tuple[int, int, int] = (0, 0, 0)
    crop: bool = True

    @property
    def _patch_grid(self) -> tuple[int, int, int]:
        return tuple(  # type: ignore[return-value]
            max(0, (n - self.patch_size) // self.stride + 1) for n in self.image_shape[1:]
        )

    @property
    def count(self) -> int:
        """Units per image (``K``)."""
        if self.unit == "slice":
            b, e = self.discarded
            return max(0, self.image_shape[1 + self.direction] - b - e)
        if self.unit == "patch":
            g = self._patch_grid
            return g[0] * g[1] * g[2]
        return len(self.roi_names)

    @property
    def unit_shape(self) -> tuple[int, ...]:
        """Shape of one unit, channels first."""
        c = self.image_shape[0]
        if self.unit == "slice":
            plane = [n for i, n in enumerate(self.image_shape[1:]) if i != self.direction]
            return (3 * c if self.rgb else c, *plane)
        if self.unit == "patch":
            return (c, self.patch_size, self.patch_size, self.patch_size)
        return (c, *(self.roi_box if self.crop else self.image_shape[1:]))

    def to_json(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "image_shape": list(self.image_shape),
            "aggregation": self.aggregation,
            "direction": self.direction,
            "discarded": list(self.discarded),
            "rgb": self.rgb,
            "patch_size": self.patch_size,
            "stride": self.stride,
            "roi_names": list(self.roi_names),
            "roi_box": list(self.roi_box),
            "crop": self.crop,
            "count": self.count,
            "unit_shape": list(self.unit_shape),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> UnitPlan:
        return cls(
            unit=str(d["unit"]),
            image_shape=tuple(int(s) for s in d["image_shape"]),  # type: ignore[arg-type]
            aggregation=str(d["aggregation"]),
            direction=int(d["direction"]),
            discarded=tuple(int(s) for s in d["discarded"]),  # type: ignore[arg-type]
            rgb=bool(d["rgb"]),
            patch_size=int(d["patch_size"]),
            stride=int(d["stride"]),
            roi_names=tuple(str(n) for n in d["roi_names"]),
            roi_box=tuple(int(s) for s in d["roi_box"]),  # type: ignore[arg-type]
            crop=bool(d["crop"]),
        )


# -- cutting -------------------------------------------------------------------------------------
def extract_slice(image: np.ndarray, plan: UnitPlan, k: int) -> np.ndarray:
    """Slice ``k`` (after the discarded ones) of ``image`` ``(C, X, Y, Z)``: ``(C', H, W)``."""
    index = plan.discarded[0] + k
    out = np.take(image, index, axis=1 + plan.direction)
    return np.concatenate([out, out, out]) if plan.rgb else out


def extract_patch(image: np.ndarray, plan: UnitPlan, k: int) -> np.ndarray:
    """Patch ``k`` (C order over the patch grid) of ``image``: ``(C, p, p, p)``."""
    g = plan._patch_grid
    i, j, m = np.unravel_index(k, g)
    s, p = plan.stride, plan.patch_size
    return image[:, i * s : i * s + p, j * s : j * s + p, m * s : m * s + p]


def region_boxes(masks: list[np.ndarray]) -> list[tuple[slice, slice, slice]]:
    """Bounding box of each (non-empty) mask, as slices."""
    boxes = []
    for mask in masks:
        where = [
            np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != ax))) for ax in range(3)
        ]
        boxes.append(tuple(slice(int(w[0]), int(w[-1]) + 1) for w in where))
    return boxes  # type: ignore[return-value]


def extract_roi(
    image: np.ndarray, plan: UnitPlan, mask: np.ndarray, box: tuple[slice, slice, slice]
) -> np.ndarray:
    """The image times ``mask``, cropped to ``box`` and zero-padded to the plan's box."""
    masked = image * mask[None]
    if not plan.crop:
        return masked
    cut = masked[(slice(None), *box)]
    pad = [(0, 0)] + [(0, t - n) for t, n in zip(plan.roi_box, cut.shape[1:], strict=True)]
    return np.pad(cut, pad)


class UnitImages:
    """An :class:`~brainbench.registry.interface.ImageSource` over the units of some images:
    item ``i`` is unit ``i % K`` of image ``i // K`` (cut when asked; the image stays cached by
    the source underneath)."""

    __slots__ = ("_boxes", "_masks", "_plan", "_source")

    def __init__(self, source: Any, plan: UnitPlan, masks: list[np.ndarray] | None) -> None:
        self._source = source
        self._plan = plan
        self._masks = masks or []
        self._boxes = region_boxes(self._masks) if self._masks else []

    def __getitem__(self, i: int) -> np.ndarray:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"unit index {i} out of range for {n} units")
        image_index, k = divmod(i % n, self._plan.count)
        image = self._source[image_index]
        if self._plan.unit == "slice":
            out = extract_slice(image, self._plan, k)
        elif self._plan.unit == "patch":
            out = extract_patch(image, self._plan, k)
        else:
            out = extract_roi(image, self._plan, self._masks[k], self._boxes[k])
        out = np.ascontiguousarray(out, dtype=np.float32)
        out.setflags(write=False)
        return out

    def __len__(self) -> int:
        return len(self._source) * self._plan.count

    def __repr__(self) -> str:
        return f"UnitImages({self._plan.unit}, n={len(self)}, per_image={self._plan.count})"


# -- the run's plan (runner side) ---------------------------------------------------------------
def _load_volume(path: Path) -> np.ndarray:
    import nibabel as nib

    try:
        data = np.asarray(nib.load(str(path)).get_fdata(dtype=np.float32))
    except (OSError, ValueError) as exc:
        raise UserError(f"Cannot read the region file {path}: {exc}") from None
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    return data


def clinicadl_masks(loaded: LoadedSpec, names: list[str], template: str) -> list[tuple[str, Path]]:
    """ClinicaDL's region masks in the CAPS folder of the spec's first caps cohort:
    ``masks/tpl-<template>/*_roi-<name>_mask.nii*``, kept with ``_desc-Crop_`` in their name
    when the cohort reads cropped images (without it otherwise), the shortest name first
    (ClinicaDL ``find_mask_path``)."""
    caps = next((c for c in loaded.spec.cohorts if c.source.format == "caps"), None)
    if caps is None:
        raise UserError(
            "task.input.roi.names reads ClinicaDL's masks from a CAPS folder (masks/tpl-"
            f"{template}/), and no cohort has source format caps: give the mask files "
            "(roi.masks) or an atlas (roi.atlas) instead."
        )
    folder = loaded.resolve_path(caps.source.path) / "masks" / f"tpl-{template}"
    found = []
    for name in names:
        pattern = f"*_roi-{name}_mask.nii*"
        candidates = [
            p for p in folder.glob(pattern) if ("_desc-Crop_" in p.name) == caps.source.crop
        ]
        if not candidates:
            which = "with" if caps.source.crop else "without"
            raise UserError(
                f"No mask of the region '{name}' (task.input.roi.names) in {folder}: ClinicaDL "
                f"looks for {pattern}, {which} '_desc-Crop_' in the name for cohort "
                f"'{caps.id}' (source.crop: {str(caps.source.crop).lower()})."
            )
        found.append((name, min(candidates, key=lambda p: len(p.name))))
    return found


def _roi_masks(loaded: LoadedSpec, spatial: tuple[int, ...]) -> tuple[list[str], list[Path], Any]:
    """Region names, the files they come from, and the masks (bool, the images' grid)."""
    roi = loaded.spec.task.input.roi
    assert roi is not None
    masks: list[np.ndarray] = []
    names: list[str] = []
    files: list[Path] = []

    def read(text: str, field: str) -> tuple[Path, np.ndarray]:
        path = loaded.resolve_path(text)
        if not path.is_file():
            raise UserError(
                f"The file {path} named in task.input.roi.{field} does not exist (relative "
                "paths are read from the spec's folder)."
            )
        data = _load_volume(path)
        if tuple(data.shape) != tuple(spatial):
            raise UserError(
                f"The region file {path} (task.input.roi.{field}) has shape "
                f"{list(data.shape)}, the images {list(spatial)}: masks and atlases must be on "
                "the images' voxel grid (resample them to one image of the cohort first)."
            )
        return path, data

    if roi.masks is not None or roi.names is not None:
        if roi.masks is not None:
            field = "masks"
            wanted = [(Path(t).name.split(".")[0], t) for t in roi.masks]
        else:
            field = "names"
            wanted = [(n, str(p)) for n, p in clinicadl_masks(loaded, roi.names, roi.template)]
        for name, text in wanted:
            path, data = read(text, field)
            values = sorted(set(np.unique(data).tolist()))
            if not set(values) <= {0.0, 1.0}:  # ClinicaDL check_mask_list: 0/1 masks only
                shown = ", ".join(f"{v:g}" for v in values[:5]) + (
                    ", ..." if len(values) > 5 else ""
                )
                raise UserError(
                    f"The mask {path} (task.input.roi.{field}) is not binary: it holds "
                    f"{len(values)} distinct values ({shown}). Give 0/1 masks, or an atlas with "
                    "labels."
                )
            names.append(name)
            files.append(path)
            masks.append(data > 0.5)
    else:
        path, data = read(str(roi.atlas), "atlas")
        for label in roi.labels or []:
            names.append(f"label-{label}")
            files.append(path)
            masks.append(np.rint(data) == label)
    for name, file, mask in zip(names, files, masks, strict=True):
        if not mask.any():
            raise UserError(
                f"The region {name} of {file} (task.input.roi) is empty on the images' grid: "
                "check the label value or the mask."
            )
    return names, files, masks


def plan_input_units(loaded: LoadedSpec, task: TaskInfo) -> dict[str, Any] | None:
    """The run's unit plan for ``plan.json`` (None for whole images), checked against the
    images' geometry before any unit runs. UserError: no unit fits, a region file is missing,
    unreadable, not binary, empty or not on the images' grid, weighted aggregation without a
    validation partition."""
    from brainbench.spec.models import PatchInput, SliceInput

    inp = loaded.spec.task.input
    if inp.unit == "image":
        return None
    if inp.aggregation == "weighted" and loaded.spec.splits.validation.method == "none":
        raise UserError(
            "task.input.aggregation 'weighted' weighs each unit position by its accuracy on the "
            "validation partition, and splits.validation.method is 'none': use 'mean', or "
            "draw a validation partition."
        )
    image_shape = (task.channels, *task.spatial_shape)
    geometry = "x".join(str(s) for s in task.spatial_shape)
    files: list[str] = []
    if inp.unit == "slice":
        s = inp.slices or SliceInput()  # ClinicaDL's defaults when the spec says nothing
        plan = UnitPlan(
            unit="slice",
            image_shape=image_shape,
            aggregation=inp.aggregation,
            direction=DIRECTIONS[s.direction],
            discarded=tuple(s.discarded),  # type: ignore[arg-type]
            rgb=s.mode == "rgb",
        )
        if plan.count == 0:
            raise UserError(
                f"task.input.slices discards {sum(plan.discarded)} slices along an axis of "
                f"{task.spatial_shape[plan.direction]} (images {geometry}): no slice is left. "
                "Discard fewer."
            )
    elif inp.unit == "patch":
        p = inp.patches or PatchInput()
        plan = UnitPlan(
            unit="patch",
            image_shape=image_shape,
            aggregation=inp.aggregation,
            patch_size=p.size,
            stride=p.stride,
        )
        if plan.count == 0:
            raise UserError(
                f"Patches of {plan.patch_size} voxels do not fit in the images ({geometry}): "
                "set task.input.patches.size to at most the smallest image dimension "
                "(ClinicaDL's default of 50 is for 1 mm images)."
            )
    else:
        names, paths, masks = _roi_masks(loaded, task.spatial_shape)
        boxes = region_boxes(masks)
        box = tuple(max(b[a].stop - b[a].start for b in boxes) for a in range(3))
        crop = bool(inp.roi.crop) if inp.roi else True
        plan = UnitPlan(
            unit="roi",
            image_shape=image_shape,
            aggregation=inp.aggregation,
            roi_names=tuple(names),
            roi_box=box,  # type: ignore[arg-type]
            crop=crop,
        )
        files = [str(p) for p in paths]
    out = plan.to_json()
    if files:
        out["roi_files"] = files
        out["roi_labels"] = list(inp.roi.labels) if inp.roi and inp.roi.labels else None
    return out


def with_unit_shape(task: TaskInfo, plan: dict[str, Any] | None) -> TaskInfo:
    """``task`` with the unit's input shape (unchanged for whole images)."""
    if plan is None:
        return task
    return replace(task, unit_shape=tuple(plan["unit_shape"]))


def input_units_message(plan: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the model host needs to cut units: the plan, and the ROI masks as arrays (the host
    never learns a path)."""
    if plan is None:
        return None
    message: dict[str, Any] = {"plan": {k: v for k, v in plan.items() if not k.startswith("roi_f")}}
    files = plan.get("roi_files")
    if files:
        labels = plan.get("roi_labels")
        masks = []
        for i, f in enumerate(files):
            data = _load_volume(Path(f))
            masks.append(np.rint(data) == labels[i] if labels else data > 0.5)
        message["masks"] = masks
    return message


# -- the model host's side -----------------------------------------------------------------------
class HostUnits:
    """Expands the host's image sets into unit sets and aggregates unit outputs per image."""

    def __init__(self, message: dict[str, Any]) -> None:
        self.plan = UnitPlan.from_json(message["plan"])
        self.masks: list[np.ndarray] | None = message.get("masks")
        self.per_image = self.plan.count

    def task(self, task: TaskInfo) -> TaskInfo:
        return replace(task, unit_shape=self.plan.unit_shape)

    def _covariates(self, cov: Any) -> Any:
        rows = np.repeat(np.arange(len(cov)), self.per_image)
        return cov.iloc[rows].reset_index(drop=True)

    def labelled(self, images: Any, cov: Any, labels: np.ndarray) -> LabelledImageSet:
        from brainbench.registry.interface import LabelledImageSet

        return LabelledImageSet(
            UnitImages(images, self.plan, self.masks),
            self._covariates(cov),
            np.repeat(np.asarray(labels), self.per_image),
        )

    def unlabelled(self, images: Any, cov: Any) -> UnlabelledImageSet:
        from brainbench.registry.interface import UnlabelledImageSet

        return UnlabelledImageSet(UnitImages(images, self.plan, self.masks), self._covariates(cov))

    def weights(self, unit_scores: np.ndarray | None, labels: np.ndarray | None) -> np.ndarray:
        """Weights of the unit positions (sum 1) under the plan's aggregation, and why."""
        k = self.per_image
        equal = np.full(k, 1.0 / k)
        if self.plan.aggregation != "weighted":
            return equal
        if unit_scores is None or labels is None or len(labels) == 0:
            raise RuntimeError(
                "input.aggregation 'weighted' weighs units by their validation accuracy, and "
                "this unit has no labelled validation partition"
            )
        return position_weights(unit_scores, labels, k)

    def aggregate(self, unit_scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return aggregate(unit_scores, self.per_image, weights)


def position_weights(unit_scores: np.ndarray, labels: np.ndarray, per_image: int) -> np.ndarray:
    """ClinicaDL's soft-voting weights: accuracy of each unit position on the validation
    images (argmax of the probabilities against the image's label), normalised to sum 1;
    equal weights when no position classifies any image correctly."""
    n = len(labels)
    pred = np.argmax(unit_scores.reshape(n, per_image, -1), axis=2)
    accuracy = (pred == np.asarray(labels)[:, None]).mean(axis=0)
    total = accuracy.sum()
    return accuracy / total if total > 0 else np.full(per_image, 1.0 / per_image)


def aggregate(unit_scores: np.ndarray, per_image: int, weights: np.ndarray) -> np.ndarray:
    """Weighted mean over each image's ``per_image`` consecutive units: probabilities
    ``(n*K, C) -> (n, C)`` (rows still sum to 1 as the weights do), values ``(n*K,) -> (n,)``."""
    scores = np.asarray(unit_scores, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if scores.ndim == 1:
        return scores.reshape(-1, per_image) @ w
    n = scores.shape[0] // per_image
    return np.einsum("nkc,k->nc", scores.reshape(n, per_image, -1), w)


__all__ = [
    "DIRECTIONS",
    "HostUnits",
    "UnitImages",
    "UnitPlan",
    "aggregate",
    "extract_patch",
    "extract_roi",
    "extract_slice",
    "input_units_message",
    "plan_input_units",
    "position_weights",
    "with_unit_shape",
]
