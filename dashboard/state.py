"""The view's state, all of it carried in the URL query string so every view is a link.

Values from the URL are validated here: codes by pattern, everything else by whitelist.
Anything invalid falls back to its default rather than reaching SQL.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

UNIT_CODE = re.compile(r"^[0-9]{6}([0-9]{3}){0,3}$")
MAJOR_CODE = re.compile(r"^[0-9]{2}$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

WINDOWS = ("today", "24h", "7d", "30d", "custom")
CHANNELS = ("grid_worker", "hotline_12345", "video_ai", "sensor")
STATUSES = ("open", "overdue", "reported", "accepted", "dispatched", "resolved", "verified",
            "closed")
METRICS = ("count", "per10k", "overdue", "ontime")
THEMES = ("wall", "desk")


@dataclass(frozen=True)
class ViewState:
    """Level/unit, window, filters, metric, theme and language of one view."""

    unit: str | None = None          # None: the city
    window: str = "today"
    start: str | None = None         # custom window, ISO dates, end exclusive next day
    end: str | None = None
    channel: str | None = None
    major: str | None = None
    status: str | None = None
    metric: str = "count"
    cams: bool = False
    theme: str = "wall"
    lang: str = "zh"

    def to_query(self, **changes: Any) -> str:
        """The query string (with leading ``?``) of this state, changed by ``changes``."""
        s = replace(self, **changes) if changes else self
        defaults = ViewState()
        params = {}
        for key, value in asdict(s).items():
            if value == getattr(defaults, key) or value is None:
                continue
            params[key] = "1" if value is True else value
        return "?" + urlencode(params) if params else ""

    def filters(self) -> dict[str, str]:
        """The non-empty filters, for the query layer."""
        return {k: v for k, v in (("channel", self.channel), ("major", self.major),
                                  ("status", self.status)) if v}


def _one(raw: Any) -> str | None:
    if isinstance(raw, list):
        raw = raw[0] if raw else None
    if raw is None:
        return None
    raw = str(raw).strip()
    return raw or None


def _pick(raw: Any, allowed: tuple[str, ...], default: str | None) -> str | None:
    value = _one(raw)
    return value if value in allowed else default


def parse_state(params: dict[str, Any] | None) -> ViewState:
    """Build a validated ``ViewState`` from query parameters (as Dash pages passes them)."""
    p = params or {}
    unit = _one(p.get("unit"))
    major = _one(p.get("major"))
    start, end = _one(p.get("start")), _one(p.get("end"))
    window = _pick(p.get("window"), WINDOWS, "today")
    if window == "custom":
        if not (start and end and ISO_DATE.match(start) and ISO_DATE.match(end)) or start > end:
            window, start, end = "today", None, None
        else:
            try:
                date.fromisoformat(start)
                date.fromisoformat(end)
            except ValueError:
                window, start, end = "today", None, None
    else:
        start = end = None
    return ViewState(
        unit=unit if unit and UNIT_CODE.match(unit) else None,
        window=window or "today",
        start=start,
        end=end,
        channel=_pick(p.get("channel"), CHANNELS, None),
        major=major if major and MAJOR_CODE.match(major) else None,
        status=_pick(p.get("status"), STATUSES, None),
        metric=_pick(p.get("metric"), METRICS, "count") or "count",
        cams=_one(p.get("cams")) in ("1", "true", "on"),
        theme=_pick(p.get("theme"), THEMES, "wall") or "wall",
        lang=_pick(p.get("lang"), ("zh", "en"), "zh") or "zh",
    )


def window_bounds(state: ViewState, tz: ZoneInfo, now: datetime | None = None
                  ) -> tuple[datetime, datetime]:
    """``[start, end)`` of the state's window; end is now rounded up to the minute.

    Rounding keeps cache keys stable for a minute while still counting an event reported now.
    """
    now = (now or datetime.now(tz)).astimezone(tz)
    end = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    if state.window == "custom" and state.start and state.end:
        s = datetime.combine(date.fromisoformat(state.start), time(), tz)
        e = datetime.combine(date.fromisoformat(state.end), time(), tz) + timedelta(days=1)
        return s, e
    if state.window == "24h":
        return end - timedelta(hours=24), end
    if state.window == "7d":
        return end - timedelta(days=7), end
    if state.window == "30d":
        return end - timedelta(days=30), end
    return datetime.combine(now.date(), time(), tz), end
