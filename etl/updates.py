"""Status updates for cases of any channel: CSV or JSON Lines.

An update older than the case's latest applied one is recorded in the timeline but does not
change the current state; an impossible transition (per `etl.lifecycle`) is rejected; an exact
repeat is unchanged.
"""

from __future__ import annotations

from typing import Any

from etl import lifecycle
from etl import validate as v
from etl.load import UpdateItem

FEED = "updates"
SOURCE = None  # each row names its channel

COLUMNS: tuple[tuple[str, bool, str], ...] = (
    ("source", True, "channel: grid_worker | hotline_12345 | video_ai | …"),
    ("source_id", True, "the case's id in that channel (alias: event_id)"),
    ("status", True, "new state (accepted, dispatched, resolved, verified, closed) or "
                     "returned | extended | escalated | reopened"),
    ("at", True, "ISO 8601 time of the update"),
    ("dept", False, "department now handling it"),
    ("actor", False, "who did it"),
    ("note", False, "free text"),
    ("deadline_at", False, "new deadline (required for extended)"),
    ("to_status", False, "target state for returned / reopened"),
)
KNOWN = frozenset({*(c for c, _, _ in COLUMNS), "event_id"})
KINDS = frozenset(lifecycle.STATES + lifecycle.KINDS)


def transform(rec: dict[str, Any], ctx: v.Context) -> UpdateItem:
    """Validate one status update."""
    source = v.required(rec, "source")
    source_id = v.text(rec, "source_id") or v.text(rec, "event_id")
    if source_id is None:
        raise v.Reject("missing source_id")
    kind = v.required(rec, "status").lower()
    if kind not in KINDS:
        raise v.Reject(f"unknown status {kind!r}; expected one of "
                       f"{', '.join(lifecycle.STATES + lifecycle.KINDS)}")
    to_status = v.text(rec, "to_status")
    if to_status is not None and to_status.lower() not in lifecycle.STATES:
        raise v.Reject(f"unknown to_status {to_status!r}")
    return UpdateItem(
        line_no=0, source=source, source_id=source_id, kind=kind,
        at=v.time_field(rec, "at", ctx, need=True), dept=v.text(rec, "dept"),
        actor=v.text(rec, "actor"), note=v.text(rec, "note"),
        deadline_at=v.time_field(rec, "deadline_at", ctx, future_ok=True),
        to_status=to_status.lower() if to_status else None,
    )
