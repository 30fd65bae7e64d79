"""Every reject reason, with its line number and raw text in etl_reject; good rows still load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from etl.pipeline import load_file
from tests.etl.conftest import write_jsonl


def _reasons(conn: Any, batch_id: int) -> dict[int, tuple[str, str]]:
    with conn.cursor() as cur:
        cur.execute("SELECT line_no, reason, raw FROM etl_reject WHERE batch_id = %s",
                    (batch_id,))
        return {n: (reason, raw) for n, reason, raw in cur.fetchall()}


def _check(conn: Any, summary: Any, expected: dict[int, str], good: int) -> None:
    got = _reasons(conn, summary.batch_id)
    assert set(got) == set(expected), {n: r for n, (r, _) in got.items()}
    for line, fragment in expected.items():
        assert fragment in got[line][0], (line, got[line][0])
        assert got[line][1], f"line {line}: raw text missing"
    assert summary.rejected == len(expected)
    assert summary.loaded == good
    assert summary.rows_in == good + len(expected)


def test_incident_csv_rejects(conn: Any, tmp_path: Path, uid: str, grid_point: Any) -> None:
    lon, lat, _ = grid_point(1)
    t = "2026-11-20T08:00:00+08:00"
    lines = [
        "event_id,reported_at,category,lon,lat,crs,priority,status,status_at",
        f"{uid}-ok,{t},0101,{lon},{lat},,,,",                       # 2 good
        f",{t},0101,{lon},{lat},,,,",                                # 3 missing event_id
        f"{uid}-3,,0101,{lon},{lat},,,,",                            # 4 missing reported_at
        f"{uid}-4,yesterday,0101,{lon},{lat},,,,",                   # 5 malformed time
        f"{uid}-5,2099-01-01T00:00:00,0101,{lon},{lat},,,,",         # 6 future
        f"{uid}-6,1999-01-01T00:00:00,0101,{lon},{lat},,,,",         # 7 before 2000
        f"{uid}-7,{t},9999,{lon},{lat},,,,",                         # 8 unknown category
        f"{uid}-8,{t},,{lon},{lat},,,,",                             # 9 missing category
        f"{uid}-9,{t},0101,{lon},{lat},utm50,,,",                    # 10 unknown crs
        f"{uid}-10,{t},0101,,,,,,",                                  # 11 no location
        f"{uid}-11,{t},0101,{lon},,,,,",                             # 12 half a point
        f"{uid}-12,{t},0101,east,{lat},,,,",                         # 13 malformed lon
        f"{uid}-13,{t},0101,{lon},95,,,,",                           # 14 lat out of range
        f"{uid}-14,{t},0101,116.4,39.9,,,,",                         # 15 outside the city
        f"{uid}-15,{t},0101,{lon},{lat},,7,,",                       # 16 priority range
        f"{uid}-16,{t},0101,{lon},{lat},,,done,{t}",                 # 17 unknown status
        f"{uid}-17,{t},0101,{lon},{lat},,,closed,",                  # 18 status without time
        f"{uid}-18,{t},0101,{lon},{lat},,,closed,2026-11-19T00:00:00+08:00",  # 19 before report
        f"{uid}-19,{t},0101,{lon}",                                  # 20 wrong field count
    ]
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    s = load_file(conn, "incidents", path)
    _check(conn, s, {
        3: "missing event_id", 4: "missing reported_at", 5: "malformed reported_at",
        6: "in the future", 7: "before 2000", 8: "unknown category '9999'",
        9: "missing category", 10: "unknown crs 'utm50'", 11: "missing lon/lat",
        12: "missing lat", 13: "malformed lon", 14: "lat 95 out of range",
        15: "outside the city", 16: "priority 7 out of range", 17: "unknown status 'done'",
        18: "missing status_at", 19: "status_at is before reported_at",
        20: "malformed CSV",
    }, good=1)


def test_hotline_rejects(conn: Any, tmp_path: Path, uid: str, grid_point: Any) -> None:
    lon, lat, _ = grid_point(2)
    base = {"received_at": "2026-11-20T09:00:00+08:00", "category": "0101", "address": "某路1号"}
    rows: list[Any] = [
        {**base, "ticket_id": f"{uid}-ok"},                                         # 1
        "{broken json",                                                              # 2
        '["an", "array"]',                                                           # 3
        {**base, "ticket_id": f"{uid}-4", "address": None},                          # 4
        {**base, "ticket_id": f"{uid}-5", "intake": "fax"},                          # 5
        {**base, "ticket_id": f"{uid}-6", "satisfaction": 9},                        # 6
        {**base, "ticket_id": f"{uid}-7", "satisfaction": "还行"},                   # 7
        {**base, "ticket_id": f"{uid}-8", "updates": "accepted"},                    # 8
        {**base, "ticket_id": f"{uid}-9",
         "updates": [{"status": "closed", "at": "2026-11-20T10:00:00+08:00"},
                     {"status": "accepted", "at": "2026-11-20T11:00:00+08:00"}]},   # 9
        {**base, "ticket_id": f"{uid}-10", "updates": [{"status": "accepted"}]},     # 10
        {**base, "ticket_id": f"{uid}-11", "lon": lon, "lat": lat, "crs": "mars"},   # 11
        {**base, "ticket_id": f"{uid}-12", "received_at": "2026/11/20 9点"},        # 12
        {**base, "ticket_id": f"{uid}-13", "status": "accepted"},                    # 13
        {**base, "ticket_id": f"{uid}-14", "lon": {"x": 1}, "lat": lat},             # 14
    ]
    s = load_file(conn, "hotline", write_jsonl(tmp_path / "bad.jsonl", rows))
    _check(conn, s, {
        2: "malformed JSON", 3: "not an object", 4: "neither lon/lat nor address",
        5: "unknown intake 'fax'", 6: "satisfaction 9 out of range",
        7: "malformed satisfaction", 8: "malformed updates",
        9: "updates[1]: case is closed", 10: "updates[0]: missing at",
        11: "unknown crs 'mars'", 12: "malformed received_at",
        13: "without updates", 14: "malformed lon",
    }, good=1)


def test_camera_and_alert_rejects(conn: Any, tmp_path: Path, uid: str, grid_point: Any) -> None:
    lon, lat, _ = grid_point(4)
    cams = tmp_path / "cams.csv"
    cams.write_text(
        "camera_id,name,lon,lat,status,at\n"
        f"{uid}-C1,ok,{lon},{lat},online,\n"              # 2 good camera
        f"{uid}-C2,x,{lon},{lat},burning,\n"              # 3 unknown status
        f"{uid}-C3,x,,,online,\n"                          # 4 camera row without location
        f"{uid}-C4,x,117.2,31.8,online,\n"                 # 5 outside the city
        f"{uid}-C1,,,,online,2026-11-20T09:00:00+08:00\n"  # 6 heartbeat: fine
        f"{uid}-C9,,,,online,2026-11-20T09:00:00+08:00\n"  # 7 unknown camera
        f"{uid}-C1,,,,,2026-11-20T09:00:00+08:00\n",       # 8 heartbeat without status
        encoding="utf-8")
    s = load_file(conn, "cameras", cams)
    got = _reasons(conn, s.batch_id)
    assert {n: r for n, (r, _) in got.items()}.keys() == {3, 4, 5, 7, 8}
    assert "unknown status 'burning'" in got[3][0]
    assert "missing lon/lat" in got[4][0]
    assert "outside the city" in got[5][0]
    assert "unknown camera" in got[7][0]
    assert "missing status" in got[8][0]
    assert (s.loaded, s.updated) == (1, 1)

    alerts = write_jsonl(tmp_path / "alerts.jsonl", [
        {"alert_id": f"{uid}-A1", "camera_id": f"{uid}-C1", "at": "2026-11-20T09:30:00+08:00",
         "category": "0703"},
        {"alert_id": f"{uid}-A2", "camera_id": f"{uid}-C1", "at": "2026-11-20T09:30:00+08:00",
         "category": "0703", "confidence": 1.7},
        {"alert_id": f"{uid}-A3", "camera_id": f"{uid}-C9", "at": "2026-11-20T09:30:00+08:00",
         "category": "0703"},
        {"alert_id": f"{uid}-A4", "at": "2026-11-20T09:30:00+08:00", "category": "0703"},
    ])
    s = load_file(conn, "alerts", alerts)
    _check(conn, s, {2: "confidence 1.7 out of range", 3: "unknown camera",
                     4: "missing camera_id"}, good=1)


def test_update_rejects(conn: Any, tmp_path: Path, uid: str, grid_point: Any) -> None:
    lon, lat, _ = grid_point(6)
    inc = tmp_path / "inc.csv"
    inc.write_text("event_id,reported_at,category,lon,lat,status,status_at\n"
                   f"{uid}-1,2026-11-20T08:00:00+08:00,0101,{lon},{lat},closed,"
                   "2026-11-20T12:00:00+08:00\n"
                   f"{uid}-2,2026-11-20T08:00:00+08:00,0101,{lon},{lat},,\n", encoding="utf-8")
    assert load_file(conn, "incidents", inc).loaded == 2
    upd = tmp_path / "upd.csv"
    upd.write_text(
        "source,source_id,status,at,deadline_at\n"
        f"grid_worker,{uid}-2,accepted,2026-11-20T09:00:00+08:00,\n"        # 2 good
        f"grid_worker,{uid}-1,dispatched,2026-11-20T13:00:00+08:00,\n"      # 3 closed → no
        f"grid_worker,{uid}-404,accepted,2026-11-20T09:00:00+08:00,\n"      # 4 unknown case
        f"grid_worker,{uid}-2,teleported,2026-11-20T09:00:00+08:00,\n"      # 5 unknown status
        f"grid_worker,{uid}-2,extended,2026-11-20T10:00:00+08:00,\n"        # 6 no deadline
        f",{uid}-2,accepted,2026-11-20T09:00:00+08:00,\n"                   # 7 missing source
        f"grid_worker,{uid}-2,reported,2026-11-20T11:00:00+08:00,\n",       # 8 backwards
        encoding="utf-8")
    s = load_file(conn, "updates", upd)
    got = {n: r for n, (r, _) in _reasons(conn, s.batch_id).items()}
    assert set(got) == {3, 4, 5, 6, 7, 8}, got
    assert "impossible transition" in got[3] and "closed" in got[3]
    assert f"unknown case grid_worker/{uid}-404" in got[4]
    assert "unknown status 'teleported'" in got[5]
    assert "impossible transition" in got[6] and "deadline_at" in got[6]
    assert "missing source" in got[7]
    assert "impossible transition" in got[8] and "cannot go back" in got[8]
    assert s.updated == 1
