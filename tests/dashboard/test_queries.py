"""Read-side queries, view state and cache against the real PostGIS session database."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from cityscreen import db
from cityscreen.settings import get_settings
from dashboard import data, queries
from dashboard.cache import QueryCache
from dashboard.state import ViewState, parse_state, window_bounds
from tests.dashboard.seed import district_cases, insert_events, publish_new_case

TZ = get_settings().tz
# A window nobody else writes into, so counts can be asserted exactly.
T0 = datetime(2019, 3, 10, 8, 0, tzinfo=TZ)


def reader_rows(fn: Any, *args: Any) -> Any:
    """Run a query function as the dashboard does: the read-only role."""
    with db.transaction("reader") as conn:
        return fn(conn, *args)


@pytest.fixture(scope="module")
def planted(city: Any) -> dict[str, Any]:
    """Cases in one street's grids inside the private 2019 window."""
    street = city.street[0]
    grids = {g: city.points[g] for g in city.grid if g.startswith(street)}
    prefix = f"q-{uuid.uuid4().hex[:8]}"
    with db.transaction() as conn:
        ids = insert_events(conn, grids, 200, now=T0 + timedelta(days=1), prefix=prefix,
                            seed=3, days=1.0)
        with conn.cursor() as cur:
            cur.execute("""SELECT grid_code, count(*) FROM event WHERE id = ANY(%s)
                           GROUP BY 1""", (ids,))
            per_grid = dict(cur.fetchall())
            cur.execute("""SELECT source, count(*) FROM event WHERE id = ANY(%s)
                           GROUP BY 1""", (ids,))
            per_source = dict(cur.fetchall())
    return {"street": street, "grids": grids, "ids": ids, "per_grid": per_grid,
            "per_source": per_source}


def test_children_geometry_is_the_citys_districts(city: Any) -> None:
    geom = reader_rows(queries.children_geometry, city.code)
    assert geom["fc"]["type"] == "FeatureCollection"
    assert sorted(f["id"] for f in geom["fc"]["features"]) == sorted(city.district)
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in geom["fc"]["features"])
    assert {u["code"] for u in geom["units"]} == set(city.district)
    x0, y0, x1, y1 = geom["bbox"]
    lon, lat = next(iter(city.points.values()))
    assert x0 < lon < x1 and y0 < lat < y1


def test_ancestors_run_city_first(city: Any) -> None:
    grid = city.grid[0]
    crumbs = reader_rows(queries.ancestors, grid)
    assert [c["level"] for c in crumbs] == ["city", "district", "street", "community", "grid"]
    assert crumbs[0]["code"] == city.code and crumbs[-1]["code"] == grid


def test_children_values_count_our_cases_per_child(planted: dict[str, Any]) -> None:
    street = reader_rows(queries.unit_info, planted["street"])
    rows = reader_rows(queries.children_values, street, T0, T0 + timedelta(days=1), {})
    got = {r["code"]: r["received"] for r in rows}
    want: dict[str, int] = {}
    for grid, n in planted["per_grid"].items():
        want[grid[:12]] = want.get(grid[:12], 0) + n
    assert got == want
    assert sum(got.values()) == 200


def test_filters_narrow_by_channel_and_status(planted: dict[str, Any]) -> None:
    street = reader_rows(queries.unit_info, planted["street"])
    window = (T0, T0 + timedelta(days=1))
    n_hotline = reader_rows(queries.count_between, street, *window, {"channel": "hotline_12345"})
    assert n_hotline == planted["per_source"].get("hotline_12345", 0)
    n_closed = reader_rows(queries.count_between, street, *window, {"status": "closed"})
    n_open = reader_rows(queries.count_between, street, *window, {"status": "open"})
    assert n_closed + n_open == 200 and 0 < n_closed < 200
    # unknown filter values are dropped, never reach SQL
    assert reader_rows(queries.count_between, street, *window,
                       {"channel": "x'; DROP TABLE event; --"}) == 200


def test_metric_values_per10k_and_ontime() -> None:
    units = [{"code": "a", "population": 20000}, {"code": "b", "population": None}]
    rows = [{"code": "a", "received": 10, "overdue": 2, "closed": 4, "closed_on_time": 3}]
    assert data.metric_values(rows, units, "per10k") == {"a": 5.0, "b": None}
    assert data.metric_values(rows, units, "ontime") == {"a": 75.0, "b": None}
    assert data.metric_values(rows, units, "count") == {"a": 10, "b": 0}


