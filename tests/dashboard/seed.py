"""Insert realistic-looking cases straight into PostGIS (the dashboard's tests and dev data).

Rows get unique ``source_id``s under a caller-chosen prefix so tests can scope to their rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta

import numpy as np
from psycopg2.extras import execute_values

from cityscreen import db
from cityscreen.settings import get_settings

SOURCES = ("grid_worker", "hotline_12345", "video_ai")
STATUSES = ("reported", "accepted", "dispatched", "resolved", "verified", "closed")


def insert_events(conn, points: Mapping[str, tuple[float, float]], n: int, *, now: datetime,
                  prefix: str, seed: int = 1, days: float = 30.0,
                  categories: tuple[str, ...] = ("0101", "0203", "0305", "0703")) -> list[int]:
    """Insert ``n`` cases spread over the last ``days`` in the given grids; return their ids.

    Each case sits at its grid's inner point (jittered by a few metres), so the point lies in
    the grid. Closed cases get a closing time; some open ones are past their deadline.
    The touched ``event_hourly`` rows are refreshed, as the loader does after a batch.
    """
    rng = np.random.default_rng(seed)
    grids = list(points)
    weights = rng.lognormal(0, 1.0, len(grids))
    weights /= weights.sum()
    picks = rng.choice(len(grids), size=n, p=weights)
    rows = []
    for i, g in enumerate(picks):
        code = grids[g]
        lon, lat = points[code]
        lon += rng.normal(0, 0.0001)
        lat += rng.normal(0, 0.0001)
        reported = now - timedelta(hours=float(rng.uniform(0, days * 24)))
        status = STATUSES[int(rng.integers(0, len(STATUSES)))]
        deadline = reported + timedelta(hours=float(rng.choice([4, 24, 72])))
        closed = reported + timedelta(hours=float(rng.uniform(1, 96))) if status == "closed" \
            else None
        if closed is not None and closed > now:
            closed = now
        source = SOURCES[int(rng.integers(0, len(SOURCES)))]
        cat = categories[int(rng.integers(0, len(categories)))]
        rows.append((source, f"{prefix}-{i}", cat, cat[:2], int(rng.integers(1, 5)),
                     f"SRID=4326;POINT({lon:.7f} {lat:.7f})", code, reported, deadline,
                     closed, status, reported if closed is None else closed,
                     int(rng.integers(1, 6)) if source == "hotline_12345" and closed else None,
                     f"{code[-3:]}号附近"))
    with conn.cursor() as cur:
        ids = execute_values(cur, """
            INSERT INTO event (source, source_id, category, major, priority, geom, grid_code,
                               reported_at, deadline_at, closed_at, status, status_at,
                               satisfaction, address)
            VALUES %s RETURNING id""", rows, fetch=True, page_size=2000)
        new_ids = [r[0] for r in ids]
        cur.execute("""
            INSERT INTO event_transition (event_id, at, kind, from_status, to_status, dept)
            SELECT e.id, e.reported_at, 'reported', NULL, 'reported', '网格中心'
            FROM event e WHERE e.id = ANY(%s)
            UNION ALL
            SELECT e.id, e.closed_at, 'closed', 'verified', 'closed', '城管局'
            FROM event e WHERE e.id = ANY(%s) AND e.closed_at IS NOT NULL""", (new_ids, new_ids))
        # As the loader does after each batch: the dashboard counts from the hourly roll-up.
        cur.execute("""
            SELECT refresh_event_hourly(array_agg(coalesce(grid_code, '')), array_agg(reported_at))
            FROM (SELECT DISTINCT grid_code, date_trunc('hour', reported_at) AS reported_at
                  FROM event WHERE id = ANY(%s)) k""", (new_ids,))
    return new_ids


def district_cases(city, district: str, n: int, *, end: datetime, days: float, seed: int,
                   label: str) -> dict:
    """Commit ``n`` cases over the ``days`` before ``end`` in one district's grids (tests pick
    a year nobody else writes into); returns the district, the case ids and the street
    holding most of them."""
    grids = {g: city.points[g] for g in city.grid if g.startswith(district)}
    with db.transaction() as conn:
        ids = insert_events(conn, grids, n, now=end, prefix=f"{label}-{uuid.uuid4().hex[:8]}",
                            seed=seed, days=days)
        with conn.cursor() as cur:
            cur.execute("SELECT left(grid_code, 9) FROM event WHERE id = ANY(%s) "
                        "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1", (ids,))
            street = cur.fetchone()[0]
    return {"district": district, "ids": ids, "street": street}


def publish_new_case(grid: str, point: tuple[float, float], *, label: str,
                     days: float) -> int:
    """Commit one case reported in ``grid`` within the last ``days`` and bump ``data_version``,
    as a live batch does (source ids ``label-<random>-…``); returns the new version."""
    with db.transaction() as conn:
        insert_events(conn, {grid: point}, 1, now=datetime.now(get_settings().tz),
                      prefix=f"{label}-{uuid.uuid4().hex[:8]}", days=days)
        with conn.cursor() as cur:
            cur.execute("SELECT bump_data_version(NULL)")
            return int(cur.fetchone()[0])


def insert_cameras(conn, points: Mapping[str, tuple[float, float]], *, prefix: str,
                   every: int = 3) -> int:
    """One camera near every ``every``-th grid's inner point, a quarter of them offline."""
    rows = []
    for i, (code, (lon, lat)) in enumerate(sorted(points.items())):
        if i % every:
            continue
        status = "offline" if i % (every * 4) == 0 else "online"
        rows.append(("cctv", f"{prefix}-{i}", f"摄像头{i}", f"SRID=4326;POINT({lon + 0.0008:.7f} "
                     f"{lat:.7f})", code, status))
    with conn.cursor() as cur:
        execute_values(cur, """
            INSERT INTO camera (source, source_id, name, geom, grid_code, status)
            VALUES %s ON CONFLICT (source, source_id) DO NOTHING""", rows)
    return len(rows)
