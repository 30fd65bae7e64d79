-- Closed loop (闭环): KPI roll-ups, the indexes behind exact medians, and the overdue view.
--
-- kpi_street_daily: cohort counts per street (9-digit code; '' = cases without a location),
-- UTC day of reporting and channel, as of the last refresh. kpi_district_hist: closed cases per
-- district, day, channel and handling-time bucket (kpi_bucket), so an exact median needs raw
-- rows from one bucket only. Both are recomputed from `event` for the (street, day) keys that
-- refresh_event_hourly touches (statement triggers on event_hourly), so every writer that keeps
-- event_hourly current keeps these current too.

-- Handling-time bucket: 0 below one minute, then four buckets per doubling of minutes.
CREATE FUNCTION kpi_bucket(seconds numeric) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
    SELECT CASE WHEN seconds < 60 THEN 0
                ELSE least(32000, 1 + floor(4 * ln(seconds::float8 / 60) / ln(2)))::smallint END
$$;

CREATE TABLE kpi_street_daily (
    street           varchar(9) NOT NULL,
    day              date NOT NULL,              -- UTC day of reported_at
    channel          text NOT NULL,
    n_reported       integer NOT NULL,
    n_closed         integer NOT NULL,
    n_closed_on_time integer NOT NULL,
    handling_seconds double precision NOT NULL,  -- sum over closed cases
    n_reopened       integer NOT NULL,
    n_extended       integer NOT NULL,
    n_rated          integer NOT NULL,
    n_satisfied      integer NOT NULL,
    n_provisional    integer NOT NULL,
    PRIMARY KEY (street, day, channel)
);
CREATE INDEX kpi_street_daily_day ON kpi_street_daily (day);

CREATE TABLE kpi_district_hist (
    district varchar(6) NOT NULL,
    day      date NOT NULL,
    channel  text NOT NULL,
    bucket   smallint NOT NULL,
    n        integer NOT NULL,
    PRIMARY KEY (district, day, channel, bucket)
);
CREATE INDEX kpi_district_hist_day ON kpi_district_hist (day);

-- Exact median, second pass: the closed cases of one bucket in a window, index-only.
CREATE INDEX event_closed_bucket ON event
    (kpi_bucket(extract(epoch FROM closed_at - reported_at)), reported_at)
    INCLUDE (closed_at, grid_code, source) WHERE status = 'closed';
-- "Closed by `to`": cases of the window closed after it (none when `to` is now).
CREATE INDEX event_closed_at ON event (closed_at) WHERE status = 'closed';
-- Open cases of a window, with what overdue / due-soon needs.
CREATE INDEX event_open_reported ON event (reported_at)
    INCLUDE (deadline_at, grid_code, source) WHERE status <> 'closed';

