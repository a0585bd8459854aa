"""Files a user names, checked before they are opened.

A FIFO would block a read forever and ``/dev/zero`` never ends, so the kind and the size of a
file come from ``stat`` first; every reader of user input calls :func:`check_regular_file`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from brainbench.errors import UserError


class UnreadableFile(UserError):
    """A path that is not a readable regular file of acceptable size; ``reason`` says why."""

    def __init__(self, file: str, reason: str) -> None:
        self.file = file
        self.reason = reason
        super().__init__(f"{file}: {reason}")


def check_regular_file(path: Path, *, limit: int, what: str = "file") -> int:
    """Refuse, without opening it, anything but a regular file of at most ``limit`` bytes.

    Returns the size in bytes; raises :class:`UnreadableFile` otherwise.
    """
    file = str(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise UnreadableFile(file, "file not found. Check the path.") from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise UnreadableFile(file, f"cannot be read ({reason}). Check the path.") from None
    if stat.S_ISDIR(info.st_mode):
        raise UnreadableFile(file, f"is a directory; give a {what}.")
    if not stat.S_ISREG(info.st_mode):
        kinds = [
            (stat.S_ISFIFO, "a named pipe (FIFO)"),
            (stat.S_ISCHR, "a device"),
            (stat.S_ISBLK, "a device"),
            (stat.S_ISSOCK, "a socket"),
        ]
        kind = next((name for test, name in kinds if test(info.st_mode)), "a special file")
        raise UnreadableFile(file, f"is {kind}, not a regular file; give a {what}.")
    if info.st_size > limit:
        raise UnreadableFile(
            file,
            f"{info.st_size} bytes is too large for a {what} (limit {limit} bytes); is this "
            "the right file?",
        )
    return info.st_size
