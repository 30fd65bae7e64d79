"""Idempotent reloads, out-of-order updates and the hourly roll-up staying exact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from etl.pipeline import load_file
from tests.etl.conftest import event, timeline, write_csv


def _incidents(tmp_path: Path, uid: str, grid_point: Any, n: int = 6) -> Path:
    rows = []
    for i in range(n):
        lon, lat, _ = grid_point(i, "gcj02")
        rows.append([f"{uid}-{i}", f"2026-11-1{i % 3}T0{i}:30:00+08:00", "0101", lon, lat,
                     "gcj02", "closed" if i % 2 else None,
                     f"2026-11-1{i % 3}T2{i % 4}:00:00+08:00" if i % 2 else None, "x"])
    return write_csv(tmp_path / "inc.csv", ["event_id", "reported_at", "category", "lon", "lat",
                                            "crs", "status", "status_at", "note"], rows)


def _counts(conn: Any, uid: str) -> tuple[int, int]:
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM event WHERE source_id LIKE %s", (f"{uid}-%",))
        events = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM event_transition t JOIN event e ON e.id = t.event_id"
                    " WHERE e.source_id LIKE %s", (f"{uid}-%",))
        return events, cur.fetchone()[0]


def test_same_file_twice_is_all_unchanged(conn: Any, tmp_path: Path, uid: str,
                                          grid_point: Any) -> None:
    path = _incidents(tmp_path, uid, grid_point)
    first = load_file(conn, "incidents", path)
    assert (first.loaded, first.rejected) == (6, 0)
    before = _counts(conn, uid)
    with conn.cursor() as cur:
        cur.execute("SELECT updated_at FROM event WHERE source_id LIKE %s ORDER BY id",
                    (f"{uid}-%",))
        stamps = cur.fetchall()
    second = load_file(conn, "incidents", path)
    assert (second.rows_in, second.loaded, second.updated, second.unchanged,
            second.rejected) == (6, 0, 0, 6, 0)
    assert _counts(conn, uid) == before
    with conn.cursor() as cur:
        cur.execute("SELECT updated_at FROM event WHERE source_id LIKE %s ORDER BY id",
                    (f"{uid}-%",))
        assert cur.fetchall() == stamps  # not even rewritten


def test_newer_export_updates_older_does_not(conn: Any, tmp_path: Path, uid: str,
                                             grid_point: Any) -> None:
    lon, lat, _ = grid_point(9)
    header = ["event_id", "reported_at", "category", "lon", "lat", "status", "status_at"]
    t0 = "2026-11-20T08:00:00+08:00"
    write_csv(tmp_path / "a.csv", header, [[uid, t0, "0101", lon, lat, "dispatched",
                                            "2026-11-20T10:00:00+08:00"]])
    write_csv(tmp_path / "b.csv", header, [[uid, t0, "0101", lon, lat, "accepted",
                                            "2026-11-20T09:00:00+08:00"]])
    write_csv(tmp_path / "c.csv", header, [[uid, t0, "0101", lon, lat, "closed",
                                            "2026-11-20T11:00:00+08:00"]])
    assert load_file(conn, "incidents", tmp_path / "a.csv").loaded == 1
    older = load_file(conn, "incidents", tmp_path / "b.csv")
    assert older.updated == 1  # its step went into the timeline ...
    e = event(conn, "grid_worker", uid)
    assert e["status"] == "dispatched"  # ... but the newer state stands
    assert e["accepted_at"] is None
    newer = load_file(conn, "incidents", tmp_path / "c.csv")
    assert newer.updated == 1
    e = event(conn, "grid_worker", uid)
    assert e["status"] == "closed" and e["closed_at"].hour == 11
    assert [k for k, _, _ in timeline(conn, "grid_worker", uid)] == [
        "reported", "accepted", "dispatched", "closed"]


def test_out_of_order_updates(conn: Any, tmp_path: Path, uid: str, grid_point: Any) -> None:
    lon, lat, _ = grid_point(10)
    write_csv(tmp_path / "i.csv", ["event_id", "reported_at", "category", "lon", "lat"],
              [[uid, "2026-11-20T08:00:00+08:00", "0101", lon, lat]])
    load_file(conn, "incidents", tmp_path / "i.csv")
    header = ["source", "source_id", "status", "at", "dept", "deadline_at"]
    # In one file, out of order: applied in time order.
    write_csv(tmp_path / "u1.csv", header, [
        ["grid_worker", uid, "dispatched", "2026-11-20T09:00:00+08:00", "城管", None],
        ["grid_worker", uid, "accepted", "2026-11-20T08:30:00+08:00", None, None],
        ["grid_worker", uid, "extended", "2026-11-20T09:30:00+08:00", None,
         "2026-11-30T18:00:00+08:00"],
        ["grid_worker", uid, "escalated", "2026-11-20T09:40:00+08:00", None, None],
    ])
    s = load_file(conn, "updates", tmp_path / "u1.csv")
    assert (s.updated, s.rejected) == (4, 0), s.rejects
    e = event(conn, "grid_worker", uid)
    assert e["status"] == "dispatched" and e["dept"] == "城管"
    assert e["extended_count"] == 1 and e["escalation_level"] == 1
    assert e["deadline_at"].isoformat() == "2026-11-30T18:00:00+08:00"
    # A later file brings news older than the current state: timeline only.
    write_csv(tmp_path / "u2.csv", header, [
        ["grid_worker", uid, "resolved", "2026-11-20T08:45:00+08:00", None, None]])
    s = load_file(conn, "updates", tmp_path / "u2.csv")
    assert (s.updated, s.rejected) == (1, 0)
    e = event(conn, "grid_worker", uid)
    assert e["status"] == "dispatched" and e["resolved_at"] is None
    assert e["status_at"].isoformat() == "2026-11-20T09:40:00+08:00"
    assert ("resolved", None, "resolved") in timeline(conn, "grid_worker", uid)
    # Reloading both files: exact repeats, nothing changes, no double counting.
    again = load_file(conn, "updates", tmp_path / "u1.csv")
    assert (again.updated, again.unchanged, again.rejected) == (0, 4, 0)
    assert event(conn, "grid_worker", uid)["escalation_level"] == 1
    # Closing, then an impossible step, then reopening.
    write_csv(tmp_path / "u3.csv", header, [
        ["grid_worker", uid, "closed", "2026-11-21T10:00:00+08:00", None, None],
        ["grid_worker", uid, "dispatched", "2026-11-21T11:00:00+08:00", None, None],
        ["grid_worker", uid, "reopened", "2026-11-21T12:00:00+08:00", None, None],
    ])
    s = load_file(conn, "updates", tmp_path / "u3.csv")
    assert (s.updated, s.rejected) == (2, 1)
    e = event(conn, "grid_worker", uid)
    assert e["status"] == "dispatched" and e["reopened_count"] == 1 and e["closed_at"] is None


def test_rollup_equals_recompute_for_touched_keys(conn: Any, tmp_path: Path, uid: str,
                                                  grid_point: Any) -> None:
    path = _incidents(tmp_path, uid, grid_point)
    load_file(conn, "incidents", path)
    # Move one case to another grid and reporting hour: both old and new keys must be right.
    lon, lat, _ = grid_point(40)
    write_csv(tmp_path / "move.csv", ["event_id", "reported_at", "category", "lon", "lat",
                                      "status", "status_at"],
              [[f"{uid}-0", "2026-11-10T05:30:00+08:00", "0101", lon, lat, "accepted",
                "2026-11-10T23:00:00+08:00"]])
    assert load_file(conn, "incidents", tmp_path / "move.csv").updated == 1
    with conn.cursor() as cur:
        cur.execute("""
            WITH keys AS (SELECT DISTINCT coalesce(grid_code, '') g,
                                 date_trunc('hour', reported_at) h
                          FROM event WHERE source_id LIKE %s
                          UNION SELECT %s, '2026-11-10T00:00:00+08:00'::timestamptz),
            truth AS (
                SELECT coalesce(e.grid_code, '') g, date_trunc('hour', e.reported_at) h,
                       e.source, e.category, count(*) n,
                       count(*) FILTER (WHERE e.status = 'closed') c
                FROM event e JOIN keys k ON coalesce(e.grid_code, '') = k.g
                 AND date_trunc('hour', e.reported_at) = k.h
                GROUP BY 1, 2, 3, 4)
            SELECT (SELECT array_agg(t ORDER BY t) FROM
                      (SELECT (g, h, source, category, n, c)::text t FROM truth) x),
                   (SELECT array_agg(t ORDER BY t) FROM
                      (SELECT (eh.grid_code, eh.hour, eh.channel, eh.category, eh.n_reported,
                               eh.n_closed)::text t
                       FROM event_hourly eh JOIN keys k ON eh.grid_code = k.g
                        AND eh.hour = k.h) y)
        """, (f"{uid}-%", grid_point(0)[2]))
        truth, rollup = cur.fetchone()
    assert truth == rollup
    assert truth  # something was compared


def test_commit_bumps_data_version_and_notifies(uid: str, grid_point: Any) -> None:
    """A committed batch bumps data_version to this batch and NOTIFYs cityscreen_data."""
    import os
    import select

    from cityscreen import db
    from etl.pipeline import load_records

    listener = db.connect(os.environ["DATABASE_URL"])
    listener.autocommit = True
    try:
        with listener.cursor() as cur:
            cur.execute("LISTEN cityscreen_data")
        lon, lat, _ = grid_point(12)
        with db.transaction() as conn:
            s = load_records(conn, "incidents", [{
                "event_id": uid, "reported_at": "2026-11-20T08:00:00+08:00",
                "category": "0101", "lon": lon, "lat": lat}])
        with listener.cursor() as cur:
            cur.execute("SELECT version, last_batch_id FROM data_version")
            version, last_batch = cur.fetchone()
        # psycopg2 collects notifications while running a query on the connection.
        if not listener.notifies:
            select.select([listener], [], [], 10)
            listener.poll()
        payloads = [n.payload for n in listener.notifies if n.channel == "cityscreen_data"]
        assert str(version) in payloads
        assert last_batch >= s.batch_id
    finally:
        listener.close()
