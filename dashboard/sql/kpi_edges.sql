-- The window's partial days at both edges, straight from `event`, in one pass: counts per key
-- (rows with is_total = 1) and closed cases per handling-time bucket (is_total = 0).
SELECT key, bucket, GROUPING(bucket) AS is_total,
       count(*) AS received,
       count(*) FILTER (WHERE is_closed) AS closed,
       count(*) FILTER (WHERE is_closed
                        AND (deadline_at IS NULL OR closed_at <= deadline_at)) AS closed_on_time,
       coalesce(sum(secs) FILTER (WHERE is_closed), 0)::float8 AS handling_seconds,
       count(*) FILTER (WHERE reopened_count > 0) AS reopened,
       count(*) FILTER (WHERE extended_count > 0) AS extended,
       count(satisfaction) AS rated,
       count(*) FILTER (WHERE satisfaction >= 4) AS satisfied,
       count(*) FILTER (WHERE deadline_provisional) AS provisional
FROM (
    SELECT y.*, CASE WHEN is_closed THEN kpi_bucket(secs) END AS bucket
    FROM (
        SELECT {key} AS key, status = 'closed' AND closed_at < %(to)s AS is_closed,
               extract(epoch FROM closed_at - reported_at) AS secs, deadline_at, closed_at,
               reopened_count, extended_count, satisfaction, deadline_provisional
        FROM event
        WHERE ((reported_at >= %(lo1)s AND reported_at < %(hi1)s)
               OR (reported_at >= %(lo2)s AND reported_at < %(hi2)s)) {where}
    ) y
) x
GROUP BY GROUPING SETS ((key), (key, bucket))
