"""``brainbench schema``."""

from __future__ import annotations

import click


@click.command()
def schema() -> None:
    """Print the JSON Schema of the spec language (format 1).

    Point your editor at it with a first line such as
    ``# yaml-language-server: $schema=spec/schema/brainbench-1.schema.json``.
    """
    from brainbench.spec.schema import spec_json_schema_text

    click.echo(spec_json_schema_text(), nl=False)
