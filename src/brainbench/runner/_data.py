"""Image loading on the runner's side: nibabel, checks before and after decoding, a decode cache.

Only the runner (never the model code) sees image paths. An image is read in three steps:

1. the file itself: it exists, is not empty, and a ``.gz`` name holds gzip data;
2. the NIfTI header, decompressed alone (348 bytes, 540 for NIfTI-2): dimensions, shape,
   voxel type and the decoded size are checked against the task *before* any voxel is
   decoded, so that a small file whose header claims a huge volume (a gzip bomb) costs
   nothing; with an expected orientation, the axis codes of the header's affine too;
3. the voxels: decompressed in one go, interpreted by nibabel (``np.asanyarray(img.dataobj)``
   with the header's scaling, as MONAI's ``NibabelReader`` does), moved channel first (a 4D
   ``(X, Y, Z, C)`` image gives ``(C, X, Y, Z)``, as MONAI's ``EnsureChannelFirst``), converted
   to contiguous float32 and checked for NaN or infinite voxels.

The array equals what ``monai.transforms.LoadImage(reader="NibabelReader",
ensure_channel_first=True, dtype=float32)`` gave (``tests/runner/test_data.py`` checks it) at
about half of its cost: MONAI's metadata handling costs more than the decoding of a small
volume and the runner applies no MONAI transform (no resampling, no random component). Every
problem raises :class:`ImageError` with a one-line message naming the file.
"""

from __future__ import annotations

import functools
import io
import os
import shutil
import threading
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from isal import isal_zlib

#: Largest decoded image accepted (float32 bytes); a header claiming more is refused unread.
MAX_IMAGE_BYTES = 2 << 30
#: Default cap of the decoded-image disk cache: 16 GiB, or half the free space if less.
DEFAULT_CACHE_BYTES = 16 << 30
_HEADER_BYTES = 540  # a NIfTI-2 header (NIfTI-1: 348)


class ImageError(Exception):
    """An image that cannot be used: missing, unreadable, truncated, wrong shape, NaN voxels."""

    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _parse_header(head: bytes, path: str):
    """The NIfTI-1 or NIfTI-2 header at the start of ``head`` (by its sizeof_hdr field)."""
    import nibabel as nib

    if len(head) >= 4:
        for order in ("little", "big"):
            size = int.from_bytes(head[:4], order, signed=True)
            klass = {348: nib.Nifti1Header, 540: nib.Nifti2Header}.get(size)
            if klass is not None and len(head) >= size:
                try:
                    return klass.from_fileobj(io.BytesIO(head), check=False)
                except Exception as exc:
                    raise ImageError(
                        path, f"has an unreadable NIfTI header ({_one_line(exc)})"
                    ) from None
    raise ImageError(
        path,
        f"is not a NIfTI image: its first {min(len(head), 4)} bytes are no NIfTI-1 or NIfTI-2 "
        "header size (348 or 540); convert it to .nii or .nii.gz (e.g. dcm2niix, nibabel)",
    )


class _Gzip:
    """A gzip stream read forward in steps of a known size (all members, as ``gzip`` does).

    Inflated with ISA-L (``isal``, zlib's interface and output): about 1.6x zlib's speed on
    MNI-sized volumes (benchmarks/runner/README.md), so the runner decodes faster than nibabel.
    """

    def __init__(self, raw: bytes, path: str) -> None:
        self.path = path
        self._z = isal_zlib.decompressobj(wbits=31)
        self._tail = raw

    def read(self, n: int) -> bytes:
        """The next ``n`` decompressed bytes (fewer where the data end)."""
        parts: list[bytes] = []
        have = 0
        while have < n:
            try:
                out = self._z.decompress(self._tail, n - have)
            except isal_zlib.error as exc:
                raise ImageError(
                    self.path, f"cannot be decoded: corrupted gzip data ({_one_line(exc)})"
                ) from None
            self._tail = self._z.unconsumed_tail
            if not out:
                if not (self._z.eof and self._z.unused_data):
                    break
                # The next member of a multi-member gzip file.
                self._tail = self._z.unused_data
                self._z = isal_zlib.decompressobj(wbits=31)
                continue
            parts.append(out)
            have += len(out)
        return parts[0] if len(parts) == 1 else b"".join(parts)


