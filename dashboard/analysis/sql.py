"""All SQL of the analysis package, as named constants plus small helpers.

Values are always bound; the only identifiers that vary are picked from whitelists here.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg2.extras

from cityscreen.db import Connection

Row = dict[str, Any]

UNIT_CODE = re.compile(r"^[0-9]{6}([0-9]{3}){0,3}$")
CATEGORY_CODE = re.compile(r"^[0-9A-Za-z]{1,16}$")
CHANNELS = ("grid_worker", "hotline_12345", "video_ai", "sensor")


def rows(conn: Connection, sql: str, params: Any = None) -> list[Row]:
    """Run one query and return its rows as dicts."""
    with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
        cur.execute(sql, params)
        return [dict(r) for r in cur.fetchall()] if cur.description else []


def one(conn: Connection, sql: str, params: Any = None) -> Row | None:
    """Run one query and return its first row, or None."""
    found = rows(conn, sql, params)
    return found[0] if found else None


def unit_prefix(unit: str | None) -> str:
    """LIKE pattern matching the grid codes under ``unit`` (None: every grid).

    A city code (6 digits ending 00) covers its districts, which share its first 4 digits
    (420600 → 4206xx); every lower level is a plain prefix of its grids' codes.
    """
    if unit is None:
        return "%"
    if not UNIT_CODE.match(unit):
        raise ValueError(f"not an admin code: {unit!r}")
    if len(unit) == 6 and unit.endswith("00"):
        return unit[:4] + "%"
    return unit + "%"


def check_category(category: str | None) -> str | None:
    """A category code (major class or subitem) or None; anything else is refused."""
    if category is None or category == "":
        return None
    if not CATEGORY_CODE.match(category):
        raise ValueError(f"not a category code: {category!r}")
    return category


def check_channel(channel: str | None) -> str | None:
    """A channel from the whitelist, or None."""
    if channel is None or channel == "":
        return None
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel: {channel!r}")
    return channel


# ------------------------------------------------------------------ grid layer

# A cheap fingerprint of the grid layer under a prefix: it changes when grids are added,
# removed or redrawn, so cached neighbour structures are never stale.
GRID_LAYER_SIGNATURE = """
    SELECT count(*) AS n,
           coalesce(md5(string_agg(code || ':' || md5(ST_AsBinary(geom)), ',' ORDER BY code)), '')
             AS signature
    FROM admin_unit WHERE level = 'grid' AND code LIKE %(prefix)s"""

GRID_GEOMETRIES = """
    SELECT code, ST_AsBinary(geom) AS wkb
    FROM admin_unit WHERE level = 'grid' AND code LIKE %(prefix)s ORDER BY code"""

GRID_INFO = """
    SELECT code, name, population,
           round(ST_X(ST_PointOnSurface(geom))::numeric, 6)::float AS lon,
           round(ST_Y(ST_PointOnSurface(geom))::numeric, 6)::float AS lat
    FROM admin_unit WHERE level = 'grid' AND code = ANY(%(codes)s)"""

# Polygons of some grids as a FeatureCollection (id = code) and their extent, for a map layer.
GRIDS_GEOJSON = """
    WITH g AS (SELECT code, name, coalesce(geom_display, geom) AS g
               FROM admin_unit WHERE level = 'grid' AND code = ANY(%(codes)s))
    SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(
             json_build_object('type', 'Feature', 'id', code,
                               'properties', json_build_object('name', name),
                               'geometry', ST_AsGeoJSON(g, 6)::json) ORDER BY code), '[]'))::text
             AS fc,
           ST_XMin(ST_Extent(g)) AS xmin, ST_YMin(ST_Extent(g)) AS ymin,
           ST_XMax(ST_Extent(g)) AS xmax, ST_YMax(ST_Extent(g)) AS ymax
    FROM g"""

UNIT_OUTLINE = """
    SELECT json_build_object('type', 'FeatureCollection', 'features', json_build_array(
             json_build_object('type', 'Feature', 'id', code,
                               'properties', json_build_object('name', name),
                               'geometry', ST_AsGeoJSON(coalesce(geom_display, geom), 5)::json)
           ))::text AS fc,
           ST_XMin(geom) AS xmin, ST_YMin(geom) AS ymin, ST_XMax(geom) AS xmax,
           ST_YMax(geom) AS ymax
    FROM admin_unit WHERE code = %(code)s"""


# ------------------------------------------------------------------ counts from the roll-up

def hourly_filter(category: str | None, channel: str | None) -> str:
    """Extra WHERE terms on ``event_hourly h`` for the optional category and channel."""
    terms = []
    if category is not None:
        # A major class matches its subitems through the taxonomy table (taxonomy is data).
        terms.append("(h.category = %(category)s OR h.category IN"
                     " (SELECT code FROM category WHERE parent = %(category)s))")
    if channel is not None:
        terms.append("h.channel = %(channel)s")
    return "".join(" AND " + t for t in terms)


def window_counts_sql(category: str | None, channel: str | None) -> str:
    """Reported cases per grid in ``[start, end)`` from ``event_hourly``."""
    return f"""
        SELECT h.grid_code, sum(h.n_reported)::bigint AS n
        FROM event_hourly h
        WHERE h.hour >= %(start)s AND h.hour < %(end)s AND h.grid_code LIKE %(prefix)s
          AND h.grid_code <> ''{hourly_filter(category, channel)}
        GROUP BY h.grid_code"""


def baseline_counts_sql(category: str | None, channel: str | None) -> str:
    """Reported cases per grid summed over the window shifted back by k periods, k=1..weeks."""
    return f"""
        SELECT h.grid_code, sum(h.n_reported)::bigint AS n
        FROM generate_series(1, %(weeks)s) AS s(k)
        JOIN event_hourly h
          ON h.hour >= %(start)s - s.k * %(period)s AND h.hour < %(end)s - s.k * %(period)s
        WHERE h.grid_code LIKE %(prefix)s AND h.grid_code <> ''{hourly_filter(category, channel)}
        GROUP BY h.grid_code"""


# The first hour the roll-up holds for the scope: baseline weeks before it are unknown, not zero.
# (ORDER BY hour LIMIT 1 walks the hour index and stops at the first matching row.)
DATA_START = """
    SELECT hour AS first FROM event_hourly
    WHERE grid_code LIKE %(prefix)s AND grid_code <> '' ORDER BY hour LIMIT 1"""


# ------------------------------------------------------------------ cameras

# A camera is online when its feed says so and its last heartbeat is recent enough.
CAMERA_ONLINE = ("(c.status = 'online' AND (c.last_seen IS NULL"
                 " OR c.last_seen >= %(stale_before)s))")

# Degrees that surely contain ``radius`` metres at latitudes up to 60°: an index-friendly
# bounding-box prefilter before the exact geodesic ST_DWithin on geography.
BOX_DEGREES = "(%(radius)s / 55000.0)"


def event_filter(category: str | None, channel: str | None) -> str:
    """Extra WHERE terms on ``event e`` for the optional category (class or subitem) and channel."""
    terms = []
    if category is not None:
        terms.append("(e.category = %(category)s OR e.major = %(category)s)")
    if channel is not None:
        terms.append("e.source = %(channel)s")
    return "".join(" AND " + t for t in terms)


def grid_coverage_sql(category: str | None, channel: str | None) -> str:
    """Per grid in scope: cameras (all, online), located events in the window, events covered."""
    return f"""
        WITH ev AS (
            SELECT e.grid_code, EXISTS (
                     SELECT 1 FROM camera c
                     WHERE c.geom && ST_Expand(e.geom, {BOX_DEGREES}) AND {CAMERA_ONLINE}
                       AND ST_DWithin(c.geom::geography, e.geom::geography, %(radius)s))
                   AS covered
            FROM event e
            WHERE e.grid_code LIKE %(prefix)s AND e.geom IS NOT NULL
              AND e.reported_at >= %(start)s AND e.reported_at < %(end)s
              {event_filter(category, channel)}),
        ev_grid AS (
            SELECT grid_code, count(*) AS events, count(*) FILTER (WHERE covered) AS covered
            FROM ev GROUP BY grid_code),
        cam_grid AS (
            SELECT c.grid_code, count(*) AS cameras,
                   count(*) FILTER (WHERE {CAMERA_ONLINE}) AS online
            FROM camera c WHERE c.grid_code LIKE %(prefix)s GROUP BY c.grid_code)
        SELECT g.code AS grid_code, g.name,
               coalesce(cg.cameras, 0) AS cameras, coalesce(cg.online, 0) AS online,
               coalesce(eg.events, 0) AS events, coalesce(eg.covered, 0) AS covered
        FROM admin_unit g
        LEFT JOIN ev_grid eg ON eg.grid_code = g.code
        LEFT JOIN cam_grid cg ON cg.grid_code = g.code
        WHERE g.level = 'grid' AND g.code LIKE %(prefix)s
        ORDER BY g.code"""


OFFLINE_CAMERAS = f"""
    SELECT c.id, c.source, c.source_id, c.name, c.status, c.grid_code, c.last_seen,
           c.stream_url, c.owner,
           CASE WHEN c.status <> 'online' THEN c.status ELSE 'stale' END AS reason,
           round((extract(epoch FROM (%(now)s - c.last_seen)) / 60)::numeric, 1)::float
             AS minutes_since_seen,
           round(ST_X(c.geom)::numeric, 6)::float AS lon,
           round(ST_Y(c.geom)::numeric, 6)::float AS lat
    FROM camera c
    WHERE (c.grid_code LIKE %(prefix)s OR (%(prefix)s = '%%' AND c.grid_code IS NULL))
      AND NOT {CAMERA_ONLINE}
    ORDER BY c.last_seen NULLS FIRST, c.id
    LIMIT %(limit)s"""

# From a point (an event's location or given lon/lat) to the cameras within the radius.
NEAREST_CAMERAS = f"""
    WITH p AS ({{point}})
    SELECT c.id, c.source, c.source_id, c.name, c.status, c.last_seen, c.stream_url,
           c.grid_code, {CAMERA_ONLINE} AS online,
           ST_Distance(c.geom::geography, p.geom::geography) AS distance_m,
           degrees(ST_Azimuth(p.geom::geography, c.geom::geography)) AS bearing_deg,
           round(ST_X(c.geom)::numeric, 6)::float AS lon,
           round(ST_Y(c.geom)::numeric, 6)::float AS lat
    FROM p JOIN camera c
      ON c.geom && ST_Expand(p.geom, {BOX_DEGREES})
     AND ST_DWithin(c.geom::geography, p.geom::geography, %(radius)s)
    ORDER BY distance_m, c.id
    LIMIT %(limit)s"""
EVENT_POINT = "SELECT geom FROM event WHERE id = %(event_id)s AND geom IS NOT NULL"
GIVEN_POINT = "SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS geom"


# ------------------------------------------------------------------ meeting mode

ROOT_CITY = "SELECT code FROM admin_unit WHERE level = 'city' ORDER BY code LIMIT 1"
CHILD_UNITS = """
    SELECT code, name, level, population FROM admin_unit WHERE parent_code = %(parent)s
    ORDER BY code"""
