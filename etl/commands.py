"""Command-line commands contributed by the `etl` package (registered by `cityscreen.cli`).

ETL-core's own commands (`load incidents|hotline|cameras|updates|alerts`, `load report`) live
here; the live path (`etl/live_commands.py`) and the closed loop (`etl/loop_commands.py`) keep
theirs in their own modules, attached by :func:`register`.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import click

# Sibling command modules owned by other engineers; each exposes register(main) and may
# expose after_migrate(conn).
_PARTS = ("etl.live_commands", "etl.loop_commands")


def _parts() -> list[Any]:
    return [importlib.import_module(name) for name in _PARTS if importlib.util.find_spec(name)]


def register(main: click.Group) -> None:
    """Attach this package's commands to the `cityscreen` command group."""
    for module in _parts():
        module.register(main)


def after_migrate(conn: Any) -> None:
    """Post-migration seeding of the etl package (default categories, ...)."""
    for module in _parts():
        hook = getattr(module, "after_migrate", None)
        if hook is not None:
            hook(conn)
