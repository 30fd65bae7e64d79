"""Each feed's happy path through the real pipeline into the session PostGIS."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from etl.pipeline import load_file, load_records
from tests.etl.conftest import event, rejects_of, timeline, write_csv, write_jsonl

EXAMPLES = Path(__file__).resolve().parents[2] / "etl" / "examples"
INC_HEADER = ["event_id", "reported_at", "category", "lon", "lat", "crs", "description",
              "reporter", "grid_code", "status", "status_at", "dept", "weather"]


def test_incidents_csv_all_crs_converted_and_assigned(conn: Any, tmp_path: Path, uid: str,
                                                      grid_point: Any) -> None:
    rows = []
    expected = {}
    for i, crs in enumerate(("wgs84", "cgcs2000", "gcj02", "bd09")):
        lon, lat, grid = grid_point(i, crs)
        rows.append([f"{uid}-{i}", f"2026-11-20T08:0{i}:00+08:00", "0101", lon, lat, crs,
                     "垃圾", "GW01", None, None, None, None, "晴"])
        expected[f"{uid}-{i}"] = (grid_point(i)[0], grid_point(i)[1], grid)
    path = write_csv(tmp_path / "incidents.csv", INC_HEADER, rows)
    s = load_file(conn, "incidents", path)
    assert (s.rows_in, s.loaded, s.updated, s.unchanged, s.rejected) == (4, 4, 0, 0, 0)
    for sid, (lon, lat, grid) in expected.items():
        e = event(conn, "grid_worker", sid)
        assert e["grid_code"] == grid
        assert e["lon"] == pytest.approx(lon, abs=1e-7)
        assert e["lat"] == pytest.approx(lat, abs=1e-7)
        assert e["major"] == "01" and e["status"] == "reported"
        assert e["attrs"]["weather"] == "晴"
        assert e["deadline_at"] is not None  # from the category's rule
        assert timeline(conn, "grid_worker", sid) == [("reported", None, "reported")]


def test_incidents_jsonl_with_status_and_naive_local_time(conn: Any, tmp_path: Path, uid: str,
                                                          grid_point: Any) -> None:
    lon, lat, grid = grid_point(5)
    path = write_jsonl(tmp_path / "i.jsonl", [{
        "event_id": f"{uid}-1", "reported_at": "2026-11-20 08:00:00", "category": "0101",
        "lon": lon, "lat": lat, "status": "dispatched", "status_at": "2026-11-20 09:00:00",
        "dept": "城管", "grid_code": "420600000000000"}])
    s = load_file(conn, "incidents", path)
    assert s.loaded == 1
    e = event(conn, "grid_worker", f"{uid}-1")
    assert e["reported_at"].isoformat() == "2026-11-20T08:00:00+08:00"  # naive = Asia/Shanghai
    assert e["status"] == "dispatched" and e["dispatched_at"] == e["status_at"]
    assert e["attrs"]["grid_code_mismatch"] is True
    assert e["attrs"]["grid_code_reported"] == "420600000000000"
    assert e["grid_code"] == grid
    assert [k for k, _, _ in timeline(conn, "grid_worker", f"{uid}-1")] == ["reported",
                                                                           "dispatched"]


def test_hotline_updates_satisfaction_and_address_only(conn: Any, tmp_path: Path, uid: str,
                                                       grid_point: Any) -> None:
    lon, lat, grid = grid_point(7, "bd09")
    path = write_jsonl(tmp_path / "h.jsonl", [
        {"ticket_id": f"{uid}-1", "received_at": "2026-11-20T09:12:00+08:00", "intake": "phone",
         "category": "0703", "address": "樊城区人民路12号", "lon": lon, "lat": lat, "crs": "bd09",
         "dept": "樊城区城管局", "deadline_at": "2026-11-21T09:12:00+08:00",
         "status": "dispatched",
         "updates": [{"status": "dispatched", "at": "2026-11-20T09:20:00+08:00"},
                     {"status": "accepted", "at": "2026-11-20T09:13:10+08:00"}],
         "satisfaction": 5, "caller_district": "樊城"},
        {"ticket_id": f"{uid}-2", "received_at": "2026-11-20T10:05:00+08:00", "intake": "微信",
         "category": "0101", "address": "檀溪路88号",
         "updates": [{"status": "accepted", "at": "2026-11-20T10:06:00+08:00"},
                     {"status": "closed", "at": "2026-11-20T16:00:00+08:00"}],
         "satisfaction": "基本满意"},
    ])
    s = load_file(conn, "hotline", path)
    assert (s.loaded, s.rejected) == (2, 0), s.rejects
    one = event(conn, "hotline_12345", f"{uid}-1")
    assert one["grid_code"] == grid and one["status"] == "dispatched"
    assert one["accepted_at"].isoformat() == "2026-11-20T09:13:10+08:00"
    assert one["deadline_at"].isoformat() == "2026-11-21T09:12:00+08:00"
    assert one["satisfaction"] == 5 and one["intake"] == "phone"
    assert one["attrs"]["caller_district"] == "樊城"
    assert [t[0] for t in timeline(conn, "hotline_12345", f"{uid}-1")] == [
        "reported", "accepted", "dispatched"]
    two = event(conn, "hotline_12345", f"{uid}-2")
    assert two["geom"] is None and two["grid_code"] is None  # kept without a location
    assert two["status"] == "closed" and two["satisfaction"] == 4 and two["intake"] == "wechat"
    with conn.cursor() as cur:
        cur.execute("SELECT n_reported, n_closed, n_rated, n_satisfied FROM event_hourly"
                    " WHERE grid_code = '' AND hour = '2026-11-20T10:00:00+08:00'"
                    " AND channel = 'hotline_12345' AND category = '0101'")
        n_rep, n_closed, n_rated, n_sat = cur.fetchone()
    assert n_rep >= 1 and n_closed >= 1 and n_rated >= 1 and n_sat >= 1


def test_incidents_jsonl_with_embedded_updates(conn: Any, tmp_path: Path, uid: str,
                                              grid_point: Any) -> None:
    lon, lat, grid = grid_point(11)
    base = {"reported_at": "2026-11-20T08:00:00+08:00", "category": "0101", "lon": lon,
            "lat": lat}
    path = write_jsonl(tmp_path / "i.jsonl", [
        {**base, "event_id": f"{uid}-1", "updates": [
            {"status": "accepted", "at": "2026-11-20T08:05:00+08:00"},
            {"status": "dispatched", "at": "2026-11-20T08:30:00+08:00", "dept": "城管"},
            {"status": "escalated", "at": "2026-11-21T09:00:00+08:00", "actor": "督办"},
            {"status": "resolved", "at": "2026-11-21T10:00:00+08:00"},
            {"status": "closed", "at": "2026-11-21T12:00:00+08:00"}]},
        {**base, "event_id": f"{uid}-2", "status": "closed",
         "updates": [{"status": "accepted", "at": "2026-11-20T08:05:00+08:00"}]},
        {**base, "event_id": f"{uid}-3",
         "updates": [{"status": "closed", "at": "2026-11-19T08:05:00+08:00"}]},
    ])
    s = load_file(conn, "incidents", path)
    assert (s.loaded, s.rejected) == (1, 2), s.rejects
    assert dict(s.rejects) == {
        2: "status 'closed' disagrees with the updates (last: 'accepted')",
        3: "updates[0]: at is before reported_at"}
    e = event(conn, "grid_worker", f"{uid}-1")
    assert e["grid_code"] == grid and e["status"] == "closed" and e["dept"] == "城管"
    assert e["accepted_at"].isoformat() == "2026-11-20T08:05:00+08:00"
    assert e["closed_at"] == e["status_at"] and e["escalation_level"] == 1
    assert [k for k, _, _ in timeline(conn, "grid_worker", f"{uid}-1")] == [
        "reported", "accepted", "dispatched", "escalated", "resolved", "closed"]
    assert load_file(conn, "incidents", path).unchanged == 1  # a reload changes nothing


def test_open311_with_mapping(conn: Any, tmp_path: Path, uid: str, grid_point: Any) -> None:
    lon, lat, grid = grid_point(11)
    reqs = [
        {"service_request_id": f"{uid}-1", "status": "open", "service_code": "SW",
         "service_name": "Garbage", "requested_datetime": "2026-11-20T08:00:00+08:00",
         "lat": lat, "long": lon, "address": "x", "agency_responsible": "环卫所"},
        {"service_request_id": f"{uid}-2", "status": "closed", "service_code": "PK",
         "requested_datetime": "2026-11-19T08:00:00+08:00",
         "updated_datetime": "2026-11-19T12:00:00+08:00", "address": "中原路6号"},
        {"service_request_id": f"{uid}-3", "status": "open", "service_code": "NOPE",
         "requested_datetime": "2026-11-19T08:00:00+08:00", "address": "y"},
    ]
    path = tmp_path / "requests.json"
    path.write_text(json.dumps(reqs), encoding="utf-8")
    mapping = tmp_path / "map.csv"
    mapping.write_text("service_code,category\nSW,0101\nPK,0703\n", encoding="utf-8")
    s = load_file(conn, "hotline", path, fmt="open311", mapping=mapping)
    assert (s.loaded, s.rejected) == (2, 1)
    assert "unknown service_code 'NOPE'" in rejects_of(conn, s.batch_id)[3]
    one = event(conn, "hotline_12345", f"{uid}-1")
    assert one["category"] == "0101" and one["grid_code"] == grid and one["dept"] == "环卫所"
    assert one["attrs"]["service_name"] == "Garbage"
    two = event(conn, "hotline_12345", f"{uid}-2")
    assert two["status"] == "closed" and two["closed_at"].hour == 12 and two["geom"] is None


def test_cameras_heartbeats_and_alerts(conn: Any, tmp_path: Path, uid: str,
                                       grid_point: Any) -> None:
    lon, lat, grid = grid_point(20, "gcj02")
    cams = write_csv(tmp_path / "cameras.csv",
                     ["camera_id", "name", "lon", "lat", "crs", "status", "last_seen", "pole"],
                     [[f"{uid}-C1", "路口东", lon, lat, "gcj02", "online",
                       "2026-11-20T08:00:00+08:00", "P7"]])
    s = load_file(conn, "cameras", cams)
    assert s.loaded == 1
    beats = write_csv(tmp_path / "heartbeats.csv", ["camera_id", "status", "at"], [
        [f"{uid}-C1", "offline", "2026-11-20T09:00:00+08:00"],
        [f"{uid}-C1", "online", "2026-11-20T08:30:00+08:00"],  # older: must not win
        [f"{uid}-NOPE", "online", "2026-11-20T09:00:00+08:00"],
    ])
    s = load_file(conn, "cameras", beats)
    assert (s.updated, s.unchanged, s.rejected) == (1, 1, 1)
    assert "unknown camera" in rejects_of(conn, s.batch_id)[4]
    with conn.cursor() as cur:
        cur.execute("SELECT status, last_seen, grid_code, attrs FROM camera"
                    " WHERE source_id = %s", (f"{uid}-C1",))
        status, last_seen, cam_grid, attrs = cur.fetchone()
    assert status == "offline" and last_seen.hour == 9 and cam_grid == grid
    assert attrs == {"pole": "P7"}

    alerts = write_jsonl(tmp_path / "alerts.jsonl", [
        {"alert_id": f"{uid}-A1", "camera_id": f"{uid}-C1", "at": "2026-11-20T09:30:00+08:00",
         "category": "0703", "confidence": 0.9, "snapshot_url": "http://x/1.jpg"},
        {"alert_id": f"{uid}-A2", "camera_id": f"{uid}-NOPE", "at": "2026-11-20T09:30:00+08:00",
         "category": "0703"},
    ])
    s = load_file(conn, "alerts", alerts)
    assert (s.loaded, s.rejected) == (1, 1)
    assert "unknown camera" in rejects_of(conn, s.batch_id)[2]
    a = event(conn, "video_ai", f"{uid}-A1")
    assert a["grid_code"] == grid and a["attrs"]["confidence"] == 0.9
    assert a["lon"] == pytest.approx(grid_point(20)[0], abs=1e-7)


def test_examples_load_cleanly(conn: Any) -> None:
    """Every example file is valid against the demo city (cameras before alerts)."""
    runs = [("incidents", "incidents.csv", {}), ("hotline", "hotline.jsonl", {}),
            ("hotline", "open311.json",
             {"fmt": "open311", "mapping": EXAMPLES / "open311_mapping.csv"}),
            ("cameras", "cameras.csv", {}), ("cameras", "heartbeats.csv", {}),
            ("updates", "updates.csv", {}), ("alerts", "alerts.jsonl", {})]
    for feed, name, kw in runs:
        s = load_file(conn, feed, EXAMPLES / name, **kw)
        assert s.rejected == 0, (name, s.rejects)
        assert s.rows_in > 0


def test_load_records_api_dicts_and_raw_lines(conn: Any, uid: str, grid_point: Any) -> None:
    lon, lat, _ = grid_point(3)
    good = {"event_id": f"{uid}-1", "reported_at": "2026-11-20T08:00:00+08:00",
            "category": "0101", "lon": lon, "lat": lat}
    line = json.dumps({**good, "event_id": f"{uid}-2"})
    s = load_records(conn, "incidents", [good, line, "{not json"], source_name="test")
    assert (s.rows_in, s.loaded, s.rejected) == (3, 2, 1)
    assert rejects_of(conn, s.batch_id)[3].startswith("malformed JSON")
    assert s.as_json()["batch_id"] == s.batch_id


def test_redrawn_grids_are_seen_by_the_next_batch(conn: Any, uid: str, grid_point: Any) -> None:
    """The in-process grid assigner is reused across batches but rebuilt when grids change."""
    lon, lat, grid = grid_point(33)
    row = {"reported_at": "2026-11-20T08:00:00+08:00", "category": "0101", "lon": lon, "lat": lat}
    assert load_records(conn, "incidents", [{**row, "event_id": f"{uid}-1"}]).loaded == 1
    with conn.cursor() as cur:  # move the grid far away (rolled back after the test)
        cur.execute("UPDATE admin_unit SET geom = ST_Translate(geom, 5, 0) WHERE code = %s",
                    (grid,))
    s = load_records(conn, "incidents", [{**row, "event_id": f"{uid}-2"}])
    assert (s.loaded, s.rejected) == (0, 1)
    assert "outside the city" in s.rejects[0][1]


def test_bare_carriage_returns_in_text_load_and_reject_intact(conn: Any, uid: str,
                                                              grid_point: Any) -> None:
    """A lone CR inside a field went into the COPY text unquoted and ended the row early."""
    lon, lat, _ = grid_point(4)
    good = {"event_id": f"{uid}-cr", "reported_at": "2026-11-20T08:00:00+08:00",
            "category": "0101", "lon": lon, "lat": lat, "description": "井盖\r缺失\r\n两处"}
    s = load_records(conn, "incidents", [good, "0\r0"], source_name="test")
    assert (s.loaded, s.rejected) == (1, 1)
    with conn.cursor() as cur:
        cur.execute("SELECT description FROM event WHERE source_id = %s", (f"{uid}-cr",))
        assert cur.fetchone()[0] == "井盖\r缺失\r\n两处"
    assert 2 in rejects_of(conn, s.batch_id)
