"""Bulk loads: secondary indexes rebuilt once at the end, new cases copied straight into
`event`; the same rows and counts as the ordinary path."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from cityscreen import db
from etl import load as etl_load
from etl import pipeline
from etl.load import drop_secondary_indexes
from etl.pipeline import load_file
from tests.etl.conftest import event, kill_mid_load, run_cli, timeline, write_csv, write_jsonl
from tests.etl.test_cli import HEADER as CLI_HEADER
from tests.etl.test_cli import _rows as cli_rows
from tests.etl.test_columnar import COMPARED as COL_COMPARED
from tests.etl.test_columnar import HEADER as COL_HEADER
from tests.etl.test_columnar import _rejects as col_rejects
from tests.etl.test_columnar import _rows as col_rows
from tests.etl.test_columnar import _stored as col_stored

HEADER = ["event_id", "reported_at", "category", "lon", "lat", "crs", "status", "status_at"]


def _indexes(conn: Any) -> list[tuple[str, str]]:
    with conn.cursor() as cur:
        cur.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
                    " AND tablename IN ('event', 'event_transition', 'event_hourly')"
                    " ORDER BY 1")
        return cur.fetchall()


def _file(tmp_path: Path, uid: str, grid_point: Any, n: int = 12) -> Path:
    rows = []
    for i in range(n):
        lon, lat, _ = grid_point(i, "gcj02")
        closed = i % 3 == 0
        rows.append([f"{uid}-{i}", f"2026-11-1{i % 5}T0{i % 10}:15:00+08:00", "0101", lon, lat,
                     "gcj02", "closed" if closed else None,
                     f"2026-11-1{i % 5}T2{i % 4}:00:00+08:00" if closed else None])
    return write_csv(tmp_path / "bulk.csv", HEADER, rows)


def test_bulk_path_rebuilds_indexes_and_loads_like_the_ordinary_one(
        conn: Any, tmp_path: Path, uid: str, grid_point: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    before = _indexes(conn)
    assert any(name == "event_grid_prefix" for name, _ in before)
    dropped: list[list[tuple[str, str]]] = []

    def spy(c: Any) -> list[tuple[str, str]]:
        dropped.append(drop_secondary_indexes(c))
        return dropped[-1]

    monkeypatch.setattr(pipeline, "BULK_MIN_ROWS", 1)
    monkeypatch.setattr(pipeline, "existing_events", lambda c, limit: 0)
    monkeypatch.setattr(pipeline, "drop_secondary_indexes", spy)
    path = _file(tmp_path, uid, grid_point)
    first = load_file(conn, "incidents", path)
    assert (first.loaded, first.updated, first.unchanged, first.rejected) == (12, 0, 0, 0)
    assert len(dropped) == 1  # the bulk path ran, on every table it covers
    assert {t for t, _ in dropped[0]} == {"event", "event_hourly"}
    assert _indexes(conn) == before  # every index is back, defined as before
    e = event(conn, "grid_worker", f"{uid}-3")
    assert e["status"] == "closed" and e["closed_at"] == e["status_at"]
    assert e["grid_code"] == grid_point(3)[2]
    assert [k for k, _, _ in timeline(conn, "grid_worker", f"{uid}-3")] == ["reported", "closed"]
    assert [k for k, _, _ in timeline(conn, "grid_worker", f"{uid}-4")] == ["reported"]
    with conn.cursor() as cur:  # the roll-up was refreshed around the dropped indexes
        cur.execute("SELECT n_reported, n_closed FROM event_hourly WHERE grid_code = %s"
                    " AND hour = date_trunc('hour', %s::timestamptz) AND channel = 'grid_worker'"
                    " AND category = '0101'", (e["grid_code"], e["reported_at"]))
        n_reported, n_closed = cur.fetchone()
    assert n_reported >= 1 and n_closed >= 1
    second = load_file(conn, "incidents", path)
    assert (second.loaded, second.updated, second.unchanged) == (0, 0, 12)
    assert _indexes(conn) == before


def test_bulk_needs_a_big_file_and_a_table_no_bigger(conn: Any, tmp_path: Path, uid: str,
                                                     grid_point: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    assert not pipeline._is_bulk(conn, "incidents", pipeline.BULK_MIN_ROWS - 1)
    assert not pipeline._is_bulk(conn, "updates", 10 * pipeline.BULK_MIN_ROWS)
    load_file(conn, "incidents", _file(tmp_path, uid, grid_point, n=3))
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM event")
        held = cur.fetchone()[0]
    assert pipeline._is_bulk(conn, "incidents", max(held, pipeline.BULK_MIN_ROWS))
    monkeypatch.setattr(pipeline, "BULK_MIN_ROWS", 1)
    assert pipeline._is_bulk(conn, "incidents", held)
    assert not pipeline._is_bulk(conn, "incidents", held - 1)  # the table holds more


def test_busy_table_keeps_its_indexes(conn: Any, database_url: str) -> None:
    other = db.connect(database_url)
    try:
        with other.cursor() as cur:
            cur.execute("SELECT 1 FROM event LIMIT 1")  # holds a lock on event until rollback
        before = _indexes(conn)
        with conn.cursor() as cur:
            cur.execute("SELECT current_setting('lock_timeout')")
            timeout = cur.fetchone()[0]
        assert drop_secondary_indexes(conn, lock_wait="200ms") == []
        assert _indexes(conn) == before
        with conn.cursor() as cur:  # the batch's transaction is still usable, as it was
            cur.execute("SELECT current_setting('lock_timeout')")
            assert cur.fetchone()[0] == timeout
    finally:
        other.rollback()
        other.close()


# ------------------------------------------------------------------ direct COPY (bulk loads)

def _bulk(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Make every file a bulk load; returns the outcome of each chunk's direct COPY
    (True = copied, False = a key existed and the chunk was merged instead)."""
    monkeypatch.setattr(pipeline, "BULK_MIN_ROWS", 1)
    monkeypatch.setattr(pipeline, "existing_events", lambda c, limit: 0)
    outcomes: list[bool] = []
    real = etl_load.copy_direct

    def spy(c: Any, chunk: Any) -> bool:
        outcomes.append(real(c, chunk))
        return outcomes[-1]

    monkeypatch.setattr(etl_load, "copy_direct", spy)
    return outcomes


