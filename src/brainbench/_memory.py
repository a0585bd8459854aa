"""Handing freed memory back to the operating system between the phases of a large job.

Reading a million-session cohort and splitting it frees hundreds of MB of temporary arrays;
Arrow's allocator and glibc's ``malloc`` keep such memory for reuse, so the next phase's
arrays come on top of it and the peak resident memory grows with every phase.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys


def release_freed_memory() -> None:
    """Return the memory that Arrow's pool and the C heap hold unused (best effort)."""
    if "pyarrow" in sys.modules:
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    if sys.platform.startswith("linux"):
        name = ctypes.util.find_library("c")
        libc = ctypes.CDLL(name) if name else None
        trim = getattr(libc, "malloc_trim", None)  # glibc only (not musl)
        if trim is not None:
            trim(0)
