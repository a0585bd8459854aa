import subprocess
import sys

from brainbench.cli import COMMANDS


def test_version_and_help_list_every_command():
    out = subprocess.run(
        [sys.executable, "-m", "brainbench", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for name in COMMANDS:
        assert name in out
