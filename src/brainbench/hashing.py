"""The one file hash of brainbench: spec pins, split files, run outputs and provenance."""

from __future__ import annotations

import hashlib
from pathlib import Path

from brainbench.errors import UserError


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks (bounded memory for large files)."""
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
