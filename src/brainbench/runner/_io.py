"""Atomic writes and hashes for the run folder."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def atomic_write_bytes(path: str | Path, data: bytes) -> str:
    """Write ``data`` to ``path`` through a temporary sibling, fsync and ``os.replace``.

    A reader (or a resumed run) sees the old file or the complete new one, never a part.
    Returns the sha256 of ``data``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return sha256_bytes(data)


def atomic_write_json(path: str | Path, obj: Any) -> str:
    text = json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n"
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_parquet(path: str | Path, df: pd.DataFrame) -> str:
    """Write ``df`` as Parquet atomically; returns the sha256 of the file's bytes."""
    buf = io.BytesIO()
    df.to_parquet(buf, index=False, engine="pyarrow")
    return atomic_write_bytes(path, buf.getvalue())


def read_json(path: str | Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def parquet_safe(df: pd.DataFrame) -> pd.DataFrame:
    """A copy whose object columns are text (Parquet needs one type per column)."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or str(out[col].dtype) == "str":
            out[col] = out[col].map(lambda v: v if v is None or v != v else str(v)).astype("string")
    return out


__all__ = [
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_parquet",
    "parquet_safe",
    "read_json",
    "sha256_bytes",
]
