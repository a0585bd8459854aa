"""``python -m brainbench.experiments``: a user's mistake is one paragraph, exit 2."""

import sys

from brainbench.errors import UserError
from brainbench.experiments.cli import experiments


def main() -> None:
    try:
        experiments.main(standalone_mode=False, prog_name="python -m brainbench.experiments")
    except UserError as exc:
        print(f"Error: {exc.message}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except Exception as exc:
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


main()
