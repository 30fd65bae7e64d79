-- Closed cases per handling-time bucket for whole UTC days [day_from, day_to), by {key}
-- (a prefix of the district code).
SELECT {key} AS key, bucket, sum(n)::bigint AS n
FROM kpi_district_hist
WHERE day >= %(day_from)s AND day < %(day_to)s {where}
GROUP BY 1, 2
