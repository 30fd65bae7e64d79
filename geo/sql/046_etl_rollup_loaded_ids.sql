-- ETL load speed: refresh the hourly roll-up of a bulk load's directly copied cases by their id
-- range instead of by a key list.
--
-- refresh_event_hourly_ids(first_id, end_id) recomputes, from the raw event rows, the
-- event_hourly rows of every (grid_code, hour) key that holds a case with first_id <= id <
-- end_id: exactly what refresh_event_hourly(keys of those cases) writes. A 2M-row bulk load
-- handed refresh_event_hourly two 2M-element arrays, built from the cases' keys, unnested and
-- de-duplicated twice, then hash-joined 2M events to 2M keys and sorted the result for the
-- GROUP BY (~12 of its ~20 s without triggers). Here the events of the range's hours are
-- grouped once (hashed), each group noting whether it holds a case of the id range; a key is
-- touched when one of its groups does. When every group of the hours does (a first load),
-- nothing is joined at all: the key lookup below is a hashed subplan that only runs for
-- groups without such a case. The old rows of the keys are deleted first only when
-- event_hourly holds any row in those hours. Same advisory lock as refresh_event_hourly, so the
-- statement triggers on event_hourly (KPI dirty keys, dash_street_daily) see the same
-- deletes and inserts they saw before.
CREATE FUNCTION refresh_event_hourly_ids(first_id bigint, end_id bigint) RETURNS integer
LANGUAGE plpgsql SET work_mem = '256MB' SET jit = off AS $$
DECLARE
    lo timestamptz;
    hi timestamptz;
    written integer;
BEGIN
    SELECT date_trunc('hour', min(reported_at)), date_trunc('hour', max(reported_at))
    INTO lo, hi FROM event WHERE id >= first_id AND id < end_id;
    IF lo IS NULL THEN
        RETURN 0;
    END IF;
    hi := hi + interval '1 hour';
    PERFORM pg_advisory_xact_lock(4206000020);

    IF EXISTS (SELECT 1 FROM event_hourly WHERE hour >= lo AND hour < hi) THEN
        DELETE FROM event_hourly eh
        USING (SELECT DISTINCT coalesce(grid_code, '') AS g, date_trunc('hour', reported_at) AS hr
               FROM event WHERE id >= first_id AND id < end_id) k
        WHERE eh.grid_code = k.g AND eh.hour = k.hr;
    END IF;

    INSERT INTO event_hourly
    SELECT a.g, a.hr, a.source, a.category, a.n_reported, a.n_closed, a.n_closed_on_time,
           a.n_open_overdue, a.n_reopened, a.n_extended, a.handling_hours, a.n_rated,
           a.n_satisfied
    FROM (
        SELECT coalesce(e.grid_code, '') AS g, date_trunc('hour', e.reported_at) AS hr,
               e.source, e.category,
               count(*) AS n_reported,
               count(*) FILTER (WHERE e.status = 'closed') AS n_closed,
               count(*) FILTER (WHERE e.status = 'closed' AND (e.deadline_at IS NULL OR e.closed_at <= e.deadline_at)) AS n_closed_on_time,
               count(*) FILTER (WHERE e.status <> 'closed' AND e.deadline_at < now()) AS n_open_overdue,
               count(*) FILTER (WHERE e.reopened_count > 0) AS n_reopened,
               count(*) FILTER (WHERE e.extended_count > 0) AS n_extended,
               coalesce(sum(extract(epoch FROM e.closed_at - e.reported_at) / 3600.0)
                        FILTER (WHERE e.status = 'closed'), 0) AS handling_hours,
               count(e.satisfaction) AS n_rated,
               count(*) FILTER (WHERE e.satisfaction >= 4) AS n_satisfied,
               bool_or(e.id >= first_id AND e.id < end_id) AS hit
        FROM event e
        WHERE e.reported_at >= lo AND e.reported_at < hi
        GROUP BY 1, 2, 3, 4
    ) a
    WHERE a.hit
       OR (a.g, a.hr) IN (SELECT coalesce(grid_code, ''), date_trunc('hour', reported_at)
                          FROM event WHERE id >= first_id AND id < end_id);
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END $$;

REVOKE EXECUTE ON FUNCTION refresh_event_hourly_ids(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION refresh_event_hourly_ids(bigint, bigint) TO cityscreen_writer;
