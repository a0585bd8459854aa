"""The model registry: entry format, the model interface, loading, and pull-request checks.

Public surface::

    from brainbench.registry import load_model, TaskInfo, FitContext
    from brainbench.registry import LabelledImageSet, UnlabelledImageSet

Nothing here imports torch, monai or scikit-learn; the reference entries import them inside
their factories, and the training helpers live in :mod:`brainbench.registry.torch_training`
and :mod:`brainbench.registry.features`.
"""

from brainbench.registry.entries import (
    LoadedEntry,
    ModelLoadError,
    all_entries,
    default_root,
    find_entry,
    pretraining_conflicts,
    read_entry,
)
from brainbench.registry.interface import (
    ArrayImages,
    CachedImages,
    FitContext,
    ImageSet,
    ImageSource,
    LabelledImageSet,
    Model,
    ModelFactory,
    SegmentationSet,
    TaskInfo,
    UnlabelledImageSet,
    check_predictions,
    covariate_frame,
)
from brainbench.registry.loading import load_model, resolve_hyperparameters
from brainbench.registry.schema import ModelEntry

__all__ = [
    "ArrayImages",
    "CachedImages",
    "FitContext",
    "ImageSet",
    "ImageSource",
    "LabelledImageSet",
    "LoadedEntry",
    "Model",
    "ModelEntry",
    "ModelFactory",
    "ModelLoadError",
    "SegmentationSet",
    "TaskInfo",
    "UnlabelledImageSet",
    "all_entries",
    "check_predictions",
    "covariate_frame",
    "default_root",
    "find_entry",
    "load_model",
    "pretraining_conflicts",
    "read_entry",
    "resolve_hyperparameters",
]
