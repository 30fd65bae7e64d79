-- Exact median, second pass: within one handling-time bucket, the handling hours at the wanted
-- ranks per key (index-only scan on event_closed_bucket; the bucket is a constant so the
-- bucket function is not evaluated per row). Rows are ranked by the interval itself (exact,
-- no numeric arithmetic per row); only the picked rows are turned into hours, with the same
-- expression as the direct path. Also returns each key's bucket size, which must match the
-- roll-up's count (else the roll-up is stale).
WITH ranked AS (
    SELECT key, handling,
           row_number() OVER (PARTITION BY key ORDER BY handling) - 1 AS rank,
           count(*) OVER (PARTITION BY key) AS n
    FROM (
        SELECT coalesce({key}, '') AS key, closed_at - reported_at AS handling
        FROM event
        WHERE status = 'closed' AND closed_at < %(to)s
          AND kpi_bucket(extract(epoch FROM closed_at - reported_at)) = %(bucket)s
          AND reported_at >= %(lo)s AND reported_at < %(hi)s {where}
    ) v
    WHERE key = ANY(%(keys)s::text[])
)
SELECT r.key, r.rank, (extract(epoch FROM r.handling) / 3600)::float8 AS hours, r.n
FROM ranked r
JOIN unnest(%(keys)s::text[], %(ranks)s::int[]) AS w(key, rank)
  ON w.key = r.key AND w.rank = r.rank
