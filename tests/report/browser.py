"""Headless Chromium for the report tests: DOM after load, console messages, screenshots.

Also a command to screenshot any evidence sheet (used for reports/demo/screenshot.png):

    python -m tests.report.browser reports/demo/evidence.html reports/demo/screenshot.png
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)
#: Console messages as Chromium logs them with --enable-logging=stderr --v=0.
CONSOLE = re.compile(r':(INFO|WARNING|ERROR|VERBOSE\d*):CONSOLE[(:](\d+)\)?\] "(.*)", source: (.*)')


def chromium() -> str | None:
    for c in CANDIDATES:
        if Path(c).exists():
            return c
    return shutil.which("chromium")


@dataclass
class Page:
    dom: str
    console: list[tuple[str, str, str]]  # (level, message, source)
    stderr: str


def _run(args: list[str], timeout: int) -> subprocess.CompletedProcess:
    exe = chromium()
    if exe is None:
        raise RuntimeError("chromium is not installed")
    with tempfile.TemporaryDirectory(prefix="bb-chromium-") as profile:
        cmd = [exe, *FLAGS, f"--user-data-dir={profile}", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def load(html: Path, timeout: int = 60) -> Page:
    """The DOM after load (``--dump-dom``) and the console messages of the page."""
    proc = _run(
        [
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
            "--dump-dom",
            Path(html).resolve().as_uri(),
        ],
        timeout,
    )
    console = [(m.group(1), m.group(3), m.group(4)) for m in CONSOLE.finditer(proc.stderr)]
    return Page(proc.stdout, console, proc.stderr)


def screenshot(
    html: Path, png: Path, width: int = 1280, height: int = 4000, timeout: int = 60
) -> Path:
    png = Path(png).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    _run(
        [
            f"--screenshot={png}",
            f"--window-size={width},{height}",
            "--virtual-time-budget=5000",
            Path(html).resolve().as_uri(),
        ],
        timeout,
    )
    if not png.exists():
        raise RuntimeError(f"chromium wrote no screenshot to {png}")
    return png


if __name__ == "__main__":
    screenshot(Path(sys.argv[1]), Path(sys.argv[2]))
    print(sys.argv[2])
