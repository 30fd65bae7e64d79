"""All SQL of the dashboard, as named functions taking a (read-only) connection.

Values are always bound; the only identifiers that vary are picked from whitelists here.
Callbacks never hold SQL: they call these through ``dashboard.data`` (which adds the cache).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from typing import Any

import psycopg2.extras

from cityscreen.db import Connection
from dashboard.state import CHANNELS, MAJOR_CODE, STATUSES, UNIT_CODE

LEVELS = ("city", "district", "street", "community", "grid")
CHILD_LEVEL = {"city": "district", "district": "street", "street": "community",
               "community": "grid"}
CODE_LEN = {"city": 6, "district": 6, "street": 9, "community": 12, "grid": 15}

Row = dict[str, Any]


def _rows(conn: Connection, sql: str, params: Any = None) -> list[Row]:
    with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
        cur.execute(sql, params)
        return [dict(r) for r in cur.fetchall()]


def _one(conn: Connection, sql: str, params: Any = None) -> Row | None:
    rows = _rows(conn, sql, params)
    return rows[0] if rows else None


def _check_code(code: str) -> str:
    if not UNIT_CODE.match(code):
        raise ValueError(f"not an admin code: {code!r}")
    return code


# ------------------------------------------------------------------ scope and filters

# How a unit's cases are matched by grid code. A prefix LIKE on (grid_code, time) indexes bounds
# only the code, so a street's one-day window walked the street's entries of all time; streets
# and communities match their own codes instead (dash_event_grids / dash_hourly_grids, geo/sql
# 045: the distinct codes under the prefix found in the table's index itself, so exactly the
# rows the LIKE matches), one index descent per code bounded in time too. A grid is its code.
# Districts keep the LIKE (thousands of codes; their windows are read from the roll-ups).
# The scalar subquery makes the code list an InitPlan, computed once per statement: a bare
# function call in a filter or a bitmap recheck is called again for every row (4 s once).
GRID_SETS = {"event": "dash_event_grids", "hourly": "dash_hourly_grids"}


GRID_SET_LEVELS = ("street", "community")


def unit_match(unit: Row, column: str, table: str, placeholder: str = "%s") -> tuple[str, Any]:
    """SQL matching ``column`` (a grid code of ``table``: event or hourly) to the unit's cases,
    and its one parameter (written as ``placeholder``: ``%(name)s`` for named parameters).
    A unit carrying ``grids`` (``unit_grids``, looked up once per view) matches those; else the
    statement looks them up itself."""
    code, p = _check_code(unit["code"]), placeholder
    if unit["level"] == "grid" and len(code) == CODE_LEN["grid"]:
        return f"{column} = {p}", code
    if unit["level"] in GRID_SET_LEVELS and unit.get("grids") is not None:
        return f"{column} = ANY({p}::text[])", list(unit["grids"])
    if unit["level"] in GRID_SET_LEVELS:
        return f"{column} = ANY((SELECT {GRID_SETS[table]}({p}))::text[])", code
    return f"{column} LIKE {p}", code + "%"


def unit_grids(conn: Connection, code: str) -> list[str]:
    """The grid codes under a street or community that ``event`` holds (every code a prefix
    match on ``event`` finds, admin unit or not; ``event_hourly`` holds no others)."""
    row = _one(conn, "SELECT dash_event_grids(%s) AS codes", (_check_code(code),))
    return list(row["codes"]) if row else []


def event_scope(unit: Row, start: datetime | None, end: datetime | None,
                filters: dict[str, str] | None, alias: str = "e") -> tuple[str, list[Any]]:
    """WHERE clause (and its values) for the events of ``unit`` in ``[start, end)`` under filters.

    The city counts every case, located or not; lower levels match their grid codes
    (``unit_match``; the index on ``event (grid_code, reported_at)`` answers that).
    """
    a = alias
    clauses: list[str] = []
    params: list[Any] = []
    if unit["level"] != "city":
        clause, param = unit_match(unit, f"{a}.grid_code", "event")
        clauses.append(clause)
        params.append(param)
    if start is not None:
        clauses.append(f"{a}.reported_at >= %s")
        params.append(start)
    if end is not None:
        clauses.append(f"{a}.reported_at < %s")
        params.append(end)
    f = filters or {}
    if f.get("channel") in CHANNELS:
        clauses.append(f"{a}.source = %s")
        params.append(f["channel"])
    if f.get("major") and MAJOR_CODE.match(f["major"]):
        clauses.append(f"{a}.major = %s")
        params.append(f["major"])
    status = f.get("status")
    if status in STATUSES:
        if status == "open":
            clauses.append(f"{a}.status <> 'closed'")
        elif status == "overdue":
            clauses.append(f"{a}.status <> 'closed' AND {a}.deadline_at < now()")
        else:
            clauses.append(f"{a}.status = %s")
            params.append(status)
    return (" AND ".join(clauses) or "TRUE"), params


# ------------------------------------------------------------------ roll-up + raw edges
#
# Counts by reporting time come from ``event_hourly`` for the whole hours inside the window
# and from raw ``event`` rows only for the partial hours at its two edges (at most two hours
# of cases, found by ``event_reported_at``). A status filter cannot be answered from the
# roll-up (it has no status column), so those views read ``event`` as before. The major class
# of a roll-up row is the first two digits of its subitem code (the agreed taxonomy).


def whole_hours(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """``[h0, h1)``: the whole hours inside ``[start, end)`` (empty, at ``end``, if none)."""
    h0 = start.replace(minute=0, second=0, microsecond=0)
    if h0 < start:
        h0 += timedelta(hours=1)
    h1 = end.replace(minute=0, second=0, microsecond=0)
    if h0 >= h1:
        return end, end
    return h0, h1


def rollup_ok(filters: dict[str, str] | None) -> bool:
    """Whether the roll-up can answer under these filters (not with a status filter)."""
    return (filters or {}).get("status") not in STATUSES


def rollup_scope(unit: Row, h0: datetime, h1: datetime, filters: dict[str, str] | None,
                 alias: str = "h") -> tuple[str, list[Any]]:
    """WHERE clause on ``event_hourly`` for the unit's whole hours ``[h0, h1)`` under filters."""
    a = alias
    clauses = [f"{a}.hour >= %s", f"{a}.hour < %s"]
    params: list[Any] = [h0, h1]
    if unit["level"] != "city":
        clause, param = unit_match(unit, f"{a}.grid_code", "hourly")
        clauses.append(clause)
        params.append(param)
    f = filters or {}
    if f.get("channel") in CHANNELS:
        clauses.append(f"{a}.channel = %s")
        params.append(f["channel"])
    if f.get("major") and MAJOR_CODE.match(f["major"]):
        clauses.append(f"left({a}.category, 2) = %s")
        params.append(f["major"])
    return " AND ".join(clauses), params


