"""督办: escalation by how far past the deadline, recorded in the timeline; the overdue view."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from etl.escalate import escalate

TZ = ZoneInfo("Asia/Shanghai")
REPORTED = datetime(2012, 5, 7, 9, tzinfo=TZ)  # a year no other test uses (meeting uses 2017-18)
ALLOWED = timedelta(hours=10)                   # every case here is due 10 h after reporting
AT = REPORTED + timedelta(hours=100)


def _insert(conn: Any, source_id: str, reported: datetime, status: str = "dispatched",
            level: int = 0) -> int:
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO event (source, source_id, category, reported_at, deadline_at, status,"
            " status_at, escalation_level, dept, closed_at) VALUES ('grid_worker', %s, '0101',"
            " %s, %s, %s, %s, %s, '樊城区城管局', %s) RETURNING id",
            (source_id, reported, reported + ALLOWED, status, reported, level,
             reported + timedelta(hours=1) if status == "closed" else None))
        return cur.fetchone()[0]


def _levels(conn: Any, ids: dict[str, int]) -> dict[str, int]:
    with conn.cursor() as cur:
        cur.execute("SELECT id, escalation_level FROM event WHERE id = ANY(%s)",
                    (list(ids.values()),))
        by_id = dict(cur.fetchall())
    return {k: by_id[v] for k, v in ids.items()}


def test_escalation_levels_and_timeline(conn: Any) -> None:
    # Elapsed at AT relative to the 10 h allowed: reported AT-5h → 0.5× (not overdue),
    # AT-15h → 1.5× (street), AT-25h → 2.5× (district), AT-95h → 9.5× (city, capped at 3).
    ids = {
        "half": _insert(conn, "esc-half", AT - timedelta(hours=5)),
        "street": _insert(conn, "esc-street", AT - timedelta(hours=15)),
        "district": _insert(conn, "esc-district", AT - timedelta(hours=25)),
        "city": _insert(conn, "esc-city", AT - timedelta(hours=95)),
        "closed": _insert(conn, "esc-closed", AT - timedelta(hours=95), status="closed"),
        "already": _insert(conn, "esc-already", AT - timedelta(hours=25), level=2),
    }
    with conn.cursor() as cur:
        cur.execute("SELECT version FROM data_version")
        before = cur.fetchone()[0]
    summary = escalate(conn, at=AT)
    assert _levels(conn, ids) == {"half": 0, "street": 1, "district": 2, "city": 3,
                                  "closed": 0, "already": 2}
    assert summary["by_level"] == {"街道督办": 1, "区级督办": 1, "市级督办": 1}
    with conn.cursor() as cur:
        cur.execute("SELECT e.source_id, t.kind, t.from_status, t.to_status, t.note, t.at"
                    " FROM event_transition t JOIN event e ON e.id = t.event_id"
                    " WHERE t.event_id = ANY(%s) ORDER BY 1", (list(ids.values()),))
        rows = cur.fetchall()
        cur.execute("SELECT version FROM data_version")
        assert cur.fetchone()[0] == before + 1
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in rows] == [
        ("esc-city", "escalated", "dispatched", "dispatched", "escalation level 3"),
        ("esc-district", "escalated", "dispatched", "dispatched", "escalation level 2"),
        ("esc-street", "escalated", "dispatched", "dispatched", "escalation level 1"),
    ]
    assert all(r[5] == AT for r in rows)
    # Running again at the same moment changes nothing; later, the street case moves up.
    assert escalate(conn, at=AT)["escalated"] == 0
    escalate(conn, at=AT + timedelta(hours=10))  # street case now at 2.5×
    assert _levels(conn, ids)["street"] == 2


def test_dry_run_changes_nothing(conn: Any) -> None:
    eid = _insert(conn, "esc-dry", AT - timedelta(hours=15))
    summary = escalate(conn, at=AT, dry_run=True)
    assert summary["by_level"].get("街道督办", 0) >= 1
    assert _levels(conn, {"x": eid}) == {"x": 0}


def test_overdue_view_shows_where_and_who(conn: Any, city: Any) -> None:
    grid = city["grid"][0]
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO event (source, source_id, category, grid_code, reported_at, deadline_at,"
            " status, status_at, dept) VALUES ('grid_worker', 'ovd-1', '0101', %s,"
            " now() - interval '5 hours', now() - interval '3 hours', 'dispatched', now(),"
            " '城管局'),"
            " ('grid_worker', 'ovd-2', '0101', %s, now() - interval '1 hour',"
            " now() + interval '1 hour', 'accepted', now(), NULL),"
            " ('grid_worker', 'ovd-3', '0101', %s, now() - interval '1 hour',"
            " now() + interval '5 hours', 'accepted', now(), NULL)",
            (grid, grid, grid))
        cur.execute("SELECT source_id, overdue, hours_overdue, dept, district_code, district_name,"
                    " grid_name, category_name FROM overdue_case"
                    " WHERE source_id LIKE 'ovd-%%' ORDER BY source_id")
        rows = cur.fetchall()
    assert [r[0] for r in rows] == ["ovd-1", "ovd-2"]  # ovd-3 is due in 5 h: not listed
    assert rows[0][1] is True and float(rows[0][2]) == 3.0 and rows[0][3] == "城管局"
    assert rows[1][1] is False
    assert rows[0][4] == grid[:6] and rows[0][5] and rows[0][6]
    assert rows[0][7] == "暴露垃圾"
