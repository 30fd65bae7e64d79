"""Command-line commands contributed by the `dashboard` package (registered by `cityscreen.cli`)."""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import sys

import click

from cityscreen.settings import get_settings


def wsgi_target() -> str:
    """What gunicorn serves: the composed server when ``cityscreen.wsgi`` exists."""
    if importlib.util.find_spec("cityscreen.wsgi") is not None:
        return "cityscreen.wsgi:server"
    return "dashboard.app:server()"


@click.command("serve")
@click.option("--host", default=None, help="Interface to listen on (default CITYSCREEN_HOST).")
@click.option("--port", type=int, default=None, help="Port (default CITYSCREEN_PORT, 8050).")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="More than 1 runs gunicorn with that many worker processes.")
@click.option("--debug", is_flag=True, help="Dash debug mode (hot reload, dev tools); 1 worker.")
def serve(host: str | None, port: int | None, workers: int, debug: bool) -> None:
    """Serve the dashboard: a development server, or gunicorn with --workers N.

    Production line (what --workers runs):
    gunicorn -w N -b HOST:PORT --timeout 60 cityscreen.wsgi:server
    """
    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    if workers > 1 and not debug:
        exe = shutil.which("gunicorn", path=os.path.dirname(sys.executable)) \
            or shutil.which("gunicorn")
        if exe is None:
            raise click.ClickException("gunicorn not found: pip install gunicorn")
        click.echo(f"cityscreen: gunicorn {workers} workers on http://{host}:{port}/")
        os.execv(exe, [exe, "-w", str(workers), "-b", f"{host}:{port}", "--timeout", "60",
                       "--access-logfile", "-", wsgi_target()])
    click.echo(f"cityscreen: dashboard on http://{host}:{port}/ (development server)")
    composed = importlib.import_module("cityscreen.wsgi") \
        if importlib.util.find_spec("cityscreen.wsgi") is not None else None
    app = getattr(composed, "app", None)
    if composed is not None and not hasattr(app, "run"):
        # the composition root only exposes the Flask server: run that (no Dash dev tools)
        composed.server.run(host=host, port=port, debug=debug, threaded=True)
        return
    if app is None:
        from dashboard.app import create_app

        app = create_app()
    app.run(host=host, port=port, debug=debug)


def register(main: click.Group) -> None:
    """Attach this package's commands to the `cityscreen` command group."""
    main.add_command(serve)
    if importlib.util.find_spec("dashboard.kpi_commands") is not None:
        importlib.import_module("dashboard.kpi_commands").register(main)