def _read_checked(
    path: str, expected: tuple[int, ...] | None, orientation: tuple[str, ...] | None
) -> tuple[Any, bytes, bytes]:
    """``(header, header bytes, voxel bytes)``: the header checked against ``expected``
    (channels first) and ``orientation`` before any voxel is decompressed; then the voxels
    alone, in one piece (no copy of the volume to join it to its header)."""
    p = Path(path)
    if not p.is_file():
        raise ImageError(path, "file not found" if not p.exists() else "not a regular file")
    with open(p, "rb") as fh:
        start = fh.read(2)
        if not start:
            raise ImageError(path, "is empty (0 bytes): copy or export it again")
        gz = start == b"\x1f\x8b"
        if path.endswith(".gz") and not gz:
            raise ImageError(
                path,
                f"is named .gz but is not gzip-compressed (it starts with "
                f"{start + fh.read(2)!r}): rename it to .nii if it is an uncompressed NIfTI, or "
                "compress it with gzip",
            )
        if gz:
            stream = _Gzip(start + fh.read(), path)
            read = stream.read
        else:
            fh.seek(0)
            read = fh.read
        head = read(348)  # a NIfTI-1 header; NIfTI-2 announces 540 bytes in its first 4
        if len(head) >= 4 and 540 in (
            int.from_bytes(head[:4], "little"),
            int.from_bytes(head[:4], "big"),
        ):
            head += read(_HEADER_BYTES - len(head))
        header = _parse_header(head, path)
        need = _check_header(header, path, expected, orientation)
        offset = int(header.get_data_offset())
        if offset < len(head):
            raise ImageError(
                path, f"has a voxel offset ({offset}) inside its own header: the file is damaged"
            )
        read(offset - len(head))  # the header extensions, if any
        voxels = read(need - offset)
    if len(voxels) < need - offset:
        raise ImageError(
            path,
            f"cannot be decoded: truncated, the header announces {need - offset:,} bytes of "
            f"voxels and the file holds {len(voxels):,}; copy it again",
        )
    return header, head, voxels


