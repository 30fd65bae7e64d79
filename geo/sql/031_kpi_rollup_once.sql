-- Recompute the KPI roll-ups once per refresh, not once per statement: refresh_event_hourly
-- deletes its keys and then inserts them again, so a DELETE on event_hourly only marks its
-- (street, day) keys dirty; the INSERT/UPDATE that follows (statement triggers fire even for
-- zero rows) recomputes its own keys and every dirty one.
CREATE TABLE kpi_dirty (
    street varchar(9) NOT NULL,
    day    date NOT NULL,
    PRIMARY KEY (street, day)
);

CREATE FUNCTION kpi_rollup_mark_dirty() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO kpi_dirty
    SELECT DISTINCT left(grid_code, 9), (hour AT TIME ZONE 'UTC')::date FROM changed_rows
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION kpi_rollup_follow_hourly() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    s text[];
    d date[];
BEGIN
    WITH dirty AS (DELETE FROM kpi_dirty RETURNING street, day)
    SELECT array_agg(street), array_agg(day) INTO s, d FROM (
        SELECT left(grid_code, 9) AS street, (hour AT TIME ZONE 'UTC')::date AS day
        FROM changed_rows
        UNION
        SELECT street, day FROM dirty
    ) k;
    PERFORM refresh_kpi_rollup(s, d);
    RETURN NULL;
END $$;

DROP TRIGGER event_hourly_kpi_del ON event_hourly;
CREATE TRIGGER event_hourly_kpi_del AFTER DELETE ON event_hourly
    REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION kpi_rollup_mark_dirty();
