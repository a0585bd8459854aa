"""A minimal ctypes binding of Linux Landlock (``landlock(7)``), unprivileged sandboxing.

Why our own ~150 lines rather than a PyPI binding: the maintained Python bindings (``landlock``
on PyPI) cover the file-system rules of ABI 1-3 only, while brainbench needs the TCP rules of
ABI 4 and the abstract-socket and signal scoping of ABI 6; the kernel interface is three system
calls and three C structures (``include/uapi/linux/landlock.h``), stable by design (each ABI
only adds bits), so a ctypes module without dependencies is the smaller thing to audit.

The kernel ignores nothing silently: asking for a right the running ABI does not know is an
error, so :func:`handled_fs` / :func:`handled_net` / :func:`scopes` mask the rights by ABI
(``landlock(7)``, "Compatibility").
"""

from __future__ import annotations

import ctypes
import os
import stat
import sys
from collections.abc import Iterable

# System call numbers: the same on every architecture (the unified table of Linux >= 5.13).
_SYS_CREATE_RULESET = 444
_SYS_ADD_RULE = 445
_SYS_RESTRICT_SELF = 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_RULE_NET_PORT = 2
_PR_SET_NO_NEW_PRIVS = 38

# LANDLOCK_ACCESS_FS_* (ABI in which each appeared)
EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
REMOVE_DIR = 1 << 4
REMOVE_FILE = 1 << 5
MAKE_CHAR = 1 << 6
MAKE_DIR = 1 << 7
MAKE_REG = 1 << 8
MAKE_SOCK = 1 << 9
MAKE_FIFO = 1 << 10
MAKE_BLOCK = 1 << 11
MAKE_SYM = 1 << 12
REFER = 1 << 13  # ABI 2
TRUNCATE = 1 << 14  # ABI 3
# IOCTL_DEV (ABI 5) is left unhandled on purpose: CUDA drives the GPU by ioctl on /dev/nvidia*,
# and a device the process cannot open cannot be ioctl'ed anyway.

# LANDLOCK_ACCESS_NET_* (ABI 4)
BIND_TCP = 1 << 0
CONNECT_TCP = 1 << 1
# LANDLOCK_SCOPE_* (ABI 6)
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
SCOPE_SIGNAL = 1 << 1

#: Rights that apply to a regular file (a rule on a file may carry only these).
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE
READ = EXECUTE | READ_FILE | READ_DIR


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1  # __attribute__((packed)) in the kernel header
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class LandlockError(OSError):
    """Landlock is unavailable or refused a rule."""


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def abi_version() -> int:
    """The Landlock ABI of the running kernel; 0 when unavailable (not Linux, disabled)."""
    if not sys.platform.startswith("linux"):
        return 0
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    v = libc.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), _CREATE_RULESET_VERSION)
    return max(int(v), 0)


def handled_fs(abi: int) -> int:
    rights = (1 << 13) - 1  # EXECUTE .. MAKE_SYM (ABI 1)
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    return rights


def handled_net(abi: int) -> int:
    return BIND_TCP | CONNECT_TCP if abi >= 4 else 0


def scopes(abi: int) -> int:
    return SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0


def restrict(read: Iterable[str], write: Iterable[str], *, abi: int | None = None) -> list[str]:
    """Restrict this process (and its future children) for good; returns the layers applied.

    ``read``: paths (folders or files) readable and executable; ``write``: paths readable and
    writable (files created, removed, truncated). Every other path is denied; TCP bind and
    connect are denied from ABI 4, abstract unix sockets and signals outside the sandbox from
    ABI 6. Paths that do not exist are skipped. Raises LandlockError when the kernel refuses.
    The layers: ``landlock-fs``, ``landlock-net``, ``landlock-scope``.
    """
    abi = abi_version() if abi is None else abi
    if abi < 1:
        raise LandlockError(0, "Landlock is not available in this kernel")
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    fs = handled_fs(abi)
    attr = _RulesetAttr(fs, handled_net(abi), scopes(abi))
    size = ctypes.sizeof(_RulesetAttr) if abi >= 6 else (16 if abi >= 4 else 8)
    ruleset = libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0)
    if ruleset < 0:
        err = ctypes.get_errno()
        raise LandlockError(err, f"landlock_create_ruleset: {os.strerror(err)}")
    try:
        rw = fs & ~EXECUTE
        for paths, rights in ((read, READ), (write, READ | rw)):
            for path in paths:
                _add_path(libc, int(ruleset), path, rights & fs)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            err = ctypes.get_errno()
            raise LandlockError(err, f"prctl(PR_SET_NO_NEW_PRIVS): {os.strerror(err)}")
        if libc.syscall(_SYS_RESTRICT_SELF, ctypes.c_int(int(ruleset)), 0) != 0:
            err = ctypes.get_errno()
            raise LandlockError(err, f"landlock_restrict_self: {os.strerror(err)}")
    finally:
        os.close(int(ruleset))
    layers = ["landlock-fs"]
    if abi >= 4:
        layers.append("landlock-net")
    if abi >= 6:
        layers.append("landlock-scope")
    return layers


def _add_path(libc: ctypes.CDLL, ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except (FileNotFoundError, PermissionError):
        return  # a path this process cannot reach needs no rule: it stays out of reach
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            rights &= FILE_RIGHTS
        rule = _PathBeneathAttr(rights, fd)
        done = libc.syscall(
            _SYS_ADD_RULE, ctypes.c_int(ruleset), _RULE_PATH_BENEATH, ctypes.byref(rule), 0
        )
        if done != 0:
            err = ctypes.get_errno()
            raise LandlockError(err, f"landlock_add_rule({path}): {os.strerror(err)}")
    finally:
        os.close(fd)


__all__ = ["LandlockError", "abi_version", "restrict"]
