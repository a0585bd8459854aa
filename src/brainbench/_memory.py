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


def use_system_allocator() -> None:
    """Allocate Arrow's memory with the C library's ``malloc``, as numpy does.

    Arrow's default allocator (mimalloc in the wheels) commits fresh pages for each large
    phase; at a million cohort rows their first touch cost ~0.7 s of system time in
    ``validate --data`` and 50 MB more peak memory than ``malloc``, whose freed pages the next
    arrays reuse (benchmarks/cohort_split/README.md). Buffers remember the pool that made
    them, so switching mid-process is safe.
    """
    import pyarrow as pa

    if pa.default_memory_pool().backend_name != "system":
        pa.set_memory_pool(pa.system_memory_pool())