def edge_scope(unit: Row, start: datetime, end: datetime, h0: datetime, h1: datetime,
               filters: dict[str, str] | None, alias: str = "e") -> tuple[str, list[Any]]:
    """WHERE clause on ``event`` for the partial hours ``[start, h0)`` and ``[h1, end)``."""
    where, params = event_scope(unit, None, None, filters, alias)
    a = alias
    return (f"{where} AND (({a}.reported_at >= %s AND {a}.reported_at < %s)"
            f" OR ({a}.reported_at >= %s AND {a}.reported_at < %s))",
            [*params, start, h0, h1, end])


# Whole local days come from ``dash_street_daily`` (geo/sql/042) for units down to a street:
# hundreds of rows per day instead of one per case. Its days are local dates in
# ``dash_rollup_zone``; when that is not this session's TimeZone (the dashboard's
# CITYSCREEN_TZ) the same days are read from ``event_hourly`` instead, in the same statement.
DAILY_LEVELS = ("city", "district", "street")
ZONE_OK = "(SELECT zone FROM dash_rollup_zone) = current_setting('TimeZone')"


def whole_days(h0: datetime, h1: datetime) -> tuple[datetime, datetime] | None:
    """``[d0, d1)``: the whole local days (in ``h0``'s zone) inside ``[h0, h1)``, if any."""
    tz = h0.tzinfo
    d0 = datetime.combine(h0.date(), time(), tz)
    if d0 < h0:
        d0 = datetime.combine(h0.date() + timedelta(days=1), time(), tz)
    d1 = datetime.combine(h1.astimezone(tz).date(), time(), tz)
    return (d0, d1) if d0 < d1 else None


def daily_scope(unit: Row, d0: datetime, d1: datetime, filters: dict[str, str] | None
                ) -> tuple[str, list[Any]]:
    """WHERE clause on ``dash_street_daily d`` for the unit's local days ``[d0, d1)``."""
    clauses = ["d.day >= %s", "d.day < %s"]
    params: list[Any] = [d0.date(), d1.date()]
    # A street by its own key (street, day, …): with the LIKE the plan read every street's
    # days and filtered them (4.5 ms for 30 days at 10M events; 0.4 ms by the key).
    if unit["level"] == "street":
        clauses.append("d.street = %s")
        params.append(_check_code(unit["code"]))
    elif unit["level"] != "city":
        clauses.append("d.street LIKE %s")
        params.append(_check_code(unit["code"]) + "%")
    f = filters or {}
    if f.get("channel") in CHANNELS:
        clauses.append("d.channel = %s")
        params.append(f["channel"])
    if f.get("major") and MAJOR_CODE.match(f["major"]):
        clauses.append("d.major = %s")
        params.append(f["major"])
    return " AND ".join(clauses), params