def test_case_timeline_and_cameras_within_300m(city: Any) -> None:
    grid = city.grid[5]
    lon, lat = city.points[grid]
    tag = uuid.uuid4().hex[:8]
    with db.transaction() as conn, conn.cursor() as cur:
        cur.execute("""INSERT INTO event (source, source_id, category, major, geom, grid_code,
                         reported_at, status, status_at)
                       VALUES ('grid_worker', %s, '0101', '01',
                         ST_SetSRID(ST_MakePoint(%s, %s), 4326), %s, now(), 'dispatched', now())
                       RETURNING id""", (f"case-{tag}", lon, lat, grid))
        case_id = cur.fetchone()[0]
        cur.execute("""INSERT INTO event_transition (event_id, at, kind, to_status, dept) VALUES
                       (%s, now() - interval '2 hours', 'reported', 'reported', '网格中心'),
                       (%s, now() - interval '1 hours', 'dispatched', 'dispatched', '城管局')""",
                    (case_id, case_id))
        # ~100 m and ~500 m east of the case (1e-3 degree of longitude is ~94 m here)
        for i, dlon in enumerate((0.00107, 0.0053)):
            cur.execute("""INSERT INTO camera (source_id, name, geom, status)
                           VALUES (%s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326), 'online')""",
                        (f"cam-{tag}-{i}", f"cam{i}", lon + dlon, lat))
    cams = [c for c in reader_rows(queries.cameras_near, case_id, 300.0)
            if c["source_id"].startswith(f"cam-{tag}")]
    assert [c["source_id"] for c in cams] == [f"cam-{tag}-0"]
    assert 80 < cams[0]["distance_m"] < 120
    steps = reader_rows(queries.case_transitions, case_id)
    assert [s["kind"] for s in steps] == ["reported", "dispatched"]
    model = data.case_model(case_id)
    assert model["case"]["grid_code"] == grid
    assert [c["level"] for c in model["crumbs"]][-1] == "grid"


def test_state_round_trips_through_the_url() -> None:
    s = ViewState(unit="420606001", window="custom", start="2026-11-01", end="2026-11-07",
                  channel="hotline_12345", major="07", status="overdue", metric="per10k",
                  cams=True, theme="desk", lang="en")
    qs = parse_qs(urlsplit(s.to_query()).query)
    assert parse_state(qs) == s
    assert ViewState().to_query() == ""


@pytest.mark.parametrize("params", [
    {"unit": "4206'--"}, {"unit": "42060"}, {"major": "1; select"}, {"window": "1y"},
    {"metric": "pg_sleep"}, {"window": "custom", "start": "2026-13-01", "end": "2026-13-02"},
])
def test_state_rejects_bad_values(params: dict[str, str]) -> None:
    s = parse_state(params)
    assert s.unit is None and s.major is None
    assert s.window in ("today", "24h", "7d", "30d") and s.metric == "count"


def test_window_bounds_round_now_up_to_the_minute() -> None:
    now = datetime(2026, 11, 24, 9, 12, 30, tzinfo=TZ)
    start, end = window_bounds(ViewState(), TZ, now)
    assert start == datetime(2026, 11, 24, tzinfo=TZ) and end == now.replace(minute=13, second=0)
    start, end = window_bounds(ViewState(window="7d"), TZ, now)
    assert end - start == timedelta(days=7)


def test_cache_keys_by_version_and_survives_a_dead_redis() -> None:
    from flask import Flask
    from flask_caching import Cache

    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    qc = QueryCache(Cache(Flask("t"), config={"CACHE_TYPE": "SimpleCache"}), "SimpleCache")
    assert qc.get_or_compute("q", (1,), 5, compute) == 1
    assert qc.get_or_compute("q", (1,), 5, compute) == 1  # hit
    assert qc.get_or_compute("q", (1,), 6, compute) == 2  # new data_version: recomputed
    dead = QueryCache(Cache(Flask("d"), config={
        "CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": "redis://127.0.0.1:1/0",
        "CACHE_OPTIONS": {"socket_connect_timeout": 0.2}}), "RedisCache")
    assert dead.get_or_compute("q", (1,), 5, compute) == 3  # answered without a cache
    assert dead.get_or_compute("q", (1,), 5, compute) == 4


