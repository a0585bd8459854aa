"""The frozen split file: a TSV with a stable byte layout, pinned by its sha256."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import TYPE_CHECKING

from brainbench.errors import UserError
from brainbench.split._make import SPLIT_COLUMNS

if TYPE_CHECKING:
    import pandas as pd


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except FileNotFoundError:
        raise UserError(f"{path}: file not found.") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a folder, expected a file.") from None
    return digest.hexdigest()


def write_split_file(splits: pd.DataFrame, path: str | Path) -> str:
    """Write the split table as UTF-8 TSV (``\\n`` line ends, ``n/a`` for missing); its sha256.

    The bytes depend only on the table, never on the platform or the pandas version's defaults.
    """
    missing = [c for c in SPLIT_COLUMNS if c not in splits.columns]
    if missing:
        raise ValueError(f"split table lacks column(s): {', '.join(missing)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    splits[list(SPLIT_COLUMNS)].to_csv(
        buf, sep="\t", index=False, na_rep="n/a", lineterminator="\n"
    )
    data = buf.getvalue().encode("utf-8")
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def read_split_file(path: str | Path, *, sha256: str | None = None) -> pd.DataFrame:
    """Read a split file; UserError naming the file if it is missing, malformed or altered.

    With ``sha256``, the file's hash must match (a pinned split that changed is refused).
    Id columns stay text (``n/a`` becomes missing); ``repeat`` and ``fold`` are integers.
    """
    import pandas as pd

    from brainbench.cohort._io import read_text

    path = Path(path)
    if sha256 is not None:
        actual = sha256_file(path)
        if actual != sha256:
            raise UserError(
                f"{path}: sha256 is {actual}, but the spec pins {sha256}: the split file "
                "changed since it was frozen. Regenerate it with `brainbench split` and update "
                "splits.file.sha256, or restore the original file."
            )
    text = read_text(path)
    try:
        df = pd.read_csv(
            io.StringIO(text),
            sep="\t",
            dtype=str,
            keep_default_na=False,
            na_values=["n/a"],
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise UserError(f"{path}: not a split file (TSV expected): {exc}") from None
    missing = [c for c in SPLIT_COLUMNS if c not in df.columns]
    if missing:
        raise UserError(
            f"{path}:1: not a split file: missing column(s) {', '.join(missing)} "
            f"(expected {', '.join(SPLIT_COLUMNS)})."
        )
    for col in ("repeat", "fold"):
        num = pd.to_numeric(df[col], errors="coerce")
        bad = num.isna() | (num != num.round())
        if bad.any():
            first = int(bad.to_numpy().nonzero()[0][0])
            raise UserError(
                f"{path}:{first + 2}: column '{col}' must hold integers, found "
                f"{df[col].iloc[first]!r}."
            )
        df[col] = num.astype("int64")
    for col in ("cohort", "subject", "session", "image", "partition"):
        df[col] = df[col].astype("string")
    if df["partition"].isna().any():
        first = int(df["partition"].isna().to_numpy().nonzero()[0][0])
        raise UserError(f"{path}:{first + 2}: empty partition.")
    return df