# Whole hours of a city or district without a class filter come from the KPI roll-up's
# district hours (kpi_district_hourly, geo/sql/033: the same counts as event_hourly, per
# district, hour and channel; ~30 rows an hour for the whole city instead of about one per
# case). It is recomputed at commit; a transaction that holds keys not yet recomputed
# (kpi_dirty, only ever the writer's own) reads event_hourly instead, in the same statement.
DISTRICT_HOURLY = """
    SELECT k.district, k.hour, NULL::text, k.n_reported, k.n_closed, k.n_closed_on_time
    FROM kpi_district_hourly k WHERE NOT EXISTS (SELECT 1 FROM kpi_dirty) AND {where}"""
KPI_DIRTY = "EXISTS (SELECT 1 FROM kpi_dirty)"


def district_hourly_scope(unit: Row, h0: datetime, h1: datetime,
                          filters: dict[str, str] | None) -> tuple[str, list[Any]]:
    """WHERE clause on ``kpi_district_hourly k`` for a city's or district's hours [h0, h1).

    A district's hours are also bounded by ``day`` (the hour's local day in the roll-up's
    zone, within a day of its UTC date in any zone): its key is (district, day, hour, …), so
    without it the scan walked the district's every hour of the year for 24 of them."""
    clauses = ["k.hour >= %s", "k.hour < %s"]
    params: list[Any] = [h0, h1]
    if unit["level"] != "city":
        clauses += ["k.district = %s", "k.day >= %s", "k.day <= %s"]
        params += [_check_code(unit["code"]), h0.astimezone(UTC).date() - timedelta(days=1),
                   h1.astimezone(UTC).date() + timedelta(days=1)]
    if (filters or {}).get("channel") in CHANNELS:
        clauses.append("k.channel = %s")
        params.append((filters or {})["channel"])
    return " AND ".join(clauses), params


def counts_source(unit: Row, start: datetime, end: datetime, filters: dict[str, str] | None,
                  daily: bool = True, coarse: bool = False) -> tuple[str, list[Any]]:
    """Rows ``(code, t, major, received, closed, closed_on_time)`` that sum to the unit's
    cases reported in ``[start, end)`` (no status filter: see ``rollup_ok``).

    ``code`` is a grid code, or a street code on daily rows ('' without a location); ``t`` is
    the reporting time truncated to the row's grain: the local day on daily rows (use them
    only with ``daily`` when buckets are days or coarser, and codes no longer than a street).
    With ``coarse`` (callers that need neither ``major`` nor codes finer than a district), a
    city's or district's whole hours may come as district rows with ``major`` NULL.
    """
    h0, h1 = whole_hours(start, end)
    days = whole_days(h0, h1) if daily and unit["level"] in DAILY_LEVELS else None
    by_district = coarse and unit["level"] in ("city", "district") \
        and not (filters or {}).get("major")
    ewhere, eparams = edge_scope(unit, start, end, h0, h1, filters)
    parts = [f"""SELECT coalesce(e.grid_code, '') AS code, e.reported_at AS t,
                        coalesce(e.major, left(e.category, 2)) AS major, 1 AS received,
                        (e.status = 'closed')::int AS closed,
                        (e.status = 'closed' AND (e.deadline_at IS NULL
                         OR e.closed_at <= e.deadline_at))::int AS closed_on_time
                 FROM event e WHERE {ewhere}"""]
    params: list[Any] = [*eparams]
    hourly = """SELECT h.grid_code, h.hour, left(h.category, 2), h.n_reported, h.n_closed,
                       h.n_closed_on_time FROM event_hourly h WHERE {where}"""
    spans = [(h0, h1)] if days is None else [(h0, days[0]), (days[1], h1)]
    for a, b in spans:
        if a < b and by_district:
            kwhere, kparams = district_hourly_scope(unit, a, b, filters)
            rwhere, rparams = rollup_scope(unit, a, b, filters)
            parts.append(DISTRICT_HOURLY.format(where=kwhere))
            parts.append(hourly.format(where=f"{KPI_DIRTY} AND {rwhere}"))
            params += kparams + rparams
        elif a < b:
            rwhere, rparams = rollup_scope(unit, a, b, filters)
            parts.append(hourly.format(where=rwhere))
            params += rparams
    if days is not None:
        dwhere, dparams = daily_scope(unit, *days, filters)
        parts.append(f"""SELECT d.street, d.day::timestamptz, d.major, d.n_reported, d.n_closed,
                                d.n_closed_on_time
                         FROM dash_street_daily d WHERE {ZONE_OK} AND {dwhere}""")
        rwhere, rparams = rollup_scope(unit, *days, filters)
        parts.append(hourly.format(where=f"NOT {ZONE_OK} AND {rwhere}"))
        params += dparams + rparams
    return "\n      UNION ALL\n".join(parts), params


# ------------------------------------------------------------------ version and health