def test_refresh_values_see_a_new_case(dash_city: dict[str, Any]) -> None:
    city = dash_city["city"]
    district = city.district[0]
    grid = next(g for g in city.grid if g.startswith(district))
    state = ViewState(unit=district)
    before = data.refresh_values(state, "v-before")
    version = publish_new_case(grid, city.points[grid], label="r", days=0.001)
    after = data.refresh_values(state, version)
    assert after["tiles"]["events_today"] == before["tiles"]["events_today"] + 1
    street = grid[:9]
    assert after["values"][street] == before["values"][street] + 1


def test_healthz_and_geometry_routes(dash_city: dict[str, Any]) -> None:
    from dashboard.app import create_app

    client = create_app(cache_config={"CACHE_TYPE": "SimpleCache"}).server.test_client()
    health = client.get("/healthz")
    assert health.status_code == 200
    body = health.get_json()
    assert body["database"] == "ok" and body["data_version"] >= 1
    assert body["last_batch_age_s"] is not None
    code = dash_city["city"].code
    geo = client.get(f"/api/v1/geometry/{code}.geojson")
    assert geo.status_code == 200
    assert len(geo.get_json()["features"]) == len(dash_city["city"].district)
    assert client.get("/api/v1/geometry/abc'.geojson").status_code == 404


def test_overview_layout_carries_the_initial_figure(dash_city: dict[str, Any],
                                                    overview: Any) -> None:
    city = dash_city["city"]
    district = city.district[1]
    root = overview.layout(unit=district, metric="overdue")
    assert root["props"]["id"] == "page-root"  # the view as the data Dash sends (plain)
    graph = next(c for c in _walk(root) if c["props"].get("id") == "map")
    fig = graph["props"]["figure"]
    streets = sorted(s for s in city.street if s.startswith(district))
    assert list(fig["data"][0]["locations"]) == streets
    # the level's geometry travels inside the initial figure (no second round trip)
    fc = fig["data"][0]["geojson"]
    assert sorted(f["id"] for f in fc["features"]) == streets
    assert fig["layout"]["uirevision"] == district


def test_drill_href_goes_to_the_grid_page_at_the_bottom(overview: Any) -> None:
    s = ViewState(window="7d", theme="desk")
    assert overview.drill_href(s, "420606001") == "/?unit=420606001&window=7d&theme=desk"
    assert (overview.drill_href(s, "420606001001001")
            == "/grid/420606001001001?window=7d&theme=desk")


def _walk(node: Any) -> Any:
    """The components of a plain (``data.plain``) component tree."""
    yield node
    children = node["props"].get("children")
    for c in children if isinstance(children, list) else [children]:
        if isinstance(c, dict) and "props" in c:
            yield from _walk(c)


def test_heat_points_are_binned_and_keep_every_case(planted: dict[str, Any]) -> None:
    street = reader_rows(queries.unit_info, planted["street"])
    cells = reader_rows(queries.event_points, street, T0, T0 + timedelta(days=1), {})
    assert sum(c["n"] for c in cells) == 200
    assert len(cells) < 200  # cases a few metres apart share a cell


def direct(sql: str, params: list[Any]) -> list[tuple]:
    """A plain count straight from ``event`` (the reference the roll-up path must match)."""
    with db.transaction("reader") as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


@pytest.mark.parametrize("filters", [{}, {"channel": "hotline_12345"}, {"major": "07"}])
def test_rollup_counts_equal_direct_counts_from_event(planted: dict[str, Any],
                                                      filters: dict[str, str]) -> None:
    # Window edges off the hour, so both raw edge hours and whole roll-up hours take part.
    start, end = T0 + timedelta(minutes=17), T0 + timedelta(hours=19, minutes=41)
    street = reader_rows(queries.unit_info, planted["street"])
    ids = planted["ids"]
    cond, extra = "", []
    if "channel" in filters:
        cond, extra = " AND source = %s", [filters["channel"]]
    if "major" in filters:
        cond, extra = " AND major = %s", [filters["major"]]
    win = [start, end, ids, *extra]
    scope = f"reported_at >= %s AND reported_at < %s AND id = ANY(%s){cond}"

    (n,), = direct(f"SELECT count(*) FROM event WHERE {scope}", win)
    assert n > 0
    assert reader_rows(queries.count_between, street, start, end, filters) == n

    want = {code: (rec, closed, on_time) for code, rec, closed, on_time in direct(f"""
        SELECT left(grid_code, 12), count(*),
               count(*) FILTER (WHERE status = 'closed' AND closed_at < %s),
               count(*) FILTER (WHERE status = 'closed' AND closed_at < %s
                                  AND (deadline_at IS NULL OR closed_at <= deadline_at))
        FROM event WHERE {scope} GROUP BY 1""", [end, end, *win])}
    got = {r["code"]: (r["received"], r["closed"], r["closed_on_time"])
           for r in reader_rows(queries.children_values, street, start, end, filters)}
    assert got == want

    hourly = dict(direct(f"""SELECT date_trunc('hour', reported_at), count(*) FROM event
                             WHERE {scope} GROUP BY 1""", win))
    assert {r["t"]: r["n"] for r in reader_rows(queries.hourly_counts, street, start, end,
                                                filters)} == hourly
    daily = dict(direct(f"""SELECT date_trunc('day', reported_at), count(*) FROM event
                            WHERE {scope} GROUP BY 1""", win))
    assert {r["t"]: r["n"] for r in reader_rows(queries.daily_counts, street, start, end,
                                                filters)} == daily
    cats = dict(direct(f"SELECT major, count(*) FROM event WHERE {scope} GROUP BY 1", win))
    assert {r["code"]: r["n"] for r in reader_rows(queries.category_counts, street, start,
                                                   end, filters)} == cats


