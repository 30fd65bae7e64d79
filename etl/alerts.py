"""Video AI alerts: JSON Lines; each alert takes its camera's position and becomes a case of
channel ``video_ai``. An alert from an unknown camera (or one without a location) is rejected."""

from __future__ import annotations

from typing import Any

from etl import validate as v
from etl.load import EventItem

FEED = "alerts"
SOURCE = "video_ai"
LOCATION_OPTIONAL = False

COLUMNS: tuple[tuple[str, bool, str], ...] = (
    ("alert_id", True, "alert id in the video platform"),
    ("camera_id", True, "camera that raised it (must be loaded: `load cameras`)"),
    ("at", True, "ISO 8601 time of the detection"),
    ("category", True, "subcategory code (category.code)"),
    ("confidence", False, "model confidence 0–1"),
    ("snapshot_url", False, "snapshot image URL"),
)
KNOWN = frozenset(c for c, _, _ in COLUMNS)


def transform(rec: dict[str, Any], ctx: v.Context) -> EventItem:
    """Validate one alert; its location is filled from the camera at load time."""
    source_id = v.required(rec, "alert_id")
    camera_id = v.required(rec, "camera_id")
    at = v.time_field(rec, "at", ctx, need=True)
    cat = v.category(v.required(rec, "category"), ctx)
    attrs = v.extras(rec, KNOWN)
    confidence = v.float_field(rec, "confidence", 0, 1)
    if confidence is not None:
        attrs["confidence"] = confidence
    if v.text(rec, "snapshot_url"):
        attrs["snapshot_url"] = v.text(rec, "snapshot_url")
    return EventItem(
        line_no=0, source_id=source_id, category=cat.code, major=cat.major,
        priority=cat.priority, reported_at=at, status="reported", status_at=at,
        camera_id=camera_id, reporter=f"camera:{camera_id}", attrs=attrs,
    )
