"""Hostile model code that attacks the machine rather than the labels (a copy runs in the
sandbox as ``bombs:<attack>``). Each attack is bounded, so that the unsealed positive control
cannot take the test machine down, and prints what it obtained as one JSON line.
"""

from __future__ import annotations

import json
import os
import signal
import sys


def fork_bomb(argv: list[str], layers: list[str]) -> int:
    """Fork up to ``argv[0]`` children that wait for the bomb's end; how many it got."""
    children, error = [], None
    for _ in range(int(argv[0])):
        try:
            pid = os.fork()
        except OSError as exc:
            error = f"{type(exc).__name__}: {exc}"
            break
        if pid == 0:
            signal.pause()
            os._exit(0)
        children.append(pid)
    print(json.dumps({"layers": layers, "forked": len(children), "error": error}), flush=True)
    for pid in children:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    return 0


def memory_hog(argv: list[str], layers: list[str]) -> int:
    """Allocate and touch ``argv[0]`` MiB; whether it could."""
    try:
        block = bytearray(int(argv[0]) << 20)  # zero-filled: every page written
        got, error = len(block) >> 20, None
    except MemoryError as exc:
        got, error = 0, f"MemoryError: {exc}"
    print(json.dumps({"layers": layers, "mib": got, "error": error}), flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover - the sandbox imports the module
    sys.exit(1)
