-- Closed cases per handling-time bucket straight from `event` (the window's partial days).
SELECT {key} AS key, kpi_bucket(extract(epoch FROM closed_at - reported_at)) AS bucket,
       count(*) AS n
FROM event
WHERE status = 'closed' AND closed_at < %(to)s
  AND reported_at >= %(lo)s AND reported_at < %(hi)s {where}
GROUP BY 1, 2
