"""Errors and typed warnings shared by every stage.

A user's mistake raises :class:`UserError` (the CLI prints its one-paragraph message and exits 2);
anything else that escapes is a bug: the CLI saves its traceback to a log file (see
:func:`save_traceback`) and exits 70 with a one-line message. Warnings form one family so users
can filter them and reports can list them.

Exit statuses mean one thing across every command: 0 valid / ok, 1 findings (a spec or entry
that reads but does not pass), 2 unreadable input or a usage mistake, 3 a run with failed units,
70 an internal error (``EX_SOFTWARE`` of BSD's sysexits.h).
"""

from __future__ import annotations

import os
import tempfile
import time
import traceback
from pathlib import Path

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_UNREADABLE = 2
EXIT_UNITS_FAILED = 3
#: A run whose unit outputs changed after the runner wrote them (the seal's journal check).
EXIT_TAMPERED = 4
EXIT_INTERNAL = 70


class UserError(Exception):
    """A problem with the user's input: printed as one paragraph, never as a traceback.

    Parameters
    ----------
    message
        What is wrong, naming the file, line or field, and what to do about it.
    exit_code
        Process exit status when the CLI stops on this error (2: input cannot be read).
    """

    def __init__(self, message: str, *, exit_code: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def crash_dir() -> Path:
    """Where tracebacks of internal errors go: ``$BRAINBENCH_CRASH_DIR``, else the user cache."""
    chosen = os.environ.get("BRAINBENCH_CRASH_DIR")
    if chosen:
        return Path(chosen)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "brainbench" / "crashes"


def save_traceback(exc: BaseException, *, context: str = "") -> Path | None:
    """Write ``exc``'s traceback to a new log file and return its path (None if none could be).

    The file, not stderr, holds the traceback so that a user sees one line while a bug report
    still gets the whole story.
    """
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    header = f"brainbench internal error at {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n"
    if context:
        header += f"context: {context}\n"
    for folder in (crash_dir(), Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix="brainbench-crash-", suffix=".log", dir=folder)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(header + text)
            return Path(name)
        except OSError:
            continue
    return None


def internal_error_message(exc: BaseException, log: Path | None) -> str:
    """The one line shown for a bug: what broke, where the traceback is, what to do."""
    what = str(exc).splitlines()[0][:200] if str(exc) else ""
    where = f"the traceback is in {log}" if log else "the traceback could not be saved"
    return (
        f"internal error (a bug in brainbench, not a problem with your input): "
        f"{type(exc).__name__}{': ' + what if what else ''}; {where}. Please report it with "
        "that file attached."
    )


class BrainbenchWarning(UserWarning):
    """Base class of every warning brainbench emits or attaches to a result."""


class SmallSampleWarning(BrainbenchWarning):
    """Too few units for the method's asymptotics (CI or test may be miscalibrated)."""


class FewClustersWarning(BrainbenchWarning):
    """Too few clusters (sites, subjects) for a cluster bootstrap or a random effect."""


class DegenerateResampleWarning(BrainbenchWarning):
    """Some bootstrap resamples left the metric undefined (e.g. one class only)."""


class TiesWarning(BrainbenchWarning):
    """Ties in scores or ranks affect the method."""


class ConvergenceWarning(BrainbenchWarning):
    """An iterative fit (mixed model) did not converge."""


__all__ = [
    "EXIT_FINDINGS",
    "EXIT_INTERNAL",
    "EXIT_OK",
    "EXIT_UNITS_FAILED",
    "EXIT_UNREADABLE",
    "BrainbenchWarning",
    "ConvergenceWarning",
    "DegenerateResampleWarning",
    "FewClustersWarning",
    "SmallSampleWarning",
    "TiesWarning",
    "UserError",
    "crash_dir",
    "internal_error_message",
    "save_traceback",
]
