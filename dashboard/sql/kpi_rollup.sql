-- KPI counts from the roll-ups, grouped by {key}: whole local days [day_from, day_to) from
-- kpi_street_daily plus the whole hours [h1, d1) and [d2, h2) at the window's edges from
-- kpi_district_hourly ('' = cases without a location). Counts are as of the last refresh:
-- kpi.py subtracts the cases closed after the window's end (kpi_closed_late.sql).
SELECT key,
       sum(n_reported)::bigint AS received,
       sum(n_closed)::bigint AS closed,
       sum(n_closed_on_time)::bigint AS closed_on_time,
       sum(handling_seconds)::float8 AS handling_seconds,
       sum(n_reopened)::bigint AS reopened,
       sum(n_extended)::bigint AS extended,
       sum(n_rated)::bigint AS rated,
       sum(n_satisfied)::bigint AS satisfied,
       sum(n_provisional)::bigint AS provisional
FROM (
    SELECT {skey} AS key, n_reported, n_closed, n_closed_on_time, handling_seconds,
           n_reopened, n_extended, n_rated, n_satisfied, n_provisional
    FROM kpi_street_daily
    WHERE day >= %(day_from)s AND day < %(day_to)s {swhere}
    UNION ALL
    SELECT {dkey}, n_reported, n_closed, n_closed_on_time, handling_seconds,
           n_reopened, n_extended, n_rated, n_satisfied, n_provisional
    FROM kpi_district_hourly
    WHERE ((hour >= %(h1)s AND hour < %(d1)s) OR (hour >= %(d2)s AND hour < %(h2)s)) {dwhere}
) r
GROUP BY 1