def current_version(conn: Connection) -> Row:
    """``data_version`` with the time of the last committed batch."""
    row = _one(conn, """
        SELECT d.version, d.updated_at, d.last_batch_id,
               b.finished_at AS last_batch_finished
        FROM data_version d LEFT JOIN etl_batch b ON b.id = d.last_batch_id""")
    return row or {"version": 0, "updated_at": None, "last_batch_id": None,
                   "last_batch_finished": None}


# ------------------------------------------------------------------ admin units


def root_unit(conn: Connection) -> Row | None:
    """The city (the top of the hierarchy)."""
    return _one(conn, """
        SELECT code, level, name, parent_code, population FROM admin_unit
        WHERE level = 'city' ORDER BY code LIMIT 1""")


def unit_info(conn: Connection, code: str) -> Row | None:
    """One admin unit's code, level, name, parent and population."""
    return _one(conn, """
        SELECT code, level, name, parent_code, population FROM admin_unit WHERE code = %s""",
                (_check_code(code),))


def ancestors(conn: Connection, code: str) -> list[Row]:
    """The unit and its ancestors, city first (for the breadcrumb)."""
    return _rows(conn, """
        WITH RECURSIVE up AS (
            SELECT code, parent_code, name, level, 0 AS depth FROM admin_unit WHERE code = %s
            UNION ALL
            SELECT u.code, u.parent_code, u.name, u.level, up.depth + 1
            FROM admin_unit u JOIN up ON u.code = up.parent_code WHERE up.depth < 6)
        SELECT code, name, level FROM up ORDER BY depth DESC""", (_check_code(code),))


def children_geometry(conn: Connection, code: str) -> Row:
    """The unit's children as a GeoJSON FeatureCollection (id = code), label points and extent.

    PostGIS writes the GeoJSON; the display geometry is the coverage-simplified one
    when the geo loader produced it.
    """
    row = _one(conn, """
        WITH c AS (
            SELECT code, name, level, population, coalesce(geom_display, geom) AS g
            FROM admin_unit WHERE parent_code = %s)
        SELECT
          json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(
              json_build_object('type', 'Feature', 'id', code,
                                'properties', json_build_object('name', name),
                                'geometry', ST_AsGeoJSON(g, 5)::json) ORDER BY code), '[]'))::text
            AS fc,
          coalesce(json_agg(json_build_object(
              'code', code, 'name', name, 'level', level, 'population', population,
              'lon', round(ST_X(ST_PointOnSurface(g))::numeric, 5),
              'lat', round(ST_Y(ST_PointOnSurface(g))::numeric, 5)) ORDER BY code), '[]')::text
            AS units,
          ST_XMin(ST_Extent(g)) AS xmin, ST_YMin(ST_Extent(g)) AS ymin,
          ST_XMax(ST_Extent(g)) AS xmax, ST_YMax(ST_Extent(g)) AS ymax
        FROM c""", (_check_code(code),))
    assert row is not None
    return {"fc": json.loads(row["fc"]), "units": json.loads(row["units"]),
            "bbox": [row["xmin"], row["ymin"], row["xmax"], row["ymax"]]}


def unit_geometry(conn: Connection, code: str) -> Row:
    """One unit's own outline as a FeatureCollection, with its extent (grid and case maps)."""
    row = _one(conn, """
        SELECT json_build_object('type', 'FeatureCollection', 'features', json_build_array(
                 json_build_object('type', 'Feature', 'id', code,
                   'properties', json_build_object('name', name),
                   'geometry', ST_AsGeoJSON(coalesce(geom_display, geom), 6)::json)))::text AS fc,
               name, ST_XMin(geom) AS xmin, ST_YMin(geom) AS ymin,
               ST_XMax(geom) AS xmax, ST_YMax(geom) AS ymax
        FROM admin_unit WHERE code = %s""", (_check_code(code),))
    if row is None:
        return {"fc": {"type": "FeatureCollection", "features": []}, "bbox": None, "name": None}
    return {"fc": json.loads(row["fc"]), "name": row["name"],
            "bbox": [row["xmin"], row["ymin"], row["xmax"], row["ymax"]]}


# ------------------------------------------------------------------ map values


