"""Helpers for the ETL-core tests: unique ids, points inside the demo city, feed files, the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from geo.coords import convert

CLI = [str(Path(sys.executable).parent / "cityscreen")]


@pytest.fixture
def uid() -> str:
    """A short unique prefix for the source ids a test creates."""
    return uuid.uuid4().hex[:8].upper()


@pytest.fixture
def grid_point(city: Any) -> Callable[..., tuple[float, float, str]]:
    """``grid_point(i, crs='wgs84')`` → (lon, lat, grid_code): a point inside grid i, in crs."""

    def pick(i: int = 0, crs: str = "wgs84") -> tuple[float, float, str]:
        grid = city.grid[i % len(city.grid)]
        lon, lat = city.points[grid]
        if crs != "wgs84":
            lon, lat = convert(lon, lat, "wgs84", crs)
        return float(lon), float(lat), grid

    return pick


def write_csv(path: Path, header: list[str], rows: list[list[Any]], *,
              encoding: str = "utf-8") -> Path:
    """Write a small CSV feed file (values str()-ed, None as empty)."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow(["" if v is None else v for v in row])
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    """Write JSON Lines (str rows are written verbatim)."""
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False))
                            + "\n" for r in rows), encoding="utf-8")
    return path


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300
            ) -> subprocess.CompletedProcess[str]:
    """Run ``cityscreen ARGS`` in a subprocess against the session database."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=full_env,
                          timeout=timeout, check=False)


def rejects_of(conn: Any, batch_id: int) -> dict[int, str]:
    """{line_no: reason} of a batch."""
    with conn.cursor() as cur:
        cur.execute("SELECT line_no, reason FROM etl_reject WHERE batch_id = %s", (batch_id,))
        return dict(cur.fetchall())


def event(conn: Any, source: str, source_id: str) -> dict[str, Any] | None:
    """The stored case as a dict (geom as lon/lat), or None."""
    with conn.cursor() as cur:
        cur.execute("SELECT *, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM event"
                    " WHERE source = %s AND source_id = %s", (source, source_id))
        row = cur.fetchone()
        if row is None:
            return None
        return dict(zip([d.name for d in cur.description], row, strict=True))


def timeline(conn: Any, source: str, source_id: str) -> list[tuple[Any, ...]]:
    """(kind, from_status, to_status) of a case's transitions in time order."""
    with conn.cursor() as cur:
        cur.execute("SELECT t.kind, t.from_status, t.to_status FROM event_transition t"
                    " JOIN event e ON e.id = t.event_id"
                    " WHERE e.source = %s AND e.source_id = %s ORDER BY t.at, t.id",
                    (source, source_id))
        return cur.fetchall()


def writer_gone(conn: Any) -> bool:
    """No loader connection (application_name cityscreen-writer) is busy in this database."""
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND application_name = 'cityscreen-writer' AND state <> 'idle'")
        return cur.fetchone()[0] == 0


def kill_mid_load(proc: subprocess.Popen, conn: Any, started: Callable[[], bool]) -> None:
    """SIGKILL the loader ``proc`` as soon as ``started()`` holds, then wait until the server
    has rolled its transaction back (``conn``: a watching autocommit connection)."""
    deadline = time.monotonic() + 120
    while not started():
        assert proc.poll() is None, "the load finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # The server notices the dead client and rolls its transaction back.
    deadline = time.monotonic() + 60
    while not writer_gone(conn):
        assert time.monotonic() < deadline
        time.sleep(0.1)
