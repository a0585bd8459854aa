"""Reference masks of a segmentation task: one mask file per image, found from the spec's
``task.reference`` and added to the cohort table as ``reference_path``.

The masks are the segmentation task's target: like a classification target column, only the
runner reads them (they never reach a model process, and test masks never leave the runner).

* ``bids-derivative``: the derivative folder mirrors the cohort's BIDS folder; the mask of
  ``sub-01/ses-1/anat/sub-01_ses-1_FLAIR.nii.gz`` is
  ``<path>/sub-01/ses-1/anat/sub-01_ses-1[_<entities>]_<suffix>.nii[.gz]`` (the image's
  entities, then any others such as ``space-`` or ``desc-``, then the suffix).
* ``caps``: ``<path>/subjects/sub-<s>/ses-<t>/**/sub-<s>_ses-<t>*_<suffix>.nii[.gz]``.
* ``column``: the path in a column of the cohort table (relative paths from the manifest's
  folder).

A mask that is missing, a choice between several, or a mask off its image's voxel grid (shape
or affine, read from the headers) is an error finding naming the image and the file or folder;
such images cannot be scored.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from brainbench.cohort._findings import cohort_finding, lines_text

if TYPE_CHECKING:
    import pandas as pd

    from brainbench.validate.findings import Finding

REFERENCE_COLUMN = "reference_path"
_NIFTI = re.compile(r"\.nii(\.gz)?$")


def _stem(name: str) -> str:
    """``sub-01_ses-1_FLAIR.nii.gz`` -> ``sub-01_ses-1`` (entities without the suffix)."""
    base = _NIFTI.sub("", name)
    return base.rsplit("_", 1)[0] if "_" in base else base


def _one(candidates: list[str], where: str) -> tuple[str | None, str | None]:
    """The single candidate, or why there is none."""
    if len(candidates) == 1:
        return candidates[0], None
    if not candidates:
        return None, f"no reference mask in {where}"
    names = ", ".join(os.path.basename(c) for c in sorted(candidates)[:3])
    return None, f"{len(candidates)} candidate reference masks in {where} ({names})"


def _bids_mask(image_path: str, cohort_root: Path, ref_root: Path, suffix: str):
    rel = os.path.relpath(image_path, cohort_root)
    if rel.startswith(".."):
        return None, f"the image {image_path} is not inside the cohort folder {cohort_root}"
    folder = ref_root / os.path.dirname(rel)
    stem = _stem(os.path.basename(rel))
    try:
        names = os.listdir(folder)
    except OSError:
        return None, f"no folder {folder}"
    pattern = re.compile(rf"^{re.escape(stem)}(_[A-Za-z0-9]+-[A-Za-z0-9]+)*_{suffix}\.nii(\.gz)?$")
    return _one([str(folder / n) for n in names if pattern.match(n)], str(folder))


def _caps_mask(subject: str, session: str, ref_root: Path, suffix: str):
    folder = ref_root / "subjects" / subject / session
    found = [
        str(p)
        for p in folder.rglob(f"{subject}_{session}*_{suffix}.nii*")
        if _NIFTI.search(p.name) and p.is_file()
    ]
    return _one(found, str(folder))


def _grid_problems(table: pd.DataFrame, paths: list[str | None], skip: set[int]):
    """Masks that are not on their image's voxel grid (shape, affine), from the headers only:
    such a mask cannot score a prediction made on the image."""
    import nibabel as nib
    import numpy as np

    out: list[tuple[int, str]] = []
    images = table["image_path"] if "image_path" in table else [None] * len(table)
    for i, (mask, image) in enumerate(zip(paths, images, strict=True)):
        if i in skip or mask is None or image is None or image != image:
            continue
        try:
            m, g = nib.load(mask), nib.load(str(image))
        except Exception as exc:  # unreadable either way: the runner names the file
            out.append((i, f"{mask} or its image cannot be read ({type(exc).__name__})"))
            continue
        if tuple(m.shape[:3]) != tuple(g.shape[:3]):
            out.append((i, f"{mask} has shape {m.shape[:3]}, its image {g.shape[:3]}"))
        elif not np.allclose(m.affine, g.affine, atol=1e-3):
            out.append((i, f"{mask} has another affine than its image {image}"))
    return out


def attach_reference_masks(
    table: pd.DataFrame, reference: Any, cohort_root: Path, resolve: Any
) -> tuple[pd.DataFrame, list[Finding]]:
    """``table`` with a ``reference_path`` column, and an error finding per kind of problem.

    ``reference`` is the spec's ``task.reference``; ``cohort_root`` the cohort's source folder
    (or the manifest's folder); ``resolve`` expands ``${VAR}`` in a path.
    """
    import pandas as pd

    paths: list[str | None] = []
    problems: list[tuple[int | None, str]] = []
    if reference.source == "column":
        if reference.column not in table.columns:
            finding = cohort_finding(
                "reference-mask",
                f"the reference column '{reference.column}' is not a column of the cohort "
                f"table (columns: {', '.join(map(str, table.columns[:12]))})",
                file=str(table["cohort_file"].iloc[0]) if len(table) else None,
                line=1,
                hint="Name the manifest column holding each image's mask in task.reference.",
            )
            return table.assign(**{REFERENCE_COLUMN: pd.NA}), [finding]
        base = Path(cohort_root)
        for value in table[reference.column].astype("string"):
            if value is pd.NA or not str(value).strip():
                paths.append(None)
                continue
            p = Path(str(value))
            paths.append(str(p if p.is_absolute() else (base / p).resolve()))
        for i, p in enumerate(paths):
            if p is not None and not Path(p).is_file():
                problems.append((i, f"reference mask {p} not found"))
            elif p is None:
                problems.append((i, f"no reference mask in column '{reference.column}'"))
    else:
        ref_root = resolve(reference.path)
        if not ref_root.is_absolute():
            ref_root = (Path(cohort_root) / ref_root).resolve()
        for i, row in enumerate(table.itertuples(index=False)):
            image = getattr(row, "image_path", None)
            if reference.source == "bids-derivative":
                if image is None or image is pd.NA:
                    found, why = None, "the image has no file"
                else:
                    found, why = _bids_mask(
                        str(image), Path(cohort_root), ref_root, reference.suffix
                    )
            else:
                found, why = _caps_mask(
                    str(row.subject), str(row.session), ref_root, reference.suffix
                )
            paths.append(found)
            if why is not None:
                problems.append((i, why))
    problems += _grid_problems(table, paths, {i for i, _ in problems})
    problems.sort(key=lambda x: x[0])
    out = table.assign(**{REFERENCE_COLUMN: pd.array(paths, dtype="string")})
    findings = []
    if problems:
        rows = [i for i, _ in problems]
        first = table.iloc[rows[0]]
        lines = (
            [int(x) for x in table["cohort_row"].iloc[rows].dropna()]
            if "cohort_row" in table
            else []
        )
        findings.append(
            cohort_finding(
                "reference-mask",
                f"{len(problems)} image(s) without a usable reference mask (first: subject "
                f"{first.get('subject')}, session {first.get('session')}: {problems[0][1]}"
                + (f"; {lines_text(lines)}" if lines else "")
                + ")",
                file=str(first.get("cohort_file")) if "cohort_file" in table else None,
                line=lines[0] if lines else None,
                hint="Every image of a segmentation task needs its reference mask: add the "
                "missing masks, fix task.reference (path, suffix), or drop those sessions with "
                "the cohort's include filter.",
            )
        )
    return out, findings


__all__ = ["REFERENCE_COLUMN", "attach_reference_masks"]
