"""Thread budget of the model processes: as many compute threads as cores this process may use.

A model process trains with torch (OpenMP, oneDNN) and numpy/scipy (a BLAS). Two things make
such a process slow on a busy or restricted machine:

* *more threads than cores*: ``os.cpu_count()`` counts the machine's cores, not those a SLURM
  cpuset (``os.sched_getaffinity``) or a container's CPU quota (cgroup ``cpu.max``, or
  ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` in cgroup v1) lets this process use; with
  ``--workers N`` the model processes share them. Threads beyond the cores wait for each other
  at every parallel region.
* *spinning*: by default OpenMP threads that reach a barrier early busy-wait for the others
  (GNU libgomp spins up to ``GOMP_SPINCOUNT`` iterations, Intel's ``KMP_BLOCKTIME`` 200 ms).
  When another process holds a core, the waiting threads burn CPU time the late thread needed:
  CPU time per epoch grows several times under load (issue 16). ``OMP_WAIT_POLICY=PASSIVE``
  (OpenMP 5.2 specification, section 21.2.3; libgomp then does not spin) and
  ``KMP_BLOCKTIME=0`` make them sleep at once.

The budget depends only on the process's affinity, its quota and ``--workers``, never on the
momentary load, so a unit gets the same thread count (and the same floating-point reductions)
when it is run again on the same machine. The thread counts override the environment (a
cluster's ``OMP_NUM_THREADS=1`` would otherwise starve the model); a wait policy already set
there wins.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

#: Environment variables that size the thread pools of OpenMP and of the BLAS libraries.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
#: Waiting threads sleep instead of spinning (GNU and LLVM/Intel OpenMP).
WAIT_VARIABLES = {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}


def cgroup_cpu_limit(
    root: Path = Path("/sys/fs/cgroup"), proc: Path = Path("/proc/self")
) -> float | None:
    """Cores allowed by this process's cgroup CPU quota (v2 ``cpu.max``, v1 CFS quota), or
    None when there is no quota (or no cgroup file system)."""
    try:
        lines = (proc / "cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, rel = line.split(":", 2)
        rel = rel.lstrip("/")
        if controllers == "":  # cgroup v2: "0::/path"
            try:
                quota, period = (root / rel / "cpu.max").read_text().split()[:2]
            except (OSError, ValueError):
                continue
            if quota != "max":
                return int(quota) / int(period)
        elif "cpu" in controllers.split(","):
            for name in (controllers, "cpu", "cpu,cpuacct"):
                base = root / name / rel
                try:
                    quota = int((base / "cpu.cfs_quota_us").read_text())
                    period = int((base / "cpu.cfs_period_us").read_text())
                except (OSError, ValueError):
                    continue
                if quota > 0 and period > 0:
                    return quota / period
                break
    return None


def available_cores() -> float:
    """Cores this process may use: its CPU affinity, capped by its cgroup quota."""
    try:
        cores: float = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    limit = cgroup_cpu_limit()
    return min(cores, limit) if limit is not None else cores


def thread_budget(workers: int = 1, cores: float | None = None) -> int:
    """Compute threads per model process when ``workers`` share ``cores`` (default: the
    :func:`available_cores`): ``floor(cores / workers)``, at least 1."""
    cores = available_cores() if cores is None else cores
    return max(1, math.floor(cores / max(1, int(workers))))


def thread_environment(threads: int, environ: dict[str, str] | None = None) -> dict[str, str]:
    """Variables for a model process's environment: the thread counts, and passive waiting
    unless ``environ`` (default: this process's) sets a wait policy."""
    environ = os.environ if environ is None else environ
    env = {var: str(int(threads)) for var in THREAD_VARIABLES}
    env.update({k: v for k, v in WAIT_VARIABLES.items() if k not in environ})
    return env


__all__ = [
    "THREAD_VARIABLES",
    "WAIT_VARIABLES",
    "available_cores",
    "cgroup_cpu_limit",
    "thread_budget",
    "thread_environment",
]
