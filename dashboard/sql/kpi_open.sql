-- Open state of the window's cases at %(at)s (now, or the window's end if that is earlier):
-- overdue = deadline passed, due_2h = deadline within the next two hours. A case was open at
-- %(at)s if it is open now (partial index event_open_reported) or was closed at or after
-- %(at)s (partial index event_closed_at; nothing when %(at)s is now).
SELECT key,
       count(*) FILTER (WHERE deadline_at < %(at)s) AS overdue_open,
       count(*) FILTER (WHERE deadline_at >= %(at)s) AS due_2h
FROM (
    SELECT {key} AS key, deadline_at FROM event
    WHERE status <> 'closed' AND reported_at >= %(lo)s AND reported_at < %(hi)s
      AND deadline_at < %(at)s + interval '2 hours' {where}
    UNION ALL
    SELECT {key} AS key, deadline_at FROM event
    WHERE status = 'closed' AND closed_at >= %(at)s
      AND reported_at >= %(lo)s AND reported_at < %(hi)s
      AND deadline_at < %(at)s + interval '2 hours' {where}
) open_then
GROUP BY key
