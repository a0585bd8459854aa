"""Reading delimited text files (TSV/CSV) robustly: every failure is a UserError naming the file.

Values are read as strings ("n/a" and empty fields are missing, as in BIDS) and columns whose
every value parses as a number are converted to numbers afterwards, so that ``89+`` in an age
column keeps the column textual instead of failing the read.
"""

from __future__ import annotations

import io
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

from brainbench._files import check_regular_file
from brainbench.errors import UserError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

NA_VALUES = ["n/a", "N/A", "NA", "nan", "NaN", ""]
ID_COLUMNS = frozenset(
    {"subject", "session", "image", "filename", "site", "scanner", "dataset", "cohort"}
)


#: A cohort table of a million sessions is about 100 MB; anything far beyond is not a table.
MAX_TABLE_BYTES = 1 << 30


def read_text(path: Path) -> str:
    """The file's text, decoded as UTF-8 (a BOM is accepted); UserError naming the line if not.

    A FIFO, a device, a folder or a file over :data:`MAX_TABLE_BYTES` is refused before it is
    opened.
    """
    return _decode(path, _read_bytes(path))


def _read_bytes(path: Path) -> bytes:
    check_regular_file(path, limit=MAX_TABLE_BYTES, what="table file (TSV or CSV)")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot be read ({exc.strerror}).") from None


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UserError(
            f"{path}:{line}: not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}). "
            "Save the file as UTF-8 (for example `iconv -f latin1 -t utf-8`)."
        ) from None


def read_delimited(
    path: Path, sep: str | None = None, *, keep_text: Collection[str] = (), numbers: bool = True
) -> pd.DataFrame:
    """Read a TSV (``sep='\\t'``) or CSV file as strings, numbers converted where possible.

    The separator defaults to a tab for ``.tsv``/``.txt`` files and a comma otherwise. Columns in
    ``keep_text`` (identifiers such as ``participant_id``) and columns whose name ends in ``_id``
    stay text, so that ``01`` is not read as ``1``.
    """

    if sep is None:
        sep = "," if path.suffix.lower() == ".csv" else "\t"
    data = _read_bytes(path)
    plain = _read_plain(data, sep)
    if plain is not None:
        header, df = plain
    else:
        header, df = _read_general(path, _decode(path, data), sep)
    df.columns = header
    dupes = sorted({c for c in header if c and header.count(c) > 1})
    if any(not c for c in header):
        raise UserError(
            f"{path}:1: the header has an empty column name; is the separator "
            f"{_sep_name(sep)}? Columns read: {', '.join(df.columns)}."
        )
    if dupes:
        raise UserError(f"{path}:1: duplicate column name(s) in the header: {', '.join(dupes)}.")
    return to_numbers(df, keep_text=keep_text) if numbers else df


def _read_general(path: Path, text: str, sep: str) -> tuple[list[str], pd.DataFrame]:
    """Header and rows (columns numbered) by pandas' parser: quotes, blank lines, ragged rows."""
    import pandas as pd

    if not text.strip():
        raise UserError(f"{path}: the file is empty (expected a header line and rows).")
    if sep == "\t":
        text = drop_trailing_tabs(text)
    try:
        # header=None: a row longer than the header is an error, not a silent index column.
        df = pd.read_csv(
            # bytes, not a StringIO: the parser reads UTF-8, and a StringIO holds 4 bytes per
            # character (a 100 MB table would take 400 MB more)
            io.BytesIO(text.encode("utf-8")),
            encoding="utf-8",
            sep=sep,
            dtype=str,
            header=None,
            keep_default_na=False,
            na_values=NA_VALUES,
            engine="c",
            skip_blank_lines=True,
        )
    except pd.errors.ParserError as exc:
        raise UserError(f"{path}: cannot be parsed as {_sep_name(sep)}: {exc}") from None
    except pd.errors.EmptyDataError:
        raise UserError(f"{path}: the file is empty (expected a header line and rows).") from None
    header = ["" if pd.isna(c) else str(c).strip() for c in df.iloc[0]]
    return header, df.iloc[1:].reset_index(drop=True)


#: Smaller files always take pandas' parser (a few milliseconds either way); tests lower it.
PLAIN_MIN_BYTES = 1 << 20
_BOM = b"\xef\xbb\xbf"


#: Characters Python's ``str.splitlines`` (hence :func:`drop_trailing_tabs`) ends a line at,
#: besides ``\n`` and ``\r``, in UTF-8
_LINE_BREAKS = (
    b"\x0b",
    b"\x0c",
    b"\x1c",
    b"\x1d",
    b"\x1e",
    b"\xc2\x85",
    b"\xe2\x80\xa8",
    b"\xe2\x80\xa9",
)


