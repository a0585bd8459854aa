"""The sandbox where registry code runs: Landlock, namespaces, limits; and its data channel.

A sandboxed process is started by :func:`spawn` as ``python -m brainbench.sandbox POLICY
TARGET ARGS...``. Before any registry code is imported, :mod:`brainbench.sandbox.__main__`
applies, in order (each layer is recorded only when the kernel accepted it):

``fsize-limit``
    ``RLIMIT_FSIZE``: no file written larger than the policy's limit (scratch and log);
    ``RLIMIT_CORE`` 0.
``memory-limit``
    ``RLIMIT_DATA``: no process of the model larger than the policy's ``data`` bytes of private
    writable memory (heap, anonymous mappings); an allocation past it fails (``MemoryError``).
    Not ``RLIMIT_AS``: the CUDA driver reserves far more address space than it uses, in
    mappings ``RLIMIT_DATA`` does not count (they are not writable).
``pidns`` / ``netns``
    An unprivileged user namespace holding a new PID namespace (the model process is its
    PID 1: when it ends, the kernel kills every process it left behind, so no daemon outlives
    the unit, and no process outside is visible or signalable by PID) and a new network
    namespace (no interface but a down loopback: no TCP, UDP or abstract unix socket reaches
    the host).
``nproc-limit``
    ``RLIMIT_NPROC`` in the sandbox's own user namespace, where the kernel (>= 5.14) counts
    the namespace's processes and threads only: a fork bomb stops at the policy's ``nproc``.
    Not claimed as root (the kernel exempts uid 0) nor without the namespace (the count would
    be every process of the user on the machine).
``no-new-privs``
    ``PR_SET_NO_NEW_PRIVS``: no set-uid program gains privileges.
``landlock-fs`` / ``landlock-net`` / ``landlock-scope``
    Landlock (:mod:`brainbench.sandbox._landlock`): read-only access to the Python installation,
    the brainbench package, system libraries and the entry's folder; read-write access to the
    unit's scratch folder only; TCP bind/connect denied (ABI >= 4); abstract unix sockets and
    signals to processes outside the sandbox denied (ABI >= 6). Landlock also forbids ptrace of
    (and ``/proc/<pid>/mem``, ``environ``, ``fd`` access to) processes outside the sandbox.

The runner adds ``non-dumpable-runner`` (``PR_SET_DUMPABLE`` 0 on itself while units run) and,
where no PID namespace is available, ``session-sweep``: the model process starts a session of
its own, the runner is a child subreaper, and at the end of the unit the session and every
orphan re-parented to the runner are killed.

Where a layer is unavailable (old kernel, user namespaces disabled, macOS) the process still
runs, with fewer layers; :func:`describe` states which held (``seal: ...`` or
``unsealed: ...``) and :func:`missing_for_level` tells ``--require-seal`` what is lacking.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import os
import signal
import subprocess
import sys
import sysconfig
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

#: The layers a sealed unit can hold, in the order :func:`describe` lists them.
LAYERS = (
    "landlock-fs",
    "landlock-net",
    "landlock-scope",
    "netns",
    "pidns",
    "session-sweep",
    "no-new-privs",
    "non-dumpable-runner",
    "fsize-limit",
    "memory-limit",
    "nproc-limit",
)
#: ``--require-seal`` levels: each requirement is met by any one of its alternatives.
LEVELS: dict[str, tuple[tuple[str, ...], ...]] = {
    "none": (),
    "fs": (("landlock-fs",),),
    "full": (
        ("landlock-fs",),
        ("landlock-net", "netns"),
        ("pidns",),
        ("no-new-privs",),
        ("non-dumpable-runner",),
    ),
}
#: Default largest file a model process may write (scratch files, its log).
DEFAULT_FSIZE = 8 << 30
#: Default most processes and threads of one sandbox (PyTorch with data-loader workers on a
#: 128-core node needs a few hundred).
DEFAULT_NPROC = 1024
_PR_SET_DUMPABLE = 4
_PR_SET_CHILD_SUBREAPER = 36

_SYSTEM_READ = (
    "/usr",
    "/lib",
    "/lib64",
    "/lib32",
    "/bin",
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/etc/nsswitch.conf",
    "/etc/passwd",
    "/etc/group",
    "/sys",
    "/dev/urandom",
    "/dev/random",
    "/dev/zero",
    "/proc/self",  # the process's own /proc entry only (opened by the process that restricts)
    "/proc/cpuinfo",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/driver/nvidia",
)
_SYSTEM_WRITE = (
    "/dev/null",
    "/dev/nvidiactl",
    "/dev/nvidia-uvm",
    "/dev/nvidia-uvm-tools",
    "/dev/nvidia-caps",
    "/dev/dri",
)


@dataclass
class Policy:
    """What a sandboxed process may touch (JSON on its command line)."""

    enabled: bool = True
    read: list[str] = field(default_factory=list)
    write: list[str] = field(default_factory=list)
    fsize: int | None = DEFAULT_FSIZE
    #: RLIMIT_DATA of every process of the model, bytes (None: none)
    data: int | None = None
    #: RLIMIT_NPROC in the sandbox's user namespace (None: none)
    nproc: int | None = DEFAULT_NPROC
    namespaces: bool = True
    #: why the sandbox is off (``unsealed: <why>``), when it is
    reason: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Policy:
        return cls(**json.loads(text))


def python_read_paths() -> list[str]:
    """The Python installation, its packages and brainbench's own source folder."""
    import brainbench

    out = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    for scheme_path in ("stdlib", "platstdlib", "purelib", "platlib"):
        with contextlib.suppress(KeyError):
            out.add(sysconfig.get_paths()[scheme_path])
    # an editable install imports brainbench from its source tree's src/ folder
    out.add(str(Path(brainbench.__file__).resolve().parents[1]))
    out.add(str(Path(sys.executable).resolve().parent))
    return sorted(out)


