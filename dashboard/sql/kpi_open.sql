-- Open state of the window's cases at %(at)s (now, or the window's end if that is earlier):
-- overdue = deadline passed, due_2h = deadline within the next two hours.
SELECT {key} AS key,
       count(*) FILTER (WHERE deadline_at < %(at)s) AS overdue_open,
       count(*) FILTER (WHERE deadline_at >= %(at)s
                        AND deadline_at < %(at)s + interval '2 hours') AS due_2h
FROM event
WHERE reported_at >= %(lo)s AND reported_at < %(hi)s
  AND deadline_at < %(at)s + interval '2 hours'
  AND ({open}) {where}
GROUP BY 1
