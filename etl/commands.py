"""Command-line commands contributed by the `etl` package (registered by `cityscreen.cli`)."""

from __future__ import annotations

import click


def register(main: click.Group) -> None:
    """Attach this package's commands to the `cityscreen` command group."""
