"""Grid assignment: the in-process STRtree path and the set-based PostGIS path agree."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
import shapely

from geo.assign import GridAssigner
from geo.reassign import reassign

SHANGHAI = timezone(timedelta(hours=8))


@pytest.fixture(scope="module")
def grids(city, database_url):
    from cityscreen import db

    conn = db.connect(database_url)
    try:
        yield GridAssigner.from_db(conn, prefix=city.code[:4])
    finally:
        conn.close()


def _sql_codes(conn, lon: np.ndarray, lat: np.ndarray) -> list[str | None]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT grid_code_at(ST_SetSRID(ST_Point(x, y), 4326))"
            " FROM unnest(%s::float8[], %s::float8[]) WITH ORDINALITY AS t(x, y, i) ORDER BY i",
            (lon.tolist(), lat.tolist()))
        return [r[0] for r in cur.fetchall()]


def _test_points(grids: GridAssigner, n: int = 600) -> tuple[np.ndarray, np.ndarray]:
    """Random points (some outside the city), shared vertices, edge midpoints."""
    rng = np.random.default_rng(11)
    xmin, ymin, xmax, ymax = shapely.total_bounds(grids.geoms)
    rx = rng.uniform(xmin - 0.1, xmax + 0.1, n)
    ry = rng.uniform(ymin - 0.1, ymax + 0.1, n)
    coords = shapely.get_coordinates(shapely.boundary(grids.geoms))
    pick = rng.choice(len(coords) - 1, n, replace=False)
    vx, vy = coords[pick, 0], coords[pick, 1]  # vertices: shared by 2-3 grids
    mx = (coords[pick, 0] + coords[pick + 1, 0]) / 2  # mostly midpoints of shared edges
    my = (coords[pick, 1] + coords[pick + 1, 1]) / 2
    return np.concatenate([rx, vx, mx]), np.concatenate([ry, vy, my])


def test_assigner_agrees_with_postgis(grids, conn) -> None:
    lon, lat = _test_points(grids)
    ours = grids.assign(lon, lat)
    theirs = _sql_codes(conn, lon, lat)
    mismatches = [(x, y, a, b) for x, y, a, b in zip(lon, lat, ours, theirs, strict=True)
                  if a != b]
    assert not mismatches, mismatches[:5]
    assert sum(c is None for c in ours) > 50  # the random part reaches outside the city
    assert sum(c is not None for c in ours) > 1000


def test_shared_vertex_goes_to_smallest_code(grids) -> None:
    # A vertex shared by several grids: every grid touching it is a candidate.
    geom = grids.geoms[len(grids) // 2]
    x, y = shapely.get_coordinates(geom)[0]
    touching = [c for c, g in zip(grids.codes, grids.geoms, strict=True)
                if g.intersects(shapely.Point(x, y))]
    assert len(touching) >= 2
    assert grids.assign(np.array([x]), np.array([y]))[0] == min(touching)


def test_inner_points_and_shapes(grids, city) -> None:
    codes = list(city.points)[:50]
    lon = np.array([city.points[c][0] for c in codes])
    lat = np.array([city.points[c][1] for c in codes])
    assert list(grids.assign(lon, lat)) == codes
    two_d = grids.assign(lon[:6].reshape(2, 3), lat[:6].reshape(2, 3))
    assert two_d.shape == (2, 3) and two_d[1, 2] == codes[5]
    odd = grids.assign(np.array([np.nan, 2.35, lon[0]]), np.array([lat[0], 48.85, np.inf]))
    assert list(odd) == [None, None, None]
    assert grids.assign(np.array([]), np.array([])).shape == (0,)


def _insert_events(conn, lon, lat, codes, reported) -> list[int]:
    src = f"test_geo_{uuid.uuid4().hex[:8]}"
    ids = []
    with conn.cursor() as cur:
        for i, (x, y, code) in enumerate(zip(lon, lat, codes, strict=True)):
            cur.execute(
                "INSERT INTO event (source, source_id, category, geom, grid_code, reported_at,"
                " status, status_at) VALUES (%s, %s, '0703', ST_SetSRID(ST_Point(%s, %s), 4326),"
                " %s, %s, 'reported', %s) RETURNING id",
                (src, str(i), float(x), float(y), code, reported, reported))
            ids.append(cur.fetchone()[0])
    return ids


def test_reassign_moves_events_and_rebuilds_rollups(grids, conn) -> None:
    lon, lat = _test_points(grids, n=60)
    truth = grids.assign(lon, lat)
    hour = datetime(2001, 3, 4, 10, 0, tzinfo=SHANGHAI)  # an hour no other test uses
    bogus = "420600999999999"
    # half the events carry a wrong code, half already the right one
    stored = [bogus if i % 2 else t for i, t in enumerate(truth)]
    ids = _insert_events(conn, lon, lat, stored, hour + timedelta(minutes=7))
    with conn.cursor() as cur:
        cur.execute("INSERT INTO event_hourly (grid_code, hour, channel, category, n_reported)"
                    " VALUES (%s, %s, 'grid_worker', '0703', 99)", (bogus, hour))
        cur.execute("INSERT INTO camera (source, source_id, geom, grid_code) VALUES"
                    " ('test_geo', %s, ST_SetSRID(ST_Point(%s, %s), 4326), %s) RETURNING id",
                    (uuid.uuid4().hex, float(lon[0]), float(lat[0]), bogus))
        camera_id = cur.fetchone()[0]

    result = reassign(conn)

    expected_moves = sum(1 for s, t in zip(stored, truth, strict=True) if s != t)
    assert result.events_moved >= expected_moves > 0
    assert result.cameras_moved >= 1
    with conn.cursor() as cur:
        cur.execute("SELECT id, grid_code, attrs FROM event WHERE id = ANY(%s)", (ids,))
        rows = {r[0]: r[1:] for r in cur.fetchall()}
        for event_id, s, t in zip(ids, stored, truth, strict=True):
            code, attrs = rows[event_id]
            assert code == t
            if s != t:
                assert attrs["prev_grid_code"] == s
            else:
                assert "prev_grid_code" not in attrs
        cur.execute("SELECT grid_code, attrs->>'prev_grid_code' FROM camera WHERE id = %s",
                    (camera_id,))
        assert cur.fetchone() == (truth[0], bogus)
        cur.execute("SELECT grid_code, sum(n_reported) FROM event_hourly WHERE hour = %s"
                    " GROUP BY grid_code", (hour,))
        rollup = dict(cur.fetchall())
    assert bogus not in rollup  # the stale row of the old code is gone
    counts: dict[str, int] = {}
    for t, s in zip(truth, stored, strict=True):
        if s != t:  # only moved events' keys are rebuilt
            counts[t or ""] = counts.get(t or "", 0) + 1
    for key in counts:
        assert rollup[key] == sum(1 for t in truth if (t or "") == key)

    # a second run finds nothing left to move among our rows
    with conn.cursor() as cur:
        cur.execute("SELECT clock_timestamp()")
        before = cur.fetchone()[0]
    reassign(conn)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM event WHERE id = ANY(%s) AND updated_at > %s",
                    (ids, before))
        assert cur.fetchone()[0] == 0


def test_reassign_since_leaves_older_events(grids, conn, city) -> None:
    code = city.grid[3]
    x, y = city.points[code]
    old = datetime(2000, 1, 1, 8, tzinfo=SHANGHAI)
    new = datetime(2000, 6, 1, 8, tzinfo=SHANGHAI)
    ids = _insert_events(conn, [x, x], [y, y], ["420600999999999"] * 2, old)
    with conn.cursor() as cur:
        cur.execute("UPDATE event SET reported_at = %s WHERE id = %s", (new, ids[1]))
    reassign(conn, since=datetime(2000, 3, 1, tzinfo=SHANGHAI))
    with conn.cursor() as cur:
        cur.execute("SELECT id, grid_code FROM event WHERE id = ANY(%s)", (ids,))
        got = dict(cur.fetchall())
    assert got[ids[0]] == "420600999999999"
    assert got[ids[1]] == code
