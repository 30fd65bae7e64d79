-- Dashboard: counts per street, local day, channel and major class, so the city and district
-- views (30-day trend, 7/30-day windows) read hundreds of rows per day instead of the
-- event_hourly rows of every grid (about one per case at 10M cases a year).
--
-- dash_street_daily is a pure sum over event_hourly (street = left(grid_code, 9), '' = cases
-- without a location; day = the local date of the hour in dash_rollup_zone.zone), kept by
-- statement triggers that add the rows event_hourly gains and subtract the rows it loses. So
-- every writer that keeps event_hourly current (refresh_event_hourly: the loader per batch,
-- geo's reassign) keeps this current too, in the same transaction; nobody calls anything extra.
-- The dashboard uses it only when its CITYSCREEN_TZ equals the zone (else it reads event_hourly);
-- dash_street_daily_rezone(zone) changes the zone and rebuilds the table.

CREATE TABLE dash_rollup_zone (
    id   boolean PRIMARY KEY DEFAULT true CHECK (id),
    zone text NOT NULL
);
INSERT INTO dash_rollup_zone (zone) VALUES ('Asia/Shanghai');

CREATE TABLE dash_street_daily (
    street           varchar(9) NOT NULL,
    day              date NOT NULL,
    channel          text NOT NULL,
    major            varchar(2) NOT NULL,
    n_reported       integer NOT NULL,
    n_closed         integer NOT NULL,
    n_closed_on_time integer NOT NULL,
    PRIMARY KEY (street, day, channel, major)
);
-- City and district windows: a day range read from the index alone.
CREATE INDEX dash_street_daily_day ON dash_street_daily (day)
    INCLUDE (street, channel, major, n_reported, n_closed, n_closed_on_time);

-- Add (sign 1) or subtract (sign -1) event_hourly rows.
CREATE FUNCTION dash_street_daily_apply() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    z text := (SELECT zone FROM dash_rollup_zone);
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO dash_street_daily AS d
        SELECT left(grid_code, 9), (hour AT TIME ZONE z)::date, channel, left(category, 2),
               sum(n_reported), sum(n_closed), sum(n_closed_on_time)
        FROM new_rows GROUP BY 1, 2, 3, 4
        ON CONFLICT (street, day, channel, major) DO UPDATE SET
            n_reported = d.n_reported + excluded.n_reported,
            n_closed = d.n_closed + excluded.n_closed,
            n_closed_on_time = d.n_closed_on_time + excluded.n_closed_on_time;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE dash_street_daily d SET
            n_reported = d.n_reported - o.n_reported, n_closed = d.n_closed - o.n_closed,
            n_closed_on_time = d.n_closed_on_time - o.n_closed_on_time
        FROM (SELECT left(grid_code, 9) AS street, (hour AT TIME ZONE z)::date AS day, channel,
                     left(category, 2) AS major, sum(n_reported) AS n_reported,
                     sum(n_closed) AS n_closed, sum(n_closed_on_time) AS n_closed_on_time
              FROM old_rows GROUP BY 1, 2, 3, 4) o
        WHERE d.street = o.street AND d.day = o.day AND d.channel = o.channel
          AND d.major = o.major;
    ELSE  -- UPDATE (refresh_event_hourly's ON CONFLICT path): add new minus old
        INSERT INTO dash_street_daily AS d
        SELECT left(grid_code, 9), (hour AT TIME ZONE z)::date, channel, left(category, 2),
               sum(s * n_reported), sum(s * n_closed), sum(s * n_closed_on_time)
        FROM (SELECT 1 AS s, * FROM new_rows UNION ALL SELECT -1, * FROM old_rows) x
        GROUP BY 1, 2, 3, 4
        ON CONFLICT (street, day, channel, major) DO UPDATE SET
            n_reported = d.n_reported + excluded.n_reported,
            n_closed = d.n_closed + excluded.n_closed,
            n_closed_on_time = d.n_closed_on_time + excluded.n_closed_on_time;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION dash_street_daily_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE dash_street_daily;
    RETURN NULL;
END $$;

CREATE TRIGGER event_hourly_dash_ins AFTER INSERT ON event_hourly
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION dash_street_daily_apply();
CREATE TRIGGER event_hourly_dash_upd AFTER UPDATE ON event_hourly
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dash_street_daily_apply();
CREATE TRIGGER event_hourly_dash_del AFTER DELETE ON event_hourly
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION dash_street_daily_apply();
CREATE TRIGGER event_hourly_dash_trunc AFTER TRUNCATE ON event_hourly
    FOR EACH STATEMENT EXECUTE FUNCTION dash_street_daily_truncate();

-- Set the zone of the local days and rebuild from event_hourly (also the initial fill).
CREATE FUNCTION dash_street_daily_rezone(new_zone text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    written integer;
BEGIN
    PERFORM now() AT TIME ZONE new_zone;  -- an unknown zone fails here, before any change
    LOCK TABLE event_hourly IN SHARE MODE;  -- no writer may slip between rebuild and triggers
    UPDATE dash_rollup_zone SET zone = new_zone;
    TRUNCATE dash_street_daily;
    INSERT INTO dash_street_daily
    SELECT left(grid_code, 9), (hour AT TIME ZONE new_zone)::date, channel, left(category, 2),
           sum(n_reported), sum(n_closed), sum(n_closed_on_time)
    FROM event_hourly GROUP BY 1, 2, 3, 4;
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END $$;

REVOKE EXECUTE ON FUNCTION dash_street_daily_rezone(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dash_street_daily_rezone(text) TO cityscreen_writer;

SELECT dash_street_daily_rezone('Asia/Shanghai');
ANALYZE dash_street_daily;
