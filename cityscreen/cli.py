"""The one command line, ``cityscreen``: a group with a subcommand per task.

This module is a composition root: domain packages contribute their commands through
``register(main)`` in ``geo/commands.py``, ``etl/commands.py`` and ``dashboard/commands.py``.
"""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from cityscreen import db, pgcluster
from cityscreen.settings import SettingsError, get_settings

F = TypeVar("F", bound=Callable[..., Any])

COMMAND_MODULES = ("geo.commands", "etl.commands", "dashboard.commands")


def fail(message: str, code: int = 1) -> None:
    """Print one line to stderr and exit: the CLI's way to report errors to people."""
    click.echo(f"cityscreen: {message}", err=True)
    sys.exit(code)


def one_line_errors(func: F) -> F:
    """Turn expected failures (settings, database, cluster) into one line and exit 1."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SettingsError as exc:
            fail(f"configuration error: {exc}")
        except (db.DatabaseError, pgcluster.ClusterError) as exc:
            fail(str(exc))

    return wrapper  # type: ignore[return-value]


class Group(click.Group):
    """A click group whose subcommands all report expected failures in one line."""

    def invoke(self, ctx: click.Context) -> Any:
        return one_line_errors(super().invoke)(ctx)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-vv for SQL traces).")
def main(verbose: int) -> None:
    """cityscreen — 一张屏 city operations: PostGIS ETL and a live drill-down dashboard.

    Configure with environment variables (DATABASE_URL, REDIS_URL, CITYSCREEN_HOME,
    CITYSCREEN_TZ, INGEST_TOKEN, ...); without DATABASE_URL a private PostGIS cluster
    under $CITYSCREEN_HOME/pg is used (`cityscreen db up`).
    """
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        get_settings()
    except SettingsError as exc:
        fail(f"configuration error: {exc}")


# ---------------------------------------------------------------- db


@main.group("db", cls=Group)
def db_group() -> None:
    """The database: private cluster lifecycle, migrations, connection."""


@db_group.command("up")
def db_up() -> None:
    """Create (once) and start the private PostGIS cluster, then migrate.

    With DATABASE_URL set, checks that server instead and migrates it.
    """
    settings = get_settings()
    if settings.uses_private_cluster:
        st = pgcluster.up(settings)
        click.echo(st.describe())
    applied = migrate_database()
    click.echo(f"database {db.describe(db.writer_url())}: ready"
               + (f", applied {len(applied)} migration(s)" if applied else ", schema up to date"))


@db_group.command("down")
def db_down() -> None:
    """Stop the private cluster (does nothing for an external DATABASE_URL)."""
    settings = get_settings()
    if not settings.uses_private_cluster:
        click.echo("DATABASE_URL is set: the external server is not ours to stop")
        return
    click.echo(pgcluster.down(settings).describe())


@db_group.command("status")
def db_status() -> None:
    """Tell what is running: the private cluster and whether the database answers."""
    settings = get_settings()
    if settings.uses_private_cluster:
        click.echo(pgcluster.status(settings).describe())
    url = db.writer_url()
    try:
        conn = db.connect(url, connect_timeout=3)
    except db.DatabaseError as exc:
        click.echo(f"database: down ({exc})")
        sys.exit(1)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT version(),"
                    " (SELECT extversion FROM pg_extension WHERE extname = 'postgis')")
        version, postgis = cur.fetchone()
        cur.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
        migrated = cur.fetchone()[0]
        n = 0
        if migrated:
            cur.execute("SELECT count(*) FROM schema_migrations")
            n = cur.fetchone()[0]
    conn.close()
    click.echo(f"database {db.describe(url)}: up — {version.split(' on ')[0]}, "
               f"PostGIS {postgis or 'not installed'}, {n} migration(s) applied")


def migrate_database() -> list[str]:
    """Apply schema migrations, then the post-migration seeds of each package."""
    from geo.schema import migrate

    conn = db.connect(db.writer_url())
    try:
        applied = migrate(conn)
        for module in COMMAND_MODULES:
            hook = getattr(importlib.import_module(module), "after_migrate", None)
            if hook is not None:
                hook(conn)
                conn.commit()
    finally:
        conn.close()
    return applied


@db_group.command("migrate")
def db_migrate() -> None:
    """Apply pending schema migrations (idempotent)."""
    applied = migrate_database()
    if applied:
        for name in applied:
            click.echo(f"applied {name}")
    else:
        click.echo("schema up to date")


@db_group.command("url")
@click.option("--reader", is_flag=True, help="The read-only role's URL (what the dashboard uses).")
def db_url(reader: bool) -> None:
    """Print the database URL in use."""
    click.echo(db.reader_url() if reader else db.writer_url())


@db_group.command("psql", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def db_psql(args: tuple[str, ...]) -> None:
    """Open psql on the database (extra arguments go to psql)."""
    exe = shutil.which("psql")
    if exe is None:
        fail("psql not found; apt-get install -y postgresql-client")
    os.execv(exe, [exe, db.writer_url(), *args])


# ---------------------------------------------------------------- groups filled by packages


@main.group("load", cls=Group)
def load_group() -> None:
    """Load a file: boundaries, categories, holidays, incidents, hotline, cameras, updates..."""


@main.group("demo", cls=Group, invoke_without_command=True)
@click.pass_context
def demo_group(ctx: click.Context) -> None:
    """Demo city and data. Bare `cityscreen demo` builds everything `make demo` needs."""
    if ctx.invoked_subcommand is None:
        for name in ("generate", "events"):
            sub = demo_group.commands.get(name)
            if sub is not None:
                ctx.invoke(sub)


@main.command("bench")
@click.argument("names", nargs=-1, metavar="[NAME]...")
def bench_command(names: tuple[str, ...]) -> None:
    """Run the benchmarks under benchmarks/ (all, or those whose name contains NAME) and
    write benchmarks/REPORT.md: each figure with its goal and its ratio to a baseline
    measured in the same run."""
    from cityscreen.bench import run_report

    sys.exit(run_report(list(names)))


for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(main)
