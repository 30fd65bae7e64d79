-- The roll-ups' time zone (their days are local days there), whether this transaction sees
-- dirty roll-up keys (its own changes not yet recomputed: answer from `event` then), and now.
-- Also turns parallel plans off for the roll-up path's short queries (starting workers costs
-- more than the queries themselves on a small shared machine); kpi.py restores `parallel`.
SELECT (SELECT tz FROM kpi_rollup_setting) AS tz,
       EXISTS (SELECT 1 FROM kpi_dirty) AS dirty,
       now() AS now,
       current_setting('max_parallel_workers_per_gather') AS parallel,
       set_config('max_parallel_workers_per_gather', '0', false) AS serial
