"""Target of tests/sandbox/test_lifetime.py: start a detached daemon, then return."""

from __future__ import annotations

import os
import sys
import time


def main(args: list[str], layers: list[str]) -> int:
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            code = "import time; time.sleep(60)"
            os.execv(sys.executable, [sys.executable, "-c", code, "brainbench-hostile-daemon"])
        os._exit(0)
    time.sleep(0.5)  # the daemon is on its own now
    return 0
