"""Fixtures of the proof tests: the composed server in-process and served, plus helpers."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cityscreen import db
from cityscreen.settings import get_settings
from tests.support import free_port, wait_http

TOKEN = "proof-ingest-token-5f3c9a"
# ``make test`` runs the short, bounded forms; ``benchmarks/bench_proof.py`` (``make bench``)
# runs the same tests with CITYSCREEN_PROOF=full: more fuzz examples, more events through
# the PostgreSQL restart.
FULL = os.environ.get("CITYSCREEN_PROOF") == "full"


def scale(short: int, full: int) -> int:
    """``short`` in ``make test``, ``full`` in the full form."""
    return full if FULL else short
DB_PASSWORD = "Pr00f-db-pw-81d2"  # trust auth ignores it; it must never reach a log


def with_password(url: str, password: str = DB_PASSWORD) -> str:
    """``url`` with a password in its user part (trust auth accepts any)."""
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user.split(':')[0]}:{password}@{host}"


def clean_env(**extra: str) -> dict[str, str]:
    """The process environment without cityscreen variables of the developer's shell, plus extra."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("REDIS_URL", "INGEST_TOKEN", "DATABASE_READ_URL")}
    env.update(extra)
    return env


class Served:
    """The composed server (``cityscreen serve``) in a subprocess on a free port."""

    def __init__(self, env: dict[str, str], log: Path, workers: int = 1) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._log = log.open("w")
        cmd = [sys.executable, "-m", "cityscreen", "serve", "--host", "127.0.0.1",
               "--port", str(self.port)]
        if workers > 1:
            cmd += ["--workers", str(workers)]
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        try:
            wait_http(self.base + "/healthz", 60)
        except RuntimeError:
            self.stop()
            raise

    def stop(self) -> None:
        """Terminate our process (by its pid) and close the log."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


@pytest.fixture(scope="module")
def wsgi(database_url: str) -> Iterator[Any]:
    """The composed ``cityscreen.wsgi`` server in-process, ingest token set (restored after)."""
    saved = {k: os.environ.get(k) for k in ("INGEST_TOKEN", "CITYSCREEN_INGEST_MAX_BYTES")}
    os.environ["INGEST_TOKEN"] = TOKEN
    os.environ["CITYSCREEN_INGEST_MAX_BYTES"] = "65536"
    get_settings.cache_clear()
    try:
        module = importlib.import_module("cityscreen.wsgi")
        yield module
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        get_settings.cache_clear()


@pytest.fixture
def set_token() -> Iterator[Any]:
    """Change INGEST_TOKEN for one test (the blueprint reads the settings per request)."""
    saved = os.environ.get("INGEST_TOKEN")

    def change(token: str | None) -> None:
        if token is None:
            os.environ.pop("INGEST_TOKEN", None)
        else:
            os.environ["INGEST_TOKEN"] = token
        get_settings.cache_clear()

    try:
        yield change
    finally:
        change(saved)


def store_data(tree: Any, store_id: str) -> Any:
    """The ``data`` of the component with id ``store_id`` in a Dash layout JSON tree."""
    if isinstance(tree, dict):
        if tree.get("id") == store_id and "data" in tree:
            return tree["data"]
        children = tree.values()
    elif isinstance(tree, list):
        children = tree
    else:
        return None
    for child in children:
        found = store_data(child, store_id)
        if found is not None:
            return found
    return None


def db_state(url: str, source_ids: list[str] | None = None) -> dict[str, Any]:
    """Table row counts and data_version: what an attack must not change."""
    conn = db.connect(url)
    try:
        with conn.cursor() as cur:
            out: dict[str, Any] = {}
            for table in ("event", "event_transition", "admin_unit", "camera", "category",
                          "etl_batch"):
                cur.execute(f"SELECT count(*) FROM {table}")  # fixed names, not input
                out[table] = cur.fetchone()[0]
            cur.execute("SELECT version FROM data_version")
            out["data_version"] = cur.fetchone()[0]
            cur.execute("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'pwn%'")
            out["roles"] = cur.fetchone()[0]
            return out
    finally:
        conn.close()
