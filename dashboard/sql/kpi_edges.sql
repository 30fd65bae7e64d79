-- KPI counts of the window's partial hours [lo1, hi1) and [lo2, hi2), straight from `event`.
SELECT {key} AS key,
       count(*) AS received,
       count(*) FILTER (WHERE is_closed) AS closed,
       count(*) FILTER (WHERE is_closed
                        AND (deadline_at IS NULL OR closed_at <= deadline_at)) AS closed_on_time,
       coalesce(sum(extract(epoch FROM closed_at - reported_at)) FILTER (WHERE is_closed),
                0)::float8 AS handling_seconds,
       count(*) FILTER (WHERE reopened_count > 0) AS reopened,
       count(*) FILTER (WHERE extended_count > 0) AS extended,
       count(satisfaction) AS rated,
       count(*) FILTER (WHERE satisfaction >= 4) AS satisfied,
       count(*) FILTER (WHERE deadline_provisional) AS provisional
FROM (
    SELECT grid_code, status = 'closed' AND closed_at < %(to)s AS is_closed, reported_at,
           deadline_at, closed_at, reopened_count, extended_count, satisfaction,
           deadline_provisional
    FROM event
    WHERE ((reported_at >= %(lo1)s AND reported_at < %(hi1)s)
           OR (reported_at >= %(lo2)s AND reported_at < %(hi2)s)) {where}
) x
GROUP BY 1