def children_values(conn: Connection, unit: Row, start: datetime, end: datetime,
                    filters: dict[str, str] | None = None) -> list[Row]:
    """Per child unit: received, open overdue, closed and closed on time in the window.

    Received/closed/on time come from ``event_hourly`` (prefix group-by on its grid code)
    plus the raw edge hours; closed means closed before ``end`` (the KPI cohort), so cases
    closed later are taken back (partial index ``event_closed_at``). Overdue is the KPI
    definition (docs/KPI.md ``overdue_open``): cases open at ``t = min(now, end)`` whose
    deadline is before ``t``, read from the open cases and the ones closed after ``t``
    (partial indexes), never from the roll-up.
    """
    child = CHILD_LEVEL.get(unit["level"])
    if child is None:
        return []
    n = CODE_LEN[child]
    if not rollup_ok(filters):
        return _children_values_raw(conn, unit, start, end, filters, n)
    src, sparams = counts_source(unit, start, end, filters, daily=n <= CODE_LEN["street"],
                                 coarse=n <= CODE_LEN["district"])
    owhere, oparams = event_scope(unit, start, end, filters, "o")
    rows = _rows(conn, f"""
        SELECT code, sum(received)::bigint AS received, sum(overdue)::bigint AS overdue,
               sum(closed)::bigint AS closed, sum(closed_on_time)::bigint AS closed_on_time
        FROM (
          SELECT left(s.code, {n}) AS code, s.received, 0 AS overdue, s.closed,
                 s.closed_on_time
          FROM ({src}) s WHERE s.code <> ''
          UNION ALL
          SELECT left(o.grid_code, {n}), 0, 1, 0, 0
          FROM event o WHERE o.status <> 'closed' AND o.deadline_at < least(now(), %s)
            AND o.grid_code IS NOT NULL AND {owhere}
          UNION ALL
          -- One pass over the cases closed at or after t = min(now, end): closed means
          -- "closed before the window's end" (take back the closings at or after end), and
          -- the ones past their deadline at t were open and overdue then.
          SELECT left(o.grid_code, {n}), 0, (o.deadline_at < least(now(), %s))::int,
                 -(o.closed_at >= %s)::int,
                 -(o.closed_at >= %s AND (o.deadline_at IS NULL
                                          OR o.closed_at <= o.deadline_at))::int
          FROM event o WHERE o.status = 'closed' AND o.closed_at >= least(now(), %s)
            AND o.grid_code IS NOT NULL AND {owhere}
        ) x GROUP BY 1""", [*sparams, end, *oparams, end, end, end, end, *oparams])
    for r in rows:
        for k in ("received", "overdue", "closed", "closed_on_time"):
            r[k] = int(r[k])
    return rows


def _children_values_raw(conn: Connection, unit: Row, start: datetime, end: datetime,
                         filters: dict[str, str] | None, n: int) -> list[Row]:
    """``children_values`` straight from ``event`` (status filters; the reference in tests)."""
    where, params = event_scope(unit, start, end, filters)
    return _rows(conn, f"""
        SELECT left(e.grid_code, {n}) AS code,
               count(*) AS received,
               count(*) FILTER (WHERE e.deadline_at < least(now(), %s)
                                  AND (e.status <> 'closed' OR e.closed_at >= least(now(), %s)))
                 AS overdue,
               count(*) FILTER (WHERE e.status = 'closed' AND e.closed_at < %s) AS closed,
               count(*) FILTER (WHERE e.status = 'closed' AND e.closed_at < %s
                                  AND (e.deadline_at IS NULL OR e.closed_at <= e.deadline_at))
                 AS closed_on_time
        FROM event e WHERE e.grid_code IS NOT NULL AND {where}
        GROUP BY 1""", [end, end, end, end, *params])


def event_points(conn: Connection, unit: Row, start: datetime, end: datetime,
                 filters: dict[str, str] | None = None, cell_deg: float = 0.0002,
                 limit: int = 4000) -> list[Row]:
    """Located events of the unit in the window, binned to ~20 m cells with their counts.

    The heat layer needs weights, not every point: binning (and keeping the busiest 4000
    cells, ~100 KB as a Patch) keeps its payload small however busy the area is.
    """
    where, params = event_scope(unit, start, end, filters)
    return _rows(conn, f"""
        SELECT round(ST_X(c)::numeric, 5)::float AS lon, round(ST_Y(c)::numeric, 5)::float AS lat,
               n
        FROM (SELECT ST_SnapToGrid(e.geom, %s) AS c, count(*) AS n
              FROM event e WHERE e.geom IS NOT NULL AND {where}
              GROUP BY 1 ORDER BY n DESC LIMIT %s) cells""",
                 [float(cell_deg), *params, int(limit)])


def cameras_in(conn: Connection, unit: Row, limit: int = 20000) -> list[Row]:
    """Cameras of the unit with position and status (the camera layer)."""
    scope, params = ("TRUE", []) if unit["level"] == "city" else (
        "c.grid_code LIKE %s", [_check_code(unit["code"]) + "%"])
    return _rows(conn, f"""
        SELECT c.id, c.name, c.status, round(ST_X(c.geom)::numeric, 6)::float AS lon,
               round(ST_Y(c.geom)::numeric, 6)::float AS lat
        FROM camera c WHERE c.geom IS NOT NULL AND {scope} ORDER BY c.id LIMIT %s""",
                 [*params, int(limit)])


# ------------------------------------------------------------------ tiles (until dashboard.kpi)


