"""The runner's image loader: nibabel decoding equal to MONAI's, checks before decoding, and
the disk cache shared by processes."""

from __future__ import annotations

import gzip
import io
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from brainbench.runner import ImageError, ImageLoader
from brainbench.runner._data import common_geometry, common_orientation, read_image


def test_disk_cache_decodes_each_volume_once(cohorts, tmp_path):
    src = sorted(cohorts.glob("dev/sub-*/ses-*/anat/*_T1w.nii.gz"))[:3]
    shape = (1, *nib.load(str(src[0])).shape)
    first = ImageLoader(shape, disk_cache=tmp_path / "cache")
    arrays = [first.load(p) for p in src]
    assert first.decoded == 3 and len(list((tmp_path / "cache").glob("*.npy"))) == 3
    second = ImageLoader(shape, disk_cache=tmp_path / "cache")  # another process, say
    again = [second.load(p) for p in src]
    assert second.decoded == 0
    for a, b in zip(arrays, again, strict=True):
        np.testing.assert_array_equal(a, b)
        assert b.dtype == np.float32 and not b.flags.writeable
    victim = sorted((tmp_path / "cache").glob("*.npy"))[0]
    victim.write_bytes(b"garbage")  # a damaged entry is decoded again, not trusted
    third = ImageLoader(shape, disk_cache=tmp_path / "cache")
    [third.load(p) for p in src]
    assert third.decoded == 1


def test_a_changed_file_is_not_served_from_the_cache(cohorts, tmp_path):
    src = sorted(cohorts.glob("dev/sub-*/ses-*/anat/*_T1w.nii.gz"))[0]
    path = tmp_path / src.name
    shutil.copy(src, path)
    shape = (1, *nib.load(str(path)).shape)
    before = ImageLoader(shape, disk_cache=tmp_path / "cache").load(path)
    img = nib.load(str(path))
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj, np.float32) * 2, img.affine), str(path))
    after = ImageLoader(shape, disk_cache=tmp_path / "cache").load(path)
    assert not np.array_equal(before, after)


def test_common_geometry_is_the_modal_shape(cohorts):
    paths = [str(p) for p in sorted(cohorts.glob("*/sub-*/ses-*/anat/*_T1w.nii.gz"))]
    shape, zooms, channels = common_geometry(paths)
    assert len(shape) == 3 and channels == 1 and zooms == (4.0, 4.0, 4.0)


# -- reading: same arrays as MONAI, checks before decoding ------------------------------------
_AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])


def _monai(path: Path) -> np.ndarray:
    from monai.transforms import LoadImage

    load = LoadImage(reader="NibabelReader", image_only=True, ensure_channel_first=True,
                     dtype=np.float32, simple_keys=True)  # fmt: skip
    return np.asarray(load(str(path)))


def _variants(rng: np.random.Generator) -> dict[str, nib.Nifti1Image]:
    scaled = nib.Nifti1Image(rng.integers(-300, 3000, (7, 8, 9)).astype(np.int16), _AFFINE)
    scaled.header.set_slope_inter(0.37, 12.5)
    return {
        "scaled-int16.nii.gz": scaled,
        "float64.nii": nib.Nifti1Image(rng.normal(size=(7, 8, 9)), _AFFINE),
        "channels-last.nii.gz": nib.Nifti1Image(
            rng.normal(size=(7, 8, 9, 3)).astype(np.float32), _AFFINE
        ),
        "uint8.nii.gz": nib.Nifti1Image(rng.integers(0, 255, (7, 8, 9)).astype(np.uint8), _AFFINE),
        "nifti2.nii.gz": nib.Nifti2Image(rng.normal(size=(7, 8, 9)).astype(np.float32), _AFFINE),
        "big-endian.nii": nib.Nifti1Image(rng.normal(size=(7, 8, 9)).astype(">f4"), _AFFINE),
    }


def test_arrays_equal_monai_loadimage(cohorts, tmp_path):
    """The nibabel path gives MONAI LoadImage's arrays (channel first, float32), bit for bit,
    on the cohort's files and on scaled, 4D, NIfTI-2, big-endian and uncompressed files."""
    paths = sorted(cohorts.glob("dev/sub-*/ses-*/anat/*_T1w.nii.gz"))[:2]
    for name, img in _variants(np.random.default_rng(0)).items():
        nib.save(img, str(tmp_path / name))
        paths.append(tmp_path / name)
    for p in paths:
        got = read_image(p)
        want = _monai(p)
        assert got.shape == want.shape and got.dtype == np.float32, p.name
        assert got.flags.c_contiguous and not got.flags.writeable
        np.testing.assert_array_equal(got, want, err_msg=p.name)


