"""Fixtures of the analysis tests: a private 10×10 lattice of grids under fake city 990100.

Codes 9901… and the area around 80°E 40°N are used by nobody else; everything is inserted
through the function-scoped ``conn`` and rolled back after each test.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg2.extras
import pytest

from dashboard.analysis import hotspots

CITY, DISTRICT, STREET, COMMUNITY = "990100", "990101", "990101001", "990101001001"
X0, Y0, CELL = 80.0, 40.0, 0.01   # lattice origin (lon, lat) and cell size in degrees
SIDE = 10
TZ = ZoneInfo("Asia/Shanghai")
WINDOW_START = datetime(2031, 3, 10, 8, tzinfo=TZ)   # a Monday morning nobody else uses
WINDOW_END = WINDOW_START + timedelta(hours=4)


def grid_code(row: int, col: int) -> str:
    """Code of lattice cell (row, col), row-major from 001 (row 0 is the southern row)."""
    return f"{COMMUNITY}{row * SIDE + col + 1:03d}"


def _box(x0: float, y0: float, x1: float, y1: float) -> str:
    return f"SRID=4326;MULTIPOLYGON((({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0})))"


def insert_lattice(conn, side: int = SIDE) -> list[str]:
    """Insert the city → community chain and a side×side lattice of grids; codes row-major."""
    full = _box(X0, Y0, X0 + side * CELL, Y0 + side * CELL)
    with conn.cursor() as cur:
        for code, level, parent in ((CITY, "city", None), (DISTRICT, "district", CITY),
                                    (STREET, "street", DISTRICT),
                                    (COMMUNITY, "community", STREET)):
            cur.execute("INSERT INTO admin_unit (code, level, parent_code, name, geom)"
                        " VALUES (%s, %s, %s, %s, ST_GeomFromEWKT(%s))",
                        (code, level, parent, f"测试{level}", full))
        rows = [(grid_code(r, c), COMMUNITY, f"网格{r}-{c}",
                 _box(X0 + c * CELL, Y0 + r * CELL, X0 + (c + 1) * CELL, Y0 + (r + 1) * CELL))
                for r in range(side) for c in range(side)]
        psycopg2.extras.execute_values(
            cur, "INSERT INTO admin_unit (code, level, parent_code, name, geom, population)"
                 " SELECT v.code, 'grid', v.parent, v.name, ST_GeomFromEWKT(v.geom), 1000"
                 " FROM (VALUES %s) AS v (code, parent, name, geom)", rows)
    return [r[0] for r in rows]


def insert_counts(conn, counts: dict[str, int], hour: datetime, category: str = "0703",
                  channel: str = "grid_worker") -> None:
    """Put per-grid reported counts into the hourly roll-up at one hour (one statement)."""
    values = [(code, hour, channel, category, n) for code, n in counts.items() if n]
    if not values:
        return
    with conn.cursor() as cur:
        psycopg2.extras.execute_values(
            cur, "INSERT INTO event_hourly (grid_code, hour, channel, category, n_reported)"
                 " VALUES %s ON CONFLICT (grid_code, hour, channel, category)"
                 " DO UPDATE SET n_reported = event_hourly.n_reported + EXCLUDED.n_reported",
            values)


@pytest.fixture
def lattice(conn) -> Iterator[list[str]]:
    """The 10×10 lattice inserted in the test's transaction (codes row-major)."""
    hotspots.LAYERS.clear()
    yield insert_lattice(conn)
    hotspots.LAYERS.clear()


_SEQ = {"n": 0}


def _next_id(prefix: str) -> str:
    _SEQ["n"] += 1
    return f"analysis-{prefix}-{_SEQ['n']}"


def insert_event(conn, lon: float | None, lat: float | None, grid: str | None,
                 reported_at: datetime, category: str = "0703", source: str = "grid_worker",
                 **extra) -> int:
    """One case of our own (unique source id); returns its id."""
    cols = {"source": source, "source_id": _next_id("ev"), "category": category,
            "major": category[:2], "grid_code": grid, "reported_at": reported_at,
            "status": extra.pop("status", "reported"), "status_at": reported_at, **extra}
    names = ", ".join(cols)
    marks = ", ".join(["%s"] * len(cols))
    geom = ("ST_SetSRID(ST_MakePoint(%s, %s), 4326)" if lon is not None else "NULL")
    with conn.cursor() as cur:
        cur.execute(f"INSERT INTO event ({names}, geom) VALUES ({marks}, {geom}) RETURNING id",
                    [*cols.values(), *([lon, lat] if lon is not None else [])])
        return cur.fetchone()[0]


def insert_camera(conn, lon: float, lat: float, grid: str | None, status: str = "online",
                  last_seen: datetime | None = None, name: str = "测试摄像头",
                  stream_url: str | None = None) -> int:
    """One camera of our own (unique source id); returns its id."""
    with conn.cursor() as cur:
        cur.execute("INSERT INTO camera (source_id, name, geom, grid_code, status, last_seen,"
                    " stream_url) VALUES (%s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326),"
                    " %s, %s, %s, %s) RETURNING id",
                    (_next_id("cam"), name, lon, lat, grid, status, last_seen, stream_url))
        return cur.fetchone()[0]
