"""Intensity normalisation whose statistics come from the training partition only.

Numpy only, so that scikit-learn entries and torch entries share it. ``fit`` sees the training
images; ``__call__`` is applied to batches ``(b, C, X, Y, Z)`` of any partition.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from brainbench.registry.interface import ImageSource

NormalisationKind = Literal["none", "zscore-image", "zscore-train", "minmax-image"]
KINDS: tuple[str, ...] = ("none", "zscore-image", "zscore-train", "minmax-image")
_EPS = 1e-6


class IntensityNormaliser:
    """Normalise image intensities.

    Parameters
    ----------
    kind
        ``"zscore-image"``: each image and channel to zero mean and unit variance (no fitted
        statistic); ``"minmax-image"``: each image and channel to [0, 1]; ``"zscore-train"``:
        per-channel mean and standard deviation over every voxel of the *training* images;
        ``"none"``.
    """

    def __init__(self, kind: NormalisationKind = "zscore-image") -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown intensity normalisation {kind!r}; choose from {KINDS}")
        self.kind = kind
        self.mean_: np.ndarray | None = None
        self.std_: np.ndarray | None = None

    def fit(self, images: ImageSource) -> IntensityNormaliser:
        """Fit the statistics (only ``zscore-train`` has any) on training images."""
        if self.kind != "zscore-train":
            return self
        total = sq = None
        count = 0
        for i in range(len(images)):
            x = np.asarray(images[i], dtype=np.float64)
            flat = x.reshape(x.shape[0], -1)
            s, s2 = flat.sum(axis=1), (flat**2).sum(axis=1)
            total = s if total is None else total + s
            sq = s2 if sq is None else sq + s2
            count += flat.shape[1]
        if total is None or sq is None:
            raise ValueError("cannot fit intensity statistics on an empty training set")
        mean = total / count
        var = np.maximum(sq / count - mean**2, 0.0)
        self.mean_ = mean.astype(np.float32)
        self.std_ = np.sqrt(var).astype(np.float32)
        return self

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Normalised copy of ``batch`` ``(b, C, X, Y, Z)`` as float32."""
        x = np.asarray(batch, dtype=np.float32)
        axes = tuple(range(2, x.ndim))
        if self.kind == "none":
            return x.copy()
        if self.kind == "zscore-image":
            mean = x.mean(axis=axes, keepdims=True)
            std = x.std(axis=axes, keepdims=True)
            return (x - mean) / np.maximum(std, _EPS)
        if self.kind == "minmax-image":
            lo = x.min(axis=axes, keepdims=True)
            hi = x.max(axis=axes, keepdims=True)
            return (x - lo) / np.maximum(hi - lo, _EPS)
        if self.mean_ is None or self.std_ is None:
            raise RuntimeError("IntensityNormaliser('zscore-train') used before fit()")
        shape = (1, -1) + (1,) * len(axes)
        return (x - self.mean_.reshape(shape)) / np.maximum(self.std_.reshape(shape), _EPS)

    def apply_torch(self, x: Any) -> Any:
        """The same normalisation on a torch tensor ``(b, C, X, Y, Z)``, on its device.

        Used by the torch training loop so that normalisation runs on the GPU; only tensor
        methods are called, so this module does not import torch.
        """
        x = x.float()
        dims = tuple(range(2, x.ndim))
        if self.kind == "none":
            return x
        if self.kind == "zscore-image":
            mean = x.mean(dim=dims, keepdim=True)
            std = x.std(dim=dims, keepdim=True, unbiased=False)
            return (x - mean) / std.clamp_min(_EPS)
        if self.kind == "minmax-image":
            lo = x.amin(dim=dims, keepdim=True)
            hi = x.amax(dim=dims, keepdim=True)
            return (x - lo) / (hi - lo).clamp_min(_EPS)
        if self.mean_ is None or self.std_ is None:
            raise RuntimeError("IntensityNormaliser('zscore-train') used before fit()")
        shape = (1, -1) + (1,) * len(dims)
        mean = x.new_tensor(self.mean_).reshape(shape)
        std = x.new_tensor(np.maximum(self.std_, _EPS)).reshape(shape)
        return (x - mean) / std

    def __repr__(self) -> str:
        return f"IntensityNormaliser(kind={self.kind!r})"


__all__ = ["KINDS", "IntensityNormaliser", "NormalisationKind"]
