"""KPIs at grid / community / district / city: hand-computed values, levels adding up, and
agreement with a direct count from `event` (isolated database, see conftest.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from dashboard import kpi
from dashboard.kpi import baseline_kpis, children_kpis, unit_kpis

TZ = ZoneInfo("Asia/Shanghai")
START, END = datetime(2019, 3, 1, tzinfo=TZ), datetime(2019, 4, 1, tzinfo=TZ)
ADDITIVE = ("received", "closed", "overdue_open", "due_2h", "rated")


def t(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)


def insert_events(conn: Any, rows: list[dict[str, Any]]) -> None:
    """Insert events by SQL, then refresh the roll-ups the way the ETL does after a batch."""
    with conn.cursor() as cur:
        for r in rows:
            closed = r.get("closed_at")
            cur.execute(
                "INSERT INTO event (source, source_id, category, major, grid_code, reported_at,"
                " closed_at, deadline_at, status, status_at, reopened_count, extended_count,"
                " satisfaction, deadline_provisional)"
                " VALUES (%s, %s, '0101', '01', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (r.get("source", "grid_worker"), r["id"], r["grid"], r["reported"], closed,
                 r.get("deadline"), r.get("status", "closed" if closed else "dispatched"),
                 closed or r["reported"], r.get("reopened", 0), r.get("extended", 0),
                 r.get("satisfaction"), r.get("provisional", False)))
        cur.execute(
            "SELECT refresh_event_hourly(array_agg(coalesce(grid_code, '')),"
            " array_agg(date_trunc('hour', reported_at))) FROM event WHERE source_id = ANY(%s)",
            ([r["id"] for r in rows],))
    conn.commit()


@pytest.fixture(scope="module")
def places(loop_url: str, loop_city: dict) -> dict[str, str]:
    """g1, g2: two grids of one community of district A; g3: district A, another street;
    g4: a grid of district B."""
    grids = loop_city["grid"]
    by_community: dict[str, list[str]] = {}
    for g in grids:
        by_community.setdefault(g[:12], []).append(g)
    c1 = next(c for c, gs in sorted(by_community.items()) if len(gs) >= 2)
    g1, g2 = by_community[c1][:2]
    g3 = next(g for g in grids if g[:6] == c1[:6] and g[:9] != c1[:9])
    g4 = next(g for g in grids if g[:6] != c1[:6])
    return {"g1": g1, "g2": g2, "g3": g3, "g4": g4}


@pytest.fixture(scope="module")
def march(loop_url: str, places: dict[str, str]) -> dict[str, str]:
    """Nine hand-made cases around March 2019 (local time); see the expectations below."""
    from cityscreen import db

    p = places
    rows = [
        # 1: closed after 4 h, on time, hotline rated 5
        dict(id="k1", grid=p["g1"], reported=t(2019, 3, 5, 10), closed_at=t(2019, 3, 5, 14),
             deadline=t(2019, 3, 6, 10), source="hotline_12345", satisfaction=5),
        # 2: closed after 48 h, late, rated 2
        dict(id="k2", grid=p["g1"], reported=t(2019, 3, 10, 9), closed_at=t(2019, 3, 12, 9),
             deadline=t(2019, 3, 11, 9), source="hotline_12345", satisfaction=2),
        # 3: still open, deadline 16 Mar passed → overdue at the window's end
        dict(id="k3", grid=p["g2"], reported=t(2019, 3, 15, 8), deadline=t(2019, 3, 16, 8)),
        # 4: first hours of the window (a partial UTC day), 10 h, no deadline = on time, extended
        dict(id="k4", grid=p["g3"], reported=t(2019, 3, 1, 2), closed_at=t(2019, 3, 1, 12),
             extended=1),
        # 5: last hour of the window, closed only on 2 Apr (after `to`); due 1 Apr 01:00
        dict(id="k5", grid=p["g4"], reported=t(2019, 3, 31, 23), closed_at=t(2019, 4, 2, 9),
             deadline=t(2019, 4, 1, 1)),
        # 6: 1.5 h, on time, was reopened once
        dict(id="k6", grid=p["g4"], reported=t(2019, 3, 20, 12), closed_at=t(2019, 3, 20, 13, 30),
             deadline=t(2019, 3, 21, 12), reopened=1),
        # 7: no location (hotline by address), 24 h, closed exactly at its deadline, rated 4
        dict(id="k7", grid=None, reported=t(2019, 3, 8, 12), closed_at=t(2019, 3, 9, 12),
             deadline=t(2019, 3, 9, 12), source="hotline_12345", satisfaction=4),
        # 8: reported the day before the window: not in it
        dict(id="k8", grid=p["g2"], reported=t(2019, 2, 28, 23), closed_at=t(2019, 3, 1, 1)),
        # 9: closed 5 Apr (after `to`), deadline 26 Mar → open and overdue at the window's end
        dict(id="k9", grid=p["g1"], reported=t(2019, 3, 25, 10), closed_at=t(2019, 4, 5, 10),
             deadline=t(2019, 3, 26, 10)),
    ]
    conn = db.connect(loop_url)
    try:
        insert_events(conn, rows)
    finally:
        conn.close()
    return places


def test_city_hand_computed(kconn: Any, march: dict[str, str]) -> None:
    k = unit_kpis(kconn, None, START, END)
    assert k["received"] == 8                      # 1–7 and 9
    assert k["closed"] == 5                        # 1, 2, 4, 6, 7 (5 and 9 closed after `to`)
    assert k["closure_rate"] == pytest.approx(5 / 8)
    assert k["on_time_rate"] == pytest.approx(4 / 5)  # all but 2
    assert k["median_handling_hours"] == pytest.approx(10.0)  # 1.5, 4, 10, 24, 48
    assert k["mean_handling_hours"] == pytest.approx(87.5 / 5)
    assert k["overdue_open"] == 2                  # 3 and 9 at 1 Apr 00:00
    assert k["due_2h"] == 1                        # 5, due 01:00
    assert k["reopen_rate"] == pytest.approx(1 / 8)
    assert k["extension_rate"] == pytest.approx(1 / 8)
    assert k["satisfaction"] == pytest.approx(2 / 3)  # 5 and 4 of 5, 2, 4
    assert k["provisional"] is False
    # The city's own code means the same as no code.
    assert unit_kpis(kconn, "420600", START, END) == k


def test_district_community_grid_hand_computed(kconn: Any, march: dict[str, str]) -> None:
    a, b = march["g1"][:6], march["g4"][:6]
    ka = unit_kpis(kconn, a, START, END)
    assert (ka["received"], ka["closed"], ka["overdue_open"]) == (5, 3, 2)   # 1,2,3,4,9
    assert ka["median_handling_hours"] == pytest.approx(10.0)                 # 4, 10, 48
    kb = unit_kpis(kconn, b, START, END)
    assert (kb["received"], kb["closed"], kb["due_2h"]) == (2, 1, 1)          # 5, 6
    assert kb["median_handling_hours"] == pytest.approx(1.5)
    assert kb["reopen_rate"] == pytest.approx(0.5)
    kc = unit_kpis(kconn, march["g1"][:12], START, END)
    assert (kc["received"], kc["closed"]) == (4, 2)                           # 1, 2, 3, 9
    assert kc["median_handling_hours"] == pytest.approx(26.0)                 # (4 + 48) / 2
    kg = unit_kpis(kconn, march["g1"], START, END)
    assert (kg["received"], kg["closed"], kg["overdue_open"]) == (3, 2, 1)    # 1, 2, 9
    assert kg["on_time_rate"] == pytest.approx(0.5)


def _direct_count(conn: Any, prefix: str | None) -> tuple[int, int]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'closed' AND closed_at < %s)"
            " FROM event WHERE reported_at >= %s AND reported_at < %s"
            " AND (%s::text IS NULL OR grid_code LIKE %s || '%%')",
            (END, START, END, prefix, prefix))
        return cur.fetchone()


def _check_children_add_up(conn: Any, code: str | None) -> None:
    parent = unit_kpis(conn, code, START, END)
    kids = children_kpis(conn, code, START, END)
    for field in ADDITIVE if kids else ():  # a grid has no children
        assert sum(c["kpis"][field] for c in kids) == parent[field], (code, field)
    assert (parent["received"], parent["closed"]) == _direct_count(conn, code)
    assert parent == pytest.approx(baseline_kpis(conn, code, START, END)), code
    for c in kids:
        if c["unit"] is not None:
            assert c["kpis"] == pytest.approx(unit_kpis(conn, c["unit"], START, END)), c["unit"]


def test_levels_add_up_and_match_event(kconn: Any, march: dict[str, str]) -> None:
    g1 = march["g1"]
    for code in (None, g1[:6], g1[:9], g1[:12], g1):
        _check_children_add_up(kconn, code)
    kids = children_kpis(kconn, None, START, END)
    nowhere = [c for c in kids if c["unit"] is None]
    assert len(nowhere) == 1 and nowhere[0]["kpis"]["received"] == 1  # case 7
    assert {c["unit"] for c in kids if c["kpis"]["received"]} == {
        march["g1"][:6], march["g4"][:6], None}
    assert children_kpis(kconn, g1, START, END) == []


def test_partial_days_and_channel_filter(kconn: Any, march: dict[str, str]) -> None:
    # A window with no whole UTC day is answered from `event` alone.
    k = unit_kpis(kconn, None, t(2019, 3, 5, 9), t(2019, 3, 5, 20))
    assert (k["received"], k["closed"], k["median_handling_hours"]) == (1, 1, 4.0)
    h = unit_kpis(kconn, None, START, END, {"channel": "hotline_12345"})
    assert (h["received"], h["closed"], h["satisfaction"]) == (3, 3, pytest.approx(2 / 3))
    assert h["median_handling_hours"] == pytest.approx(24.0)  # 4, 24, 48
    assert h == pytest.approx(baseline_kpis(kconn, None, START, END, {"channel": "hotline_12345"}))


def test_extended_then_closed_on_time_and_reopened(kconn: Any, march: dict[str, str]) -> None:
    g = march["g2"]
    # June 2019, only these two cases. A: 0101 暴露垃圾 due in 2 h (12:00), extended (延期) to
    # 3 Jun 12:00, closed 3 Jun 11:00 → on time against the extended deadline.
    # B: closed 5 Jun, reopened (重办: closed_at cleared, back to dispatched), closed again 7 Jun.
    insert_events(kconn, [
        dict(id="ext-A", grid=g, reported=t(2019, 6, 1, 10), closed_at=t(2019, 6, 3, 11),
             deadline=t(2019, 6, 3, 12), extended=1),
        dict(id="reo-B", grid=g, reported=t(2019, 6, 4, 10), closed_at=t(2019, 6, 7, 10),
             deadline=t(2019, 6, 5, 10), reopened=1),
    ])
    k = unit_kpis(kconn, None, t(2019, 6, 1), t(2019, 7, 1))
    assert (k["received"], k["closed"]) == (2, 2)
    assert k["on_time_rate"] == pytest.approx(0.5)       # A on time, B late
    assert k["extension_rate"] == pytest.approx(0.5)
    assert k["reopen_rate"] == pytest.approx(0.5)
    assert k["median_handling_hours"] == pytest.approx((49 + 72) / 2)
    # While B is reopened and not yet closed again it is open, not closed.
    with kconn.cursor() as cur:
        cur.execute("UPDATE event SET status = 'dispatched', closed_at = NULL"
                    " WHERE source_id = 'reo-B'")
        cur.execute("SELECT refresh_event_hourly(ARRAY[%s], ARRAY[%s::timestamptz])",
                    (g, t(2019, 6, 4, 10)))
    k = unit_kpis(kconn, None, t(2019, 6, 1), t(2019, 7, 1))
    assert (k["received"], k["closed"], k["overdue_open"]) == (2, 1, 1)
    assert k["median_handling_hours"] == pytest.approx(49.0)
    kconn.rollback()


def test_provisional_flag(kconn: Any, march: dict[str, str]) -> None:
    # A case whose deadline fell into a year the calendar did not know.
    insert_events(kconn, [dict(id="prov-1", grid=march["g3"], reported=t(2019, 9, 3, 10),
                               deadline=t(2019, 9, 10, 10), provisional=True)])
    for code in (None, march["g3"][:6], march["g3"]):
        k = unit_kpis(kconn, code, t(2019, 9, 1), t(2019, 10, 1))
        assert k["received"] == 1 and k["provisional"] is True
    assert unit_kpis(kconn, None, START, END)["provisional"] is False


ROLLUPS = ("kpi_street_daily", "kpi_district_hist", "kpi_district_hourly", "kpi_district_open")


def _rollup_rows(conn: Any) -> dict[str, list[tuple]]:
    with conn.cursor() as cur:
        out = {}
        for table in ROLLUPS:
            cur.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3, 4")
            out[table] = cur.fetchall()
        return out


def _full_recompute(conn: Any) -> None:
    with conn.cursor() as cur:
        cur.execute(f"TRUNCATE {', '.join(ROLLUPS)}")
        cur.execute("SELECT refresh_kpi_rollup(array_agg(s), array_agg(d)) FROM"
                    " (SELECT DISTINCT coalesce(left(grid_code, 9), '') AS s,"
                    " (reported_at AT TIME ZONE kpi_tz())::date AS d FROM event) k")


def test_rollups_follow_each_committed_batch(kconn: Any, march: dict[str, str]) -> None:
    # Delete case 6 and refresh its key the way the ETL does. Inside the transaction the key is
    # dirty (recomputed once, at commit) and KPIs are answered from `event`; after the commit
    # the roll-ups equal a full recompute and the roll-up path answers again.
    with kconn.cursor() as cur:
        # event_transition has no foreign key to event (024): a case's timeline goes first.
        cur.execute("DELETE FROM event_transition WHERE event_id IN"
                    " (SELECT id FROM event WHERE source_id = 'k6')")
        cur.execute("DELETE FROM event WHERE source_id = 'k6'")
        cur.execute("SELECT refresh_event_hourly(ARRAY[%s], ARRAY[%s::timestamptz])",
                    (march["g4"], t(2019, 3, 20, 12)))
        cur.execute("SELECT street, day FROM kpi_dirty")
        assert cur.fetchall() == [(march["g4"][:9], t(2019, 3, 20).date())]
    assert kpi._from_rollups(kconn, kpi.resolve_unit(kconn, None), None, START, END, None) is None
    k = unit_kpis(kconn, None, START, END)
    assert (k["received"], k["closed"], k["reopen_rate"]) == (7, 4, 0.0)
    kconn.commit()
    try:
        with kconn.cursor() as cur:
            cur.execute("SELECT (SELECT count(*) FROM kpi_dirty),"
                        " (SELECT count(*) FROM kpi_pending)")
            assert cur.fetchone() == (0, 0)
        after = _rollup_rows(kconn)
        _full_recompute(kconn)
        assert _rollup_rows(kconn) == after
        kconn.rollback()
        k = kpi._from_rollups(kconn, kpi.resolve_unit(kconn, None), None, START, END, None)
        assert k is not None and k[None] == unit_kpis(kconn, None, START, END)
        assert (k[None]["received"], k[None]["closed"], k[None]["reopen_rate"]) == (7, 4, 0.0)
        assert k[None]["median_handling_hours"] == pytest.approx((10 + 24) / 2)  # 4, 10, 24, 48
        assert k[None] == pytest.approx(baseline_kpis(kconn, None, START, END))
    finally:
        insert_events(kconn, [dict(id="k6", grid=march["g4"], reported=t(2019, 3, 20, 12),
                                   closed_at=t(2019, 3, 20, 13, 30), deadline=t(2019, 3, 21, 12),
                                   reopened=1)])


@pytest.mark.parametrize("lo, hi", [
    (t(2019, 3, 1, 2, 30), t(2019, 3, 31, 23, 30)),   # partial hours at both ends
    (t(2019, 3, 5, 7), t(2019, 3, 16, 12)),           # whole hours; case 3 due that morning
    (t(2019, 3, 4, 22, 15), t(2019, 3, 5, 20, 45)),   # no whole local day
    (t(2019, 3, 16, 6, 59), t(2019, 3, 16, 9, 1)),    # case 3 due within the last hours
])
def test_windows_off_midnight_agree_with_event(kconn: Any, march: dict[str, str],
                                               lo: datetime, hi: datetime) -> None:
    for code in (None, march["g1"][:6], march["g4"][:6]):
        unit = kpi.resolve_unit(kconn, code)
        fast = kpi._from_rollups(kconn, unit, None, lo, hi, None)
        assert fast is not None, (lo, hi)
        assert next(iter(fast.values()), kpi._empty()) == pytest.approx(
            baseline_kpis(kconn, code, lo, hi)), (code, lo, hi)
    kids = {c["unit"]: c["kpis"] for c in children_kpis(kconn, None, lo, hi)}
    for code in (march["g1"][:6], march["g4"][:6]):
        assert kids[code] == pytest.approx(baseline_kpis(kconn, code, lo, hi))


def test_bulk_refresh_gives_the_same_rollups(kconn: Any, march: dict[str, str]) -> None:
    before = unit_kpis(kconn, None, START, END)
    with kconn.cursor() as cur:
        rows = _rollup_rows(kconn)
        # 60 days of keys for every street: more than 31 distinct days → the bulk branch.
        cur.execute("SELECT refresh_kpi_rollup(array_agg(s), array_agg(d)) FROM"
                    " (SELECT DISTINCT street AS s FROM kpi_street_daily) st,"
                    " LATERAL (SELECT generate_series('2019-02-15'::date, '2019-04-15', '1 day')"
                    "::date AS d) dd")
        assert _rollup_rows(kconn) == rows
        # Three scattered days (the per-day branch) of every street: the same rows again.
        cur.execute("SELECT refresh_kpi_rollup(array_agg(s), array_agg(d)) FROM"
                    " (SELECT DISTINCT street AS s FROM kpi_street_daily) st,"
                    " unnest('{2019-03-01,2019-03-20,2019-03-31}'::date[]) d")
        assert _rollup_rows(kconn) == rows
    assert unit_kpis(kconn, None, START, END) == before
    kconn.rollback()
