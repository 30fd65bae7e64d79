-- ETL load speed: the KPI roll-ups recomputed at the commit of a bulk load (033, 044).
--
-- * refresh_kpi_rollup runs with 256 MB work_mem (was 64 MB, as refresh_event_hourly since
--   025): for a 2M-case load the events of the touched days (materialised once) and the
--   street-day grouping no longer spill to disk (an external merge of ~180 MB).
-- * dash_street_open_fill groups the open cases of the day range first and then keeps the
--   groups of the touched (district, day) keys (the keys are part of the group key, so the
--   rows are the same); it hash-joined every open case (1.6M at 2M cases) to the keys.
ALTER FUNCTION refresh_kpi_rollup(text[], date[]) SET work_mem = '256MB';

CREATE OR REPLACE FUNCTION dash_street_open_fill(keys_sql text) RETURNS void
LANGUAGE plpgsql SET jit = off SET work_mem = '256MB' AS $$
DECLARE
    tz text := (SELECT tz FROM kpi_rollup_setting);
    n_days integer;
    lo timestamptz;
    hi timestamptz;
    days_sql text;
BEGIN
    EXECUTE format('SELECT count(DISTINCT day), min(day)::timestamp AT TIME ZONE %1$L,'
                   ' (max(day) + 1)::timestamp AT TIME ZONE %1$L FROM (%2$s) k', tz, keys_sql)
        INTO n_days, lo, hi;
    IF n_days = 0 THEN
        RETURN;
    END IF;
    days_sql := CASE WHEN n_days > 31
        THEN format('SELECT %L::timestamptz AS lo, %L::timestamptz AS hi', lo, hi)
        ELSE format('SELECT DISTINCT day::timestamp AT TIME ZONE %1$L AS lo,'
                    ' (day + 1)::timestamp AT TIME ZONE %1$L AS hi FROM (%2$s) k', tz, keys_sql)
        END;
    EXECUTE format($q$
        INSERT INTO dash_street_open
        SELECT g.district, g.day, g.street, g.source, g.deadline_day, g.n
        FROM (SELECT left(e.grid_code, 6) AS district,
                     (e.reported_at AT TIME ZONE %1$L)::date AS day,
                     left(e.grid_code, 9) AS street, e.source,
                     (e.deadline_at AT TIME ZONE %1$L)::date AS deadline_day, count(*) AS n
              FROM (%3$s) r
              JOIN event e ON e.reported_at >= r.lo AND e.reported_at < r.hi
              WHERE e.status <> 'closed' AND e.deadline_at IS NOT NULL
                AND e.grid_code IS NOT NULL
              GROUP BY 1, 2, 3, 4, 5) g
        JOIN (SELECT DISTINCT district, day FROM (%2$s) k0) k
          ON k.district = g.district AND k.day = g.day$q$, tz, keys_sql, days_sql);
END $$;
