"""12345 hotline tickets: JSON Lines (with embedded ``updates``) or Open311 GeoReport v2 JSON.

Both become cases of channel ``hotline_12345``. A ticket without coordinates but with an
address is kept without a location (counted, listed, not on the map).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from etl import lifecycle
from etl import validate as v
from etl.load import EventItem

FEED = "hotline"
SOURCE = "hotline_12345"
LOCATION_OPTIONAL = True

COLUMNS: tuple[tuple[str, bool, str], ...] = (
    ("ticket_id", True, "ticket number, e.g. XY20261124000123"),
    ("received_at", True, "ISO 8601; without offset = CITYSCREEN_TZ"),
    ("category", True, "subcategory code (category.code)"),
    ("intake", False, "phone | web | app | wechat | other (电话/网站/微信/其他 accepted)"),
    ("address", False, "street address; required when lon/lat are absent"),
    ("lon", False, "longitude (often bd09 or gcj02: say so in crs)"),
    ("lat", False, "latitude"),
    ("crs", False, "wgs84 | cgcs2000 | gcj02 | bd09 (default: --crs)"),
    ("description", False, "the caller's complaint"),
    ("dept", False, "department the ticket is assigned to"),
    ("deadline_at", False, "deadline; default computed from the category"),
    ("status", False, "current state (default: the last update's)"),
    ("updates", False, "list of {status, at, dept, actor, note, deadline_at, to_status}"),
    ("satisfaction", False, "callback rating 1–5, or 满意 / 基本满意 / 不满意"),
)
KNOWN = frozenset(c for c, _, _ in COLUMNS)

OPEN311_COLUMNS: tuple[tuple[str, bool, str], ...] = (
    ("service_request_id", True, "request id"),
    ("requested_datetime", True, "ISO 8601"),
    ("service_code", True, "mapped to our category by --mapping FILE"),
    ("status", False, "open | closed"),
    ("updated_datetime", False, "time of the current status"),
    ("expected_datetime", False, "deadline"),
    ("service_name", False, "kept in attrs"),
    ("description", False, "text"),
    ("address", False, "required when lat/long are absent"),
    ("lat", False, "latitude (WGS-84 unless --crs)"),
    ("long", False, "longitude"),
    ("agency_responsible", False, "department"),
)
OPEN311_KNOWN = frozenset(c for c, _, _ in OPEN311_COLUMNS)

INTAKES = {
    "phone": "phone", "电话": "phone", "web": "web", "网站": "web", "网络": "web",
    "app": "app", "wechat": "wechat", "微信": "wechat", "other": "other", "其他": "other",
}
SATISFACTION_WORDS = {"满意": 5, "基本满意": 4, "不满意": 1}


def satisfaction(rec: dict[str, Any]) -> int | None:
    """Callback rating 1–5 (words mapped: 满意 5, 基本满意 4, 不满意 1)."""
    word = v.text(rec, "satisfaction")
    if word is None:
        return None
    if word in SATISFACTION_WORDS:
        return SATISFACTION_WORDS[word]
    return v.int_field(rec, "satisfaction", 1, 5)


def _intake(rec: dict[str, Any]) -> str | None:
    raw = v.text(rec, "intake")
    if raw is None:
        return None
    intake = INTAKES.get(raw.lower())
    if intake is None:
        raise v.Reject(f"unknown intake {raw!r}; expected phone, web, app, wechat or other")
    return intake


def _location(rec: dict[str, Any], ctx: v.Context, address: str | None, **keys: str
              ) -> tuple[float, float, str] | None:
    point = v.point(rec, ctx, **keys)
    if point is None and address is None:
        raise v.Reject("missing location: neither lon/lat nor address")
    return point


def apply_updates(item: EventItem, updates: Any, ctx: v.Context,
                  start: str = "received_at") -> None:
    """Replay a ticket's embedded updates through the lifecycle rules onto the case.

    ``start`` names the case's first time in reject reasons (incidents: reported_at).
    """
    if not isinstance(updates, list):
        raise v.Reject("malformed updates: expected a list")
    parsed = []
    for i, upd in enumerate(updates):
        if not isinstance(upd, dict):
            raise v.Reject(f"malformed updates[{i}]: expected an object")
        try:
            kind = v.required(upd, "status").lower()
            at = v.time_field(upd, "at", ctx, need=True)
            deadline = v.time_field(upd, "deadline_at", ctx, future_ok=True)
        except v.Reject as exc:
            raise v.Reject(f"updates[{i}]: {exc}") from None
        parsed.append((at, i, kind, deadline, upd))
    parsed.sort(key=lambda p: (p[0], p[1]))
    state = "reported"
    for at, i, kind, deadline, upd in parsed:
        if at < item.reported_at:
            raise v.Reject(f"updates[{i}]: at is before {start}")
        out = lifecycle.check_transition(state, kind, to_status=v.text(upd, "to_status"),
                                         deadline_at=deadline, current_deadline=item.deadline_at)
        if not out.ok:
            raise v.Reject(f"updates[{i}]: {out.reason}")
        dept = v.text(upd, "dept")
        item.transitions.append((at, kind, state, out.status, v.text(upd, "actor"), dept,
                                 v.text(upd, "note")))
        for col in out.clear:
            item.stamps.pop(col.removesuffix("_at"), None)
        if out.status != state or kind in lifecycle.STATES:
            item.stamps.setdefault(out.status, at)
        if out.counter == "extended_count":
            item.extended_count += 1
            item.deadline_at = deadline
        elif out.counter == "reopened_count":
            item.reopened_count += 1
        elif out.counter == "escalation_level":
            item.escalation_level += 1
        state = out.status
        item.status, item.status_at = state, at
        item.dept = dept or item.dept
    item.stamps.pop("reported", None)


def transform(rec: dict[str, Any], ctx: v.Context) -> EventItem:
    """Validate one hotline ticket and turn it into a case."""
    source_id = v.required(rec, "ticket_id")
    received = v.time_field(rec, "received_at", ctx, need=True)
    cat = v.category(v.required(rec, "category"), ctx)
    address = v.text(rec, "address")
    item = EventItem(
        line_no=0, source_id=source_id, category=cat.code, major=cat.major,
        priority=cat.priority, reported_at=received, status="reported", status_at=received,
        point=_location(rec, ctx, address), location_optional=True, address=address,
        description=v.text(rec, "description"), intake=_intake(rec), dept=v.text(rec, "dept"),
        deadline_at=v.time_field(rec, "deadline_at", ctx, future_ok=True),
        satisfaction=satisfaction(rec),
        attrs=v.extras(rec, KNOWN),
    )
    dept = item.dept
    if rec.get("updates"):
        apply_updates(item, rec["updates"], ctx)
    item.dept = dept or item.dept
    status = v.text(rec, "status")
    if status is not None:
        status = status.lower()
        if status not in lifecycle.STATES:
            raise v.Reject(f"unknown status {status!r}; expected one of "
                           f"{', '.join(lifecycle.STATES)}")
        if status != item.status:
            if not item.transitions and status != "reported":
                raise v.Reject(f"status {status!r} without updates: when did it happen?")
            item.status = status
            if status != "reported":
                item.stamps.setdefault(status, item.status_at)
    return item


# ------------------------------------------------------------------ Open311

def read_mapping(path: str | Path, encoding: str = "utf-8-sig") -> dict[str, str]:
    """Open311 ``service_code`` → category: CSV ``service_code,category`` or a JSON object."""
    path = Path(path)
    try:
        text = path.read_text(encoding=encoding)
    except (OSError, UnicodeDecodeError) as exc:
        raise v.Reject(f"cannot read mapping {path}: {exc}") from None
    if text.lstrip().startswith("{"):
        data = json.loads(text)
        return {str(k).strip(): str(val).strip() for k, val in data.items()}
    rows = csv.DictReader(text.splitlines())
    if not rows.fieldnames or not {"service_code", "category"} <= set(rows.fieldnames):
        raise v.Reject(f"mapping {path} needs the columns service_code,category")
    return {r["service_code"].strip(): r["category"].strip() for r in rows if r["service_code"]}


def transform_open311(rec: dict[str, Any], ctx: v.Context) -> EventItem:
    """Validate one Open311 GeoReport v2 request and turn it into a hotline case."""
    source_id = v.required(rec, "service_request_id")
    requested = v.time_field(rec, "requested_datetime", ctx, need=True)
    code = v.required(rec, "service_code")
    mapped = ctx.mapping.get(code)
    if mapped is None:
        raise v.Reject(f"unknown service_code {code!r} (not in the mapping file)")
    cat = v.category(mapped, ctx)
    address = v.text(rec, "address")
    updated = v.time_field(rec, "updated_datetime", ctx) or requested
    if updated < requested:
        raise v.Reject("updated_datetime is before requested_datetime")
    raw_status = (v.text(rec, "status") or "open").lower()
    if raw_status not in ("open", "closed"):
        raise v.Reject(f"unknown status {raw_status!r}; expected open or closed")
    attrs = v.extras(rec, OPEN311_KNOWN)
    if v.text(rec, "service_name"):
        attrs["service_name"] = v.text(rec, "service_name")
    attrs["service_code"] = code
    item = EventItem(
        line_no=0, source_id=source_id, category=cat.code, major=cat.major,
        priority=cat.priority, reported_at=requested, status="reported", status_at=requested,
        point=_location(rec, ctx, address, lon_key="long"), location_optional=True,
        address=address, description=v.text(rec, "description"), intake="web",
        dept=v.text(rec, "agency_responsible"),
        deadline_at=v.time_field(rec, "expected_datetime", ctx, future_ok=True), attrs=attrs,
    )
    if raw_status == "closed":
        item.status, item.status_at = "closed", updated
        item.stamps["closed"] = updated
        item.transitions.append((updated, "closed", None, "closed", None, item.dept, None))
    return item
