"""``python -m brainbench.experiments``: the exit statuses and messages of ``brainbench``."""

from brainbench.cli import run_command
from brainbench.experiments.cli import experiments

run_command(experiments, None, prog_name="python -m brainbench.experiments")
