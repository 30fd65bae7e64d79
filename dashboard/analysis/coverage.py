"""Cameras and 视频联动: coverage per grid, blind spots, offline alerts, nearest cameras.

A camera counts as online when its feed says ``online`` and its last heartbeat is no older
than ``settings.camera_offline_minutes`` (a camera that stopped reporting is offline whatever
its last status said). Distances are geodesic metres (PostGIS geography).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from cityscreen.db import Connection
from cityscreen.settings import get_settings
from dashboard.analysis import sql

Row = dict[str, Any]

COVER_RADIUS_M = 100.0
NEAR_RADIUS_M = 300.0
BLIND_SPOT_DECILE = 0.1
COMPASS_ZH = ("北", "东北", "东", "东南", "南", "西南", "西", "西北")
COMPASS_EN = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")


def _stale_before(now: datetime | None, offline_minutes: int | None) -> tuple[datetime, datetime]:
    settings = get_settings()
    now = now or datetime.now(settings.tz)
    minutes = settings.camera_offline_minutes if offline_minutes is None else offline_minutes
    return now, now - timedelta(minutes=minutes)


def compass(bearing_deg: float | None, lang: str = "zh") -> str | None:
    """Eight-point compass name of a bearing (0° = north, clockwise): 北, 东北, … 西北."""
    if bearing_deg is None or math.isnan(bearing_deg):
        return None
    names = COMPASS_ZH if lang == "zh" else COMPASS_EN
    return names[round((bearing_deg % 360) / 45) % 8]


def grid_coverage(conn: Connection, start: datetime, end: datetime, *, unit: str | None = None,
                  category: str | None = None, channel: str | None = None,
                  radius_m: float = COVER_RADIUS_M, now: datetime | None = None,
                  offline_minutes: int | None = None) -> dict[str, Any]:
    """Per grid: cameras, online cameras, located events and the share within ``radius_m``.

    Returns ``{"params", "totals", "blind_spot_threshold", "items"}``; each item has
    ``grid_code, name, cameras, online, events, covered, share`` (covered / events, None
    without events) and ``blind_spot``: the grid is in the top decile of events (at least as
    many as the grid ranked at the 10 % mark, and more than none) and has no online camera.
    Items are sorted blind spots first, then by events.
    """
    now, stale_before = _stale_before(now, offline_minutes)
    params = {"prefix": sql.unit_prefix(unit), "start": start, "end": end,
              "category": sql.check_category(category), "channel": sql.check_channel(channel),
              "radius": float(radius_m), "stale_before": stale_before}
    items = sql.rows(conn, sql.grid_coverage_sql(params["category"], params["channel"]), params)
    threshold = blind_spot_threshold([r["events"] for r in items])
    for r in items:
        r["share"] = round(r["covered"] / r["events"], 4) if r["events"] else None
        r["blind_spot"] = bool(threshold and r["events"] >= threshold and r["online"] == 0)
    items.sort(key=lambda r: (not r["blind_spot"], -r["events"], r["grid_code"]))
    events = sum(r["events"] for r in items)
    covered = sum(r["covered"] for r in items)
    totals = {"grids": len(items), "cameras": sum(r["cameras"] for r in items),
              "online": sum(r["online"] for r in items), "events": events, "covered": covered,
              "share": round(covered / events, 4) if events else None,
              "blind_spots": sum(r["blind_spot"] for r in items)}
    return {"params": {"unit": unit, "start": start.isoformat(), "end": end.isoformat(),
                       "category": category, "channel": channel, "radius_m": radius_m,
                       "stale_before": stale_before.isoformat()},
            "totals": totals, "blind_spot_threshold": threshold, "items": items}


def blind_spot_threshold(events: list[int], decile: float = BLIND_SPOT_DECILE) -> int | None:
    """Events of the grid at the top-decile mark (ties included); None when no grid has any."""
    ranked = sorted((e for e in events), reverse=True)
    if not ranked or ranked[0] == 0:
        return None
    k = max(1, math.ceil(len(ranked) * decile))
    return max(ranked[k - 1], 1)


def blind_spots(conn: Connection, start: datetime, end: datetime, **options: Any) -> list[Row]:
    """Only the blind-spot grids of ``grid_coverage``, busiest first."""
    return [r for r in grid_coverage(conn, start, end, **options)["items"] if r["blind_spot"]]


def offline_cameras(conn: Connection, *, unit: str | None = None, now: datetime | None = None,
                    offline_minutes: int | None = None, limit: int = 500) -> list[Row]:
    """Camera alerts: offline or faulty by status, or silent past the offline interval.

    Each row: ``id, source, source_id, name, status, grid_code, last_seen, stream_url, owner,
    reason`` ("offline" / "fault" / "stale"), ``minutes_since_seen``, ``lon, lat``; the
    longest-silent first.
    """
    now, stale_before = _stale_before(now, offline_minutes)
    return sql.rows(conn, sql.OFFLINE_CAMERAS, {"prefix": sql.unit_prefix(unit), "now": now,
                                                "stale_before": stale_before,
                                                "limit": int(limit)})


def nearest_cameras(conn: Connection, event_id: int | None = None, *, lon: float | None = None,
                    lat: float | None = None, radius_m: float = NEAR_RADIUS_M,
                    limit: int = 20, now: datetime | None = None,
                    offline_minutes: int | None = None) -> list[Row]:
    """Cameras within ``radius_m`` of a case (or of lon/lat), nearest first.

    Each row: ``id, source, source_id, name, status, online`` (status and heartbeat),
    ``last_seen, stream_url, grid_code, distance_m`` (geodesic, rounded to 0.1 m),
    ``bearing_deg`` (from the case to the camera, 0 = north, clockwise), ``direction``
    (北/东北/…), ``direction_en``, ``lon, lat``. A case without a location has none.
    """
    now, stale_before = _stale_before(now, offline_minutes)
    if event_id is not None:
        point, params = sql.EVENT_POINT, {"event_id": int(event_id)}
    elif lon is not None and lat is not None:
        point, params = sql.GIVEN_POINT, {"lon": float(lon), "lat": float(lat)}
    else:
        raise ValueError("give an event id or lon and lat")
    found = sql.rows(conn, sql.NEAREST_CAMERAS.format(point=point),
                     {**params, "radius": float(radius_m), "stale_before": stale_before,
                      "limit": int(limit)})
    for r in found:
        r["distance_m"] = round(float(r["distance_m"]), 1)
        bearing = r["bearing_deg"]
        r["bearing_deg"] = None if bearing is None else round(float(bearing), 1)
        r["direction"] = compass(r["bearing_deg"])
        r["direction_en"] = compass(r["bearing_deg"], "en")
    return found
