"""``python -m brainbench.sandbox POLICY TARGET ARGS...``: enter the sandbox, then run TARGET.

TARGET is ``module:function``; the function is called with ``(ARGS, layers)`` once every layer
is in place, so registry code (imported by TARGET) never runs outside the sandbox. ``--layers``
as TARGET prints the layers that held as JSON (the runner's probe of this machine).

Only the standard library is imported before the sandbox is complete (the fork of the PID
namespace must happen while this process has a single thread).
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import resource
import signal
import sys

from brainbench.sandbox import Policy

_CLONE_NEWUSER = 0x10000000
_CLONE_NEWPID = 0x20000000
_CLONE_NEWNET = 0x40000000
_PR_SET_PDEATHSIG = 1
_PR_SET_NO_NEW_PRIVS = 38


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _write(path: str, text: str) -> None:
    with open(path, "w") as fh:
        fh.write(text)


def _namespaces() -> list[str]:
    """A user namespace holding new PID and network namespaces; [] when refused."""
    libc = _libc()
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWPID | _CLONE_NEWNET) == 0:
        layers = ["netns", "pidns"]
    elif libc.unshare(_CLONE_NEWUSER | _CLONE_NEWPID) == 0:
        layers = ["pidns"]
    else:
        return []
    try:  # the same ids inside as outside, so files keep their owner
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1\n")
        _write("/proc/self/gid_map", f"{gid} {gid} 1\n")
    except OSError:
        pass
    return layers


def _fork() -> int:
    """Fork; the child dies with its parent (SIGKILL)."""
    pid = os.fork()
    if pid == 0:
        _libc().prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    return pid


def _wait(pid: int) -> int:
    """Wait for ``pid``, reaping every other child meanwhile (PID 1's duty); its status."""
    while True:
        try:
            done, status = os.wait()
        except InterruptedError:
            continue
        if done == pid:
            return status


def _enter_pid_namespace() -> None:
    """Three processes: this one waits outside the namespace; its child is the namespace's
    PID 1, a reaper whose exit makes the kernel kill every process left inside; PID 2 returns
    from this function and runs the model. A model killed by a signal is reported as such.
    """
    libc = _libc()
    libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    init = _fork()
    if init != 0:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        os.closerange(3, 1 << 16)  # the channel belongs to the model process alone
        status = _wait(init)
        code = os.waitstatus_to_exitcode(status)
        sig = -code if code < 0 else code - 128 if code > 128 else 0
        if sig:
            if sig not in (signal.SIGKILL, signal.SIGSTOP):
                signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), sig)
        os._exit(max(code, 0))
    model = _fork()
    if model != 0:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        os.closerange(3, 1 << 16)
        code = os.waitstatus_to_exitcode(_wait(model))
        os._exit(128 - code if code < 0 else code)  # PID 1 cannot kill itself by a signal


def _limit(which: int, value: int) -> None:
    """Set both limits of ``which`` to ``value``, or to the hard limit when that is lower."""
    hard = resource.getrlimit(which)[1]
    value = value if hard == resource.RLIM_INFINITY else min(value, hard)
    resource.setrlimit(which, (value, value))


def _nproc_per_namespace() -> bool:
    """RLIMIT_NPROC counts per user namespace from Linux 5.14 (ucounts), not per user."""
    try:
        major, minor = (int(x) for x in os.uname().release.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (5, 14)


def enter(policy: Policy) -> list[str]:
    """Apply the policy to this process; the layers that held."""
    if not policy.enabled:
        return []
    layers: list[str] = []
    root = os.getuid() == 0  # before the namespace maps it
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if policy.fsize is not None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (policy.fsize, policy.fsize))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG)
        layers.append("fsize-limit")
    if policy.data is not None:
        _limit(resource.RLIMIT_DATA, policy.data)
        layers.append("memory-limit")
    if policy.namespaces and sys.platform.startswith("linux"):
        ns = _namespaces()
        if ns:
            _enter_pid_namespace()
            layers += ns
            if policy.nproc is not None and not root and _nproc_per_namespace():
                _limit(resource.RLIMIT_NPROC, policy.nproc)
                layers.append("nproc-limit")
    if sys.platform.startswith("linux"):
        if _libc().prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0:
            layers.append("no-new-privs")
        from brainbench.sandbox import _landlock

        try:
            layers += _landlock.restrict(policy.read, policy.write)
        except _landlock.LandlockError as exc:
            print(f"brainbench sandbox: no Landlock ({exc})", file=sys.stderr)
    return layers


def main(argv: list[str]) -> int:
    policy = Policy.from_json(argv[0])
    layers = enter(policy)
    if argv[1] == "--layers":
        print(json.dumps(layers), flush=True)
        return 0
    module, _, func = argv[1].partition(":")
    return int(getattr(importlib.import_module(module), func)(argv[2:], layers) or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