def _spatial_and_channels(shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """Channels-first ``(C, X, Y, Z)`` of a 3D or 4D (channels last) NIfTI shape."""
    if len(shape) == 3:
        return (1, *shape)
    if len(shape) == 4:
        return (shape[3], *shape[:3])
    return None


def _check_header(header, path: str, expected, orientation) -> int:
    """Check shape, voxel type, size and orientation; return the bytes up to the last voxel."""
    import nibabel as nib

    shape = tuple(int(s) for s in header.get_data_shape())
    dtype = header.get_data_dtype()
    if dtype.kind not in "biuf" or dtype.fields is not None:
        raise ImageError(
            path,
            f"has voxels of type {dtype} (NIfTI datatype code {int(header['datatype'])}); "
            "brainbench reads integer or floating-point images: convert it (e.g. to float32)",
        )
    cf = _spatial_and_channels(shape)
    if cf is None:
        raise ImageError(
            path,
            f"has {len(shape)} dimensions {shape}; brainbench reads 3D images (X, Y, Z) or 4D "
            "ones with channels last (X, Y, Z, C)",
        )
    n_vox = int(np.prod(shape, dtype=np.int64))
    if n_vox * 4 > MAX_IMAGE_BYTES:
        raise ImageError(
            path,
            f"has a header announcing shape {shape} ({n_vox * 4 / 2**30:.1f} GiB as float32, "
            f"over the {MAX_IMAGE_BYTES >> 30} GiB limit); refused without decoding",
        )
    if expected is not None and cf != tuple(expected):
        raise ImageError(
            path,
            f"has shape {cf} (channels first; header shape {shape}), expected "
            f"{tuple(expected)}; refused without decoding: resample or crop it like the others",
        )
    if orientation is not None:
        codes = tuple(nib.aff2axcodes(header.get_best_affine()))
        if codes != tuple(orientation):
            raise ImageError(
                path,
                f"is oriented {''.join(str(c) for c in codes)} while the other images are "
                f"{''.join(orientation)}: reorient it (e.g. fslreorient2std or "
                "nibabel.as_closest_canonical) so that voxel axes mean the same in every image",
            )
    return int(header.get_data_offset()) + n_vox * dtype.itemsize


def read_image(
    path: str | Path,
    expected: Sequence[int] | None = None,
    orientation: Sequence[str] | None = None,
) -> np.ndarray:
    """The image at ``path`` as contiguous float32 ``(C, X, Y, Z)``, checked (module doc).

    ``expected`` is the channels-first shape every image must have and ``orientation`` the
    axis codes of its affine (e.g. ``("R", "A", "S")``); both are checked from the header,
    before decoding. Raises :class:`ImageError`.
    """
    import nibabel as nib

    key = str(path)
    header, head, voxels = _read_checked(
        key,
        None if expected is None else tuple(int(s) for s in expected),
        None if orientation is None else tuple(orientation),
    )
    shape = header.get_data_shape()
    slope, inter = header.get_slope_inter()
    if slope in (None, 1.0) and inter in (None, 0.0):
        raw = np.frombuffer(voxels, dtype=header.get_data_dtype()).reshape(shape, order="F")
    else:  # scaled data: nibabel's own scaling rules (dtype promotion included)
        klass = nib.Nifti2Image if isinstance(header, nib.Nifti2Header) else nib.Nifti1Image
        pad = bytes(int(header.get_data_offset()) - len(head))
        raw = np.asanyarray(klass.from_bytes(head + pad + voxels).dataobj)
    if raw.ndim == 4:
        raw = np.moveaxis(raw, -1, 0)
    arr = np.ascontiguousarray(raw, dtype=np.float32)
    if arr.ndim == 3:
        arr = arr[None]
    # One float64 sum finds any NaN or infinity (no overflow below 2^970 float32 voxels).
    if raw.dtype.kind == "f" and not np.isfinite(np.add.reduce(arr, axis=None, dtype=np.float64)):
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise ImageError(key, f"has {bad} NaN or infinite voxel(s)")
    arr.setflags(write=False)
    return arr


def header_geometry(
    path: str | Path,
) -> tuple[tuple[int, ...], tuple[float, ...], tuple[str, ...]] | None:
    """Shape, voxel size and axis codes from a NIfTI header (nothing decoded); None if
    unreadable."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return _header_geometry(str(path), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=1 << 16)
def _header_geometry(path: str, size: int, mtime_ns: int):
    """Cached by file identity: ``prepare_run`` reads the headers for the geometry and for the
    orientation (a changed file has another size or modification time)."""
    import nibabel as nib

    try:
        img = nib.load(path)
        shape = tuple(int(s) for s in img.shape)
        zooms = tuple(float(z) for z in img.header.get_zooms())
        codes = tuple(str(c) for c in nib.aff2axcodes(img.affine))
    except Exception:
        return None
    return shape, zooms, codes


def common_geometry(paths: Sequence[str]) -> tuple[tuple[int, int, int], tuple[float, ...], int]:
    """The modal spatial shape, its voxel size and the channel count of ``paths``' headers.

    A 4D image ``(X, Y, Z, C)`` counts as ``C`` channels. Raises ValueError when no header can
    be read.
    """
    spatial, zooms, channels, _ = _modal_geometry(paths)
    return spatial, zooms, channels


def common_orientation(paths: Sequence[str]) -> tuple[str, ...] | None:
    """The modal axis codes of ``paths``' headers (None when no header can be read)."""
    try:
        return _modal_geometry(paths)[3]
    except ValueError:
        return None


def _modal_geometry(paths: Sequence[str]):
    shapes: Counter[tuple[tuple[int, int, int], int]] = Counter()
    orient: Counter[tuple[str, ...]] = Counter()
    zooms: dict[tuple[tuple[int, int, int], int], tuple[float, ...]] = {}
    for p in paths:
        geo = header_geometry(p)
        if geo is None or len(geo[0]) < 3:
            continue
        shape, zoom, codes = geo
        key = (tuple(shape[:3]), int(shape[3]) if len(shape) > 3 else 1)
        shapes[key] += 1
        orient[codes] += 1
        zooms.setdefault(key, tuple(zoom[:3]))
    if not shapes:
        raise ValueError("no image header could be read")
    (spatial, channels), _ = shapes.most_common(1)[0]
    return spatial, zooms[(spatial, channels)], channels, orient.most_common(1)[0][0]


class ImageLoader:
    """Read images by path (:func:`read_image`); optional memory and disk caches.

    Parameters
    ----------
    image_shape
        Expected ``(C, X, Y, Z)`` of every image.
    cache_bytes
        Keep decoded arrays in memory up to this many bytes (0: none). The model host keeps
        its own cache, so the runner needs one only when several hosts share the images.
    threads
        Decoding threads for :meth:`load_many` (ISA-L releases the GIL while it inflates).
    disk_cache
        A folder where decoded, checked arrays are kept as ``.npy``, keyed by a hash of the
        file's resolved path, size, modification time and the expected shape, so that a
        resumed run, SLURM array tasks and several model hosts decode each volume once per run.
        None: no disk cache.
    disk_cache_bytes
        Cap of the disk cache (default :data:`DEFAULT_CACHE_BYTES`, or half the free space
        of its file system when less): once reached, further images are decoded but not
        stored. Each process counts what it finds at start plus what it writes, so parallel
        writers can overshoot by what they write at once.
    orientation
        Axis codes every image's affine must have (None: not checked).
    """

    def __init__(
        self,
        image_shape: Sequence[int],
        *,
        cache_bytes: int = 0,
        threads: int = 2,
        disk_cache: str | Path | None = None,
        disk_cache_bytes: int | None = None,
        orientation: Sequence[str] | None = None,
    ) -> None:
        self.image_shape = tuple(int(s) for s in image_shape)
        self.orientation = None if orientation is None else tuple(orientation)
        self._cache: dict[str, np.ndarray] = {}
        self._cache_bytes = int(cache_bytes)
        self._cached = 0
        self._lock = threading.Lock()
        self._threads = max(1, int(threads))
        self._disk = Path(disk_cache) if disk_cache is not None else None
        self.disk_cap = 0
        self.disk_used = 0
        if self._disk is not None:
            self._disk.mkdir(parents=True, exist_ok=True)
            free = shutil.disk_usage(self._disk).free
            cap = DEFAULT_CACHE_BYTES if disk_cache_bytes is None else int(disk_cache_bytes)
            self.disk_cap = min(cap, free // 2) if disk_cache_bytes is None else cap
            with os.scandir(self._disk) as entries:
                self.disk_used = sum(e.stat().st_size for e in entries if e.name.endswith(".npy"))
        self.decoded = 0
        self.disk_hits = 0

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
        cached = self._disk_path(p) if p.is_file() else None
        if cached is not None and cached.is_file():
            try:
                arr = np.load(cached)
                if arr.shape == self.image_shape and arr.dtype == np.float32:
                    arr.setflags(write=False)
                    with self._lock:
                        self.disk_hits += 1
                    return self._keep(key, arr)
            except (OSError, ValueError):
                pass  # a damaged cache entry: decode again
        arr = read_image(key, self.image_shape, self.orientation)
        with self._lock:
            self.decoded += 1
            store = cached is not None and self.disk_used + arr.nbytes + 128 <= self.disk_cap
            if store:
                self.disk_used += arr.nbytes + 128
        if store:
            self._store(cached, arr)
        return self._keep(key, arr)

    @staticmethod
    def _store(path: Path, arr: np.ndarray) -> None:
        """Write a cache entry atomically (temporary file, rename). No fsync: an entry lost in
        a crash is decoded again, and a damaged one fails ``np.load``'s checks."""
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            with open(tmp, "wb") as fh:
                np.save(fh, arr)
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)  # a full or read-only disk only costs the cache

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


__all__ = [
    "DEFAULT_CACHE_BYTES",
    "MAX_IMAGE_BYTES",
    "ImageError",
    "ImageLoader",
    "common_geometry",
    "common_orientation",
    "header_geometry",
    "read_image",
]
