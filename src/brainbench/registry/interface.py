"""The model interface: what the runner hands a registered model, and what it gets back.

This module is the contract between the runner (``brainbench.runner``) and the model code of a
registry entry (``registry/models/<id>/<module>.py``). It imports numpy only; pandas and torch
are never imported here.

The life of one work unit (model x repeat x fold x seed), as the runner drives it::

    from brainbench.registry import load_model
    from brainbench.registry.interface import (
        FitContext, LabelledImageSet, TaskInfo, UnlabelledImageSet,
    )

    task = TaskInfo(type="classification", classes=("CN", "AD"),
                    spatial_shape=(45, 54, 45), voxel_spacing=(4.0, 4.0, 4.0))
    model = load_model("cnn3d-small", task, hyperparameters={"epochs": 20})
    train = LabelledImageSet(train_images, train_covariates, train_labels)
    val = LabelledImageSet(val_images, val_covariates, val_labels)
    model.fit(train, val, FitContext(device="cpu", seed=3, on_epoch=progress))
    scores = model.predict(UnlabelledImageSet(test_images, test_covariates))
    # classification: scores.shape == (n_test, len(task.classes)), rows sum to 1,
    # column k is the probability of task.classes[k]; regression: scores.shape == (n_test,)

Rules both sides rely on:

* **Images** are ``float32`` arrays of shape ``(task.channels, *task.spatial_shape)``, one per
  image, reached through ``image_set.images[i]``. The object behind ``images`` (an
  :class:`ImageSource`) is the runner's: it loads lazily and caches, so that each volume is
  decoded once per run. :class:`ArrayImages` and :class:`CachedImages` are ready-made sources;
  both hand out read-only arrays (models copy before modifying).
* **Covariates** are a :class:`pandas.DataFrame` with one row per image, in the same order as the
  images, and only these columns (absent ones allowed): the hierarchy ids ``dataset``, ``site``,
  ``scanner``, ``subject``, ``session``, ``image`` (strings) and the covariates ``age`` (float,
  years) and ``sex`` (``"F"``/``"M"``, missing as ``<NA>``), plus the clinical covariates the
  spec declares (``task.covariates``: numeric ones float, categorical ones text). Never a label
  or target column: :func:`covariate_frame` builds the frame from a whitelist
  (:data:`COVARIATE_COLUMNS` and the declared covariates).
* **Labels** exist only on :class:`LabelledImageSet` (training and validation partitions), as a
  separate numpy array: ``int64`` class indices into ``task.classes`` for classification,
  ``float64`` values for regression. :class:`UnlabelledImageSet` (test and external-test
  partitions) has no ``labels`` attribute at all, and no ``__dict__`` to hide one in.
* **Selection** (early stopping, hyper-parameter choice) may look at the validation partition
  only; preprocessing statistics (intensity normalisation, feature scaling, masks) are fitted on
  the training partition only. The helpers in :mod:`brainbench.registry.torch_training` and
  :mod:`brainbench.registry.features` do both.
* **Seeds and devices** come from :class:`FitContext`; a model must not choose its own device.
* **Sealed test labels** (runner side): what an :class:`UnlabelledImageSet` holds must not lead
  to labels either. Give :class:`CachedImages` a loader that closes over image paths only (not
  the cohort table with its target column), and build covariates with :func:`covariate_frame`.
  To score the validation partition, pass ``validation.without_labels()``.
* **Processes**: models are not meant to be pickled; build each with :func:`load_model` in the
  process that fits it (entry modules are imported under private names, see
  :mod:`brainbench.registry.entries`). Torch models built on the shared loop expose
  ``history_`` (losses per epoch, best epoch, seconds) after ``fit`` for provenance.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

TaskType = Literal["classification", "regression", "segmentation"]

#: Hierarchy id columns a model may see, outer to inner.
HIERARCHY_COLUMNS: tuple[str, ...] = ("dataset", "site", "scanner", "subject", "session", "image")
#: Every column :func:`covariate_frame` keeps (the hierarchy ids, then age and sex).
COVARIATE_COLUMNS: tuple[str, ...] = (*HIERARCHY_COLUMNS, "age", "sex")


@dataclass(frozen=True)
class TaskInfo:
    """The task a model is built for; given to the factory.

    Parameters
    ----------
    type
        ``"classification"`` or ``"regression"``.
    classes
        Class names in spec order, negative first: the last one is the positive class. Empty for
        regression. Column ``k`` of ``predict``'s output is the probability of ``classes[k]``.
    spatial_shape
        ``(X, Y, Z)`` of every image the model will receive.
    voxel_spacing
        Voxel size in mm.
    channels
        Channels per image (arrays are ``(channels, X, Y, Z)``).
    unit
        What one input is: ``image`` (whole volume), ``slice``, ``patch`` or ``roi``.
    modality
        Modality of the images (BIDS suffix), e.g. ``T1w``.
    target
        Name of the target (informative only; labels never travel in covariates).
    covariates
        The clinical covariates the spec declares besides age and sex (``mmse``, ``apoe4``...):
        columns of every covariate frame, numeric ones as float, categorical ones as text.
    labels
        Segmentation: the label names (background excluded), in spec order.
    label_values
        Segmentation: the voxel value of each label in the masks (``labels[k]`` is
        ``label_values[k]``); predicted masks hold these values and 0 (background).
    unit_shape
        For ``unit`` slice, patch or roi: the shape of one model input, channels first
        (slice ``(C, H, W)``, patch ``(C, p, p, p)``, roi ``(C, X, Y, Z)``). The runner cuts
        the units from each image (``brainbench.runner._input_units``), hands the model one
        input per unit, and averages the outputs of an image's units. Empty for ``image``:
        inputs are then ``(channels, *spatial_shape)``.
    """

    type: TaskType
    classes: tuple[str, ...] = ()
    spatial_shape: tuple[int, int, int] = (45, 54, 45)
    voxel_spacing: tuple[float, float, float] = (4.0, 4.0, 4.0)
    channels: int = 1
    unit: Literal["image", "slice", "patch", "roi"] = "image"
    modality: str = "T1w"
    target: str | None = None
    covariates: tuple[str, ...] = ()
    unit_shape: tuple[int, ...] = ()
    labels: tuple[str, ...] = ()
    label_values: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "unit_shape", tuple(int(s) for s in self.unit_shape))
        object.__setattr__(self, "labels", tuple(str(x) for x in self.labels))
        object.__setattr__(self, "label_values", tuple(int(x) for x in self.label_values))
        if self.type not in ("classification", "regression", "segmentation"):
            raise ValueError(
                "task type must be 'classification', 'regression' or 'segmentation', got "
                f"{self.type!r}"
            )
        if self.type == "segmentation" and (
            not self.labels
            or len(self.labels) != len(self.label_values)
            or not all(0 < v < 256 for v in self.label_values)
        ):
            raise ValueError(
                "a segmentation task needs labels and one voxel value in 1..255 per label, "
                f"got {self.labels} and {self.label_values}"
            )
        object.__setattr__(self, "classes", tuple(str(c) for c in self.classes))
        object.__setattr__(self, "spatial_shape", tuple(int(s) for s in self.spatial_shape))
        object.__setattr__(self, "voxel_spacing", tuple(float(s) for s in self.voxel_spacing))
        object.__setattr__(self, "covariates", tuple(str(c) for c in self.covariates))
        if self.type == "classification" and len(self.classes) < 2:
            raise ValueError(f"a classification task needs at least 2 classes, got {self.classes}")
        if self.type == "regression" and self.classes:
            raise ValueError("a regression task has no classes")
        if len(self.spatial_shape) != 3 or len(self.voxel_spacing) != 3:
            raise ValueError("spatial_shape and voxel_spacing need 3 values each")
        if len(set(self.classes)) != len(self.classes):
            raise ValueError(f"class names must be unique, got {self.classes}")

    @property
    def n_classes(self) -> int:
        """Number of classes (0 for regression)."""
        return len(self.classes)

    @property
    def n_outputs(self) -> int:
        """Width of the network's output layer: ``n_classes``, 1 for regression, the labels
        plus background for segmentation."""
        if self.type == "segmentation":
            return len(self.labels) + 1
        return self.n_classes if self.type == "classification" else 1

    @property
    def image_shape(self) -> tuple[int, int, int, int]:
        """Shape of one image array: ``(channels, X, Y, Z)``."""
        return (self.channels, *self.spatial_shape)

    def output_shape(self, n: int) -> tuple[int, ...]:
        """Shape ``predict`` must return for ``n`` images."""
        if self.type == "segmentation":
            return (n, *self.spatial_shape)
        return (n, self.n_classes) if self.type == "classification" else (n,)


@runtime_checkable
class ImageSource(Protocol):
    """Indexable images: ``source[i]`` is a float32 array ``(C, X, Y, Z)``; ``len(source)``."""

    def __getitem__(self, i: int) -> np.ndarray: ...

    def __len__(self) -> int: ...


class ArrayImages:
    """An :class:`ImageSource` over images already in memory (a 5D array or a list of 4D ones)."""

    __slots__ = ("_data",)

    def __init__(self, data: np.ndarray | Sequence[np.ndarray]) -> None:
        self._data = data

    def __getitem__(self, i: int) -> np.ndarray:
        view = np.asarray(self._data[i], dtype=np.float32).view()
        view.setflags(write=False)  # models get read-only arrays, never the caller's buffer
        return view

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"ArrayImages(n={len(self)})"


class CachedImages:
    """An :class:`ImageSource` that calls ``load(i)`` once per index and keeps the result.

    Parameters
    ----------
    load
        Function returning image ``i`` as an array ``(C, X, Y, Z)`` (converted to float32).
    n
        Number of images.
    cache
        A mapping shared between sources (e.g. one per run, keyed by the runner's index), or
        None for a private dict.
    keys
        Cache key of each index (default: the index itself); lets several sources share one
        cache when they hold the same images in a different order.
    """

    __slots__ = ("_cache", "_keys", "_load", "_n")

    def __init__(
        self,
        load: Callable[[int], np.ndarray],
        n: int,
        *,
        cache: dict[Any, np.ndarray] | None = None,
        keys: Sequence[Any] | None = None,
    ) -> None:
        if keys is not None and len(keys) != n:
            raise ValueError(f"{len(keys)} cache keys for {n} images")
        self._load = load
        self._n = n
        self._cache = {} if cache is None else cache
        self._keys = keys

    def __getitem__(self, i: int) -> np.ndarray:
        if not -self._n <= i < self._n:
            raise IndexError(f"image index {i} out of range for {self._n} images")
        i = i % self._n
        key = i if self._keys is None else self._keys[i]
        out = self._cache.get(key)
        if out is None:
            out = np.ascontiguousarray(self._load(i), dtype=np.float32)
            out.setflags(write=False)
            self._cache[key] = out
        return out

    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        return f"CachedImages(n={self._n}, cached={len(self._cache)})"


class _Subset:
    """The images of a source at some indices (a view: nothing is loaded)."""

    __slots__ = ("_idx", "_source")

    def __init__(self, source: ImageSource, idx: np.ndarray) -> None:
        self._source = source
        self._idx = idx

    def __getitem__(self, i: int) -> np.ndarray:
        return self._source[int(self._idx[i])]

    def __len__(self) -> int:
        return len(self._idx)


_SEX = {"f": "F", "female": "F", "woman": "F", "w": "F", "m": "M", "male": "M", "man": "M"}


def covariate_frame(table: pd.DataFrame, declared: Sequence[tuple[str, str]] = ()) -> pd.DataFrame:
    """The covariates a model may see: the whitelisted columns of ``table``, index reset.

    Any other column (the target, diagnosis, split assignments, file paths) is dropped, so the
    runner can pass its cohort rows directly. Hierarchy ids become strings, ``age`` a float and
    ``sex`` ``"F"``/``"M"`` (``female``/``male`` and other spellings mapped; anything else NA).
    ``declared`` adds the spec's covariates as ``(name, type)`` pairs: ``numeric`` ones become
    floats (unparseable values NA), ``categorical`` ones text.
    """
    import pandas as pd

    keep = [c for c in COVARIATE_COLUMNS if c in table.columns]
    keep += [n for n, _ in declared if n in table.columns and n not in keep]
    out = pd.DataFrame(table[keep]).reset_index(drop=True).copy()
    for name, kind in declared:
        if name in out.columns and name not in COVARIATE_COLUMNS:
            numeric = pd.to_numeric(out[name], errors="coerce").astype("float64")
            out[name] = numeric if kind == "numeric" else out[name].astype("string")
    # The declared covariates travel with the frame (pickled to the model's process, kept by
    # iloc), so that an image set re-filtering it keeps them.
    out.attrs["covariates"] = [(str(n), str(k)) for n, k in declared]
    for col in HIERARCHY_COLUMNS:
        if col in out.columns:
            out[col] = out[col].astype("string")
    if "age" in out.columns:
        out["age"] = pd.to_numeric(out["age"], errors="coerce").astype("float64")
    if "sex" in out.columns:
        codes = out["sex"].astype("string").str.strip().str.lower().map(_SEX)
        out["sex"] = codes.astype("string")
    return out


class ImageSet:
    """Images and covariates of one partition (base of the labelled and unlabelled sets).

    Parameters
    ----------
    images
        An :class:`ImageSource` (or a numpy array / list of arrays, wrapped in
        :class:`ArrayImages`).
    covariates
        One row per image; reduced to :data:`COVARIATE_COLUMNS` by :func:`covariate_frame`.
        None gives an empty frame with ``len(images)`` rows.
    """

    __slots__ = ("_covariates", "_images")

    def __init__(self, images: Any, covariates: pd.DataFrame | None = None) -> None:
        import pandas as pd

        if isinstance(images, np.ndarray | list | tuple) or not isinstance(images, ImageSource):
            images = ArrayImages(images)
        if covariates is None:
            covariates = pd.DataFrame(index=range(len(images)))
        else:
            covariates = covariate_frame(covariates, covariates.attrs.get("covariates", ()))
        if len(covariates) != len(images):
            raise ValueError(f"{len(covariates)} covariate rows for {len(images)} images")
        self._images = images
        self._covariates = covariates

    @property
    def images(self) -> ImageSource:
        """``images[i]`` is image ``i`` as float32 ``(C, X, Y, Z)`` (loaded on first access)."""
        return self._images

    @property
    def covariates(self) -> pd.DataFrame:
        """Hierarchy ids, age and sex, one row per image (a copy: edits do not leak back)."""
        return self._covariates.copy()

    def __len__(self) -> int:
        return len(self._images)

    def iter_batches(self, batch_size: int, order: Sequence[int] | None = None):
        """Yield ``(indices, array)`` with arrays of shape ``(b, C, X, Y, Z)``, float32."""
        idx = np.arange(len(self)) if order is None else np.asarray(order)
        for start in range(0, len(idx), batch_size):
            chunk = idx[start : start + batch_size]
            yield chunk, np.stack([self._images[int(i)] for i in chunk]).astype(np.float32)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n={len(self)})"


class UnlabelledImageSet(ImageSet):
    """Images to predict (test and external-test partitions): no labels, by construction.

    The class has ``__slots__`` and no ``labels`` attribute; the runner keeps the labels and
    joins them to the predictions after ``predict`` returns.
    """

    __slots__ = ()

    def subset(self, indices: Sequence[int]) -> UnlabelledImageSet:
        """The images at ``indices`` (nothing is loaded)."""
        idx = np.asarray(indices, dtype=np.int64)
        return UnlabelledImageSet(_Subset(self._images, idx), self._covariates.iloc[idx])


class LabelledImageSet(ImageSet):
    """Images with their labels (training and validation partitions).

    Parameters
    ----------
    images, covariates
        As in :class:`ImageSet`.
    labels
        ``int`` class indices into ``TaskInfo.classes`` (classification) or float values
        (regression), one per image. Use :meth:`from_names` to encode class names.
    """

    __slots__ = ("_labels",)

    def __init__(self, images: Any, covariates: pd.DataFrame | None, labels: Any) -> None:
        super().__init__(images, covariates)
        labels = np.asarray(labels)
        if labels.ndim != 1 or len(labels) != len(self):
            raise ValueError(f"labels of shape {labels.shape} for {len(self)} images")
        if labels.dtype.kind in "iub":
            labels = labels.astype(np.int64)
        elif labels.dtype.kind == "f":
            labels = labels.astype(np.float64)
        else:
            raise ValueError(
                f"labels must be integers (class indices) or floats, got dtype {labels.dtype}; "
                "use LabelledImageSet.from_names to encode class names"
            )
        labels.setflags(write=False)
        self._labels = labels

    @classmethod
    def from_names(
        cls, images: Any, covariates: pd.DataFrame | None, names: Sequence[Any], task: TaskInfo
    ) -> LabelledImageSet:
        """Encode class names (classification) or values (regression) for ``task``."""
        if task.type == "regression":
            return cls(images, covariates, np.asarray(names, dtype=np.float64))
        index = {c: k for k, c in enumerate(task.classes)}
        unknown = sorted({str(n) for n in names} - set(index))
        if unknown:
            raise ValueError(f"labels {unknown} are not among the task's classes {task.classes}")
        return cls(images, covariates, np.array([index[str(n)] for n in names], dtype=np.int64))

    @property
    def labels(self) -> np.ndarray:
        """Class indices (int64) or values (float64), read-only, one per image."""
        return self._labels

    def without_labels(self) -> UnlabelledImageSet:
        """The same images and covariates, labels removed (e.g. to predict on validation)."""
        return UnlabelledImageSet(self._images, self._covariates)

    def subset(self, indices: Sequence[int]) -> LabelledImageSet:
        """The images and labels at ``indices`` (nothing is loaded)."""
        idx = np.asarray(indices, dtype=np.int64)
        return LabelledImageSet(
            _Subset(self._images, idx), self._covariates.iloc[idx], self._labels[idx]
        )


class SegmentationSet(ImageSet):
    """Images with their reference masks (training and validation partitions of a
    segmentation task).

    Parameters
    ----------
    images, covariates
        As in :class:`ImageSet`.
    masks
        An indexable source of masks: ``masks[i]`` is the ``uint8`` label volume ``(X, Y, Z)``
        of image ``i`` (0 background, else ``TaskInfo.label_values``), read-only.
    """

    __slots__ = ("_masks",)

    def __init__(self, images: Any, covariates: pd.DataFrame | None, masks: Any) -> None:
        super().__init__(images, covariates)
        if len(masks) != len(self):
            raise ValueError(f"{len(masks)} masks for {len(self)} images")
        self._masks = masks

    @property
    def masks(self) -> ImageSource:
        """``masks[i]``: the reference mask of image ``i`` (uint8, loaded on first access)."""
        return self._masks

    def without_masks(self) -> UnlabelledImageSet:
        """The same images and covariates, masks removed (e.g. to predict on validation)."""
        return UnlabelledImageSet(self._images, self._covariates)

    def subset(self, indices: Sequence[int]) -> SegmentationSet:
        """The images and masks at ``indices`` (nothing is loaded)."""
        idx = np.asarray(indices, dtype=np.int64)
        return SegmentationSet(
            _Subset(self._images, idx), self._covariates.iloc[idx], _Subset(self._masks, idx)
        )


EpochCallback = Callable[[int, float, "float | None"], None]


@dataclass(frozen=True)
class FitContext:
    """How to fit: device, seed, determinism, limits and progress reporting.

    Parameters
    ----------
    device
        ``"cpu"`` or ``"cuda"``; the runner resolves ``auto`` before calling the model.
    seed
        Seed of this training run; models seed python, numpy and torch from it
        (:func:`brainbench.registry.torch_training.seed_everything`).
    deterministic
        Ask for deterministic algorithms (``torch.use_deterministic_algorithms``), slower.
    max_epochs
        Upper bound on epochs that overrides the recipe when lower (quick runs, checks);
        None keeps the recipe's.
    amp
        Mixed precision; honoured on CUDA only.
    num_threads
        CPU threads torch may use (None: leave torch's setting).
    on_epoch
        Called after every epoch as ``on_epoch(epoch, train_loss, val_metric)`` with a 1-based
        epoch, the mean training loss and the validation loss (None without validation).
        Models without epochs may never call it (or, like the scikit-learn helper, once per
        hyper-parameter value tried, with a NaN training loss).
    logger
        Where models write messages (the runner routes it to the unit's log file).
    """

    device: Literal["cpu", "cuda"] = "cpu"
    seed: int = 0
    deterministic: bool = False
    max_epochs: int | None = None
    amp: bool = False
    num_threads: int | None = None
    on_epoch: EpochCallback | None = None
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("brainbench.model"))

    def __post_init__(self) -> None:
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda', got {self.device!r}")
        if self.max_epochs is not None and self.max_epochs < 1:
            raise ValueError(f"max_epochs must be at least 1, got {self.max_epochs}")

    def epochs(self, recipe_epochs: int) -> int:
        """Epochs to run: the recipe's, capped by ``max_epochs``."""
        return recipe_epochs if self.max_epochs is None else min(recipe_epochs, self.max_epochs)

    def report_epoch(self, epoch: int, train_loss: float, val_metric: float | None) -> None:
        """Log one epoch and forward it to ``on_epoch``."""
        self.logger.debug("epoch %d: train loss %.4f, validation %s", epoch, train_loss, val_metric)
        if self.on_epoch is not None:
            self.on_epoch(
                epoch, float(train_loss), None if val_metric is None else float(val_metric)
            )


@runtime_checkable
class Model(Protocol):
    """What a registry entry's factory returns.

    ``fit`` is called once per work unit, on a fresh model; ``predict`` after it, once per
    partition to score (test, each external test, optionally validation).
    """

    def fit(
        self, train: LabelledImageSet, validation: LabelledImageSet | None, ctx: FitContext
    ) -> None:
        """Train on ``train``; use ``validation`` (when given) for early stopping and selection
        only; fit every preprocessing statistic on ``train`` only."""
        ...

    def predict(self, inputs: UnlabelledImageSet) -> np.ndarray:
        """Scores for ``inputs``: ``(n, n_classes)`` probabilities in ``TaskInfo.classes`` order
        (rows sum to 1) for classification, ``(n,)`` float predictions for regression, integer
        masks ``(n, X, Y, Z)`` of ``TaskInfo.label_values`` and 0 for segmentation (``fit``
        then gets :class:`SegmentationSet` partitions)."""
        ...


class ModelFactory(Protocol):
    """The entrypoint of an entry: ``factory(task, hyperparameters) -> Model``.

    ``hyperparameters`` is one flat dict: ``intensity_normalisation`` (from the entry's input
    contract), the training recipe when the entry has one (``epochs``, ``batch_size``,
    ``optimiser``, ``learning_rate``, ``weight_decay``, ``patience``, ``augmentation``), then the
    entry's hyper-parameter defaults; each overridden by the caller's values
    (:func:`brainbench.registry.resolve_hyperparameters`).
    """

    def __call__(self, task: TaskInfo, hyperparameters: dict[str, Any]) -> Model: ...


def check_predictions(scores: Any, task: TaskInfo, n: int, *, atol: float = 1e-4) -> str | None:
    """Why ``scores`` break the output contract for ``n`` images, or None when they keep it."""
    if not isinstance(scores, np.ndarray):
        return f"predict returned {type(scores).__name__}, expected a numpy array"
    expected = task.output_shape(n)
    if scores.shape != expected:
        return f"predict returned shape {scores.shape}, expected {expected}"
    if task.type == "segmentation":
        return _mask_problem(scores, task)
    if scores.dtype.kind not in "fiu":
        return f"predict returned dtype {scores.dtype}, expected floats"
    if not np.all(np.isfinite(scores)):
        return "predict returned NaN or infinite values"
    if task.type == "classification":
        if scores.min() < -atol or scores.max() > 1 + atol:
            return "probabilities outside [0, 1]"
        worst = float(np.max(np.abs(scores.sum(axis=1) - 1.0))) if n else 0.0
        if worst > atol:
            return f"probabilities do not sum to 1 per row (off by up to {worst:.3g})"
    return None


def _mask_problem(masks: np.ndarray, task: TaskInfo) -> str | None:
    """Why predicted masks are not integer volumes of the task's label values, or None."""
    if masks.dtype.kind not in "iub":
        return f"predict returned masks of dtype {masks.dtype}, expected integers (uint8)"
    allowed = np.array([0, *task.label_values])
    values = np.unique(masks)
    unknown = values[~np.isin(values, allowed)]
    if unknown.size:
        shown = ", ".join(str(int(v)) for v in unknown[:5])
        pairs = zip(task.label_values, task.labels, strict=True)
        known = ", ".join(f"{v} = {name}" for v, name in pairs)
        return (
            f"predicted masks hold value(s) {shown} that are not labels of the task "
            f"(0 = background, {known})"
        )
    return None


__all__ = [
    "COVARIATE_COLUMNS",
    "HIERARCHY_COLUMNS",
    "ArrayImages",
    "CachedImages",
    "FitContext",
    "ImageSet",
    "ImageSource",
    "LabelledImageSet",
    "Model",
    "ModelFactory",
    "SegmentationSet",
    "TaskInfo",
    "UnlabelledImageSet",
    "check_predictions",
    "covariate_frame",
]
