"""Column-wise validation of grid-worker incident CSV chunks (the rows of a big city export).

The per-row path (``incidents.transform``) costs tens of microseconds a row in Python; here a
chunk's plain rows are checked and converted a column at a time with pandas/numpy and handed on
as columns in staging order (the pipeline renders them to COPY text). A row is "plain" when
every check passes in its common form (ISO times with seconds, a known category, numbers in
range, a known crs, no deadline or extra columns); any other row goes through the per-row
path, which gives the exact reject reason. A chunk with a case id twice (the newest row wins)
is left to the per-row path whole.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from etl import incidents
from etl import validate as v
from etl.lifecycle import STATES
from etl.reader import Record

# The time forms handled here; anything else (fractions, no seconds, odd offsets) is per-row.
_TIME = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:Z|[+-]\d{2}:\d{2})?"
_OFFSET = r".*(?:Z|[+-]\d{2}:\d{2})"
COLUMNS = incidents.KNOWN - {"updates"}
STAMPS = ("accepted", "dispatched", "resolved", "verified", "closed")


@dataclass
class Chunk:
    """A chunk split: plain rows as columns (``EVENT_STAGE`` / ``TRANSITION_STAGE`` order, one
    list per column) with their row count, the rest as records for the per-row path."""

    events: tuple[list[list[Any]], int]
    transitions: tuple[list[list[Any]], int]
    slow: list[Record]
    late: list[tuple[int, str]] = field(default_factory=list)  # (line_no, reason)


def _strip(values: list[Any]) -> np.ndarray:
    """Stripped text; blank → None (as ``validate.text``)."""
    return np.array([(x.strip() or None) if x else None for x in values], dtype=object)


def _times(text: np.ndarray, ok: np.ndarray, ctx: v.Context) -> pd.DatetimeIndex:
    """UTC instants of the plain ISO texts among ``ok`` (NaT elsewhere; naive = ctx.tz)."""
    s = pd.Series(text, dtype=object).where(ok, None)
    plain = s.str.fullmatch(_TIME, na=False).to_numpy(dtype=bool)
    aware = plain & s.str.fullmatch(_OFFSET, na=False).to_numpy(dtype=bool)
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[us, UTC]")
    if aware.any():
        out[aware] = pd.to_datetime(s[aware], format="ISO8601", utc=True)
    naive = plain & ~aware
    if naive.any():
        local = pd.to_datetime(s[naive], format="ISO8601").dt.tz_localize(
            ctx.tz, ambiguous="NaT", nonexistent="NaT")
        out[naive] = local.dt.tz_convert("UTC")
    return pd.DatetimeIndex(out)


def _in_time_range(at: pd.DatetimeIndex, ctx: v.Context) -> np.ndarray:
    latest = pd.Timestamp(ctx.now + v.FUTURE_SLACK)
    ok = ~at.isna() & (at >= pd.Timestamp(v.EARLIEST)) & (at <= latest)
    return np.asarray(ok, dtype=bool)


def _numbers(text: np.ndarray, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    num = pd.to_numeric(pd.Series(text, dtype=object), errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(num) & (num >= lo) & (num <= hi)
    return num, ok


def split_incidents(chunk: list[Record], ctx: v.Context, locator: v.Locator,
                    deadlines: Any) -> Chunk | None:
    """Validate, locate and time the plain rows of a CSV chunk; None = all per-row."""
    rows = [r for r in chunk if r.data is not None and "\x00" not in r.raw]
    if not rows or not set(rows[0].data) <= COLUMNS or "event_id" not in rows[0].data:
        return None
    header = list(rows[0].data)
    col = {k: _strip([r.data[k] for r in rows]) for k in header}
    n = len(rows)
    none = np.full(n, None, dtype=object)
    get = lambda k: col.get(k, none)  # noqa: E731 - a column or all-None
    sid = get("event_id")
    ids = pd.Series(sid[sid != None])  # noqa: E711 - element-wise
    if ids.duplicated().any():
        return None
    ok = sid != None  # noqa: E711

    rep_text = get("reported_at")
    reported = _times(rep_text, ok, ctx)
    ok &= _in_time_range(reported, ctx)

    cats = ctx.categories
    cat = get("category")
    known = np.array([c in cats for c in cat], dtype=bool)
    ok &= known
    major = np.array([cats[c].major if k else None for c, k in zip(cat, known, strict=True)],
                     dtype=object)
    default_prio = np.array([cats[c].priority if k else 0 for c, k in zip(cat, known,
                                                                          strict=True)])
    lon, lon_ok = _numbers(get("lon"), -180, 180)
    lat, lat_ok = _numbers(get("lat"), -90, 90)
    ok &= lon_ok & lat_ok

    crs_in = get("crs")
    crs = np.array([c if c is not None else ctx.crs for c in crs_in], dtype=object)
    for name in set(crs.tolist()):
        try:
            norm = v.coords.normalize_crs(name)
        except ValueError:
            ok &= crs != name
            continue
        crs[crs == name] = norm

    prio_text = get("priority")
    prio, prio_ok = _numbers(prio_text, 1, 4)
    given = prio_text != None  # noqa: E711
    ok &= ~given | (prio_ok & (prio == np.round(prio)))
    priority = np.where(given & prio_ok, np.nan_to_num(prio), default_prio).astype(int)

    ok &= get("deadline_at") == None  # noqa: E711 - given deadlines: per-row

    status = np.array([s.lower() if s is not None else "reported" for s in get("status")],
                      dtype=object)
    ok &= np.isin(status, STATES)
    has_status = get("status") != None  # noqa: E711
    st_text = get("status_at")
    st_given = has_status & (st_text != None)  # noqa: E711
    status_at = _times(st_text, ok & st_given, ctx)
    st_ok = _in_time_range(status_at, ctx) & (status_at >= reported)
    ok &= ~st_given | st_ok
    ok &= ~has_status | st_given | (status == "reported")
    st_final = np.where(st_given, st_text, rep_text)

    # Locate the rows that passed; outside the city is a reject, as on the per-row path.
    idx = np.flatnonzero(ok)
    wlon, wlat, grids = locator.locate(lon[idx], lat[idx], crs[idx])
    inside = np.array([g is not None for g in grids], dtype=bool)
    late = [(rows[i].line_no, f"outside the city: ({float(lon[i])}, {float(lat[i])}) "
                              f"{crs[i]} is in no grid") for i in idx[~inside]]
    keep = idx[inside]
    wlon, wlat, grids = wlon[inside], wlat[inside], grids[inside]

    at, provisional = deadlines.calendar.deadlines_for_categories(
        reported[keep], cat[keep].tolist(), deadlines.rules)
    dl_text = pd.Series(np.datetime_as_string(
        at.tz_convert("UTC").tz_localize(None).to_numpy(), unit="s"), dtype=object) + "Z"
    dl_missing = np.asarray(at.isna(), dtype=bool)
    dl_text[dl_missing] = None

    claimed = get("grid_code")[keep]
    attrs = np.full(len(keep), "{}", dtype=object)
    for j in np.flatnonzero((claimed != None) & (claimed != grids)):  # noqa: E711
        attrs[j] = json.dumps({"grid_code_reported": claimed[j], "grid_code_mismatch": True},
                              ensure_ascii=False)

    st = status[keep]
    stamp_at = st_final[keep]
    line_no = np.array([rows[i].line_no for i in keep], dtype=np.int64)
    frame = {
        "line_no": line_no, "source_id": sid[keep], "category": cat[keep],
        "major": major[keep], "priority": priority[keep], "lon": wlon, "lat": wlat,
        "grid_code": grids, "address": None, "description": get("description")[keep],
        "reporter": get("reporter")[keep], "intake": None, "reported_at": rep_text[keep],
        **{f"{s}_at": np.where(st == s, stamp_at, None) for s in STAMPS},
        "deadline_at": dl_text.to_numpy(),
        "deadline_provisional": np.where(dl_missing, False, np.asarray(provisional, dtype=bool)),
        "status": st, "status_at": stamp_at, "dept": get("dept")[keep],
        "reopened_count": 0, "extended_count": 0, "escalation_level": 0, "satisfaction": None,
        "attrs": attrs, "camera_id": None,
    }
    events = _columns(frame, len(keep))
    moved = st != "reported"
    transitions = _columns({
        "line_no": line_no[moved], "source_id": sid[keep][moved], "at": stamp_at[moved],
        "kind": st[moved], "from_status": None, "to_status": st[moved], "actor": None,
        "dept": get("dept")[keep][moved], "note": None}, int(moved.sum()))
    passed = {rows[i].line_no for i in idx}
    slow = [r for r in chunk if r.line_no not in passed]
    return Chunk(events, transitions, slow, late)


def _columns(columns: dict[str, Any], n: int) -> tuple[list[list[Any]], int]:
    """Columns (arrays, or one value for all rows; None = NULL) as Python lists, row count."""
    return [np.asarray(c).tolist() if isinstance(c, np.ndarray) else [c] * n
            for c in columns.values()], n


__all__ = ["Chunk", "split_incidents"]