def _plain(data: bytes, sep: str, start: int, header: bytes, table: pa.Table) -> bool:
    """True when no rule of pandas' parser beyond splitting lines and fields (and skipping
    empty lines, as Arrow does) applied to ``data`` (text from ``start``, after a BOM;
    ``header`` its first line; ``table`` Arrow's reading): no quote, carriage return or NUL
    byte, no line starting with a blank (pandas skips whitespace-only lines), and
    :func:`drop_trailing_tabs` would change nothing. Byte patterns longer than one byte are
    looked for in the parsed fields: a scan of the text for them costs more than parsing."""
    import pyarrow.compute as pc

    if any(b in data for b in (b'"', b"\r", b"\0")):
        return False
    blank = (" ",) if sep == "\t" else (" ", "\t")  # a tab starts a TSV's empty field
    if any(pc.any(pc.starts_with(table.column(0), c)).as_py() for c in blank):
        return False
    if sep == "\t" and (table.column(table.num_columns - 1).null_count or data.endswith(b"\t")):
        # (an empty last field is missing) a tab ending a line is dropped only from a line
        # one field longer than the header, which Arrow refuses (pandas' path then reads the
        # file), or from the header itself; but drop_trailing_tabs splits lines where Python
        # does
        return not header.endswith(b"\t") and not any(b in data for b in _LINE_BREAKS)
    return True


def _read_plain(data: bytes, sep: str) -> tuple[list[str], pd.DataFrame] | None:
    """Header and rows (columns numbered) of a large plain file (:func:`_plain`) by Arrow's
    CSV reader, in a third of the CPU time of pandas' parser and without a Python string per
    field; the same frame as :func:`_read_general` (tests/cohort/test_io_plain.py). None where
    pandas' parser must read the file: a file that is not plain, or that Arrow rejects (invalid
    UTF-8, a row of another width), so that every error message comes from one place."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.csv as pcsv

    start = 3 if data.startswith(_BOM) else 0
    end = data.find(b"\n", start)
    if len(data) < PLAIN_MIN_BYTES or end < 0:
        return None
    first = data[start:end]
    if not any(c.isalnum() for c in first.decode("utf-8", "replace")):
        return None  # pandas' path tells an empty or blank file from a header
    width = first.count(sep.encode()) + 1
    try:
        table = pcsv.read_csv(
            pa.py_buffer(data).slice(start),
            read_options=pcsv.ReadOptions(
                autogenerate_column_names=True, use_threads=False, block_size=1 << 24
            ),
            parse_options=pcsv.ParseOptions(
                delimiter=sep, quote_char=False, escape_char=False, ignore_empty_lines=True
            ),
            convert_options=pcsv.ConvertOptions(
                column_types={f"f{i}": pa.large_string() for i in range(width)},
                null_values=NA_VALUES,
                strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if (
        table.num_columns != width
        or table.num_rows < 2
        or not _plain(data, sep, start, first, table)
    ):
        return None
    header = ["" if c is None else c.strip() for c in table.slice(0, 1).to_pylist()[0].values()]
    dtype = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' str, as read_csv gives
    rows = table.slice(1)
    df = pd.DataFrame(
        {i: pd.arrays.ArrowStringArray(rows.column(i), dtype=dtype) for i in range(width)}
    )
    return header, df


def drop_trailing_tabs(text: str) -> str:
    """Drop the one empty field that a tab at the end of a line adds.

    Some tools end every line of a TSV (header or rows) with a tab; pandas and pybids read
    such a participants.tsv, so brainbench does too. A tab is dropped only where it makes the
    line one field longer than the header, so a real empty last value is kept.
    """
    if "\t\n" not in text and "\t\r\n" not in text and not text.endswith("\t"):
        return text
    lines = text.splitlines(keepends=True)
    header = lines[0].rstrip("\r\n")
    width = header.removesuffix("\t").count("\t") + 1
    out = []
    for line in lines:
        body = line.rstrip("\r\n")
        if body.endswith("\t") and body.count("\t") == width:
            out.append(body[:-1] + line[len(body) :])
        else:
            out.append(line)
    return "".join(out)


def to_numbers(df: pd.DataFrame, *, keep_text: Collection[str] = ()) -> pd.DataFrame:
    """Convert each column whose non-missing values all parse as numbers (ids excepted)."""
    import pandas as pd

    for col in df.columns:
        if col in keep_text or col.endswith("_id") or col in ID_COLUMNS:
            continue
        s = df[col]
        if s.dtype.kind in "biuf":
            continue
        # A text column usually shows it in its first values: skip the full conversion.
        if pd.to_numeric(s.iloc[:256].dropna(), errors="coerce").isna().any():
            continue
        # one conversion of the whole column (numbers parse one by one: a value that fails
        # fails alone); converted when every value present parsed
        num = pd.to_numeric(s, errors="coerce")
        present = s.notna().to_numpy()
        if present.any() and not (num.isna().to_numpy() & present).any():
            df[col] = num
    return df


def _sep_name(sep: str) -> str:
    return "tab-separated (TSV)" if sep == "\t" else "comma-separated (CSV)"