def _counts(s: Any) -> tuple[int, int, int, int, int]:
    return (s.rows_in, s.loaded, s.updated, s.unchanged, s.rejected)


def _hourly_is_exact(conn: Any, prefix: str) -> None:
    """event_hourly holds, for every (grid, hour) the prefix's cases are in, what `event` says."""
    with conn.cursor() as cur:
        cur.execute("""
            WITH k AS (SELECT DISTINCT grid_code g, date_trunc('hour', reported_at) h FROM event
                       WHERE source_id LIKE %s),
            want AS (SELECT e.grid_code, date_trunc('hour', e.reported_at) AS hour, e.source,
                            e.category, count(*)::int AS n,
                            count(*) FILTER (WHERE e.status = 'closed')::int AS closed
                     FROM event e JOIN k ON e.grid_code = k.g
                      AND date_trunc('hour', e.reported_at) = k.h GROUP BY 1, 2, 3, 4),
            have AS (SELECT eh.grid_code, eh.hour, eh.channel, eh.category, eh.n_reported,
                            eh.n_closed FROM event_hourly eh JOIN k ON eh.grid_code = k.g
                      AND eh.hour = k.h)
            SELECT (SELECT count(*) FROM want), (SELECT count(*) FROM
                   ((SELECT * FROM want EXCEPT SELECT * FROM have)
                    UNION ALL (SELECT * FROM have EXCEPT SELECT * FROM want)) d)""",
                    (f"{prefix}-%",))
        keys, differ = cur.fetchone()
    assert keys > 0 and differ == 0