def default_policy(
    entry_folder: str | Path,
    scratch: str | Path,
    *,
    fsize: int | None = DEFAULT_FSIZE,
    data: int | None = None,
) -> Policy:
    """Read the Python installation and the entry's folder; write the scratch folder only;
    ``data``: the memory limit of each of the model's processes (bytes; None: none)."""
    nvidia = sorted(str(p) for p in Path("/dev").glob("nvidia[0-9]*"))
    return Policy(
        enabled=True,
        read=[*python_read_paths(), *_SYSTEM_READ, str(Path(entry_folder).resolve())],
        write=[str(Path(scratch).resolve()), *_SYSTEM_WRITE, *nvidia],
        fsize=fsize,
        data=data,
    )


def off_policy(reason: str) -> Policy:
    return Policy(enabled=False, reason=reason, fsize=None, nproc=None, namespaces=False)


def default_memory_limit(processes: int = 1) -> int | None:
    """The default memory limit of a model process: three quarters of this machine's physical
    memory shared by ``processes`` model processes (at least 1 GiB), so that a memory hog
    fails its unit and leaves the runner and the system their quarter; None where the size of
    the memory is unknown."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None
    return max(1 << 30, 3 * total // 4 // max(1, processes))


# -- the environment ---------------------------------------------------------------------------
_ENV_KEEP = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "CUDA_VISIBLE_DEVICES")


def scrubbed_env(scratch: str | Path, threads: int | None = None) -> dict[str, str]:
    """A minimal environment: no inherited secret, variable naming a data path, or proxy.

    Kept: PATH, locale, TZ and ``CUDA_VISIBLE_DEVICES`` (the GPU the runner chose); HOME and
    TMPDIR point into the scratch folder; PYTHONPATH is brainbench's source folder.
    """
    import brainbench

    env = {k: os.environ[k] for k in _ENV_KEEP if k in os.environ}
    scratch = str(scratch)
    env.update(
        HOME=scratch,
        TMPDIR=os.path.join(scratch, "tmp"),
        PYTHONPATH=str(Path(brainbench.__file__).resolve().parents[1]),
        PYTHONUNBUFFERED="1",
        PYTHONHASHSEED="0",
        PYTHONDONTWRITEBYTECODE="1",
        MPLCONFIGDIR=os.path.join(scratch, "tmp"),
    )
    if threads is not None:  # thread counts and passive OpenMP waiting (runner/_threads.py)
        from brainbench.runner._threads import thread_environment

        env.update(thread_environment(threads))
    return env


# -- running a sandboxed process -----------------------------------------------------------------
_live: set[int] = set()
_live_lock = threading.Lock()
_subreaper = [False]


def _prctl(option: int, value: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(option, value, 0, 0, 0) == 0


@contextlib.contextmanager
def runner_guard(enabled: bool) -> Any:
    """While units run: the runner non-dumpable (no ptrace, no ``/proc/<pid>/mem``, ``environ``
    by a same-user process) and a child subreaper (orphans of a model come back to it).

    Yields the runner-side layers that held.
    """
    layers: list[str] = []
    if enabled and _prctl(_PR_SET_DUMPABLE, 0):
        layers.append("non-dumpable-runner")
    if enabled and not _subreaper[0] and _prctl(_PR_SET_CHILD_SUBREAPER, 1):
        _subreaper[0] = True
    if enabled and _subreaper[0]:
        layers.append("session-sweep")
    try:
        yield layers
    finally:
        if "non-dumpable-runner" in layers:
            _prctl(_PR_SET_DUMPABLE, 1)
        if _subreaper[0] and _prctl(_PR_SET_CHILD_SUBREAPER, 0):
            _subreaper[0] = False


class Sandboxed:
    """A running ``python -m brainbench.sandbox`` process and its session."""

    def __init__(
        self,
        policy: Policy,
        target: str,
        args: Sequence[str],
        *,
        cwd: str | Path,
        env: dict[str, str],
        pass_fds: Sequence[int] = (),
        output: IO[bytes] | None = None,
    ) -> None:
        self._boot = _boot_ticks()
        #: True once the process said it runs in a PID namespace (nothing can escape it)
        self.contained = False
        with _live_lock:  # registered before any sweep can see it
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "brainbench.sandbox", policy.to_json(), target, *args],
                pass_fds=tuple(pass_fds),
                cwd=str(cwd),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output if output is not None else subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
                close_fds=True,
                start_new_session=True,  # its own process group: killed as a whole
            )
            _live.add(self.proc.pid)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def poll(self) -> int | None:
        return self.proc.poll()

    def wait(self, timeout: float | None = None) -> int:
        return self.proc.wait(timeout)

    def kill(self) -> None:
        """Kill the process, its process group and (subreaper, when it had no PID namespace)
        any orphan it left."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        self.proc.wait()
        with _live_lock:
            _live.discard(self.proc.pid)
        if not self.contained:
            sweep_orphans(self._boot)

    def finish(self, timeout: float = 10.0) -> int | None:
        """Wait for a normal exit (then kill what remains); the exit code."""
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
        self.kill()
        return code


