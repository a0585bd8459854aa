"""The frozen split file: a TSV with a stable byte layout, pinned by its sha256."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from brainbench.errors import UserError
from brainbench.hashing import sha256_file
from brainbench.split._make import SPLIT_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

#: A split table above this is not one brainbench wrote (2 million rows take ~200 MB).
MAX_SPLIT_BYTES = 1 << 30


def write_split_file(splits: pd.DataFrame, path: str | Path) -> str:
    """Write the split table as UTF-8 TSV (``\\n`` line ends, ``n/a`` for missing); its sha256.

    The bytes depend only on the table, never on the platform or the pandas version's defaults.
    """
    missing = [c for c in SPLIT_COLUMNS if c not in splits.columns]
    if missing:
        raise ValueError(f"split table lacks column(s): {', '.join(missing)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with open(path, "wb") as fh:
        for chunk in _tsv_chunks(splits):
            digest.update(chunk)
            fh.write(chunk)
    return digest.hexdigest()


def split_tsv_bytes(splits: pd.DataFrame) -> bytes:
    """The bytes of a split file: header, then one line per row, tab-separated, ``n/a`` for
    missing ids, ``\\n`` line ends. Written with Arrow's CSV writer (10x faster than pandas at
    millions of rows); the bytes are those of ``DataFrame.to_csv(sep='\\t', na_rep='n/a')``."""
    return b"".join(_tsv_chunks(splits))


def _tsv_chunks(splits: pd.DataFrame, rows: int = 500_000) -> Iterator[bytes]:
    """The split file in pieces of ``rows`` lines (bounded memory at millions of rows).

    Each id column becomes a dictionary (distinct values) and integer codes once; a value with
    a tab or a line break is refused (checked once per distinct value)."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    encoded: dict[str, tuple[np.ndarray, pa.Array] | np.ndarray] = {}
    for col in SPLIT_COLUMNS:
        s = splits[col]
        if col in ("repeat", "fold"):
            encoded[col] = s.to_numpy(dtype="int64")
            continue
        if isinstance(s.dtype, pd.CategoricalDtype):
            codes = s.cat.codes.to_numpy().astype(np.int64)
            values = s.cat.categories.astype(str).to_numpy(dtype=object)
        else:
            codes, uniques = pd.factorize(s.astype("string"), use_na_sentinel=True)
            values = np.asarray(uniques.astype(str), dtype=object)
        values = np.append(values, "n/a").astype(object)
        codes = np.where(codes < 0, len(values) - 1, codes)
        dictionary = pa.array(values, type=pa.string())
        if pc.any(pc.match_substring_regex(dictionary, r"[\t\n\r]")).as_py():
            raise ValueError(f"split table column '{col}' holds a tab or a line break")
        encoded[col] = (codes, dictionary)

    yield ("\t".join(SPLIT_COLUMNS) + "\n").encode("utf-8")
    options = pcsv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none")
    for start in range(0, len(splits), rows):
        columns = {}
        for col, enc in encoded.items():
            if isinstance(enc, tuple):
                codes, dictionary = enc
                part = pa.array(codes[start : start + rows])
                columns[col] = pa.DictionaryArray.from_arrays(part, dictionary).cast(pa.string())
            else:
                columns[col] = pa.array(enc[start : start + rows])
        out = pa.BufferOutputStream()
        pcsv.write_csv(pa.table(columns), out, options)
        yield out.getvalue().to_pybytes()


def read_split_file(path: str | Path, *, sha256: str | None = None) -> pd.DataFrame:
    """Read a split file; UserError naming the file if it is missing, malformed or altered.

    With ``sha256``, the file's hash must match (a pinned split that changed is refused).
    Id columns stay text (``n/a`` becomes missing); ``repeat`` and ``fold`` are integers.
    The file is parsed before it is hashed: the hash of a file that is not a split table (any
    readable file a spec may name) is never printed.
    """
    import pandas as pd

    from brainbench.cohort._io import read_text
    from brainbench.spec.yaml_loader import check_regular_file

    path = Path(path)
    check_regular_file(path, limit=MAX_SPLIT_BYTES, what="split table")
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
    if sha256 is not None:
        actual = sha256_file(path)
        if actual != sha256:
            raise UserError(
                f"{path}: sha256 is {actual}, but the spec pins {sha256}: the split file "
                "changed since it was frozen. Regenerate it with `brainbench split` and update "
                "splits.file.sha256, or restore the original file."
            )
    return df
