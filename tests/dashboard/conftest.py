"""Fixtures of the dashboard tests: the demo city with our own cases, and a served app."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from cityscreen import db
from cityscreen.settings import get_settings
from tests.dashboard.seed import insert_cameras, insert_events
from tests.support import free_port, wait_http

HERE = Path(__file__).parent


class Served:
    """A dashboard process on a free port."""

    def __init__(self, env: dict[str, str], interval_ms: int = 1000) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = Path(os.environ.get("TMPDIR", "/tmp")) / f"cityscreen-dash-{self.port}.log"
        self._log = self.log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "serve_app.py"), str(self.port), str(interval_ms)],
            env=env, stdout=self._log, stderr=subprocess.STDOUT)
        try:
            wait_http(self.base + "/healthz")
        except RuntimeError:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the process (by its own pid) and close the log."""
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()


@pytest.fixture(scope="module")
def app() -> Any:
    """A Dash app (pages register only after it exists), without a query cache."""
    from dashboard.app import create_app

    return create_app(cache_config={"CACHE_TYPE": "NullCache"})


def registered_page(path: str) -> Any:
    """The page module serving ``path`` as Dash pages loaded it (importing it again under its
    package name would register the page twice and break every later ``create_app``)."""
    import dash

    name = next(k for k, v in dash.page_registry.items() if v["path"] == path)
    return sys.modules[name]


@pytest.fixture(scope="module")
def overview(app: Any) -> Any:
    """The overview page module of ``app``."""
    return registered_page("/")


@pytest.fixture(scope="session")
def dash_city(city: Any) -> dict[str, Any]:
    """The session's demo city plus our own cases (last 30 days) and cameras, committed."""
    prefix = f"dash-{uuid.uuid4().hex[:8]}"
    now = datetime.now(get_settings().tz)
    with db.transaction() as conn:
        ids = insert_events(conn, city.points, 3000, now=now, prefix=prefix, seed=7)
        insert_cameras(conn, city.points, prefix=prefix)
        with conn.cursor() as cur:
            cur.execute("SELECT bump_data_version(NULL)")
    return {"city": city, "prefix": prefix, "event_ids": ids}


@contextmanager
def serving(database_url: str, interval_ms: int = 1000) -> Iterator[Served]:
    """The dashboard served from ``database_url`` on a free port, polling data_version every
    ``interval_ms``; stopped afterwards."""
    app = Served({**os.environ, "DATABASE_URL": database_url}, interval_ms=interval_ms)
    try:
        yield app
    finally:
        app.stop()


@pytest.fixture(scope="session")
def served(dash_city: dict[str, Any], database_url: str) -> Iterator[Served]:
    """The dashboard served from the session database (1 s version poll)."""
    with serving(database_url) as app:
        yield app


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Headless Chromium (Debian's), one per test module."""
    from tests.dashboard.browser import browser

    with browser() as b:
        yield b


@contextmanager
def fresh_page(chromium: Any, width: int = 1920, height: int = 1080) -> Iterator[Any]:
    """A page in its own context (no shared cache or history) of the given viewport."""
    context = chromium.new_context(viewport={"width": width, "height": height})
    p = context.new_page()
    p.set_default_timeout(120_000)
    try:
        yield p
    finally:
        context.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A fresh 1920×1080 page."""
    with fresh_page(chromium) as p:
        yield p
