"""CCTV cameras (雪亮工程): camera rows and heartbeats (``camera_id,status,at``), one command.

A row with ``at`` and no coordinates is a heartbeat; a heartbeat for an unknown camera is
rejected. Every other row registers or updates a camera and needs a location in the city.
"""

from __future__ import annotations

from typing import Any

from etl import validate as v
from etl.load import CameraItem, HeartbeatItem

FEED = "cameras"
SOURCE = "cctv"
STATUSES = ("online", "offline", "fault")
STATUS_WORDS = {"在线": "online", "离线": "offline", "故障": "fault"}

COLUMNS: tuple[tuple[str, bool, str], ...] = (
    ("camera_id", True, "camera id (国标编码 or the platform's id)"),
    ("name", False, "display name"),
    ("lon", True, "longitude (camera rows; not heartbeats)"),
    ("lat", True, "latitude"),
    ("crs", False, "wgs84 | cgcs2000 | gcj02 | bd09 (default: --crs)"),
    ("status", False, "online | offline | fault (default online)"),
    ("last_seen", False, "ISO 8601 time the camera was last seen"),
    ("stream_url", False, "video stream URL"),
    ("owner", False, "owning unit"),
    ("at", False, "heartbeat rows: camera_id,status,at"),
)
KNOWN = frozenset(c for c, _, _ in COLUMNS)


def _status(rec: dict[str, Any], *, need: bool = False) -> str:
    raw = v.required(rec, "status") if need else (v.text(rec, "status") or "online")
    status = STATUS_WORDS.get(raw, raw.lower())
    if status not in STATUSES:
        raise v.Reject(f"unknown status {raw!r}; expected online, offline or fault")
    return status


def is_heartbeat(rec: dict[str, Any]) -> bool:
    """A heartbeat carries ``at`` and no location."""
    return v.text(rec, "at") is not None and v.text(rec, "lon") is None \
        and v.text(rec, "lat") is None


def transform(rec: dict[str, Any], ctx: v.Context) -> CameraItem | HeartbeatItem:
    """Validate one camera row or heartbeat."""
    camera_id = v.required(rec, "camera_id")
    if is_heartbeat(rec):
        return HeartbeatItem(0, camera_id, _status(rec, need=True),
                             v.time_field(rec, "at", ctx, need=True))
    point = v.point(rec, ctx)
    if point is None:
        raise v.Reject("missing lon/lat")
    return CameraItem(
        line_no=0, source_id=camera_id, name=v.text(rec, "name"), point=point,
        status=_status(rec), last_seen=v.time_field(rec, "last_seen", ctx),
        stream_url=v.text(rec, "stream_url"), owner=v.text(rec, "owner"),
        attrs=v.extras(rec, KNOWN),
    )