def test_overdue_per_child_is_open_and_late_at_the_window_end(planted: dict[str, Any]) -> None:
    start, end = T0, T0 + timedelta(days=1)
    street = reader_rows(queries.unit_info, planted["street"])
    # Open at the window's end (it is in the past) and past the deadline by then.
    want = dict(direct("""
        SELECT left(grid_code, 12), count(*) FROM event
        WHERE id = ANY(%s) AND reported_at >= %s AND reported_at < %s AND deadline_at < %s
          AND (status <> 'closed' OR closed_at >= %s) GROUP BY 1""",
                       [planted["ids"], start, end, end, end]))
    assert want
    got = {r["code"]: r["overdue"]
           for r in reader_rows(queries.children_values, street, start, end, {})}
    assert {c: v for c, v in got.items() if v} == want


def test_ranking_agrees_with_kpi_children_kpis(planted: dict[str, Any]) -> None:
    from dashboard import kpi

    start, end = T0, T0 + timedelta(days=1)
    street = reader_rows(queries.unit_info, planted["street"])
    rows = reader_rows(queries.children_values, street, start, end, {})
    with db.transaction("reader") as conn:
        ref = {c["unit"]: c["kpis"] for c in kpi.children_kpis(conn, street["code"], start, end)}
    units = [{"code": c, "population": None} for c in ref if c]
    counts = data.metric_values(rows, units, "count")
    overdue = data.metric_values(rows, units, "overdue")
    ontime = data.metric_values(rows, units, "ontime")
    for code, k in ref.items():
        if code is None:
            continue
        assert counts[code] == k["received"]
        assert overdue[code] == k["overdue_open"]
        want = None if k["on_time_rate"] is None else round(100 * k["on_time_rate"], 1)
        assert ontime[code] == want


def test_cache_prefix_differs_per_database() -> None:
    from dashboard.cache import key_prefix

    a = key_prefix("postgresql://u:secret@db1:5432/city_a")
    b = key_prefix("postgresql://u:secret@db1:5432/city_b")
    assert a != b and a.startswith("cityscreen:")
    assert key_prefix("postgresql://u:other@db1:5432/city_a") == a  # the password plays no part
    assert "secret" not in a


