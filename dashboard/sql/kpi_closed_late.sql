-- Cases of the rolled-up range [lo, hi) closed at or after `to`: the roll-ups count them as
-- closed, the KPI window must not. in_days: reported in the whole local days [d1, d2) (their
-- buckets are in kpi_district_hist). Uses event_closed_at; empty when `to` is now.
SELECT {key} AS key,
       count(*) AS closed,
       count(*) FILTER (WHERE deadline_at IS NULL OR closed_at <= deadline_at) AS closed_on_time,
       coalesce(sum(extract(epoch FROM closed_at - reported_at)), 0)::float8 AS handling_seconds,
       kpi_bucket(extract(epoch FROM closed_at - reported_at)) AS bucket,
       reported_at >= %(d1)s AND reported_at < %(d2)s AS in_days
FROM event
WHERE status = 'closed' AND closed_at >= %(to)s
  AND reported_at >= %(lo)s AND reported_at < %(hi)s {where}
GROUP BY 1, 5, 6