def _bomb(path: Path, shape=(640, 640, 640), members: int = 64) -> None:
    """A gzip file of ~1 MB whose header announces a float32 volume of ``shape``, followed by
    ``members`` gzip members of 16 MiB of zeros each (1 GiB decompressed)."""
    hdr = nib.Nifti1Header()
    hdr.set_data_shape(shape)
    hdr.set_data_dtype(np.float32)
    buf = io.BytesIO()
    hdr.write_to(buf)
    buf.write(b"\0" * (352 - buf.tell()))
    zeros = gzip.compress(bytes(16 << 20), compresslevel=9)
    path.write_bytes(gzip.compress(buf.getvalue()) + zeros * members)


def test_a_gzip_bomb_is_refused_from_its_header(tmp_path, monkeypatch):
    path = tmp_path / "bomb.nii.gz"
    _bomb(path)
    assert path.stat().st_size < 2 << 20

    def no_decoding(*args, **kwargs):
        raise AssertionError("the voxels were decoded")

    monkeypatch.setattr("brainbench.runner._data.np.frombuffer", no_decoding)
    with pytest.raises(ImageError) as info:
        ImageLoader((1, 50, 59, 48)).load(path)
    msg = str(info.value)
    assert "(1, 640, 640, 640)" in msg and "refused without decoding" in msg
    assert "\n" not in msg
    with pytest.raises(ImageError, match=r"over the 2 GiB limit"):
        _bomb(tmp_path / "huge.nii.gz", (1024, 1024, 1024), members=1)
        read_image(tmp_path / "huge.nii.gz")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "is empty (0 bytes)"),
        (
            b"\\\x01\x00\x00 an uncompressed NIfTI renamed",
            "is named .gz but is not gzip-compressed",
        ),
        (gzip.compress(b"hello, not a NIfTI header" * 40), "is not a NIfTI image"),
    ],
)
def test_bad_files_get_a_one_line_message(tmp_path, content, problem):
    path = tmp_path / "sub-01_T1w.nii.gz"
    path.write_bytes(content)
    with pytest.raises(ImageError) as info:
        read_image(path, (1, 7, 8, 9))
    assert problem in str(info.value) and str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_corrupted_or_truncated_gzip_is_named(tmp_path):
    img = nib.Nifti1Image(np.random.default_rng(1).normal(size=(7, 8, 9)), _AFFINE)
    data = gzip.compress(img.to_bytes())
    (tmp_path / "cut.nii.gz").write_bytes(data[: len(data) // 2])
    (tmp_path / "bad.nii.gz").write_bytes(data[:40] + bytes(60) + data[100:])
    with pytest.raises(ImageError, match="truncated"):
        read_image(tmp_path / "cut.nii.gz", (1, 7, 8, 9))
    with pytest.raises(ImageError, match="corrupted gzip data"):
        read_image(tmp_path / "bad.nii.gz", (1, 7, 8, 9))


def test_non_numeric_voxels_and_5d_images_are_refused(tmp_path):
    rgb = np.zeros((7, 8, 9), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    nib.save(nib.Nifti1Image(rgb, _AFFINE), str(tmp_path / "rgb.nii.gz"))
    with pytest.raises(ImageError, match="integer or floating-point"):
        read_image(tmp_path / "rgb.nii.gz")
    nib.save(nib.Nifti1Image(np.zeros((7, 8, 9, 1, 2), np.float32), _AFFINE),
             str(tmp_path / "5d.nii.gz"))  # fmt: skip
    with pytest.raises(ImageError, match="5 dimensions"):
        read_image(tmp_path / "5d.nii.gz")


def test_orientation_is_checked_from_the_header(tmp_path):
    data = np.ones((7, 8, 9), np.float32)
    nib.save(nib.Nifti1Image(data, _AFFINE), str(tmp_path / "ras.nii.gz"))
    nib.save(nib.Nifti1Image(data, np.diag([-2.0, -2.0, 2.0, 1.0])), str(tmp_path / "lps.nii.gz"))
    paths = [str(tmp_path / n) for n in ("ras.nii.gz", "ras.nii.gz", "lps.nii.gz")]
    assert common_orientation(paths) == ("R", "A", "S")
    loader = ImageLoader((1, 7, 8, 9), orientation=("R", "A", "S"))
    assert loader.load(paths[0]).shape == (1, 7, 8, 9)
    with pytest.raises(ImageError, match="is oriented LPS while the other images are RAS"):
        loader.load(paths[2])


def test_disk_cache_stops_at_its_cap(cohorts, tmp_path):
    src = sorted(cohorts.glob("dev/sub-*/ses-*/anat/*_T1w.nii.gz"))[:3]
    shape = (1, *nib.load(str(src[0])).shape)
    one = int(np.prod(shape)) * 4 + 128
    loader = ImageLoader(shape, disk_cache=tmp_path / "cache", disk_cache_bytes=2 * one)
    arrays = [loader.load(p) for p in src]
    assert loader.decoded == 3 and len(list((tmp_path / "cache").glob("*.npy"))) == 2
    again = ImageLoader(shape, disk_cache=tmp_path / "cache", disk_cache_bytes=2 * one)
    for p, a in zip(src, arrays, strict=True):
        np.testing.assert_array_equal(again.load(p), a)
    assert again.disk_hits == 2 and again.decoded == 1
