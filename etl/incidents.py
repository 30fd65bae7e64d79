"""Grid-worker incidents (网格员上报): CSV or JSON Lines → cases of channel ``grid_worker``."""

from __future__ import annotations

from typing import Any

from etl import validate as v
from etl.hotline import apply_updates
from etl.lifecycle import STATES
from etl.load import EventItem

FEED = "incidents"
SOURCE = "grid_worker"
LOCATION_OPTIONAL = False

# (column, required, meaning) — shown by `cityscreen load incidents --help`.
COLUMNS: tuple[tuple[str, bool, str], ...] = (
    ("event_id", True, "unique id in the grid-worker system"),
    ("reported_at", True, "ISO 8601; without offset = CITYSCREEN_TZ"),
    ("category", True, "subcategory code (category.code), e.g. 0703"),
    ("lon", True, "longitude, decimal degrees"),
    ("lat", True, "latitude, decimal degrees"),
    ("crs", False, "wgs84 | cgcs2000 | gcj02 | bd09 (default: --crs)"),
    ("description", False, "free text"),
    ("reporter", False, "grid worker id"),
    ("grid_code", False, "grid the worker believes it is in (mismatch noted in attrs)"),
    ("priority", False, "1 (urgent) … 4 (low); default from the category"),
    ("status", False, "current state: reported, accepted, dispatched, resolved, verified, closed"),
    ("status_at", False, "time of that state (required with a status other than reported)"),
    ("dept", False, "department handling it"),
    ("deadline_at", False, "deadline; default computed from the category"),
    ("updates", False, "JSON Lines: the case's status updates, a list of {status, at, dept, "
                       "actor, note, deadline_at} (status then follows the last one)"),
)
KNOWN = frozenset(c for c, _, _ in COLUMNS)


def status_of(rec: dict[str, Any], ctx: v.Context, reported_at: Any) -> tuple[str, Any]:
    """The row's current (status, status_at); reported at reported_at when it has none."""
    status = v.text(rec, "status")
    if status is None:
        return "reported", reported_at
    status = status.lower()
    if status not in STATES:
        raise v.Reject(f"unknown status {status!r}; expected one of {', '.join(STATES)}")
    status_at = v.time_field(rec, "status_at", ctx)
    if status_at is None:
        if status != "reported":
            raise v.Reject("missing status_at (needed with a status other than reported)")
        status_at = reported_at
    if status_at < reported_at:
        raise v.Reject("status_at is before reported_at")
    return status, status_at


def transform(rec: dict[str, Any], ctx: v.Context) -> EventItem:
    """Validate one incident row and turn it into a case."""
    source_id = v.required(rec, "event_id")
    reported_at = v.time_field(rec, "reported_at", ctx, need=True)
    cat = v.category(v.required(rec, "category"), ctx)
    point = v.point(rec, ctx)
    if point is None:
        raise v.Reject("missing lon/lat")
    updates = rec.get("updates")
    status, status_at = ("reported", reported_at) if updates else status_of(rec, ctx,
                                                                            reported_at)
    item = EventItem(
        line_no=0, source_id=source_id, category=cat.code, major=cat.major,
        priority=v.int_field(rec, "priority", 1, 4) or cat.priority,
        reported_at=reported_at, status=status, status_at=status_at, point=point,
        claimed_grid=v.text(rec, "grid_code"), description=v.text(rec, "description"),
        reporter=v.text(rec, "reporter"), dept=v.text(rec, "dept"),
        deadline_at=v.time_field(rec, "deadline_at", ctx, future_ok=True),
        attrs=v.extras(rec, KNOWN),
    )
    if updates:
        _replay(item, rec, updates, ctx)
    elif status != "reported":
        item.stamps[status] = status_at
        item.transitions.append((status_at, status, None, status, None, item.dept, None))
    return item


def _replay(item: EventItem, rec: dict[str, Any], updates: Any, ctx: v.Context) -> None:
    """Embedded updates (as in hotline tickets) set the state; a status column must agree."""
    dept = item.dept
    apply_updates(item, updates, ctx, start="reported_at")
    item.dept = dept or item.dept
    status = v.text(rec, "status")
    if status is not None and status.lower() != item.status:
        raise v.Reject(f"status {status!r} disagrees with the updates (last: {item.status!r})")
