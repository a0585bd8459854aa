"""The ``brainbench`` command line.

Subcommands live next to the stage they drive (``brainbench/<stage>/cli.py``) and are imported
only when invoked, so that commands which only read specs start without torch or statsmodels.
"""

from __future__ import annotations

import importlib
import sys

import click

from brainbench import __version__
from brainbench.errors import (
    EXIT_INTERNAL,
    EXIT_UNREADABLE,
    UserError,
    internal_error_message,
    save_traceback,
)

# name -> "module:attribute"; the order is the order of `brainbench --help`.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("brainbench.runner.cli:demo", "Synthetic cohort, validate, run, report: the demo."),
    "validate": ("brainbench.validate.cli:validate", "Check specs for leaky or unsound designs."),
    "plan": (
        "brainbench.validate.cli:plan",
        "Expected CI half-width and minimal detectable difference of a design.",
    ),
    "rules": ("brainbench.validate.cli:rules", "List the rule catalogue or explain one rule."),
    "schema": ("brainbench.spec.cli:schema", "Print the JSON Schema of the spec language."),
    "cohort": ("brainbench.cohort.cli:cohort", "Read a cohort and summarise its hierarchy."),
    "synth": ("brainbench.synth.cli:synth", "Write a synthetic BIDS cohort with known truth."),
    "split": ("brainbench.split.cli:split", "Write the frozen, hierarchy-aware split table."),
    "registry": ("brainbench.registry.cli:registry", "List, show and check registered models."),
    "run": ("brainbench.runner.cli:run", "Run registered models on a benchmark's splits."),
    "evaluate": ("brainbench.stats.cli:evaluate", "Metrics with hierarchy-aware CIs."),
    "compare": ("brainbench.stats.cli:compare", "Paired, corrected comparisons of models."),
    "rank": ("brainbench.stats.cli:rank", "Rank models across tasks (Friedman, Nemenyi)."),
    "calibrate": ("brainbench.stats.cli:calibrate", "Simulate CI coverage and type-I error."),
    "report": ("brainbench.report.cli:report", "Write the evidence sheet of a run."),
    "leaderboard": ("brainbench.report.cli:leaderboard", "Rank benchmarks' results with CIs."),
    "convert": ("brainbench.report.cli:convert", "Convert other tools' predictions."),
    "results": ("brainbench.results.cli:results", "Check results entries made elsewhere."),
    "experiments": (
        "brainbench.experiments.cli:experiments",
        "Reproduce the experiments on what ignoring the data's structure costs.",
    ),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        target, _ = COMMANDS[cmd_name]
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("brainbench"):
                return _not_available(cmd_name)
            raise
        command = getattr(module, attr, None)
        return command if isinstance(command, click.Command) else _not_available(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Short help comes from COMMANDS so that --help imports nothing heavy.
        rows = [(name, help_) for name, (_, help_) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _not_available(name: str) -> click.Command:
    @click.command(name=name, help="Not available in this build.")
    def stub() -> None:
        raise UserError(f"'brainbench {name}' is not available in this version of brainbench.")

    return stub


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="brainbench")
def cli() -> None:
    """brainbench: trustworthy validation and benchmarking of brain-imaging models."""


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``brainbench``: see :func:`run_command`."""
    run_command(cli, argv, prog_name="brainbench")


def run_command(command: click.Command, argv: list[str] | None, *, prog_name: str) -> None:
    """Run a click command with the exit statuses of :mod:`brainbench.errors`, never a traceback.

    A user's mistake is one paragraph on stderr and exit 2 (or the error's own status); a bug
    is one line naming the saved traceback log and exit 70.
    """
    try:
        # Without standalone mode click returns the exit status of click.exceptions.Exit.
        status = command.main(args=argv, prog_name=prog_name, standalone_mode=False)
    except UserError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_UNREADABLE if exc.exit_code == 1 else exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:  # a bug: keep the traceback in a file, show one line
        log = save_traceback(exc, context=" ".join([prog_name, *(argv or sys.argv[1:])]))
        click.echo(f"error: {internal_error_message(exc, log)}", err=True)
        sys.exit(EXIT_INTERNAL)
    sys.exit(status if isinstance(status, int) else 0)
