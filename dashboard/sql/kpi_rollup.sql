-- KPI counts from the daily roll-up for whole UTC days [day_from, day_to), grouped by {key}
-- (a prefix of the street code; '' = cases without a location). Counts are as of the last
-- refresh: kpi.py subtracts the cases closed after the window's end (kpi_closed_late.sql).
SELECT {key} AS key,
       sum(n_reported)::bigint AS received,
       sum(n_closed)::bigint AS closed,
       sum(n_closed_on_time)::bigint AS closed_on_time,
       sum(handling_seconds)::float8 AS handling_seconds,
       sum(n_reopened)::bigint AS reopened,
       sum(n_extended)::bigint AS extended,
       sum(n_rated)::bigint AS rated,
       sum(n_satisfied)::bigint AS satisfied,
       sum(n_provisional)::bigint AS provisional
FROM kpi_street_daily
WHERE day >= %(day_from)s AND day < %(day_to)s {where}
GROUP BY 1
