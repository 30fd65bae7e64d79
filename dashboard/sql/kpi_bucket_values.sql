-- Exact median, second pass: the handling hours at the wanted ranks within their bucket
-- (index scan on event_closed_bucket restricted to the wanted buckets). Also returns the
-- bucket's size, which must match the roll-up's count (else the roll-up is stale).
WITH want AS (
    SELECT * FROM unnest(%(keys)s::text[], %(buckets)s::int[], %(ranks)s::int[]) AS w(key, bucket, rank)
), v AS (
    SELECT coalesce({key}, '') AS key,
           kpi_bucket(extract(epoch FROM closed_at - reported_at))::int AS bucket,
           (extract(epoch FROM closed_at - reported_at) / 3600)::float8 AS hours
    FROM event
    WHERE status = 'closed' AND closed_at < %(to)s
      AND kpi_bucket(extract(epoch FROM closed_at - reported_at)) = ANY(%(bucket_set)s::smallint[])
      AND reported_at >= %(lo)s AND reported_at < %(hi)s {where}
), ranked AS (
    SELECT v.*, row_number() OVER (PARTITION BY key, bucket ORDER BY hours) - 1 AS rank,
           count(*) OVER (PARTITION BY key, bucket) AS n
    FROM v JOIN (SELECT DISTINCT key, bucket FROM want) wb USING (key, bucket)
)
SELECT r.key, r.bucket, r.rank, r.hours, r.n FROM ranked r JOIN want USING (key, bucket, rank)
