-- ETL-core: incremental refresh of the hourly roll-up, callable by anyone who changes events
-- (the loader after each batch, geo's `reassign` after grids are redrawn).
--
-- refresh_event_hourly(grid_codes, hours): recompute the event_hourly rows of the given
-- (grid_code, hour) keys from the raw event rows. grid_code '' stands for cases without a
-- location; hours are truncated to the hour. Returns the number of roll-up rows written.
-- n_open_overdue is as of the refresh (now()).
CREATE OR REPLACE FUNCTION refresh_event_hourly(grid_codes text[], hours timestamptz[])
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n_keys integer := coalesce(cardinality(grid_codes), 0);
    written integer := 0;
    more integer;
BEGIN
    IF n_keys = 0 THEN
        RETURN 0;
    END IF;
    IF n_keys <> coalesce(cardinality(hours), 0) THEN
        RAISE EXCEPTION 'refresh_event_hourly: % grid codes but % hours', n_keys, cardinality(hours);
    END IF;
    -- Concurrent batches touching the same keys would otherwise race between delete and insert.
    PERFORM pg_advisory_xact_lock(4206000020);

    DELETE FROM event_hourly eh
    USING (SELECT DISTINCT g, date_trunc('hour', h) AS hr FROM unnest(grid_codes, hours) AS k(g, h)) k
    WHERE eh.grid_code = k.g AND eh.hour = k.hr;

    IF n_keys <= 20000 THEN
        -- Few keys: index range scans on event (grid_code, reported_at) per key; located
        -- and unlocated cases in two statements so each can use an index.
        INSERT INTO event_hourly AS eh
        SELECT k.g, k.hr, e.source, e.category,
               count(*),
               count(*) FILTER (WHERE e.status = 'closed'),
               count(*) FILTER (WHERE e.status = 'closed' AND (e.deadline_at IS NULL OR e.closed_at <= e.deadline_at)),
               count(*) FILTER (WHERE e.status <> 'closed' AND e.deadline_at < now()),
               count(*) FILTER (WHERE e.reopened_count > 0),
               count(*) FILTER (WHERE e.extended_count > 0),
               coalesce(sum(extract(epoch FROM e.closed_at - e.reported_at) / 3600.0)
                        FILTER (WHERE e.status = 'closed'), 0),
               count(e.satisfaction),
               count(*) FILTER (WHERE e.satisfaction >= 4)
        FROM (SELECT DISTINCT g, date_trunc('hour', h) AS hr FROM unnest(grid_codes, hours) AS k(g, h)) k
        JOIN event e
          ON e.grid_code = k.g
         AND e.reported_at >= k.hr AND e.reported_at < k.hr + interval '1 hour'
        WHERE k.g <> ''
        GROUP BY 1, 2, 3, 4;
        GET DIAGNOSTICS written = ROW_COUNT;
        INSERT INTO event_hourly AS eh
        SELECT k.g, k.hr, e.source, e.category,
               count(*),
               count(*) FILTER (WHERE e.status = 'closed'),
               count(*) FILTER (WHERE e.status = 'closed' AND (e.deadline_at IS NULL OR e.closed_at <= e.deadline_at)),
               count(*) FILTER (WHERE e.status <> 'closed' AND e.deadline_at < now()),
               count(*) FILTER (WHERE e.reopened_count > 0),
               count(*) FILTER (WHERE e.extended_count > 0),
               coalesce(sum(extract(epoch FROM e.closed_at - e.reported_at) / 3600.0)
                        FILTER (WHERE e.status = 'closed'), 0),
               count(e.satisfaction),
               count(*) FILTER (WHERE e.satisfaction >= 4)
        FROM (SELECT DISTINCT g, date_trunc('hour', h) AS hr FROM unnest(grid_codes, hours) AS k(g, h)) k
        JOIN event e
          ON e.grid_code IS NULL
         AND e.reported_at >= k.hr AND e.reported_at < k.hr + interval '1 hour'
        WHERE k.g = ''
        GROUP BY 1, 2, 3, 4;
        GET DIAGNOSTICS more = ROW_COUNT;
        written := written + more;
    ELSE
        -- Many keys (bulk loads): one hash join over the events, grouped once.
        INSERT INTO event_hourly AS eh
        SELECT coalesce(e.grid_code, ''), date_trunc('hour', e.reported_at), e.source, e.category,
               count(*),
               count(*) FILTER (WHERE e.status = 'closed'),
               count(*) FILTER (WHERE e.status = 'closed' AND (e.deadline_at IS NULL OR e.closed_at <= e.deadline_at)),
               count(*) FILTER (WHERE e.status <> 'closed' AND e.deadline_at < now()),
               count(*) FILTER (WHERE e.reopened_count > 0),
               count(*) FILTER (WHERE e.extended_count > 0),
               coalesce(sum(extract(epoch FROM e.closed_at - e.reported_at) / 3600.0)
                        FILTER (WHERE e.status = 'closed'), 0),
               count(e.satisfaction),
               count(*) FILTER (WHERE e.satisfaction >= 4)
        FROM event e
        JOIN (SELECT DISTINCT g, date_trunc('hour', h) AS hr FROM unnest(grid_codes, hours) AS k(g, h)) k
          ON coalesce(e.grid_code, '') = k.g AND date_trunc('hour', e.reported_at) = k.hr
        WHERE e.reported_at >= (SELECT min(h) FROM unnest(hours) AS h) - interval '1 hour'
          AND e.reported_at < (SELECT max(h) FROM unnest(hours) AS h) + interval '1 hour'
        GROUP BY 1, 2, 3, 4
        ON CONFLICT (grid_code, hour, channel, category) DO UPDATE SET
            n_reported = excluded.n_reported, n_closed = excluded.n_closed,
            n_closed_on_time = excluded.n_closed_on_time, n_open_overdue = excluded.n_open_overdue,
            n_reopened = excluded.n_reopened, n_extended = excluded.n_extended,
            handling_hours = excluded.handling_hours, n_rated = excluded.n_rated,
            n_satisfied = excluded.n_satisfied;
        GET DIAGNOSTICS more = ROW_COUNT;
        written := written + more;
    END IF;
    RETURN written;
END $$;

REVOKE EXECUTE ON FUNCTION refresh_event_hourly(text[], timestamptz[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION refresh_event_hourly(text[], timestamptz[]) TO cityscreen_writer;
