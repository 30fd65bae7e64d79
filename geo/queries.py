"""All SQL of the geo package that is not a migration, as named constants (values bound)."""

from __future__ import annotations

GRID_POLYGONS = """
SELECT code, ST_AsBinary(geom) FROM admin_unit
WHERE level = 'grid' AND code LIKE %(prefix)s
ORDER BY code
"""

# Set-based point → grid join (the same rule as geo.assign: smallest intersecting code).
# Each statement re-joins the located rows, keeps the old code in attrs and returns the moves.
REASSIGN_EVENTS = """
WITH located AS (
    SELECT e.id, e.grid_code AS old_code, g.code AS new_code
    FROM event e
    LEFT JOIN LATERAL (
        SELECT min(a.code) AS code FROM admin_unit a
        WHERE a.level = 'grid' AND ST_Intersects(a.geom, e.geom)
    ) g ON true
    WHERE e.geom IS NOT NULL
      AND (%(since)s::timestamptz IS NULL OR e.reported_at >= %(since)s::timestamptz)
)
UPDATE event e
SET grid_code = l.new_code,
    attrs = e.attrs || jsonb_build_object('prev_grid_code', l.old_code),
    updated_at = clock_timestamp()
FROM located l
WHERE e.id = l.id AND l.new_code IS DISTINCT FROM l.old_code
RETURNING l.old_code, l.new_code, e.reported_at
"""

REASSIGN_CAMERAS = """
WITH located AS (
    SELECT c.id, c.grid_code AS old_code, g.code AS new_code
    FROM camera c
    LEFT JOIN LATERAL (
        SELECT min(a.code) AS code FROM admin_unit a
        WHERE a.level = 'grid' AND ST_Intersects(a.geom, c.geom)
    ) g ON true
    WHERE c.geom IS NOT NULL
)
UPDATE camera c
SET grid_code = l.new_code,
    attrs = c.attrs || jsonb_build_object('prev_grid_code', l.old_code),
    updated_at = clock_timestamp()
FROM located l
WHERE c.id = l.id AND l.new_code IS DISTINCT FROM l.old_code
RETURNING l.old_code, l.new_code
"""

COUNT_LOCATED_EVENTS = """
SELECT count(*) FROM event
WHERE geom IS NOT NULL
  AND (%(since)s::timestamptz IS NULL OR reported_at >= %(since)s::timestamptz)
"""

HAS_ROLLUP_REFRESH = (
    "SELECT to_regprocedure('refresh_event_hourly(text[], timestamptz[])') IS NOT NULL")

# ETL-core's incremental roll-up refresh (geo/sql/020_etl_rollup.sql) for the touched keys.
REFRESH_ROLLUP = "SELECT refresh_event_hourly(%(grids)s::text[], %(hours)s::timestamptz[])"

# Fallback when that function is absent: recompute the touched grids' rows in one statement.
REBUILD_ROLLUP_DELETE = "DELETE FROM event_hourly WHERE grid_code = ANY(%(grids)s)"
REBUILD_ROLLUP_INSERT = """
INSERT INTO event_hourly (grid_code, hour, channel, category, n_reported, n_closed,
                          n_closed_on_time, n_open_overdue, n_reopened, n_extended,
                          handling_hours, n_rated, n_satisfied)
SELECT coalesce(grid_code, ''), date_trunc('hour', reported_at), source, category,
       count(*),
       count(*) FILTER (WHERE status = 'closed'),
       count(*) FILTER (WHERE status = 'closed'
                        AND (deadline_at IS NULL OR closed_at <= deadline_at)),
       count(*) FILTER (WHERE status <> 'closed' AND deadline_at < now()),
       count(*) FILTER (WHERE reopened_count > 0),
       count(*) FILTER (WHERE extended_count > 0),
       coalesce(sum(extract(epoch FROM closed_at - reported_at) / 3600.0)
                FILTER (WHERE status = 'closed'), 0),
       count(satisfaction),
       count(*) FILTER (WHERE satisfaction >= 4)
FROM event
WHERE coalesce(grid_code, '') = ANY(%(grids)s)
GROUP BY 1, 2, 3, 4
"""

BUMP_DATA_VERSION = "SELECT bump_data_version(NULL)"
LOCK_GRIDS = "LOCK TABLE admin_unit IN SHARE MODE"
