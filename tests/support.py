"""Helpers shared by test packages: free ports, waiting for servers, throwaway databases."""

from __future__ import annotations

import importlib.util
import socket
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import psycopg2.extensions

from cityscreen import db


def free_port() -> int:
    """A TCP port nobody listens on right now (loopback)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 30.0) -> None:
    """Wait until ``url`` answers with any HTTP status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s")


def create_database(server_url: str, prefix: str) -> str:
    """Create an empty database named ``<prefix>_<random>`` on ``server_url``'s server."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = db.connect(db.with_database(server_url, "postgres"))
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        admin.close()
    return db.with_database(server_url, name)


def drop_database(url: str) -> None:
    """Drop the database of ``url``, ending its sessions first."""
    name = url.rsplit("/", 1)[1].split("?")[0]
    admin = db.connect(db.with_database(url, "postgres"))
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = %s", (name,))
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        admin.close()


@contextmanager
def connection(url: str) -> Iterator[psycopg2.extensions.connection]:
    """A connection for one test: whatever it left uncommitted is rolled back, then closed."""
    conn = db.connect(url)
    try:
        yield conn
    finally:
        if conn.closed == 0:
            conn.rollback()
            conn.close()


def benchmark_module(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` imported by path (benchmarks are scripts, not a package)."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module