@pytest.fixture(scope="module")
def spread(city: Any) -> dict[str, Any]:
    """Cases over four days of a district (2018, a window nobody else writes into)."""
    t_end = datetime(2018, 6, 20, 5, 0, tzinfo=TZ)
    made = district_cases(city, city.district[0], 400, end=t_end, days=4.0, seed=5, label="d")
    return {**made, "start": t_end - timedelta(days=4, hours=-3, minutes=-13),
            "end": t_end - timedelta(minutes=22)}


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "UTC"])  # the roll-up's zone, and not
@pytest.mark.parametrize("filters", [{}, {"channel": "grid_worker"}, {"major": "01"}])
def test_daily_rollup_counts_equal_direct_counts(spread: dict[str, Any], city: Any,
                                                 zone: str, filters: dict[str, str]) -> None:
    """City and district views read whole local days from dash_street_daily (in its zone)
    and the rest from event_hourly and raw edges: the same numbers as ``event`` itself."""
    start, end = spread["start"], spread["end"]
    cond, extra = "", []
    if "channel" in filters:
        cond, extra = " AND source = %s", [filters["channel"]]
    if "major" in filters:
        cond, extra = " AND major = %s", [filters["major"]]
    with db.transaction("reader") as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT set_config('TimeZone', %s, true)", (zone,))

        def direct_rows(sql: str, params: list[Any]) -> list[tuple]:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall()

        for code, n_child in ((spread["district"], 9), (city.code, 6)):
            unit = queries.unit_info(conn, code)
            prefix = "" if unit["level"] == "city" else code
            scope = (f"reported_at >= %s AND reported_at < %s AND coalesce(grid_code, '') "
                     f"LIKE %s{cond}")
            win = [start, end, prefix + "%", *extra]
            (n,), = direct_rows(f"SELECT count(*) FROM event WHERE {scope}", win)
            assert n >= 30
            assert queries.count_between(conn, unit, start, end, filters) == n
            daily = dict(direct_rows(f"""SELECT date_trunc('day', reported_at), count(*)
                                         FROM event WHERE {scope} GROUP BY 1""", win))
            assert len(daily) >= 4  # whole days and both partial edge days
            assert {r["t"]: r["n"] for r in queries.daily_counts(conn, unit, start, end,
                                                                 filters)} == daily
            cats = dict(direct_rows(f"""SELECT coalesce(major, left(category, 2)), count(*)
                                        FROM event WHERE {scope} GROUP BY 1""", win))
            assert {r["code"]: r["n"] for r in queries.category_counts(
                conn, unit, start, end, filters)} == cats
            want = {c: (rec, closed) for c, rec, closed in direct_rows(f"""
                SELECT left(grid_code, {n_child}), count(*),
                       count(*) FILTER (WHERE status = 'closed' AND closed_at < %s)
                FROM event WHERE grid_code IS NOT NULL AND {scope} GROUP BY 1""",
                                                                       [end, *win])}
            got = {r["code"]: (r["received"], r["closed"])
                   for r in queries.children_values(conn, unit, start, end, filters)}
            assert got == want


def test_street_daily_follows_event_hourly_rewrites(spread: dict[str, Any]) -> None:
    """refresh_event_hourly deletes and re-inserts keys (and the bulk path updates them):
    the daily roll-up ends equal to a fresh sum over event_hourly either way."""
    check = """
        SELECT count(*) FROM (
          SELECT street, day, channel, major, sum(n) AS n FROM (
            SELECT street, day, channel, major, n_reported AS n FROM dash_street_daily
            UNION ALL
            SELECT left(grid_code, 9), (hour AT TIME ZONE 'Asia/Shanghai')::date, channel,
                   left(category, 2), -n_reported FROM event_hourly) x
          GROUP BY 1, 2, 3, 4 HAVING sum(n) <> 0) bad"""
    with db.transaction() as conn, conn.cursor() as cur:
        cur.execute("""UPDATE event SET status = 'closed', closed_at = reported_at
                       + interval '1 hour' WHERE id = ANY(%s) AND status <> 'closed'""",
                    (spread["ids"][:50],))
        cur.execute("""SELECT refresh_event_hourly(array_agg(coalesce(grid_code, '')),
                                                   array_agg(reported_at))
                       FROM event WHERE id = ANY(%s)""", (spread["ids"][:50],))
        cur.execute("""SELECT (SELECT sum(n_closed) FROM dash_street_daily),
                              (SELECT sum(n_closed) FROM event_hourly)""")
        a, b = cur.fetchone()
        assert a == b
        # every key at once: the bulk path (INSERT … ON CONFLICT DO UPDATE)
        cur.execute("""SELECT refresh_event_hourly(array_agg(g), array_agg(h)) FROM (
                         SELECT DISTINCT coalesce(grid_code, '') AS g,
                                date_trunc('hour', reported_at) AS h FROM event) k""")
        cur.execute(check)
        assert cur.fetchone()[0] == 0
        conn.rollback()


