"""Same configuration and seed, same bytes; another seed, another cohort."""

import hashlib

from brainbench.synth import SynthConfig, generate_cohort


def _digests(root):
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_same_bytes(tiny, tmp_path):
    again = generate_cohort(tmp_path / "again", SynthConfig.preset("tiny"))
    first, second = _digests(tiny.path), _digests(again.path)
    assert first == second
    assert any(name.endswith("_T1w.nii.gz") for name in first)


def test_gzip_header_has_no_timestamp_or_name(tiny):
    for path in tiny.path.rglob("*.nii.gz"):
        head = path.read_bytes()[:10]
        assert head[:2] == b"\x1f\x8b"
        assert head[4:8] == b"\x00\x00\x00\x00"  # MTIME
        assert head[3] & 0x08 == 0  # FNAME flag unset


def test_other_seed_other_cohort(tiny, tmp_path):
    other = generate_cohort(tmp_path / "other", SynthConfig.preset("tiny", seed=1))
    a, b = _digests(tiny.path), _digests(other.path)
    images = [k for k in a if k.endswith(".nii.gz")]
    assert all(a[k] != b.get(k) for k in images)


def test_no_temporary_folder_left(tiny):
    leftovers = [p for p in tiny.path.parent.iterdir() if "synth-tmp" in p.name]
    assert leftovers == []
