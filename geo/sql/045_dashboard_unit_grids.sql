-- Dashboard: the grid codes under a street or community prefix, so its time-window queries
-- can be bounded in time.
--
-- `grid_code LIKE '420602001%' AND reported_at >= …` on event (grid_code text_pattern_ops,
-- reported_at) bounds only the code: the index scan walks every entry of the street for
-- all time (a busy street: a million entries at 10M cases a year) to keep one day's. With
-- `grid_code = ANY(<the street's codes>)` each code is one descent bounded in time as well.
--
-- The codes come from the table's own index, not from admin_unit, so a case whose grid code
-- is not (or no longer) an admin unit is still counted exactly as the LIKE would count it:
-- a loose index scan, one descent per distinct code (~90 for a street, ~10 for a community),
-- index-only. Codes are digits, so prefix || ':' bounds the prefix (':' follows '9').

CREATE OR REPLACE FUNCTION dash_event_grids(prefix text) RETURNS text[]
LANGUAGE sql STABLE PARALLEL SAFE STRICT AS $$
    WITH RECURSIVE g(c) AS (
        (SELECT e.grid_code::text FROM event e
         WHERE e.grid_code ~>=~ prefix AND e.grid_code ~<~ (prefix || ':')
         ORDER BY e.grid_code USING ~<~ LIMIT 1)
        UNION ALL
        SELECT (SELECT e.grid_code::text FROM event e
                WHERE e.grid_code ~>~ g.c AND e.grid_code ~<~ (prefix || ':')
                ORDER BY e.grid_code USING ~<~ LIMIT 1)
        FROM g WHERE g.c IS NOT NULL)
    SELECT coalesce(array_agg(c), '{}') FROM g WHERE c IS NOT NULL
$$;

-- The same over event_hourly (its own codes: exactly what a LIKE on it would match).
CREATE OR REPLACE FUNCTION dash_hourly_grids(prefix text) RETURNS text[]
LANGUAGE sql STABLE PARALLEL SAFE STRICT AS $$
    WITH RECURSIVE g(c) AS (
        (SELECT h.grid_code::text FROM event_hourly h
         WHERE h.grid_code ~>=~ prefix AND h.grid_code ~<~ (prefix || ':')
         ORDER BY h.grid_code USING ~<~ LIMIT 1)
        UNION ALL
        SELECT (SELECT h.grid_code::text FROM event_hourly h
                WHERE h.grid_code ~>~ g.c AND h.grid_code ~<~ (prefix || ':')
                ORDER BY h.grid_code USING ~<~ LIMIT 1)
        FROM g WHERE g.c IS NOT NULL)
    SELECT coalesce(array_agg(c), '{}') FROM g WHERE c IS NOT NULL
$$;
