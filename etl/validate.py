"""Shared validation steps: fields, times, categories, coordinate systems, location in the city.

Per-row checks raise :class:`Reject` with a reason meant for people (it lands in
``etl_reject.reason``). The location step works on whole chunks with numpy: convert to
WGS-84 with ``geo.coords.convert``, then a point is inside the city when the grid assigner
returns a code for it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from geo import coords

# Earliest plausible report time, and how far in the future a clock may be off.
EARLIEST = datetime(2000, 1, 1, tzinfo=ZoneInfo("UTC"))
FUTURE_SLACK = timedelta(days=1)


class Reject(Exception):
    """A row is rejected; ``str(exc)`` is the reason."""


@dataclass(frozen=True, slots=True)
class CategoryInfo:
    """What the loader needs of a taxonomy row: its major class and default priority."""

    code: str
    major: str
    priority: int


@dataclass
class Context:
    """Everything validation needs, read once per batch."""

    tz: ZoneInfo
    crs: str = "wgs84"
    categories: dict[str, CategoryInfo] = field(default_factory=dict)
    now: datetime = field(default_factory=lambda: datetime.now(ZoneInfo("UTC")))
    mapping: dict[str, str] = field(default_factory=dict)  # Open311 service_code → category


def load_categories(conn: Any) -> dict[str, CategoryInfo]:
    """The taxonomy as ``{code: CategoryInfo}`` (one query)."""
    with conn.cursor() as cur:
        cur.execute("SELECT code, coalesce(parent, code), priority FROM category")
        return {code: CategoryInfo(code, major, prio) for code, major, prio in cur.fetchall()}


def nul_field(data: Any, key: str = "") -> str | None:
    """The first field holding a NUL character (PostgreSQL text and jsonb cannot store one)."""
    if isinstance(data, str):
        return key if "\x00" in data else None
    if isinstance(data, dict):
        for k, value in data.items():
            found = nul_field(str(k), str(k)) or nul_field(value, str(k))
            if found is not None:
                return found
    elif isinstance(data, list):
        for value in data:
            found = nul_field(value, key)
            if found is not None:
                return found
    return None


def text(rec: dict[str, Any], key: str) -> str | None:
    """The field as stripped text; missing, null and blank are all ``None``."""
    value = rec.get(key)
    if value is None:
        return None
    if value.__class__ is str:  # the common case, kept cheap
        return value.strip() or None
    if not isinstance(value, str):
        if isinstance(value, dict | list):
            raise Reject(f"malformed {key}: expected a value, got {type(value).__name__}")
        value = str(value) if not isinstance(value, bool) else str(value).lower()
    value = value.strip()
    return value or None


def required(rec: dict[str, Any], key: str) -> str:
    """The field as text, or reject the row as missing it."""
    value = text(rec, key)
    if value is None:
        raise Reject(f"missing {key}")
    return value


# ISO forms PostgreSQL reads exactly as Python does; a Stamp of such text is sent as given.
_PG_ISO = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}(:?\d{2})?)?")


class Stamp(datetime):
    """An aware datetime that remembers ISO text naming the same instant.

    ``str()`` returns that text, so staging rows for COPY need no re-formatting (formatting a
    datetime costs more than parsing it). Naive text is read by PostgreSQL in the session time
    zone, which the loader sets to CITYSCREEN_TZ.
    """

    __slots__ = ("text",)

    def __str__(self) -> str:
        text = getattr(self, "text", None)
        return text if text is not None else datetime.__str__(self)


def parse_time(value: str, key: str, ctx: Context, *, future_ok: bool = False) -> datetime:
    """ISO 8601 → aware datetime; without an offset the time is local (CITYSCREEN_TZ).

    Event times must lie between 2000 and tomorrow; ``future_ok`` (deadlines) lifts the upper
    bound.
    """
    try:
        dt = Stamp.fromisoformat(value)
    except ValueError:
        raise Reject(f"malformed {key}: {value!r} is not an ISO 8601 time") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=ctx.tz)
    if _PG_ISO.fullmatch(value):
        dt.text = value
    if dt < EARLIEST:
        raise Reject(f"implausible {key}: {value!r} is before 2000")
    if not future_ok and dt > ctx.now + FUTURE_SLACK:
        raise Reject(f"implausible {key}: {value!r} is in the future")
    return dt


def time_field(rec: dict[str, Any], key: str, ctx: Context, *, need: bool = False,
               future_ok: bool = False) -> datetime | None:
    """An optional (or, with ``need``, required) time field."""
    value = required(rec, key) if need else text(rec, key)
    return None if value is None else parse_time(value, key, ctx, future_ok=future_ok)


def float_field(rec: dict[str, Any], key: str, lo: float, hi: float) -> float | None:
    """An optional number within ``[lo, hi]``."""
    value = rec.get(key)
    if value is None or value == "":
        return None
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise Reject(f"malformed {key}: {value!r} is not a number") from None
    if math.isnan(number) or not lo <= number <= hi:
        raise Reject(f"{key} {value} out of range [{lo:g}, {hi:g}]")
    return number


def int_field(rec: dict[str, Any], key: str, lo: int, hi: int) -> int | None:
    """An optional integer within ``[lo, hi]``."""
    number = float_field(rec, key, lo, hi)
    if number is None:
        return None
    if number != int(number):
        raise Reject(f"malformed {key}: {rec.get(key)!r} is not an integer")
    return int(number)


def category(code: str, ctx: Context) -> CategoryInfo:
    """The taxonomy row of ``code``, or reject the row as having an unknown category."""
    info = ctx.categories.get(code)
    if info is None:
        raise Reject(f"unknown category {code!r}")
    return info


def crs_of(rec: dict[str, Any], ctx: Context) -> str:
    """The row's coordinate system (its ``crs`` column or the command's ``--crs``), normalised."""
    name = text(rec, "crs") or ctx.crs
    try:
        return coords.normalize_crs(name)
    except ValueError:
        raise Reject(f"unknown crs {name!r}; expected wgs84, cgcs2000, gcj02 or bd09") from None


def point(rec: dict[str, Any], ctx: Context, *, lon_key: str = "lon", lat_key: str = "lat"
          ) -> tuple[float, float, str] | None:
    """``(lon, lat, crs)`` of the row, ``None`` when it has neither; half a point is rejected."""
    lon = float_field(rec, lon_key, -180, 180)
    lat = float_field(rec, lat_key, -90, 90)
    if lon is None and lat is None:
        return None
    if lon is None:
        raise Reject(f"missing {lon_key}")
    if lat is None:
        raise Reject(f"missing {lat_key}")
    return lon, lat, crs_of(rec, ctx)


def extras(rec: dict[str, Any], known: frozenset[str]) -> dict[str, Any]:
    """Columns the feed does not define: kept in ``attrs`` (blank CSV cells dropped)."""
    if rec.keys() <= known:
        return {}
    return {k: v for k, v in rec.items() if k not in known and v not in ("", None) and k}


class Locator:
    """Converts chunks of points to WGS-84 and finds their grid (None = outside the city)."""

    def __init__(self, assigner: Any) -> None:
        self.assigner = assigner

    @classmethod
    def from_db(cls, conn: Any) -> Locator:
        """Build from the grid polygons in PostGIS (geo's assigner)."""
        from geo.assign import GridAssigner

        return cls(GridAssigner.from_db(conn))

    def locate(self, lons: Sequence[float], lats: Sequence[float], crss: Sequence[str]
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """WGS-84 lon, lat arrays and an object array of grid codes (None outside the city)."""
        lon = np.asarray(lons, dtype=np.float64)
        lat = np.asarray(lats, dtype=np.float64)
        crs = np.asarray(crss, dtype=object)
        for system in set(crss):
            if system == "wgs84":
                continue
            sel = crs == system
            lon[sel], lat[sel] = coords.convert(lon[sel], lat[sel], system, "wgs84")
        if len(lon) == 0:
            return lon, lat, np.empty(0, dtype=object)
        grids = np.asarray(self.assigner.assign(lon, lat), dtype=object)
        return lon, lat, grids
