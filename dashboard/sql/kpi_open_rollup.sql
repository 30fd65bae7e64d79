-- Open state at %(at)s (now, or the window's end if earlier) of the window's cases:
-- overdue = deadline passed, due_2h = deadline within the next two hours. A case was open at
-- %(at)s if it is open now or was closed at or after %(at)s.
--   1. reported on the whole local days [day_from, day_to), open at the last refresh, deadline
--      before the local day of %(at)s: kpi_district_open (all overdue);
--   2. the same cases with a deadline from that day's midnight %(m)s to %(at)s + 2 h
--      (event_open_deadline_cover, index-only);
--   3. open cases reported at the window's edges [lo1, hi1), [lo2, hi2) (event_open_reported,
--      index-only);
--   4. cases of the window closed at or after %(at)s (event_closed_at; none when %(at)s is now).
SELECT key,
       sum(overdue)::bigint AS overdue_open,
       sum(due)::bigint AS due_2h
FROM (
    SELECT {dkey} AS key, n AS overdue, 0 AS due
    FROM kpi_district_open
    WHERE day >= %(day_from)s AND day < %(day_to)s AND deadline_day < %(at_day)s {dwhere}
    UNION ALL
    SELECT {key}, (deadline_at < %(at)s)::int, (deadline_at >= %(at)s)::int
    FROM event
    WHERE status <> 'closed' AND deadline_at >= %(m)s AND deadline_at < %(at)s + interval '2 hours'
      AND reported_at >= %(d1)s AND reported_at < %(d2)s {where}
    UNION ALL
    SELECT {key}, (deadline_at < %(at)s)::int, (deadline_at >= %(at)s)::int
    FROM event
    WHERE status <> 'closed' AND deadline_at < %(at)s + interval '2 hours'
      AND reported_at >= %(lo1)s AND reported_at < %(hi1)s {where}
    UNION ALL
    SELECT {key}, (deadline_at < %(at)s)::int, (deadline_at >= %(at)s)::int
    FROM event
    WHERE status <> 'closed' AND deadline_at < %(at)s + interval '2 hours'
      AND reported_at >= %(lo2)s AND reported_at < %(hi2)s {where}
    UNION ALL
    SELECT {key}, (deadline_at < %(at)s)::int, (deadline_at >= %(at)s)::int
    FROM event
    WHERE status = 'closed' AND closed_at >= %(at)s
      AND deadline_at < %(at)s + interval '2 hours'
      AND reported_at >= %(lo1)s AND reported_at < %(hi2)s {where}
) o
GROUP BY key
