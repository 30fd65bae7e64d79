"""The one connection factory: lazily created pools (one per process and role), transactions.

Nothing else in the code base calls ``psycopg2.connect``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import psycopg2.extensions
import psycopg2.extras
import psycopg2.pool

from cityscreen.settings import READER_ROLE, Settings, get_settings

log = logging.getLogger("cityscreen.db")

Role = Literal["writer", "reader"]
Connection = psycopg2.extensions.connection


class DatabaseError(RuntimeError):
    """The database cannot be reached or used; the message is one line meant for people."""


def writer_url(settings: Settings | None = None) -> str:
    """URL of the read-write database: ``DATABASE_URL`` or the private cluster."""
    settings = settings or get_settings()
    if settings.database_url:
        return settings.database_url
    return f"postgresql://postgres@127.0.0.1:{settings.pg_port}/cityscreen"


def with_user(url: str, user: str) -> str:
    """Return ``url`` with its user replaced (password dropped)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def with_database(url: str, dbname: str) -> str:
    """Return ``url`` pointing at another database on the same server."""
    return urlunsplit(urlsplit(url)._replace(path="/" + dbname))


def reader_url(settings: Settings | None = None) -> str:
    """URL the dashboard uses: ``DATABASE_READ_URL`` or the writer URL as the read-only role."""
    settings = settings or get_settings()
    return settings.database_read_url or with_user(writer_url(settings), READER_ROLE)


def describe(url: str) -> str:
    """A URL without its password, for messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or "local socket"
    port = f":{parts.port}" if parts.port else ""
    user = f"{parts.username}@" if parts.username else ""
    return f"{user}{host}{port}{parts.path}"


def connect(url: str, *, application_name: str = "cityscreen", timeout_ms: int | None = None,
            connect_timeout: int = 5) -> Connection:
    """Open one connection with our session settings, or raise a one-line ``DatabaseError``."""
    settings = get_settings()
    timeout_ms = settings.statement_timeout_ms if timeout_ms is None else timeout_ms
    try:
        conn = psycopg2.connect(
            url,
            application_name=application_name,
            connect_timeout=connect_timeout,
            options=f"-c statement_timeout={timeout_ms} -c TimeZone={settings.tz.key}",
        )
    except psycopg2.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatabaseError(f"cannot connect to {describe(url)}: {first}") from None
    except psycopg2.ProgrammingError as exc:  # malformed DSN
        raise DatabaseError(f"bad database URL {describe(url)}: {str(exc).strip()}") from None
    return conn


class _Pools:
    """Pools keyed by (pid, role, url): a forked worker never reuses its parent's sockets."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pools: dict[tuple[int, str, str], psycopg2.pool.ThreadedConnectionPool] = {}

    def get(self, role: Role, url: str) -> psycopg2.pool.ThreadedConnectionPool:
        key = (os.getpid(), role, url)
        pool = self._pools.get(key)
        if pool is None:
            with self._lock:
                pool = self._pools.get(key)
                if pool is None:
                    pool = _make_pool(role, url)
                    self._pools[key] = pool
        return pool

    def close_all(self) -> None:
        with self._lock:
            for (pid, _, _), pool in list(self._pools.items()):
                if pid == os.getpid():
                    pool.closeall()
            self._pools.clear()


_POOLS = _Pools()


def _make_pool(role: Role, url: str) -> psycopg2.pool.ThreadedConnectionPool:
    settings = get_settings()

    class _Pool(psycopg2.pool.ThreadedConnectionPool):
        def _connect(self, key: Any = None) -> Connection:
            conn = connect(url, application_name=f"cityscreen-{role}",
                           timeout_ms=settings.statement_timeout_ms)
            if key is not None:
                self._used[key] = conn
                self._rused[id(conn)] = key
            else:
                self._pool.append(conn)
            return conn

    try:
        pool = _Pool(0, 8)
    except psycopg2.Error as exc:
        raise DatabaseError(str(exc).strip().splitlines()[0]) from None
    # psycopg2 closes every returned connection beyond ``minconn``: with 0, each dashboard
    # request and each ingest batch paid a new backend (5-20 ms, far more on a loaded host).
    # Both roles keep theirs (none opened up front): every write sets only LOCAL state and
    # its staging tables are ON COMMIT DROP, and ``pooled`` rolls back what a borrower left.
    pool.minconn = pool.maxconn
    return pool


def _discard_idle(pool: psycopg2.pool.ThreadedConnectionPool) -> None:
    """Close the pool's idle connections (after one turned out broken)."""
    with pool._lock:
        idle, pool._pool[:] = list(pool._pool), []
    for conn in idle:
        conn.close()


def close_pools() -> None:
    """Close this process's pooled connections (tests, shutdown)."""
    _POOLS.close_all()


def _url_for(role: Role) -> str:
    return writer_url() if role == "writer" else reader_url()


@contextmanager
def pooled(role: Role = "writer") -> Iterator[Connection]:
    """Borrow a pooled connection; a broken one is discarded rather than returned."""
    pool = _POOLS.get(role, _url_for(role))
    try:
        conn = pool.getconn()
    except psycopg2.pool.PoolError as exc:
        raise DatabaseError(f"connection pool exhausted: {exc}") from None
    broken = False
    try:
        yield conn
    except (psycopg2.OperationalError, psycopg2.InterfaceError):
        broken = True
        _discard_idle(pool)  # the server went away: its other kept connections are dead too
        raise
    finally:
        if not broken and conn.closed == 0 and conn.status != psycopg2.extensions.STATUS_READY:
            try:
                conn.rollback()
            except psycopg2.Error:
                broken = True
        pool.putconn(conn, close=broken or conn.closed != 0)


@contextmanager
def transaction(role: Role = "writer") -> Iterator[Connection]:
    """``with transaction() as conn:`` commits on success and rolls back on any error."""
    with pooled(role) as conn:
        try:
            yield conn
            conn.commit()
        except BaseException:
            if conn.closed == 0:
                conn.rollback()
            raise


def query(sql: str, params: Sequence[Any] | dict[str, Any] | None = None, *,
          role: Role = "reader", name: str = "query") -> list[dict[str, Any]]:
    """Run one read query and return its rows as dicts, logging name, time and row count."""
    started = time.perf_counter()
    dict_cursor = psycopg2.extras.RealDictCursor
    with transaction(role) as conn, conn.cursor(cursor_factory=dict_cursor) as cur:
        cur.execute(sql, params)
        rows = [dict(r) for r in cur.fetchall()] if cur.description else []
    log.debug("sql %s %.1f ms %d rows", name, (time.perf_counter() - started) * 1000, len(rows))
    return rows