def test_direct_copy_stores_what_the_ordinary_path_stores(
        conn: Any, tmp_path: Path, uid: str, grid_point: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    plain, direct = f"{uid}R", f"{uid}D"
    ordinary = load_file(conn, "incidents",
                         write_csv(tmp_path / "r.csv", COL_HEADER, col_rows(plain, grid_point)),
                         chunk_size=16)
    copied = _bulk(monkeypatch)
    path = write_csv(tmp_path / "d.csv", COL_HEADER, col_rows(direct, grid_point))
    bulk = load_file(conn, "incidents", path, chunk_size=16)
    assert copied == [True, True, True, True]  # 49 rows, chunks of 16: all copied directly
    assert _counts(bulk) == _counts(ordinary) == (49, 43, 0, 0, 6)
    assert col_rejects(conn, bulk.batch_id) == col_rejects(conn, ordinary.batch_id)
    assert col_stored(conn, direct) == col_stored(conn, plain)
    _hourly_is_exact(conn, direct)
    # Loaded again as a bulk load: every chunk finds its keys and is merged: all unchanged.
    copied.clear()
    again = load_file(conn, "incidents", path, chunk_size=16)
    assert copied == [False, False, False, False]
    assert _counts(again) == (49, 0, 0, 43, 6)
    assert col_stored(conn, direct) == col_stored(conn, plain)


def _lifecycle_rows(prefix: str, grid_point: Any, ids: range, hour: int,
                    closed_every: int) -> list[list[Any]]:
    rows = []
    for i in ids:
        lon, lat, _ = grid_point(i)
        closed = i % closed_every == 0
        rows.append([f"{prefix}-{i}", f"2026-11-1{i % 5}T0{i % 10}:15:00+08:00", "0101", lon, lat,
                     "wgs84", "closed" if closed else "dispatched",
                     f"2026-11-1{i % 5}T{hour}:00:00+08:00"])
    return rows


def test_bulk_file_whose_keys_partly_exist(conn: Any, tmp_path: Path, uid: str,
                                           grid_point: Any,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # Cases 0-9 exist already (dispatched at 12:00); the file brings them again: 0-3 at 20:00
    # (newer, two of them closed: updated), 4-7 as they are (unchanged), 8-9 closed at 10:00
    # (older: the state stays, the step joins the timeline: updated), plus new cases 10-29.
    summaries = {}
    for prefix, bulk in ((f"{uid}R", False), (f"{uid}D", True)):
        first = write_csv(tmp_path / f"{prefix}-1.csv", HEADER,
                          _lifecycle_rows(prefix, grid_point, range(10), 12, 10**6))
        assert load_file(conn, "incidents", first).loaded == 10
        rows = (_lifecycle_rows(prefix, grid_point, range(0, 4), 20, 2)
                + _lifecycle_rows(prefix, grid_point, range(4, 8), 12, 10**6)
                + _lifecycle_rows(prefix, grid_point, range(8, 10), 10, 1)
                + _lifecycle_rows(prefix, grid_point, range(10, 30), 18, 3))
        copied = _bulk(monkeypatch) if bulk else []
        summaries[prefix] = load_file(conn, "incidents",
                                      write_csv(tmp_path / f"{prefix}-2.csv", HEADER, rows),
                                      chunk_size=10)
        if bulk:  # the chunk with the existing cases was merged, the others copied
            assert copied == [False, True, True]
    assert _counts(summaries[f"{uid}D"]) == _counts(summaries[f"{uid}R"]) == (30, 20, 6, 4, 0)
    assert col_stored(conn, f"{uid}D") == col_stored(conn, f"{uid}R")
    e = event(conn, "grid_worker", f"{uid}D-8")
    assert e is not None and e["status"] == "dispatched"  # the older update did not win
    _hourly_is_exact(conn, f"{uid}D")


def test_bulk_file_with_a_case_twice(conn: Any, tmp_path: Path, uid: str, grid_point: Any,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # Case 1 comes again in the third chunk, closed later (newer); case 2 comes again with an
    # older state; case 5 twice inside the second chunk (the newer row wins there already).
    def rows(prefix: str) -> list[list[Any]]:
        base = _lifecycle_rows(prefix, grid_point, range(10), 12, 10**6)
        return (base[:4] + base[4:6] + _lifecycle_rows(prefix, grid_point, range(5, 6), 22, 1)
                + base[6:8] + _lifecycle_rows(prefix, grid_point, range(1, 2), 23, 1)
                + _lifecycle_rows(prefix, grid_point, range(2, 3), 10, 1) + base[8:])

    summaries = {}
    for prefix, bulk in ((f"{uid}R", False), (f"{uid}D", True)):
        copied = _bulk(monkeypatch) if bulk else []
        summaries[prefix] = load_file(
            conn, "incidents", write_csv(tmp_path / f"{prefix}.csv", HEADER, rows(prefix)),
            chunk_size=4)
        if bulk:  # chunk 3 holds cases 1 and 2 again: merged; chunks 1, 2 and 4 copied
            assert copied == [True, True, False, True]
    assert _counts(summaries[f"{uid}D"]) == _counts(summaries[f"{uid}R"]) == (13, 10, 2, 1, 0)
    assert col_stored(conn, f"{uid}D") == col_stored(conn, f"{uid}R")
    one = event(conn, "grid_worker", f"{uid}D-1")
    assert one is not None and one["status"] == "closed"
    two = event(conn, "grid_worker", f"{uid}D-2")
    assert two is not None and two["status"] == "dispatched"
    _hourly_is_exact(conn, f"{uid}D")


_BULK_LOADER = """
import sys
from cityscreen import db
from etl import pipeline
pipeline.BULK_MIN_ROWS = 1
pipeline.existing_events = lambda conn, limit: 0
conn = db.connect(sys.argv[1], application_name="cityscreen-writer", timeout_ms=0)
pipeline.load_file(conn, "incidents", sys.argv[2], chunk_size=5000)
conn.commit()
"""


def _writer_query(conn: Any) -> str:
    with conn.cursor() as cur:
        cur.execute("SELECT coalesce(max(query), '') FROM pg_stat_activity"
                    " WHERE datname = current_database()"
                    " AND application_name = 'cityscreen-writer'")
        return str(cur.fetchone()[0])


def test_kill_9_during_direct_copy_leaves_nothing(database_url: str, tmp_path: Path,
                                                  uid: str, grid_point: Any) -> None:
    n = 30_000
    path = write_csv(tmp_path / "big.csv", CLI_HEADER, cli_rows(uid, grid_point, n))
    watch = db.connect(database_url)
    watch.autocommit = True
    try:
        before = _indexes(watch)
        proc = subprocess.Popen([sys.executable, "-c", _BULK_LOADER, database_url, str(path)],
                                cwd=Path(__file__).parents[2], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        kill_mid_load(proc, watch, lambda: _writer_query(watch).startswith("COPY event ("))
        with watch.cursor() as cur:
            cur.execute("SELECT count(*) FROM event WHERE source_id LIKE %s", (f"{uid}-%",))
            assert cur.fetchone()[0] == 0
            cur.execute("SELECT count(*) FROM etl_batch WHERE file = %s", (str(path),))
            assert cur.fetchone()[0] == 0
        assert _indexes(watch) == before  # the dropped indexes came back with the rollback
        rerun = run_cli("load", "incidents", str(path), "--json")
        assert rerun.returncode == 0, rerun.stderr
        out = json.loads(rerun.stdout)
        assert (out["rows_in"], out["loaded"], out["rejected"]) == (n, n, 0)
    finally:
        watch.close()


def test_refresh_with_many_keys_writes_what_few_keys_write(conn: Any, tmp_path: Path, uid: str,
                                                           grid_point: Any) -> None:
    # refresh_event_hourly has a branch for bulk loads (> 20,000 keys, 025: no ON CONFLICT):
    # the same keys padded with 20,001 keys that hold no case must give the same rows.
    load_file(conn, "incidents", _file(tmp_path, uid, grid_point, n=40))
    with conn.cursor() as cur:
        cur.execute("SELECT DISTINCT grid_code, date_trunc('hour', reported_at) FROM event"
                    " WHERE source_id LIKE %s", (f"{uid}-%",))
        keys = cur.fetchall()
        grids, hours = [k[0] for k in keys], [k[1] for k in keys]
        snapshot = ("SELECT eh.* FROM event_hourly eh JOIN unnest(%s::text[], %s::timestamptz[])"
                    " AS k(g, h) ON eh.grid_code = k.g AND eh.hour = k.h ORDER BY 1, 2, 3, 4")
        cur.execute(snapshot, (grids, hours))
        few = cur.fetchall()
        assert sum(r[4] for r in few) >= 40
        cur.execute("UPDATE event_hourly SET n_reported = 0 FROM unnest(%s::text[],"
                    " %s::timestamptz[]) AS k(g, h) WHERE grid_code = k.g AND hour = k.h",
                    (grids, hours))
        pad = 20_001
        cur.execute("SELECT refresh_event_hourly(%s, %s)",
                    (grids + [f"none{i}" for i in range(pad)], hours + [hours[0]] * pad))
        cur.execute(snapshot, (grids, hours))
        assert cur.fetchall() == few


def _stored_any(conn: Any, source: str, prefix: str) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(f"SELECT substr(source_id, {len(prefix) + 1}), {COL_COMPARED} FROM event"
                    " WHERE source = %s AND source_id LIKE %s ORDER BY 1", (source, f"{prefix}-%"))
        events = cur.fetchall()
        cur.execute("SELECT substr(e.source_id, %s), t.at, t.kind, t.from_status, t.to_status,"
                    " t.actor, t.dept, t.note FROM event_transition t"
                    " JOIN event e ON e.id = t.event_id WHERE e.source = %s"
                    " AND e.source_id LIKE %s ORDER BY 1, 2, 3",
                    (len(prefix) + 1, source, f"{prefix}-%"))
        return events + cur.fetchall()


def test_direct_copy_of_hotline_tickets_with_updates(conn: Any, tmp_path: Path, uid: str,
                                                     grid_point: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # The per-row path (JSON Lines): updates, an address without a location, satisfaction, a
    # reject; then the same file again (merged: unchanged).
    def tickets(prefix: str) -> list[Any]:
        lon, lat, _ = grid_point(7, "bd09")
        return [
            {"ticket_id": f"{prefix}-1", "received_at": "2026-11-20T09:12:00+08:00",
             "intake": "phone", "category": "0703", "address": "樊城区人民路12号", "lon": lon,
             "lat": lat, "crs": "bd09", "dept": "樊城区城管局", "status": "dispatched",
             "updates": [{"status": "dispatched", "at": "2026-11-20T09:20:00+08:00"},
                         {"status": "accepted", "at": "2026-11-20T09:13:10+08:00"}],
             "satisfaction": 5, "caller_district": "樊城"},
            {"ticket_id": f"{prefix}-2", "received_at": "2026-11-20T10:05:00+08:00",
             "intake": "微信", "category": "0101", "address": "檀溪路88号",
             "updates": [{"status": "accepted", "at": "2026-11-20T10:06:00+08:00"},
                         {"status": "closed", "at": "2026-11-20T16:00:00+08:00"}],
             "satisfaction": "基本满意"},
            {"ticket_id": f"{prefix}-3", "received_at": "not a time", "category": "0101"},
        ]

    summaries = {}
    for prefix, bulk in ((f"{uid}R", False), (f"{uid}D", True)):
        copied = _bulk(monkeypatch) if bulk else []
        path = write_jsonl(tmp_path / f"{prefix}.jsonl", tickets(prefix))
        summaries[prefix] = load_file(conn, "hotline", path)
        if bulk:
            assert copied == [True]
            copied.clear()
            again = load_file(conn, "hotline", path)
            assert copied == [False] and _counts(again) == (3, 0, 0, 2, 1)
    assert _counts(summaries[f"{uid}D"]) == _counts(summaries[f"{uid}R"]) == (3, 2, 0, 0, 1)
    stored = _stored_any(conn, "hotline_12345", f"{uid}D")
    assert stored == _stored_any(conn, "hotline_12345", f"{uid}R") and len(stored) == 2 + 6


def test_refresh_by_id_range_writes_what_the_key_refresh_writes(conn: Any, tmp_path: Path,
                                                                uid: str,
                                                                grid_point: Any) -> None:
    # refresh_event_hourly_ids (046, bulk loads) recomputes the keys holding a case of an id
    # range: the same rows as refresh_event_hourly(those keys), other categories of a touched
    # key included, and no other key of the same hours.
    lon, lat, grid = grid_point(7)
    other = tmp_path / "other.csv"
    write_csv(other, HEADER, [
        [f"{uid}-same-key", "2026-11-10T05:20:00+08:00", "0102", lon, lat, "wgs84", None, None],
        [f"{uid}-own-key", "2026-11-10T06:20:00+08:00", "0102", lon, lat, "wgs84", None, None]])
    load_file(conn, "incidents", other)
    path = write_csv(tmp_path / "range.csv", HEADER, [
        [f"{uid}-a", "2026-11-10T05:40:00+08:00", "0101", lon, lat, "wgs84", "closed",
         "2026-11-10T09:00:00+08:00"],
        [f"{uid}-b", "2026-11-10T07:10:00+08:00", "0101", lon, lat, "wgs84", None, None]])
    load_file(conn, "incidents", path)
    with conn.cursor() as cur:
        cur.execute("SELECT min(id), max(id) + 1 FROM event WHERE source_id IN (%s, %s)",
                    (f"{uid}-a", f"{uid}-b"))
        first, end = cur.fetchone()
        snapshot = ("SELECT * FROM event_hourly WHERE grid_code = %s"
                    " AND hour >= '2026-11-10T05:00:00+08:00'"
                    " AND hour < '2026-11-10T08:00:00+08:00'"
                    " ORDER BY 1, 2, 3, 4")
        cur.execute(snapshot, (grid,))
        right = cur.fetchall()
        assert len(right) == 4  # 05h: 0101 and 0102, 06h: 0102 (not touched), 07h: 0101
        cur.execute("UPDATE event_hourly SET n_reported = 99 WHERE grid_code = %s", (grid,))
        cur.execute("SELECT refresh_event_hourly_ids(%s, %s)", (first, end))
        assert cur.fetchone()[0] == 3
        cur.execute(snapshot, (grid,))
        got = cur.fetchall()
        six = datetime.fromisoformat("2026-11-10T06:00:00+08:00")
        assert [r[4] for r in got if r[1] == six] == [99]
        assert [r for r in got if r[1] != six] == [r for r in right if r[1] != six]
        # An empty hour range: nothing to do.
        cur.execute("SELECT refresh_event_hourly_ids(%s, %s)", (end + 10**9, end + 10**9 + 5))
        assert cur.fetchone()[0] == 0


def test_bulk_load_collects_garbage_less_often_and_restores_the_threshold() -> None:
    import gc

    before = gc.get_threshold()
    with pipeline._few_collections(True):
        assert gc.get_threshold()[0] == pipeline.BULK_GC_THRESHOLD
    assert gc.get_threshold() == before
    with pytest.raises(RuntimeError), pipeline._few_collections(True):
        raise RuntimeError("a failed load")
    assert gc.get_threshold() == before
    with pipeline._few_collections(False):
        assert gc.get_threshold() == before