@pytest.mark.parametrize("filters", [{}, {"channel": "hotline_12345"}])
def test_open_tiles_from_the_rollup_equal_direct_counts(city: Any,
                                                        filters: dict[str, str]) -> None:
    """Street, district and city 在办/超期 read the open roll-ups plus today's deadlines and cases
    without a deadline: the same numbers as the open cases in ``event`` at the same moment
    (the roll-up is kept by the loader's refresh_event_hourly, as insert_events calls it)."""
    district = city.district[0]
    grids = {g: city.points[g] for g in city.grid if g.startswith(district)}
    with db.transaction() as conn:
        # Recent cases (some 4 h deadlines already past).
        ids = insert_events(conn, grids, 120, now=datetime.now(TZ), seed=11, days=2.0,
                            prefix=f"o-{uuid.uuid4().hex[:8]}")
        with conn.cursor() as cur:
            # One open case due at today's local midnight (overdue, from the raw part) and
            # one open case of the same street without a deadline.
            cur.execute("""UPDATE event SET deadline_at = date_trunc('day', now(), %s)
                           WHERE id = (SELECT max(id) FROM event WHERE id = ANY(%s)
                                         AND status <> 'closed')
                           RETURNING grid_code, reported_at""", (TZ.key, ids))
            g, at = cur.fetchone()
            street = g[:9]
            cur.execute("SELECT refresh_event_hourly(ARRAY[%s], ARRAY[%s])", (g, at))
            cur.execute("""UPDATE event SET deadline_at = NULL WHERE id = (
                             SELECT min(id) FROM event WHERE id = ANY(%s)
                               AND status <> 'closed' AND grid_code LIKE %s)
                           RETURNING grid_code, reported_at""", (ids, street + "%"))
            g, at = cur.fetchone()
            cur.execute("SELECT refresh_event_hourly(ARRAY[%s], ARRAY[%s])", (g, at))
    cond, extra = ("", []) if not filters else (" AND source = %s", [filters["channel"]])
    with db.transaction("reader") as conn:
        for code, prefix in ((street, street), (district, district), (city.code, "")):
            unit = queries.unit_info(conn, code)
            with conn.cursor() as cur:
                cur.execute(f"""
                    SELECT count(*), count(*) FILTER (WHERE deadline_at < now()),
                           count(*) FILTER (WHERE deadline_at IS NULL),
                           count(*) FILTER (WHERE deadline_at < now() AND deadline_at >=
                                            date_trunc('day', now(), %s))
                    FROM event WHERE status <> 'closed'
                      AND coalesce(grid_code, '') LIKE %s{cond}""",
                            [TZ.key, prefix + "%", *extra])
                n_open, n_overdue, n_nodeadline, n_today = cur.fetchone()
            assert n_open > n_overdue > 0 and (filters or n_nodeadline >= 1)
            assert filters or n_today > 0  # the raw part for today's deadlines takes part
            assert queries.open_counts(conn, unit, filters) == {"open": n_open,
                                                               "overdue": n_overdue}


@pytest.mark.parametrize("filters", [{}, {"major": "01"}])
def test_overdue_moves_with_the_moment_asked_for(city: Any, filters: dict[str, str]) -> None:
    """The tiles ask for 超期 at the current minute (part of the cache key), so the count grows
    as deadlines pass even when no batch arrives; roll-up and raw paths agree with ``event``."""
    district = city.district[0]
    grids = {g: city.points[g] for g in city.grid if g.startswith(district)}
    with db.transaction() as conn:
        insert_events(conn, grids, 120, now=datetime.now(TZ), seed=12, days=2.0,
                      prefix=f"m-{uuid.uuid4().hex[:8]}")
    later = datetime.now(TZ).replace(second=0, microsecond=0) + timedelta(days=2, hours=3)
    cond, extra = ("", []) if not filters else (" AND major = %s", [filters["major"]])
    with db.transaction("reader") as conn:
        unit = queries.unit_info(conn, district)
        with conn.cursor() as cur:
            cur.execute(f"""SELECT count(*) FILTER (WHERE deadline_at < now()),
                                   count(*) FILTER (WHERE deadline_at < %s)
                            FROM event WHERE status <> 'closed'
                              AND coalesce(grid_code, '') LIKE %s{cond}""",
                        [later, district + "%", *extra])
            n_now, n_later = cur.fetchone()
        assert n_later > n_now
        assert queries.open_counts(conn, unit, filters)["overdue"] == n_now
        assert queries.open_counts(conn, unit, filters, later)["overdue"] == n_later


@pytest.fixture(scope="module")
def stray(city: Any) -> dict[str, Any]:
    """A street's cases in 2016 (a window nobody else writes into), some of them under grid
    codes that are no admin unit (a grid since redrawn): the street, community and grid views
    must count them exactly as a prefix match on ``event`` does."""
    street = city.street[0]
    grids = {g: city.points[g] for g in city.grid if g.startswith(street)}
    point = next(iter(grids.values()))
    # A code under the street that admin_unit does not know, and one under a known community.
    community = next(iter(grids))[:12]
    strays = {street + "990001": point, community + "997": point}
    t_end = datetime(2016, 5, 4, 21, 0, tzinfo=TZ)
    with db.transaction() as conn:
        insert_events(conn, {**grids, **strays}, 300, now=t_end, seed=7, days=2.0,
                      prefix=f"s-{uuid.uuid4().hex[:8]}")
    return {"street": street, "community": community, "grid": next(iter(grids)),
            "strays": strays, "point": point, "grids": grids,
            "start": t_end - timedelta(days=2, minutes=-11), "end": t_end - timedelta(minutes=7)}


