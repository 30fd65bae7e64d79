"""Column-wise incident CSV chunks store exactly what the per-row path stores, rejects included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from etl import pipeline
from etl.pipeline import load_file
from tests.etl.conftest import write_csv

HEADER = ["event_id", "reported_at", "category", "lon", "lat", "crs", "description", "reporter",
          "grid_code", "priority", "status", "status_at", "dept"]
COMPARED = ("category, major, priority, round(ST_X(geom)::numeric, 9), round(ST_Y(geom)::numeric,"
            " 9), grid_code, address, description, reporter, intake, reported_at, accepted_at,"
            " dispatched_at, resolved_at, verified_at, closed_at, deadline_at,"
            " deadline_provisional, status, status_at, dept, reopened_count, extended_count,"
            " escalation_level, satisfaction, attrs")


def _rows(prefix: str, grid_point: Any) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for i in range(40):
        crs = ("wgs84", "gcj02", "bd09", "cgcs2000", "")[i % 5]
        lon, lat, grid = grid_point(i, crs or "wgs84")
        naive = i % 3 == 0
        rep = f"2026-11-{10 + i % 9:02d}{' ' if i % 4 else 'T'}0{i % 10}:1{i % 6}:0{i % 7}"
        status = ("", "closed", "dispatched", "reported", "CLOSED")[i % 5]
        at = f"2026-11-{10 + i % 9:02d}T2{i % 4}:00:00+08:00" if status else ""
        rows.append([f"{prefix}-{i}", rep if naive else rep + "+08:00", "0101" if i % 2 else "0703",
                     lon, lat, crs, f'垃圾, "满溢"\n第{i}处' if i % 7 == 0 else "路面",
                     f"GW{i:02d}" if i % 6 else "", grid if i % 8 else "420600000000000",
                     "" if i % 3 else str(1 + i % 4), status, at, "城管" if status else ""])
    lon, lat, _ = grid_point(1)
    t = "2026-11-20T08:00:00+08:00"
    rows += [  # rows the column-wise checks hand to the per-row path (rejects and odd forms)
        [f"{prefix}-b1", "yesterday", "0101", lon, lat, "", "", "", "", "", "", "", ""],
        [f"{prefix}-b2", t, "9999", lon, lat, "", "", "", "", "", "", "", ""],
        [f"{prefix}-b3", t, "0101", 116.4, 39.9, "", "", "", "", "", "", "", ""],
        [f"{prefix}-b4", t, "0101", lon, lat, "utm50", "", "", "", "", "", "", ""],
        [f"{prefix}-b5", t, "0101", lon, lat, "", "", "", "", "2.0", "", "", ""],
        [f"{prefix}-b6", "2026-11-20T08:00", "0101", lon, lat, "", "", "", "", "", "", "", ""],
        [f"{prefix}-b7", t, "0101", lon, lat, "", "", "", "", "", "closed", "", ""],
        [f"{prefix}-b8", t, "0101", lon, lat, "", "", "", "", "9", "", "", ""],
        [f"{prefix}-b9", "2026-11-20T08:00:00.5+08:00", "0101", f" {lon} ", lat, "GCJ02", "",
         "", "", "", "", "", ""],
    ]
    return rows


def _stored(conn: Any, prefix: str) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(f"SELECT substr(source_id, {len(prefix) + 1}), {COMPARED} FROM event"
                    " WHERE source = 'grid_worker' AND source_id LIKE %s ORDER BY 1",
                    (f"{prefix}-%",))
        events = cur.fetchall()
        cur.execute("SELECT substr(e.source_id, %s), t.at, t.kind, t.from_status, t.to_status,"
                    " t.actor, t.dept, t.note FROM event_transition t"
                    " JOIN event e ON e.id = t.event_id WHERE e.source_id LIKE %s"
                    " ORDER BY 1, 2, 3", (len(prefix) + 1, f"{prefix}-%"))
        return events + cur.fetchall()


def _rejects(conn: Any, batch_id: int) -> list[tuple[int, str]]:
    with conn.cursor() as cur:
        cur.execute("SELECT line_no, reason FROM etl_reject WHERE batch_id = %s ORDER BY 1",
                    (batch_id,))
        return [(n, r.split(":")[0]) for n, r in cur.fetchall()]


def test_columnar_chunks_store_what_the_per_row_path_stores(
        conn: Any, tmp_path: Path, uid: str, grid_point: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    split = []
    real = pipeline.columnar_mod.split_incidents

    def spy(*args: Any) -> Any:
        split.append(real(*args))
        return split[-1]

    monkeypatch.setattr(pipeline.columnar_mod, "split_incidents", spy)
    summaries = {}
    for prefix, columnar in ((f"{uid}R", False), (f"{uid}C", True)):
        monkeypatch.setattr(pipeline, "COLUMNAR", columnar)
        path = write_csv(tmp_path / f"{prefix}.csv", HEADER, _rows(prefix, grid_point))
        summaries[prefix] = load_file(conn, "incidents", path, chunk_size=16)
    per_row, by_column = summaries[f"{uid}R"], summaries[f"{uid}C"]
    assert split and all(s is not None for s in split)
    assert sum(s.events[1] for s in split) >= 30  # most rows went column-wise
    assert sum(len(s.slow) for s in split) == 7  # the odd ones per row
    assert (by_column.loaded, by_column.rejected) == (per_row.loaded, per_row.rejected)
    assert per_row.rejected == 6
    assert _rejects(conn, by_column.batch_id) == _rejects(conn, per_row.batch_id)
    assert _stored(conn, f"{uid}C") == _stored(conn, f"{uid}R")
    again = load_file(conn, "incidents", tmp_path / f"{uid}C.csv", chunk_size=16)
    assert again.unchanged == by_column.loaded and again.loaded == 0


def test_duplicate_ids_in_a_chunk_go_per_row(conn: Any, tmp_path: Path, uid: str,
                                             grid_point: Any) -> None:
    lon, lat, _ = grid_point(2)
    path = write_csv(tmp_path / "dup.csv", [*HEADER[:5], "status", "status_at"], [
        [uid, "2026-11-20T08:00:00+08:00", "0101", lon, lat, "closed",
         "2026-11-20T12:00:00+08:00"],
        [uid, "2026-11-20T08:00:00+08:00", "0101", lon, lat, "dispatched",
         "2026-11-20T09:00:00+08:00"]])
    s = load_file(conn, "incidents", path)
    assert (s.loaded, s.unchanged) == (1, 1)
    with conn.cursor() as cur:
        cur.execute("SELECT status FROM event WHERE source = 'grid_worker' AND source_id = %s",
                    (uid,))
        assert cur.fetchone()[0] == "closed"  # the newer row wins
