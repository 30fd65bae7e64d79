"""Bulk loads: secondary indexes rebuilt once at the end, same rows as the ordinary path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cityscreen import db
from etl import pipeline
from etl.load import drop_secondary_indexes
from etl.pipeline import load_file
from tests.etl.conftest import event, timeline, write_csv

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
