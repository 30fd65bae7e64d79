"""Camera coverage, blind spots, offline alerts and nearest cameras against hand-computed cases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pyproj import Geod

from dashboard.analysis import coverage
from tests.analysis.conftest import (
    CELL,
    CITY,
    WINDOW_END,
    WINDOW_START,
    X0,
    Y0,
    grid_code,
    insert_camera,
    insert_event,
)

NOW = WINDOW_END
GEOD = Geod(ellps="WGS84")


def centre(row: int, col: int) -> tuple[float, float]:
    return X0 + (col + 0.5) * CELL, Y0 + (row + 0.5) * CELL


@pytest.fixture
def scene(conn, lattice):
    """Cameras and cases on the lattice; see the comments for what each one tests."""
    t = WINDOW_START + timedelta(hours=1)
    cams = {}
    x, y = centre(0, 0)
    cams["fresh"] = insert_camera(conn, x, y, grid_code(0, 0), "online",
                                  NOW - timedelta(minutes=5), stream_url="rtsp://cam/fresh")
    for _ in range(4):                      # ~55 m north of the fresh camera: covered
        insert_event(conn, x, y + 0.0005, grid_code(0, 0), t)
    for _ in range(6):                      # ~333 m north: not covered
        insert_event(conn, x, y + 0.003, grid_code(0, 0), t)
    insert_event(conn, x, y, grid_code(0, 0), WINDOW_END)            # outside the window
    x, y = centre(0, 1)
    cams["stale"] = insert_camera(conn, x, y, grid_code(0, 1), "online",
                                  NOW - timedelta(hours=2))   # silent 2 h: offline
    for _ in range(12):
        insert_event(conn, x, y + 0.0004, grid_code(0, 1), t)
    x, y = centre(0, 2)
    cams["fault"] = insert_camera(conn, x, y, grid_code(0, 2), "fault", NOW)
    for _ in range(11):
        insert_event(conn, x, y, grid_code(0, 2), t)
    x, y = centre(5, 5)
    cams["unknown"] = insert_camera(conn, x, y, grid_code(5, 5), "online", None)
    for _ in range(2):
        insert_event(conn, x + 0.0003, y, grid_code(5, 5), t)
    x, y = centre(9, 9)
    for _ in range(9):
        insert_event(conn, x, y, grid_code(9, 9), t)
    for col in range(10):                   # row 2: five grids with 4 cases, five with 1
        x, y = centre(2, col)
        for _ in range(4 if col < 5 else 1):
            insert_event(conn, x, y, grid_code(2, col), t)
    insert_event(conn, None, None, None, t)  # no location: not on the coverage map
    return cams


def test_grid_coverage_shares_and_blind_spots(conn, scene):
    result = coverage.grid_coverage(conn, WINDOW_START, WINDOW_END, unit=CITY, now=NOW,
                                    offline_minutes=30)
    by = {r["grid_code"]: r for r in result["items"]}
    a = by[grid_code(0, 0)]
    assert (a["cameras"], a["online"], a["events"], a["covered"]) == (1, 1, 10, 4)
    assert a["share"] == 0.4 and not a["blind_spot"]
    stale = by[grid_code(0, 1)]
    assert (stale["cameras"], stale["online"], stale["covered"]) == (1, 0, 0)
    assert by[grid_code(0, 2)]["online"] == 0 and by[grid_code(0, 2)]["covered"] == 0
    unknown = by[grid_code(5, 5)]   # online without any heartbeat yet: trusted
    assert (unknown["online"], unknown["events"], unknown["covered"]) == (1, 2, 2)
    assert by[grid_code(3, 3)]["share"] is None
    # per-grid events sorted: 12 11 10 9 4 4 4 4 4 2 | 1 …: the 10th of 100 grids has 2
    assert result["blind_spot_threshold"] == 2
    blind = {r["grid_code"] for r in result["items"] if r["blind_spot"]}
    assert blind == {grid_code(0, 1), grid_code(0, 2), grid_code(9, 9),
                     *(grid_code(2, c) for c in range(5))}
    assert [r["grid_code"] for r in result["items"][:3]] == [
        grid_code(0, 1), grid_code(0, 2), grid_code(9, 9)]
    assert result["totals"]["events"] == 10 + 12 + 11 + 2 + 9 + 25
    assert result["totals"]["covered"] == 6 and result["totals"]["blind_spots"] == 8
    assert coverage.blind_spots(conn, WINDOW_START, WINDOW_END, unit=CITY, now=NOW)[0][
        "grid_code"] == grid_code(0, 1)
    # with a longer offline interval the silent camera is online again and covers its grid
    lenient = coverage.grid_coverage(conn, WINDOW_START, WINDOW_END, unit=CITY, now=NOW,
                                     offline_minutes=180)
    row = next(r for r in lenient["items"] if r["grid_code"] == grid_code(0, 1))
    assert (row["online"], row["covered"], row["blind_spot"]) == (1, 12, False)


def test_blind_spot_threshold_by_hand():
    assert coverage.blind_spot_threshold([0, 0, 0]) is None
    assert coverage.blind_spot_threshold([5] + [0] * 19) == 1      # 2nd of 20 has none
    assert coverage.blind_spot_threshold(list(range(1, 21))) == 19  # top 2 of 20
    assert coverage.blind_spot_threshold([3, 7]) == 7


def test_offline_camera_alerts(conn, scene):
    alerts = coverage.offline_cameras(conn, unit=CITY, now=NOW, offline_minutes=30)
    by = {a["id"]: a for a in alerts}
    assert set(by) == {scene["stale"], scene["fault"]}
    assert by[scene["stale"]]["reason"] == "stale"
    assert by[scene["stale"]]["minutes_since_seen"] == 120.0
    assert by[scene["fault"]]["reason"] == "fault"
    assert alerts[0]["id"] == scene["stale"]   # the longest silent first


def test_nearest_cameras_distance_bearing_status(conn, lattice):
    x, y = centre(4, 4)
    t = WINDOW_START
    case = insert_event(conn, x, y, grid_code(4, 4), t)
    north = insert_camera(conn, x, y + 0.001, grid_code(4, 4), "online", NOW,
                          stream_url="rtsp://cam/north")
    south_east = insert_camera(conn, x + 0.0015, y - 0.001, grid_code(4, 4), "offline", NOW)
    insert_camera(conn, x - 0.004, y, grid_code(4, 3), "online", NOW)   # ~341 m west: too far
    found = coverage.nearest_cameras(conn, case, now=NOW)
    assert [r["id"] for r in found] == [north, south_east]
    for row, (cx, cy) in zip(found, ((x, y + 0.001), (x + 0.0015, y - 0.001)), strict=True):
        az, _, dist = GEOD.inv(x, y, cx, cy)
        assert row["distance_m"] == pytest.approx(dist, abs=0.1)
        assert row["bearing_deg"] == pytest.approx(az % 360, abs=0.1)
    assert found[0]["direction"] == "北" and found[0]["direction_en"] == "N"
    assert found[1]["direction"] == "东南"
    assert found[0]["online"] is True and found[0]["stream_url"] == "rtsp://cam/north"
    assert found[1]["status"] == "offline" and found[1]["online"] is False
    assert 110 < found[0]["distance_m"] < 112
    # by coordinates, and with a larger radius the western camera appears
    wide = coverage.nearest_cameras(conn, lon=x, lat=y, radius_m=400, now=NOW)
    assert len(wide) == 3 and wide[2]["direction"] == "西"
    nowhere = insert_event(conn, None, None, None, t)
    assert coverage.nearest_cameras(conn, nowhere) == []
    with pytest.raises(ValueError):
        coverage.nearest_cameras(conn)


def test_compass_names():
    assert [coverage.compass(b) for b in (0, 22.4, 22.6, 90, 180, 225, 292.6, 337.6, 359.9)] == [
        "北", "北", "东北", "东", "南", "西南", "西北", "北", "北"]
    assert coverage.compass(None) is None
