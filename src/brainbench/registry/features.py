"""Image-derived features for scikit-learn entries: downsampled voxels inside a brain mask.

The mask and any intensity statistics are fitted on the training partition only (Wen et al.
2020's "late split" is exactly a mask or scaler fitted on all images). Numpy only.
"""

from __future__ import annotations

import numpy as np

from brainbench.registry.interface import ImageSet, ImageSource
from brainbench.registry.normalisation import IntensityNormaliser, NormalisationKind


def block_mean(image: np.ndarray, factor: int) -> np.ndarray:
    """Downsample ``(C, X, Y, Z)`` by averaging ``factor``-cubed blocks (edges cropped)."""
    if factor == 1:
        return np.asarray(image, dtype=np.float32)
    c, *spatial = image.shape
    crop = [max(s // factor, 1) * factor if s >= factor else s for s in spatial]
    x = image[:, : crop[0], : crop[1], : crop[2]]
    shape = [c]
    for s in crop:
        f = factor if s >= factor else s
        shape += [s // f, f]
    return x.reshape(shape).mean(axis=(2, 4, 6), dtype=np.float64).astype(np.float32)


class VoxelFeatures:
    """Voxels of downsampled, intensity-normalised images inside a mask fitted on training data.

    Parameters
    ----------
    factor
        Downsampling factor per axis (block average); 1 keeps every voxel.
    mask_threshold
        A voxel belongs to the mask when the training images' mean of the min-max normalised
        intensity exceeds this fraction (0 keeps every voxel).
    normalisation
        Intensity normalisation of each image before sampling (see
        :class:`~brainbench.registry.normalisation.IntensityNormaliser`).
    """

    def __init__(
        self,
        factor: int = 2,
        mask_threshold: float = 0.1,
        normalisation: NormalisationKind = "zscore-image",
    ) -> None:
        if factor < 1:
            raise ValueError(f"factor must be at least 1, got {factor}")
        if not 0.0 <= mask_threshold < 1.0:
            raise ValueError(f"mask_threshold must be in [0, 1), got {mask_threshold}")
        self.factor = factor
        self.mask_threshold = mask_threshold
        self.normalisation = normalisation
        self.mask_: np.ndarray | None = None
        self.normaliser_: IntensityNormaliser | None = None

    def fit(self, images: ImageSource | ImageSet) -> VoxelFeatures:
        """Fit the mask (and normalisation statistics) on training images."""
        if isinstance(images, ImageSet):
            images = images.images
        if len(images) == 0:
            raise ValueError("cannot fit voxel features on an empty training set")
        minmax = IntensityNormaliser("minmax-image")
        total = None
        for i in range(len(images)):
            small = block_mean(minmax(images[i][None])[0], self.factor)
            total = small.astype(np.float64) if total is None else total + small
        assert total is not None
        mean = total / len(images)
        self.mask_ = mean > self.mask_threshold
        if not self.mask_.any():
            self.mask_ = np.ones_like(self.mask_)
        self.normaliser_ = IntensityNormaliser(self.normalisation).fit(images)
        return self

    @property
    def n_features(self) -> int:
        if self.mask_ is None:
            raise RuntimeError("VoxelFeatures used before fit()")
        return int(self.mask_.sum())

    def transform(self, images: ImageSource | ImageSet) -> np.ndarray:
        """Feature matrix ``(n, n_features)``, float32."""
        if self.mask_ is None or self.normaliser_ is None:
            raise RuntimeError("VoxelFeatures used before fit()")
        if isinstance(images, ImageSet):
            images = images.images
        out = np.empty((len(images), self.n_features), dtype=np.float32)
        for i in range(len(images)):
            x = self.normaliser_(images[i][None])[0]
            small = block_mean(x, self.factor)
            if small.shape != self.mask_.shape:
                raise ValueError(
                    f"image {i} has shape {images[i].shape}, unlike the training images "
                    f"(downsampled {small.shape} vs {self.mask_.shape})"
                )
            out[i] = small[self.mask_]
        return out

    def fit_transform(self, images: ImageSource | ImageSet) -> np.ndarray:
        return self.fit(images).transform(images)

    def __repr__(self) -> str:
        return (
            f"VoxelFeatures(factor={self.factor}, mask_threshold={self.mask_threshold}, "
            f"normalisation={self.normalisation!r})"
        )


SEX_CODES = {"F": 1.0, "M": 0.0}


def demographic_matrix(covariates, columns: tuple[str, ...] = ("age", "sex")) -> np.ndarray:
    """Numeric ``(n, k)`` matrix of age (years) and sex (1 = F, 0 = M; NaN when missing).

    Missing values stay NaN: impute with statistics of the training partition.
    """
    cols = []
    for name in columns:
        if name == "age":
            if "age" in covariates.columns:
                cols.append(np.asarray(covariates["age"], dtype=np.float64))
            else:
                cols.append(np.full(len(covariates), np.nan))
        elif name == "sex":
            if "sex" in covariates.columns:
                s = covariates["sex"].astype("string")
                cols.append(np.array([SEX_CODES.get(v, np.nan) for v in s.fillna("")], float))
            else:
                cols.append(np.full(len(covariates), np.nan))
        else:
            raise ValueError(f"unknown demographic column {name!r}")
    return np.column_stack(cols) if cols else np.zeros((len(covariates), 0))


__all__ = ["SEX_CODES", "VoxelFeatures", "block_mean", "demographic_matrix"]
