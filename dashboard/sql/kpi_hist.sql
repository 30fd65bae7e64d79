-- Closed cases per handling-time bucket, by {dkey}: whole local days [day_from, day_to) from
-- kpi_district_hist, plus the closed cases reported at the window's edges [lo1, hi1) and
-- [lo2, hi2) counted index-only on event_closed_bucket (one index descent per bucket number;
-- one range per branch so each is an index-only scan, not a bitmap OR).
SELECT key, bucket, sum(n)::bigint AS n
FROM (
    SELECT {dkey} AS key, bucket, n
    FROM kpi_district_hist
    WHERE day >= %(day_from)s AND day < %(day_to)s {dwhere}
    UNION ALL
    SELECT {key}, kpi_bucket(extract(epoch FROM closed_at - reported_at)), 1
    FROM event
    WHERE status = 'closed' AND closed_at < %(to)s
      AND kpi_bucket(extract(epoch FROM closed_at - reported_at)) = ANY(%(buckets)s::smallint[])
      AND reported_at >= %(lo1)s AND reported_at < %(hi1)s {where}
    UNION ALL
    SELECT {key}, kpi_bucket(extract(epoch FROM closed_at - reported_at)), 1
    FROM event
    WHERE status = 'closed' AND closed_at < %(to)s
      AND kpi_bucket(extract(epoch FROM closed_at - reported_at)) = ANY(%(buckets)s::smallint[])
      AND reported_at >= %(lo2)s AND reported_at < %(hi2)s {where}
) h
GROUP BY 1, 2
