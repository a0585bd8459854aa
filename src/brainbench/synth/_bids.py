"""Byte-stable writers for the BIDS files: TSV, JSON and gzipped NIfTI without timestamps."""

from __future__ import annotations

import gzip
import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import nibabel as nib
import numpy as np


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    if any(c in text for c in "\t\n\r"):
        raise ValueError(f"TSV cell holds a tab or newline: {text!r}")
    return text


def write_tsv(path: Path, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """A TSV with a header, ``n/a`` for missing values and ``\\n`` line ends."""
    lines = ["\t".join(columns)]
    for row in rows:
        if len(row) != len(columns):
            raise ValueError(f"row of {len(row)} cells for {len(columns)} columns")
        lines.append("\t".join(_cell(v) for v in row))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def nifti_bytes(data: np.ndarray, affine: np.ndarray, description: str = "") -> bytes:
    """Uncompressed single-file NIfTI-1 bytes in MNI space (sform and qform code 4)."""
    img = nib.Nifti1Image(data, affine)
    hdr = img.header
    hdr.set_xyzt_units("mm", "sec")
    img.set_sform(affine, code="mni")
    img.set_qform(affine, code="mni")
    hdr.set_slope_inter(1.0, 0.0)
    if description:
        hdr["descrip"] = description.encode("ascii")[:79]
    return img.to_bytes()


def write_gzip(path: Path, payload: bytes, level: int = 6) -> str:
    """Write ``payload`` gzipped with no name and mtime 0 (stable bytes); return its sha256."""
    with (
        path.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=level, mtime=0) as gz,
    ):
        gz.write(payload)
    return hashlib.sha256(path.read_bytes()).hexdigest()