def unit_counts(conn: Connection, unit: Row, start: datetime, end: datetime,
                filters: dict[str, str] | None = None) -> Row:
    """Counts of the unit's cases reported in the window: received, closed, on time, rated."""
    where, params = event_scope(unit, start, end, filters)
    row = _one(conn, f"""
        SELECT count(*) AS received,
               count(*) FILTER (WHERE e.closed_at IS NOT NULL) AS closed,
               count(*) FILTER (WHERE e.closed_at IS NOT NULL
                                  AND (e.deadline_at IS NULL OR e.closed_at <= e.deadline_at))
                 AS closed_on_time,
               count(*) FILTER (WHERE e.status <> 'closed' AND e.deadline_at < now())
                 AS overdue_open,
               count(e.satisfaction) AS rated,
               count(*) FILTER (WHERE e.satisfaction >= 4) AS satisfied
        FROM event e WHERE {where}""", params)
    assert row is not None
    return row


# Open cases with a deadline, per district, reporting day, channel and local deadline day, are
# kept by the KPI roll-up (kpi_district_open, geo/sql/033, zone kpi_rollup_setting.tz).
# dash_street_open (geo/sql/043) is the same per street, following kpi_district_open's rows.
# "Overdue now" is then its rows with a deadline before today (local) plus the open cases
# whose deadline fell today before now (event_open_deadline_cover, index-only); "open" adds
# the open cases without a deadline. No raw scan of a district's (hundreds of thousands of)
# open cases. A status or class filter, or roll-up keys this transaction has not yet
# recomputed (kpi_dirty), read ``event`` instead.
OPEN_ROLLUP = """
    WITH z AS (SELECT (t AT TIME ZONE tz)::date AS d,
                      ((t AT TIME ZONE tz)::date)::timestamp AT TIME ZONE tz AS m, t
               FROM kpi_rollup_setting, (SELECT coalesce(%s::timestamptz, now()) AS t) n
               LIMIT 1)
    SELECT (SELECT coalesce(sum(o.n), 0) FROM {table} o WHERE {dwhere})
           + (SELECT count(*) FROM event e
              WHERE e.status <> 'closed' AND e.deadline_at IS NULL AND {where}) AS open,
           (SELECT coalesce(sum(o.n), 0) FROM {table} o
            WHERE o.deadline_day < (SELECT d FROM z) AND {dwhere})
           + (SELECT count(*) FROM event e
              WHERE e.status <> 'closed' AND e.deadline_at >= (SELECT m FROM z)
                AND e.deadline_at < (SELECT t FROM z) AND {where}) AS overdue
    WHERE NOT EXISTS (SELECT 1 FROM kpi_dirty)"""


OPEN_TABLES = {"city": "kpi_district_open", "district": "kpi_district_open",
               "street": "dash_street_open"}


def _open_rollup_scope(unit: Row, filters: dict[str, str] | None) -> tuple[str, list[Any]]:
    """WHERE clause on the unit's open roll-up ``o`` (``OPEN_TABLES``)."""
    clauses, params = ["TRUE"], []
    if unit["level"] != "city":
        clauses.append(f"o.{unit['level']} = %s")
        params.append(_check_code(unit["code"]))
    if (filters or {}).get("channel") in CHANNELS:
        clauses.append("o.channel = %s")
        params.append((filters or {})["channel"])
    return " AND ".join(clauses), params


def open_counts(conn: Connection, unit: Row, filters: dict[str, str] | None = None,
                at: datetime | None = None) -> Row:
    """Cases of the unit open right now, and how many of them are past their deadline at
    ``at`` (default now; the screen passes the minute, so a cached answer still moves as
    deadlines pass while no new data arrives)."""
    f = filters or {}
    if unit["level"] in OPEN_TABLES and rollup_ok(f) and not f.get("major"):
        dwhere, dparams = _open_rollup_scope(unit, f)
        where, params = event_scope(unit, None, None, f)
        row = _one(conn, OPEN_ROLLUP.format(table=OPEN_TABLES[unit["level"]], dwhere=dwhere,
                                            where=where),
                   [at, *dparams, *params, *dparams, *params])
        if row is not None:
            return {"open": int(row["open"]), "overdue": int(row["overdue"])}
    where, params = event_scope(unit, None, None, filters)
    row = _one(conn, f"""
        SELECT count(*) AS open,
               count(*) FILTER (WHERE e.deadline_at < coalesce(%s::timestamptz, now()))
                   AS overdue
        FROM event e WHERE e.status <> 'closed' AND {where}""", [at, *params])
    assert row is not None
    return row


