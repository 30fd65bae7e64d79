"""督办: raise the escalation level of overdue open cases, recorded in the case timeline.

Level by how far the case has run relative to its allowed time
(``r = (at − reported_at) / (deadline_at − reported_at)``): r ≥ 1 → 1 街道 street,
r ≥ 2 → 2 区 district, r ≥ 3 → 3 市 city. Levels only go up; each raise writes one
`event_transition` row (kind ``escalated``) and the run bumps `data_version` once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

LEVEL_LABELS: dict[int, str] = {0: "未督办", 1: "街道督办", 2: "区级督办", 3: "市级督办"}
MAX_LEVEL = 3

# Uses the partial index event_open_deadline_cover (deadline_at) WHERE status <> 'closed'
# (geo/sql/033, 026).
ESCALATE_SQL = """
WITH due AS (
    SELECT id, status, dept,
           least(%(max)s, floor(extract(epoch FROM %(at)s::timestamptz - reported_at)
                 / extract(epoch FROM deadline_at - reported_at)))::smallint AS level
    FROM event
    WHERE status <> 'closed' AND deadline_at < %(at)s::timestamptz AND deadline_at > reported_at
), raised AS (
    UPDATE event e SET escalation_level = d.level, updated_at = clock_timestamp()
    FROM due d
    WHERE e.id = d.id AND d.level > e.escalation_level AND NOT %(dry)s
    RETURNING e.id, d.level, d.status, d.dept
), would AS (
    SELECT d.id, d.level FROM due d JOIN event e ON e.id = d.id
    WHERE d.level > e.escalation_level AND %(dry)s
), timeline AS (
    INSERT INTO event_transition (event_id, at, kind, from_status, to_status, actor, dept, note)
    SELECT id, %(at)s::timestamptz, 'escalated', status, status, 'cityscreen escalate', dept,
           'escalation level ' || level
    FROM raised
    ON CONFLICT (event_id, at, kind) DO NOTHING
)
SELECT level, count(*) FROM (SELECT level FROM raised UNION ALL SELECT level FROM would) x
GROUP BY level ORDER BY level
"""


def escalate(conn: Any, at: datetime | str | None = None, dry_run: bool = False) -> dict[str, Any]:
    """Raise escalation levels of overdue open cases as of ``at`` (default now; caller commits)."""
    with conn.cursor() as cur:
        cur.execute("SELECT coalesce(%s::timestamptz, now())", (at,))
        when = cur.fetchone()[0]
        cur.execute(ESCALATE_SQL, {"at": when, "max": MAX_LEVEL, "dry": dry_run})
        by_level = {int(level): int(n) for level, n in cur.fetchall()}
        total = sum(by_level.values())
        if total and not dry_run:
            cur.execute("SELECT bump_data_version(NULL)")
    return {"at": when.isoformat(), "escalated": total, "dry_run": dry_run,
            "by_level": {LEVEL_LABELS[k]: v for k, v in sorted(by_level.items())}}
