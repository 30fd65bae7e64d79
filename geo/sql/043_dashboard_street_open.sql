-- Dashboard: open cases with a deadline per STREET, reporting day, channel and local deadline
-- day, so the street view's 在办/超期 tiles read a few hundred rows instead of the street's
-- (up to ~170k at 10M cases) open cases. The district/city tiles read kpi_district_open
-- (geo/sql/033) directly; this is the same roll-up one level down, and it follows it:
-- whenever refresh_kpi_rollup rewrites the kpi_district_open rows of a (district, day), the
-- statement triggers below drop the street rows of that (district, day) and recompute the
-- ones it gets back from `event` (open cases of that local day: event_open_reported). So it
-- is exactly as current as kpi_district_open (same keys, same transaction, same zone
-- kpi_rollup_setting.tz), and nobody calls anything extra.

CREATE TABLE dash_street_open (
    district     varchar(6) NOT NULL,            -- left(street, 6)
    day          date NOT NULL,                  -- local day of reported_at
    street       varchar(9) NOT NULL,
    channel      text NOT NULL,
    deadline_day date NOT NULL,                  -- local day of deadline_at
    n            integer NOT NULL,
    PRIMARY KEY (district, day, street, channel, deadline_day)
);
CREATE INDEX dash_street_open_street ON dash_street_open (street)
    INCLUDE (channel, deadline_day, n);

-- The open cases with a deadline of the given (district, day) keys, per street.
CREATE FUNCTION dash_street_open_fill(keys_sql text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    tz text := (SELECT tz FROM kpi_rollup_setting);
BEGIN
    EXECUTE format($q$
        INSERT INTO dash_street_open
        SELECT k.district, k.day, left(e.grid_code, 9), e.source,
               (e.deadline_at AT TIME ZONE %1$L)::date, count(*)
        FROM (%2$s) k
        JOIN event e ON e.reported_at >= k.day::timestamp AT TIME ZONE %1$L
                    AND e.reported_at < (k.day + 1)::timestamp AT TIME ZONE %1$L
                    AND left(e.grid_code, 6) = k.district
        WHERE e.status <> 'closed' AND e.deadline_at IS NOT NULL AND e.grid_code IS NOT NULL
        GROUP BY 1, 2, 3, 4, 5$q$, tz, keys_sql);
END $$;

-- Rows of kpi_district_open deleted: drop the street rows of those (district, day) keys.
CREATE FUNCTION dash_street_open_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM dash_street_open s
    USING (SELECT DISTINCT district, day FROM old_rows WHERE district <> '') k
    WHERE s.district = k.district AND s.day = k.day;
    RETURN NULL;
END $$;

-- Rows inserted: recompute the street rows of those keys. The keys reach the dynamic fill
-- through a temporary table (a dynamic statement cannot see the transition table).
CREATE FUNCTION dash_street_open_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS dash_street_open_keys (district text, day date)
        ON COMMIT DROP;
    TRUNCATE dash_street_open_keys;
    INSERT INTO dash_street_open_keys
    SELECT DISTINCT district, day FROM new_rows WHERE district <> '';
    DELETE FROM dash_street_open s USING dash_street_open_keys k
    WHERE s.district = k.district AND s.day = k.day;
    PERFORM dash_street_open_fill('SELECT district, day FROM dash_street_open_keys');
    RETURN NULL;
END $$;

CREATE TRIGGER kpi_district_open_dash_del AFTER DELETE ON kpi_district_open
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION dash_street_open_delete();
CREATE TRIGGER kpi_district_open_dash_ins AFTER INSERT ON kpi_district_open
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION dash_street_open_insert();

-- Initial fill: every open case with a deadline, in one index-only pass
-- (event_open_deadline_cover holds reported_at, grid_code and source).
SET LOCAL statement_timeout = 0;
SET LOCAL jit = off;
INSERT INTO dash_street_open
SELECT left(e.grid_code, 6), (e.reported_at AT TIME ZONE (SELECT tz FROM kpi_rollup_setting))::date,
       left(e.grid_code, 9), e.source,
       (e.deadline_at AT TIME ZONE (SELECT tz FROM kpi_rollup_setting))::date, count(*)
FROM event e
WHERE e.status <> 'closed' AND e.deadline_at IS NOT NULL AND e.grid_code IS NOT NULL
GROUP BY 1, 2, 3, 4, 5;
ANALYZE dash_street_open;
