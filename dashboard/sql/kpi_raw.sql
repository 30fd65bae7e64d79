-- KPI counts straight from `event` for cases reported in [start, end), grouped by {key}.
-- {where} adds the unit prefix and filters. The baseline of bench_kpi and the path for
-- small units (street and below) and for category filters.
SELECT {key} AS key,
       count(*) AS received,
       count(*) FILTER (WHERE status = 'closed' AND closed_at < %(to)s) AS closed,
       count(*) FILTER (WHERE status = 'closed' AND closed_at < %(to)s
                        AND (deadline_at IS NULL OR closed_at <= deadline_at)) AS closed_on_time,
       coalesce(sum(extract(epoch FROM closed_at - reported_at))
                FILTER (WHERE status = 'closed' AND closed_at < %(to)s), 0)::float8 AS handling_seconds,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY (extract(epoch FROM closed_at - reported_at) / 3600)::float8)
                FILTER (WHERE status = 'closed' AND closed_at < %(to)s) AS median_handling_hours,
       count(*) FILTER (WHERE reopened_count > 0) AS reopened,
       count(*) FILTER (WHERE extended_count > 0) AS extended,
       count(satisfaction) AS rated,
       count(*) FILTER (WHERE satisfaction >= 4) AS satisfied,
       count(*) FILTER (WHERE deadline_provisional) AS provisional
FROM event
WHERE reported_at >= %(lo)s AND reported_at < %(hi)s {where}
GROUP BY 1