def _check_unit_against_event(conn: Any, code: str, start: datetime, end: datetime,
                              filters: dict[str, str]) -> int:
    """Every count the street/community/grid views show equals a prefix count on ``event``;
    returns the number of cases in the window."""
    from dashboard import kpi

    unit = queries.unit_info(conn, code)
    cond, extra = "", []
    if "channel" in filters:
        cond, extra = " AND source = %s", [filters["channel"]]
    scope = f"reported_at >= %s AND reported_at < %s AND grid_code LIKE %s{cond}"
    win = [start, end, code + "%", *extra]

    def rows(sql: str, params: list[Any]) -> list[tuple]:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    (n,), = rows(f"SELECT count(*) FROM event WHERE {scope}", win)
    assert queries.count_between(conn, unit, start, end, filters) == n
    hourly = dict(rows(f"""SELECT date_trunc('hour', reported_at), count(*) FROM event
                           WHERE {scope} GROUP BY 1""", win))
    assert {r["t"]: r["n"] for r in queries.hourly_counts(conn, unit, start, end,
                                                          filters)} == hourly
    cats = dict(rows(f"SELECT major, count(*) FROM event WHERE {scope} GROUP BY 1", win))
    assert {r["code"]: r["n"] for r in queries.category_counts(conn, unit, start, end,
                                                               filters)} == cats
    if unit["level"] != "grid":
        n_child = queries.CODE_LEN[queries.CHILD_LEVEL[unit["level"]]]
        want = {c: (rec, closed, overdue) for c, rec, closed, overdue in rows(f"""
            SELECT left(grid_code, {n_child}), count(*),
                   count(*) FILTER (WHERE status = 'closed' AND closed_at < %s),
                   count(*) FILTER (WHERE deadline_at < %s
                                      AND (status <> 'closed' OR closed_at >= %s))
            FROM event WHERE {scope} GROUP BY 1""", [end, end, end, *win])}
        got = {r["code"]: (r["received"], r["closed"], r["overdue"])
               for r in queries.children_values(conn, unit, start, end, filters)}
        assert got == want
    (rated, satisfied), = rows(f"""SELECT count(satisfaction),
                                          count(*) FILTER (WHERE satisfaction >= 4)
                                   FROM event WHERE {scope}""", win)
    k = kpi.unit_kpis(conn, code, start, end, {"channel": filters["channel"]}
                      if "channel" in filters else None)
    assert k["received"] == n and k["rated"] == rated
    assert k["satisfaction"] == (satisfied / rated if rated else None)
    assert k == kpi.baseline_kpis(conn, code, start, end, {"channel": filters["channel"]}
                                  if "channel" in filters else None)
    return int(n)


@pytest.mark.parametrize("filters", [{}, {"channel": "hotline_12345"}])
def test_unit_views_count_cases_under_codes_that_are_no_admin_unit(
        stray: dict[str, Any], filters: dict[str, str]) -> None:
    """Streets and communities are matched by the codes their tables hold (geo/sql/045), not
    by admin_unit: a case under a stray code counts, before and after a new batch (one that
    brings a code never seen before)."""
    start, end = stray["start"], stray["end"]
    codes = (stray["street"], stray["community"], stray["grid"])
    with db.transaction("reader") as conn:
        before = [_check_unit_against_event(conn, c, start, end, filters) for c in codes]
    assert all(before)
    with db.transaction() as conn:
        new_code = stray["street"] + "980002"
        insert_events(conn, {**stray["grids"], new_code: stray["point"]}, 60,
                      now=end - timedelta(hours=3), seed=8, days=0.5,
                      prefix=f"s2-{uuid.uuid4().hex[:8]}")
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM event WHERE grid_code = %s", (new_code,))
            assert cur.fetchone()[0] > 0
    with db.transaction("reader") as conn:
        after = [_check_unit_against_event(conn, c, start, end, filters) for c in codes]
        assert after[0] > before[0]
        with conn.cursor() as cur:
            cur.execute("""SELECT count(*) FROM event WHERE grid_code = ANY(%s)
                             AND reported_at >= %s AND reported_at < %s""",
                        (list(stray["strays"]), start, end))
            assert cur.fetchone()[0] > 0  # the stray codes took part


