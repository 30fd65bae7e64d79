-- Exact median, second pass: within one handling-time bucket, the handling hours at the wanted
-- ranks per key (index-only scan on event_closed_bucket; the bucket is a constant so the
-- bucket function is not evaluated per row). Also returns each key's bucket size, which must
-- match the roll-up's count (else the roll-up is stale).
WITH want AS (
    SELECT * FROM unnest(%(keys)s::text[], %(ranks)s::int[]) AS w(key, rank)
), ranked AS (
    SELECT key, hours,
           row_number() OVER (PARTITION BY key ORDER BY hours) - 1 AS rank,
           count(*) OVER (PARTITION BY key) AS n
    FROM (
        SELECT coalesce({key}, '') AS key,
               (extract(epoch FROM closed_at - reported_at) / 3600)::float8 AS hours
        FROM event
        WHERE status = 'closed' AND closed_at < %(to)s
          AND kpi_bucket(extract(epoch FROM closed_at - reported_at)) = %(bucket)s
          AND reported_at >= %(lo)s AND reported_at < %(hi)s {where}
    ) v
    WHERE key IN (SELECT key FROM want)
)
SELECT r.key, r.rank, r.hours, r.n FROM ranked r JOIN want USING (key, rank)