def count_between(conn: Connection, unit: Row, start: datetime, end: datetime,
                  filters: dict[str, str] | None = None) -> int:
    """Number of the unit's cases reported in ``[start, end)`` (roll-up + raw edge hours)."""
    if not rollup_ok(filters):
        where, params = event_scope(unit, start, end, filters)
        row = _one(conn, f"SELECT count(*) AS n FROM event e WHERE {where}", params)
        return int(row["n"]) if row else 0
    src, params = counts_source(unit, start, end, filters, coarse=True)
    row = _one(conn, f"SELECT coalesce(sum(s.received), 0) AS n FROM ({src}) s", params)
    return int(row["n"]) if row else 0


def camera_status(conn: Connection, unit: Row) -> Row:
    """Cameras of the unit: total and online."""
    scope, params = ("TRUE", []) if unit["level"] == "city" else (
        "grid_code LIKE %s", [_check_code(unit["code"]) + "%"])
    row = _one(conn, f"""
        SELECT count(*) AS total, count(*) FILTER (WHERE status = 'online') AS online
        FROM camera WHERE {scope}""", params)
    assert row is not None
    return row


# ------------------------------------------------------------------ trends


def _bucket_counts(conn: Connection, unit: Row, start: datetime, end: datetime,
                   filters: dict[str, str] | None, field: str) -> list[Row]:
    """Cases reported per ``date_trunc(field)`` of the reporting time, in the session zone."""
    if not rollup_ok(filters):
        where, params = event_scope(unit, start, end, filters)
        return _rows(conn, f"""
            SELECT date_trunc('{field}', e.reported_at) AS t, count(*) AS n
            FROM event e WHERE {where} GROUP BY 1 ORDER BY 1""", params)
    src, params = counts_source(unit, start, end, filters, daily=field != "hour", coarse=True)
    rows = _rows(conn, f"""
        SELECT date_trunc('{field}', s.t) AS t, sum(s.received)::bigint AS n
        FROM ({src}) s GROUP BY 1 HAVING sum(s.received) > 0 ORDER BY 1""", params)
    for r in rows:
        r["n"] = int(r["n"])
    return rows


def hourly_counts(conn: Connection, unit: Row, start: datetime, end: datetime,
                  filters: dict[str, str] | None = None) -> list[Row]:
    """Cases reported per hour in ``[start, end)`` (hours without cases are absent)."""
    return _bucket_counts(conn, unit, start, end, filters, "hour")


def daily_counts(conn: Connection, unit: Row, start: datetime, end: datetime,
                 filters: dict[str, str] | None = None) -> list[Row]:
    """Cases reported per local day in ``[start, end)``."""
    return _bucket_counts(conn, unit, start, end, filters, "day")


def category_counts(conn: Connection, unit: Row, start: datetime, end: datetime,
                    filters: dict[str, str] | None = None) -> list[Row]:
    """Cases per major class in the window, with the class names."""
    if not rollup_ok(filters):
        where, params = event_scope(unit, start, end, filters)
        src = f"""SELECT coalesce(e.major, left(e.category, 2)) AS code, count(*) AS n
                  FROM event e WHERE {where} GROUP BY 1"""
    else:
        rows_sql, params = counts_source(unit, start, end, filters)
        src = f"""SELECT s.major AS code, sum(s.received) AS n FROM ({rows_sql}) s
                  GROUP BY 1 HAVING sum(s.received) > 0"""
    rows = _rows(conn, f"""
        SELECT k.code, coalesce(c.name, k.code) AS name,
               coalesce(c.name_en, c.name, k.code) AS name_en, k.n::bigint AS n
        FROM ({src}) k LEFT JOIN category c ON c.code = k.code
        ORDER BY n DESC, code""", params)
    for r in rows:
        r["n"] = int(r["n"])
    return rows


def major_categories(conn: Connection) -> list[Row]:
    """The major classes (filter choices)."""
    return _rows(conn, """
        SELECT code, name, coalesce(name_en, name) AS name_en FROM category
        WHERE parent IS NULL ORDER BY code""")


