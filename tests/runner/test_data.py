"""The runner's image loader: MONAI decoding, and the disk cache shared by processes."""

from __future__ import annotations

import shutil

import nibabel as nib
import numpy as np

from brainbench.runner import ImageLoader
from brainbench.runner._data import common_geometry


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