-- Recompute the roll-ups for the given (street, UTC day) keys from `event`.
CREATE FUNCTION refresh_kpi_rollup(streets text[], days date[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    written integer := 0;
    more integer;
BEGIN
    IF coalesce(cardinality(streets), 0) = 0 THEN
        RETURN 0;
    END IF;
    PERFORM pg_advisory_xact_lock(4206000030);

    DELETE FROM kpi_street_daily k
    USING (SELECT DISTINCT s, d FROM unnest(streets, days) AS t(s, d)) keys
    WHERE k.street = keys.s AND k.day = keys.d;
    DELETE FROM kpi_district_hist h
    USING (SELECT DISTINCT left(s, 6) AS s, d FROM unnest(streets, days) AS t(s, d)) keys
    WHERE h.district = keys.s AND h.day = keys.d;

    -- One index range scan on event (reported_at) per distinct day, filtered to the keys.
    INSERT INTO kpi_street_daily
    SELECT x.street, x.day, x.source,
           count(*),
           count(*) FILTER (WHERE x.status = 'closed'),
           count(*) FILTER (WHERE x.status = 'closed'
                            AND (x.deadline_at IS NULL OR x.closed_at <= x.deadline_at)),
           coalesce(sum(extract(epoch FROM x.closed_at - x.reported_at))
                    FILTER (WHERE x.status = 'closed'), 0),
           count(*) FILTER (WHERE x.reopened_count > 0),
           count(*) FILTER (WHERE x.extended_count > 0),
           count(x.satisfaction),
           count(*) FILTER (WHERE x.satisfaction >= 4),
           count(*) FILTER (WHERE x.deadline_provisional)
    FROM (
        SELECT coalesce(left(e.grid_code, 9), '') AS street, dd.d AS day, e.*
        FROM (SELECT DISTINCT d FROM unnest(days) AS t(d)) dd
        JOIN event e ON e.reported_at >= dd.d::timestamp AT TIME ZONE 'UTC'
                    AND e.reported_at < (dd.d + 1)::timestamp AT TIME ZONE 'UTC'
    ) x
    WHERE (x.street, x.day) IN (SELECT s, d FROM unnest(streets, days) AS t(s, d))
    GROUP BY 1, 2, 3;
    GET DIAGNOSTICS written = ROW_COUNT;

    INSERT INTO kpi_district_hist
    SELECT x.district, x.day, x.source,
           kpi_bucket(extract(epoch FROM x.closed_at - x.reported_at)), count(*)
    FROM (
        SELECT coalesce(left(e.grid_code, 6), '') AS district, dd.d AS day, e.*
        FROM (SELECT DISTINCT d FROM unnest(days) AS t(d)) dd
        JOIN event e ON e.reported_at >= dd.d::timestamp AT TIME ZONE 'UTC'
                    AND e.reported_at < (dd.d + 1)::timestamp AT TIME ZONE 'UTC'
        WHERE e.status = 'closed'
    ) x
    WHERE (x.district, x.day) IN (SELECT left(s, 6), d FROM unnest(streets, days) AS t(s, d))
    GROUP BY 1, 2, 3, 4;
    GET DIAGNOSTICS more = ROW_COUNT;
    RETURN written + more;
END $$;

-- event_hourly changed: recompute the KPI roll-ups of the same streets and days.
CREATE FUNCTION kpi_rollup_follow_hourly() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    s text[];
    d date[];
BEGIN
    SELECT array_agg(street), array_agg(day) INTO s, d FROM (
        SELECT DISTINCT left(grid_code, 9) AS street, (hour AT TIME ZONE 'UTC')::date AS day
        FROM changed_rows
    ) k;
    PERFORM refresh_kpi_rollup(s, d);
    RETURN NULL;
END $$;

CREATE TRIGGER event_hourly_kpi_ins AFTER INSERT ON event_hourly
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION kpi_rollup_follow_hourly();
CREATE TRIGGER event_hourly_kpi_upd AFTER UPDATE ON event_hourly
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION kpi_rollup_follow_hourly();
CREATE TRIGGER event_hourly_kpi_del AFTER DELETE ON event_hourly
    REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION kpi_rollup_follow_hourly();

REVOKE EXECUTE ON FUNCTION refresh_kpi_rollup(text[], date[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION refresh_kpi_rollup(text[], date[]) TO cityscreen_writer;
GRANT EXECUTE ON FUNCTION kpi_bucket(numeric) TO cityscreen_reader, cityscreen_writer;

-- Open cases past their deadline or due within two hours: where they are, who holds them.
CREATE VIEW overdue_case AS
SELECT e.id, e.source, e.source_id, e.category, c.name AS category_name, e.status,
       e.reported_at, e.deadline_at, e.deadline_provisional,
       round((extract(epoch FROM now() - e.deadline_at) / 3600)::numeric, 1) AS hours_overdue,
       e.deadline_at < now() AS overdue,
       e.escalation_level, e.dept, e.address, e.grid_code,
       left(e.grid_code, 12) AS community_code, left(e.grid_code, 9) AS street_code,
       left(e.grid_code, 6) AS district_code,
       g.name AS grid_name, s.name AS street_name, d.name AS district_name
FROM event e
LEFT JOIN category c ON c.code = e.category
LEFT JOIN admin_unit g ON g.code = e.grid_code
LEFT JOIN admin_unit s ON s.code = left(e.grid_code, 9)
LEFT JOIN admin_unit d ON d.code = left(e.grid_code, 6)
WHERE e.status <> 'closed' AND e.deadline_at < now() + interval '2 hours';