def _hours_and_counts_agree(conn: Any, code: str, start: datetime, end: datetime,
                            filters: dict[str, str]) -> int:
    """hourly_counts and count_between of a city or district equal ``event``'s own counts."""
    unit = queries.unit_info(conn, code)
    prefix = "" if unit["level"] == "city" else code
    cond, extra = ("", []) if not filters else (" AND source = %s", [filters["channel"]])
    scope = f"reported_at >= %s AND reported_at < %s AND coalesce(grid_code, '') LIKE %s{cond}"
    win = [start, end, prefix + "%", *extra]
    with conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM event WHERE {scope}", win)
        (n,) = cur.fetchone()
        cur.execute(f"""SELECT date_trunc('hour', reported_at), count(*) FROM event
                        WHERE {scope} GROUP BY 1""", win)
        hourly = dict(cur.fetchall())
    assert queries.count_between(conn, unit, start, end, filters) == n
    assert {r["t"]: r["n"] for r in queries.hourly_counts(conn, unit, start, end,
                                                          filters)} == hourly
    return int(n)


@pytest.mark.parametrize("filters", [{}, {"channel": "grid_worker"}])
def test_district_hours_from_the_kpi_rollup_equal_direct_counts(
        spread: dict[str, Any], city: Any, filters: dict[str, str]) -> None:
    """City and district hours come from kpi_district_hourly (recomputed at commit): equal to
    ``event`` after a batch commits, and inside the batch's own transaction before it does
    (its keys are dirty there, so event_hourly answers)."""
    start, end = spread["start"], spread["end"]
    codes = (spread["district"], city.code)
    with db.transaction("reader") as conn:
        before = [_hours_and_counts_agree(conn, c, start, end, filters) for c in codes]
    assert before[0] >= 30
    district = spread["district"]
    grids = {g: city.points[g] for g in city.grid if g.startswith(district)}
    with db.transaction() as conn:
        insert_events(conn, grids, 50, now=end - timedelta(hours=2), seed=9, days=1.0,
                      prefix=f"h-{uuid.uuid4().hex[:8]}")
        with conn.cursor() as cur:
            cur.execute("SELECT EXISTS (SELECT 1 FROM kpi_dirty)")
            assert cur.fetchone()[0]  # not yet recomputed: the event_hourly path answers
        pending = [_hours_and_counts_agree(conn, c, start, end, filters) for c in codes]
        assert pending[0] > before[0]
    with db.transaction("reader") as conn:
        after = [_hours_and_counts_agree(conn, c, start, end, filters) for c in codes]
    assert after == pending


@pytest.mark.parametrize("filters", [{}, {"channel": "hotline_12345"}])
def test_ticker_equals_direct_selection(stray: dict[str, Any], filters: dict[str, str]) -> None:
    """Urgent and newly overdue cases of a district, street, community and grid: the ones a
    prefix match on ``event`` selects (the overdue ones are found through the deadline index)."""
    now = stray["end"] - timedelta(hours=5)
    cond, extra = ("", []) if not filters else (" AND source = %s", [filters["channel"]])
    with db.transaction("reader") as conn:
        for code in (stray["street"][:6], stray["street"], stray["community"], stray["grid"]):
            with data.Reader("ticker", QueryCache(None, "none")) as r:
                unit = data.resolve_unit(r, code)
            assert unit is not None
            assert ("grids" in unit) == (unit["level"] in ("street", "community"))
            with conn.cursor() as cur:
                cur.execute(f"""
                    SELECT 'urgent', id FROM event WHERE grid_code LIKE %s{cond}
                      AND priority = 1 AND reported_at >= %s - interval '24 hours'
                    UNION ALL
                    SELECT 'overdue', id FROM event WHERE grid_code LIKE %s{cond}
                      AND status <> 'closed' AND deadline_at < %s
                      AND deadline_at >= %s - interval '24 hours'""",
                            [code + "%", *extra, now, code + "%", *extra, now, now])
                want = set(cur.fetchall())
            assert any(k == "overdue" for k, _ in want) or code == stray["grid"]
            for u in (unit, queries.unit_info(conn, code)):  # with its grid list, and without
                got = {(r["kind"], r["id"]) for r in queries.ticker(conn, u, now, filters, 1000)}
                assert got == want