def _boot_ticks() -> int:
    """This instant as /proc/<pid>/stat's starttime (clock ticks since boot)."""
    try:
        with open("/proc/uptime") as fh:
            up = float(fh.read().split()[0])
        return int(up * os.sysconf("SC_CLK_TCK")) - 1
    except (OSError, ValueError):
        return 0


def sweep_orphans(since: int) -> list[int]:
    """Kill the processes re-parented to this (subreaper) runner that started after ``since``
    and are not a live sandboxed process: what a model's daemon becomes without a PID
    namespace. Returns their PIDs."""
    if not _subreaper[0]:
        return []
    me = os.getpid()
    killed = []
    with _live_lock:  # no sandboxed process starts meanwhile
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit() or int(entry.name) in _live:
                continue
            try:
                with open(f"/proc/{entry.name}/stat") as fh:
                    stat = fh.read()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2 :].split()
            ppid, start = int(fields[1]), int(fields[19])
            if ppid == me and start >= since:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(entry.name), signal.SIGKILL)
                    killed.append(int(entry.name))
    for pid in killed:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    return killed


# -- what holds here ---------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def available_layers() -> tuple[str, ...]:
    """The layers a sandboxed process gets on this machine (probed once, in a child)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="brainbench-seal-probe-") as tmp:
        policy = default_policy(tmp, tmp)
        out = subprocess.run(
            [sys.executable, "-m", "brainbench.sandbox", policy.to_json(), "--layers"],
            cwd=tmp,
            env=scrubbed_env(tmp),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    try:
        layers = json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return ()
    runner = ["non-dumpable-runner"] if sys.platform.startswith("linux") else []
    if "pidns" not in layers and sys.platform.startswith("linux"):
        runner.append("session-sweep")
    return tuple(sorted({*layers, *runner}, key=LAYERS.index))


def missing_for_level(level: str, layers: Sequence[str]) -> list[str]:
    """Requirements of ``level`` that ``layers`` do not meet (each as 'a or b')."""
    if level not in LEVELS:
        raise ValueError(f"unknown seal level '{level}' (one of {', '.join(LEVELS)})")
    have = set(layers)
    return [" or ".join(alt) for alt in LEVELS[level] if not have.intersection(alt)]


def describe(layers: Sequence[str], reason: str | None = None) -> str:
    """``seal: a, b, c`` or ``unsealed: <reason>``."""
    if not layers:
        return f"unsealed: {reason or 'no sandbox layer is available here'}"
    return "seal: " + ", ".join(sorted(set(layers), key=LAYERS.index))


def level_of(layers: Sequence[str]) -> str:
    """The highest level of :data:`LEVELS` that ``layers`` meet."""
    best = "none"
    for name in LEVELS:
        if not missing_for_level(name, layers):
            best = name
    return best


__all__ = [
    "DEFAULT_FSIZE",
    "LAYERS",
    "LEVELS",
    "Policy",
    "Sandboxed",
    "available_layers",
    "default_memory_limit",
    "default_policy",
    "describe",
    "level_of",
    "missing_for_level",
    "off_policy",
    "python_read_paths",
    "runner_guard",
    "scrubbed_env",
    "sweep_orphans",
]