def ticker(conn: Connection, unit: Row, now: datetime, filters: dict[str, str] | None = None,
           limit: int = 12) -> list[Row]:
    """New urgent cases (priority 1, last 24 h) and cases that went overdue in the last 24 h."""
    where, params = event_scope(unit, None, None, filters)
    if unit["level"] in ("city", "district"):
        # A city's or district's latest due cases come first along event_open_deadline.
        due, dparams = """
            SELECT e.* FROM event e WHERE e.status <> 'closed'
              AND e.deadline_at < %s AND e.deadline_at >= %s - interval '24 hours'""", [now, now]
    else:
        # A street's open cases due in the last 24 h, found index-only among the city's (a
        # few thousand: event_open_deadline_cover holds the grid code), then fetched by
        # (grid_code, reported_at). A bitmap of the unit's codes (a busy street's every case,
        # all time) or the heap of every city case due took 100-140 ms.
        # Without a class or status filter (the index holds the channel, not those) only the
        # latest keys are fetched: a busy street's every case due in 24 h (~470) was read
        # from the heap to keep 12. Each key is one case or more, so the latest cases are
        # among the cases of the latest keys.
        match, code = unit_match(unit, "o.grid_code", "event")
        f = filters or {}
        pre, pparams = "", []
        if not f.get("major") and f.get("status") not in STATUSES:
            if f.get("channel") in CHANNELS:
                pre, pparams = " AND o.source = %s", [f["channel"]]
            pre += " ORDER BY o.deadline_at DESC LIMIT %s"
            pparams.append(int(limit))
        due, dparams = f"""
            SELECT e.* FROM (
                SELECT DISTINCT o.grid_code, o.reported_at, o.deadline_at FROM event o
                WHERE o.status <> 'closed' AND o.deadline_at < %s
                  AND o.deadline_at >= %s - interval '24 hours' AND {match}{pre}) k
            JOIN event e ON e.grid_code = k.grid_code AND e.reported_at = k.reported_at
             AND e.deadline_at = k.deadline_at AND e.status <> 'closed'""", \
            [now, now, code, *pparams]
    return _rows(conn, f"""
        (SELECT 'urgent' AS kind, e.id, e.reported_at AS at, e.category, e.grid_code,
                coalesce(c.name, e.category) AS category_name, e.address
         FROM event e LEFT JOIN category c ON c.code = e.category
         WHERE {where} AND e.priority = 1 AND e.reported_at >= %s - interval '24 hours'
         ORDER BY e.reported_at DESC LIMIT %s)
        UNION ALL
        (SELECT 'overdue' AS kind, e.id, e.deadline_at AS at, e.category, e.grid_code,
                coalesce(c.name, e.category) AS category_name, e.address
         FROM ({due}) e LEFT JOIN category c ON c.code = e.category
         WHERE {where}
         ORDER BY e.deadline_at DESC LIMIT %s)
        ORDER BY at DESC LIMIT %s""",
                 [*params, now, limit, *dparams, *params, limit, limit])


# ------------------------------------------------------------------ grid and case


def grid_cases(conn: Connection, grid: Row, start: datetime, end: datetime,
               filters: dict[str, str] | None = None, limit: int = 5000) -> list[Row]:
    """The grid's cases in the window, newest first (the table)."""
    where, params = event_scope(grid, start, end, filters)
    return _rows(conn, f"""
        SELECT e.id, e.source, e.source_id, e.category,
               coalesce(c.name, e.category) AS category_name, e.priority, e.status,
               to_char(e.reported_at, 'YYYY-MM-DD HH24:MI') AS reported_at,
               to_char(e.deadline_at, 'YYYY-MM-DD HH24:MI') AS deadline_at,
               (e.status <> 'closed' AND e.deadline_at < now()) AS overdue,
               e.dept, e.address
        FROM event e LEFT JOIN category c ON c.code = e.category
        WHERE {where} ORDER BY e.reported_at DESC LIMIT %s""", [*params, int(limit)])


def case_detail(conn: Connection, case_id: int) -> Row | None:
    """One case with its position, category name and overdue state."""
    return _one(conn, """
        SELECT e.id, e.source, e.source_id, e.category,
               coalesce(c.name, e.category) AS category_name,
               e.priority, e.status, e.grid_code, e.address, e.description, e.dept,
               e.reported_at, e.deadline_at, e.closed_at, e.satisfaction,
               e.reopened_count, e.extended_count, e.escalation_level,
               (e.status <> 'closed' AND e.deadline_at < now()) AS overdue,
               (e.closed_at IS NOT NULL AND e.deadline_at IS NOT NULL
                AND e.closed_at > e.deadline_at) AS closed_late,
               ST_X(e.geom) AS lon, ST_Y(e.geom) AS lat
        FROM event e LEFT JOIN category c ON c.code = e.category WHERE e.id = %s""",
                (int(case_id),))


def case_transitions(conn: Connection, case_id: int) -> list[Row]:
    """The case's timeline, oldest first."""
    return _rows(conn, """
        SELECT at, kind, from_status, to_status, actor, dept, note
        FROM event_transition WHERE event_id = %s ORDER BY at, id""", (int(case_id),))


def cameras_near(conn: Connection, case_id: int, meters: float = 300.0) -> list[Row]:
    """Cameras within ``meters`` of the case (true distance on the spheroid), nearest first."""
    return _rows(conn, """
        SELECT c.id, c.source_id, c.name, c.status, c.last_seen,
               round(ST_Distance(c.geom::geography, e.geom::geography)::numeric, 0)::int
                 AS distance_m,
               ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat
        FROM event e JOIN camera c
          ON ST_DWithin(c.geom::geography, e.geom::geography, %s)
        WHERE e.id = %s AND e.geom IS NOT NULL
        ORDER BY distance_m, c.id""", (float(meters), int(case_id)))
