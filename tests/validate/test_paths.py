"""File sizes in bulk (D301): equal to one ``os.stat`` per path, whatever the paths look like."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brainbench.validate import _paths
from brainbench.validate._paths import file_sizes


def reference(paths: list[str]) -> list[int]:
    """What D301 did before: one stat per path."""
    out = []
    for p in paths:
        try:
            out.append(os.stat(p).st_size)
        except (OSError, ValueError):
            out.append(-1)
    return out


def make_tree(root: Path) -> list[str]:
    """A BIDS-like tree with missing subjects, sessions and files, and odd paths."""
    paths = []
    for s in range(12):
        for k in range(3):
            folder = root / f"sub-{s:02d}" / f"ses-{k}" / "anat"
            f = folder / f"sub-{s:02d}_ses-{k}_T1w.nii.gz"
            if s % 3 and k != 2:  # subjects 0, 3, 6, 9 and every third session missing
                folder.mkdir(parents=True, exist_ok=True)
                if (s + k) % 4:
                    f.write_bytes(b"x" * (s + k))  # sizes shared across subjects, one empty
            paths.append(str(f))
    flat = root / "flat"
    flat.mkdir()
    for i in range(20):
        if i % 2:
            (flat / f"img{i}.nii").write_bytes(b"y" * i)
        paths.append(str(flat / f"img{i}.nii"))
    (flat / "café.nii").write_bytes(b"z")  # NFC on disk
    (flat / "dir.nii").mkdir()
    (flat / "link.nii").symlink_to(flat / "img1.nii")
    (flat / "broken.nii").symlink_to(flat / "gone.nii")
    odd = [
        str(flat) + "//img1.nii",
        str(flat) + "/./img3.nii",
        str(flat) + "/../flat/img5.nii",
        str(flat / "img1.nii") + "/x.nii",  # a file used as a folder
        str(flat / "cafe\u0301.nii"),  # NFD spelling of a name stored NFC
        str(flat / "IMG1.nii"),
        str(flat / "dir.nii"),
        str(flat / "link.nii"),
        str(flat / "broken.nii"),
        str(flat / "with space.nii"),
        "relative/missing.nii",
        str(root / "sub-01" / "ses-0" / "anat") + "/",
        "/",
        "",
    ]
    return paths + odd


@pytest.mark.parametrize("dense", [1, 2, 8])
@pytest.mark.parametrize("block", [1 << 18, 7])
def test_equal_to_one_stat_per_path(tmp_path: Path, dense: int, block: int) -> None:
    paths = make_tree(tmp_path)
    assert file_sizes(paths, dense=dense, block=block).tolist() == reference(paths)


def test_a_listing_that_lacks_existing_names_is_not_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An automounter lists nothing until a key is used: the probes find the names, so the
    # folder's listing rules nothing out.
    paths = make_tree(tmp_path)
    monkeypatch.setattr(_paths.os, "listdir", lambda folder: [])
    assert file_sizes(paths, dense=1).tolist() == reference(paths)


def test_a_case_insensitive_listing_rules_out_nothing_it_may_hold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A listing in another case than the paths (as on a case-insensitive file system, where
    # the swapped-case probe resolves) does not hide files that exist.
    paths = make_tree(tmp_path)
    listdir = os.listdir
    monkeypatch.setattr(_paths.os, "listdir", lambda folder: [x.upper() for x in listdir(folder)])
    assert file_sizes(paths, dense=1).tolist() == reference(paths)


def test_unreadable_folders_fall_back_to_stat(tmp_path: Path) -> None:
    paths = make_tree(tmp_path)
    (tmp_path / "flat").chmod(0o100)  # walkable, not listable
    try:
        assert file_sizes(paths, dense=1).tolist() == reference(paths)
    finally:
        (tmp_path / "flat").chmod(0o755)


def test_whole_missing_trees_cost_no_stat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = [str(tmp_path / f"sub-{i}" / "anat" / "t1.nii") for i in range(50)]
    calls: list[str] = []
    monkeypatch.setattr(_paths, "stat_sizes", lambda p: calls.extend(p) or [-1] * len(p))
    assert (file_sizes(paths) == -1).all()
    assert calls == []


names = st.sampled_from(["a", "b", "B", "c.nii", "", ".", "..", "é", "e\u0301"])


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    made=st.lists(st.lists(names, min_size=1, max_size=4), max_size=12),
    asked=st.lists(st.lists(names, min_size=1, max_size=4), min_size=1, max_size=30),
    dense=st.integers(1, 4),
)
def test_random_trees(tmp_path_factory: pytest.TempPathFactory, made, asked, dense) -> None:
    root = tmp_path_factory.mktemp("tree")
    for parts in made:
        target = root.joinpath(*[p for p in parts if p not in ("", ".", "..")] or ["f"])
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                target.write_bytes(b"q" * len(parts))
        except OSError:  # a file where a folder is wanted: part of the tree as it is
            pass
    paths = [str(root) + "/" + "/".join(parts) for parts in asked]
    assert np.array_equal(file_sizes(paths, dense=dense), reference(paths))
