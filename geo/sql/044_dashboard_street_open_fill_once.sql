-- dash_street_open_fill joined the (district, day) keys to `event` day by day: at the commit of
-- a bulk load touching every day of a year that took half the load's time (19 of 38 s for 300k
-- rows). As refresh_kpi_rollup does, many touched days (> 31) are now read as one range with
-- constant bounds and matched to the keys afterwards; a few days (live batches) keep the
-- per-day index ranges, each day read once whatever the number of districts.
CREATE OR REPLACE FUNCTION dash_street_open_fill(keys_sql text) RETURNS void
LANGUAGE plpgsql SET jit = off AS $$
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
        SELECT x.district, x.day, x.street, x.source, x.deadline_day, count(*)
        FROM (SELECT left(e.grid_code, 6) AS district,
                     (e.reported_at AT TIME ZONE %1$L)::date AS day,
                     left(e.grid_code, 9) AS street, e.source,
                     (e.deadline_at AT TIME ZONE %1$L)::date AS deadline_day
              FROM (%3$s) r
              JOIN event e ON e.reported_at >= r.lo AND e.reported_at < r.hi
              WHERE e.status <> 'closed' AND e.deadline_at IS NOT NULL
                AND e.grid_code IS NOT NULL) x
        JOIN (%2$s) k ON k.district = x.district AND k.day = x.day
        GROUP BY 1, 2, 3, 4, 5$q$, tz, keys_sql, days_sql);
END $$;
