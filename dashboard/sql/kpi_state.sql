-- The roll-ups' time zone (their days are local days there), whether this transaction sees
-- dirty roll-up keys (its own changes not yet recomputed: answer from `event` then), and now.
SELECT (SELECT tz FROM kpi_rollup_setting) AS tz,
       EXISTS (SELECT 1 FROM kpi_dirty) AS dirty,
       now() AS now
