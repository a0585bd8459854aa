"""Image loading on the runner's side: MONAI ``LoadImage`` (nibabel), checks, a decode cache.

Only the runner (never the model code) sees image paths. Each image is decoded with
``monai.transforms.LoadImage(reader="NibabelReader", ensure_channel_first=True)`` then converted
to a contiguous float32 array of shape ``(C, X, Y, Z)``; the transforms are deterministic (no
random component, no resampling). A decode that fails, an image of the wrong shape or with
non-finite voxels raises :class:`ImageError`, whose message names the file.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np


class ImageError(Exception):
    """An image that cannot be used: missing, unreadable, truncated, wrong shape, NaN voxels."""

    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


def header_geometry(path: str | Path) -> tuple[tuple[int, ...], tuple[float, ...]] | None:
    """Spatial shape and voxel size from a NIfTI header (nothing decoded); None if unreadable."""
    import nibabel as nib

    try:
        img = nib.load(str(path))
        shape = tuple(int(s) for s in img.shape)
        zooms = tuple(float(z) for z in img.header.get_zooms())
    except Exception:
        return None
    return shape, zooms


def common_geometry(paths: Sequence[str]) -> tuple[tuple[int, int, int], tuple[float, ...], int]:
    """The modal spatial shape, its voxel size and the channel count of ``paths``' headers.

    A 4D image ``(X, Y, Z, C)`` counts as ``C`` channels. Raises ValueError when no header can
    be read.
    """
    shapes: Counter[tuple[tuple[int, int, int], int]] = Counter()
    zooms: dict[tuple[tuple[int, int, int], int], tuple[float, ...]] = {}
    for p in paths:
        geo = header_geometry(p)
        if geo is None or len(geo[0]) < 3:
            continue
        shape, zoom = geo
        key = (tuple(shape[:3]), int(shape[3]) if len(shape) > 3 else 1)
        shapes[key] += 1
        zooms.setdefault(key, tuple(zoom[:3]))
    if not shapes:
        raise ValueError("no image header could be read")
    (spatial, channels), _ = shapes.most_common(1)[0]
    return spatial, zooms[(spatial, channels)], channels


class ImageLoader:
    """Decode images by path with MONAI; check shape and finiteness; optional bounded cache.

    Parameters
    ----------
    image_shape
        Expected ``(C, X, Y, Z)`` of every image.
    cache_bytes
        Keep decoded arrays up to this many bytes (0: no cache). The model host keeps its own
        cache, so the runner needs one only when several hosts share the images.
    threads
        Decoding threads for :meth:`load_many` (gzip and nibabel release the GIL in part).
    disk_cache
        A folder where decoded, checked arrays are kept as ``.npy`` (keyed by the file's path,
        size and modification time), so that separate processes (SLURM array tasks, a resumed
        run) decode each volume once per run. None: no disk cache.
    """

    def __init__(
        self,
        image_shape: Sequence[int],
        *,
        cache_bytes: int = 0,
        threads: int = 2,
        disk_cache: str | Path | None = None,
    ) -> None:
        from monai.transforms import LoadImage

        self.image_shape = tuple(int(s) for s in image_shape)
        self._load = LoadImage(
            reader="NibabelReader",
            image_only=True,
            ensure_channel_first=True,
            dtype=np.float32,
            simple_keys=True,
        )
        self._cache: dict[str, np.ndarray] = {}
        self._cache_bytes = int(cache_bytes)
        self._cached = 0
        self._lock = threading.Lock()
        self._threads = max(1, int(threads))
        self._disk = Path(disk_cache) if disk_cache is not None else None
        self.decoded = 0

    def _disk_path(self, p: Path) -> Path | None:
        if self._disk is None:
            return None
        import hashlib

        st = p.stat()
        key = f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}|{self.image_shape}"
        return self._disk / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.npy"

    def load(self, path: str | Path) -> np.ndarray:
        """The image at ``path`` as read-only float32 ``(C, X, Y, Z)``; ImageError otherwise."""
        key = str(path)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        p = Path(key)
        if not p.is_file():
            raise ImageError(key, "file not found" if not p.exists() else "not a regular file")
        cached = self._disk_path(p)
        if cached is not None and cached.is_file():
            try:
                arr = np.load(cached)
                if arr.shape == self.image_shape and arr.dtype == np.float32:
                    arr.setflags(write=False)
                    return self._keep(key, arr)
            except (OSError, ValueError):
                pass  # a damaged cache entry: decode again
        try:
            data = self._load(key)
        except Exception as exc:
            cause = exc
            while cause.__cause__ is not None:  # MONAI wraps reader errors
                cause = cause.__cause__
            raise ImageError(
                key, f"cannot be decoded (corrupted or truncated?): {type(cause).__name__}: {cause}"
            ) from None
        arr = np.ascontiguousarray(np.asarray(data), dtype=np.float32)
        if arr.ndim == 3:
            arr = arr[None]
        if arr.shape != self.image_shape:
            raise ImageError(
                key, f"has shape {tuple(arr.shape)} (channels first), expected {self.image_shape}"
            )
        if not np.isfinite(arr).all():
            bad = int(arr.size - np.isfinite(arr).sum())
            raise ImageError(key, f"has {bad} NaN or infinite voxel(s)")
        arr.setflags(write=False)
        with self._lock:
            self.decoded += 1
        if cached is not None:
            import io

            from brainbench.runner._io import atomic_write_bytes

            buf = io.BytesIO()
            np.save(buf, arr)
            atomic_write_bytes(cached, buf.getvalue())
        return self._keep(key, arr)

    def _keep(self, key: str, arr: np.ndarray) -> np.ndarray:
        with self._lock:
            if self._cache_bytes and self._cached + arr.nbytes <= self._cache_bytes:
                self._cache[key] = arr
                self._cached += arr.nbytes
        return arr

    def load_many(
        self, paths: Sequence[str]
    ) -> tuple[dict[int, np.ndarray], dict[int, ImageError]]:
        """Load ``paths`` (in threads); arrays and errors by position."""
        arrays: dict[int, np.ndarray] = {}
        errors: dict[int, ImageError] = {}

        def one(i: int) -> None:
            try:
                arrays[i] = self.load(paths[i])
            except ImageError as exc:
                errors[i] = exc

        if len(paths) <= 1 or self._threads == 1:
            for i in range(len(paths)):
                one(i)
        else:
            with ThreadPoolExecutor(self._threads) as pool:
                list(pool.map(one, range(len(paths))))
        return arrays, errors


__all__ = ["ImageError", "ImageLoader", "common_geometry", "header_geometry"]
