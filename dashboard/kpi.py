"""Closed-loop KPIs for any admin unit and time window (read side; definitions in docs/KPI.md).

The cohort is the cases *reported* in ``[start, end)``. Cities and districts are answered from
the roll-ups (geo/sql/033): whole local days from ``kpi_street_daily``, whole hours at the
window's edges from ``kpi_district_hourly``, raw ``event`` rows only for partial hours; the
exact median from bucket counts (``kpi_district_hist`` + index-only counts at the edges) and
one pass over the raw values of the bucket(s) holding it; open-case state from
``kpi_district_open`` plus the deadlines falling on the day of the window's end. Streets,
communities, grids and category filters are answered from ``event`` directly (their cohorts
are small and ``event (grid_code text_pattern_ops, reported_at)`` finds them), and so is any
request while the caller's own transaction holds roll-up keys not yet recomputed
(``kpi_dirty``). Both paths give the same numbers; ``baseline_kpis`` is the direct path for
any unit (tests, benchmark).

Public API (stable — the dashboard calls these):
``unit_kpis(conn, unit_code | None, start, end, filters=None) -> dict``,
``children_kpis(conn, unit_code | None, start, end, filters=None) -> list[dict]``.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from functools import cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import psycopg2.extras

from dashboard import queries

log = logging.getLogger("cityscreen.dashboard.kpi")

# Child code length below each level; a grid has no children.
CHILD_LENGTH: dict[str, int | None] = {
    "city": 6, "district": 9, "street": 12, "community": 15, "grid": None,
}
LEVEL_BY_LENGTH: dict[int, str] = {9: "street", 12: "community", 15: "grid"}
ROLLUP_LEVELS = frozenset({"city", "district"})

# filters key -> event column (values: a string or a list of strings).
FILTER_COLUMNS: dict[str, str] = {"channel": "source", "source": "source",
                                  "major": "major", "category": "category"}
ROLLUP_FILTERS = frozenset({"channel", "source"})
# Every handling-time bucket number kpi_bucket gives below 2^50 minutes: the edge histogram
# counts them index-only, one index descent per bucket.
BUCKETS = list(range(201))

COUNT_FIELDS = ("received", "closed", "closed_on_time", "handling_seconds", "reopened",
                "extended", "rated", "satisfied", "provisional", "overdue_open", "due_2h")

KPI_LABELS: dict[str, str] = {
    "received": "受理量", "closed": "结案量", "closure_rate": "结案率",
    "on_time_rate": "按期结案率", "overdue_open": "超期未结", "due_2h": "2小时内到期",
    "mean_handling_hours": "平均处置时长(小时)", "median_handling_hours": "处置时长中位数(小时)",
    "reopen_rate": "重办率", "extension_rate": "延期率", "satisfaction": "满意率",
    "provisional": "临时时限",
}


class KpiError(ValueError):
    """A KPI request cannot be answered (unknown unit, bad window or filter)."""


@cache
def sql(name: str) -> str:
    """The packaged SQL file ``dashboard/sql/<name>.sql``."""
    return resources.files("dashboard").joinpath("sql", f"{name}.sql").read_text("utf-8")


@dataclass(frozen=True)
class Unit:
    """The unit a KPI request is about."""

    code: str | None  # None: the whole city, cases without a location included
    level: str
    name: str | None
    prefix: str | None  # grid_code prefix selecting its cases; None for the city


def resolve_unit(conn: Any, unit_code: str | None) -> Unit:
    """Look the unit up in ``admin_unit`` (None or the city's code = the whole city)."""
    rows = _rows(conn, sql("kpi_unit"), {"code": unit_code})
    if rows:
        code, level, name = rows[0]["code"], rows[0]["level"], rows[0]["name"]
    elif unit_code is None:
        return Unit(None, "city", None, None)
    elif unit_code.isdigit() and len(unit_code) in LEVEL_BY_LENGTH:
        code, level, name = unit_code, LEVEL_BY_LENGTH[len(unit_code)], None
    elif unit_code.isdigit() and len(unit_code) == 6:
        level = "city" if unit_code.endswith("00") else "district"
        code, name = unit_code, None
    else:
        raise KpiError(f"unknown admin unit {unit_code!r}")
    return Unit(code, level, name, None if level == "city" else code)


# ---------------------------------------------------------------- small SQL helpers


def _rows(conn: Any, text: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
        cur.execute(text, params)
        return [dict(r) for r in cur.fetchall()]


def _filter_sql(filters: Mapping[str, Any] | None, column_of: Mapping[str, str],
                params: dict[str, Any]) -> str:
    """``AND col = ANY(%(f_key)s)`` for each whitelisted filter."""
    parts = []
    for key, value in sorted((filters or {}).items()):
        if value is None or value == [] or value == "":
            continue
        if key not in FILTER_COLUMNS:
            raise KpiError(f"unknown KPI filter {key!r}; use one of {', '.join(FILTER_COLUMNS)}")
        values = [value] if isinstance(value, str) else [str(v) for v in value]
        params[f"f_{key}"] = values
        parts.append(f" AND {column_of[key]} = ANY(%(f_{key})s)")
    return "".join(parts)


def _prefix_sql(column: str, prefix: str | None, params: dict[str, Any]) -> str:
    if prefix is None:
        return ""
    params["pattern"] = prefix + "%"
    return f" AND {column} LIKE %(pattern)s"


def _unit_sql(unit: Unit, params: dict[str, Any], grids: list[str] | None = None) -> str:
    """`` AND grid_code …`` selecting the unit's cases on ``event``, as the dashboard's queries
    match them (``dashboard.queries.unit_match``: a street's or community's own codes, so the
    index on (grid_code, reported_at) is bounded by the window too; ``grids`` when the caller
    has them); nothing for the city."""
    if unit.prefix is None:
        return ""
    clause, params["unit_match"] = queries.unit_match(
        {"code": unit.prefix, "level": unit.level, "grids": grids}, "grid_code", "event",
        "%(unit_match)s")
    return f" AND {clause}"


def _check_window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    if start.tzinfo is None or end.tzinfo is None:
        raise KpiError("KPI windows need time-zone-aware datetimes")
    if not start < end:
        raise KpiError(f"empty KPI window [{start.isoformat()}, {end.isoformat()})")
    return start, end


def _hour_ceil(at: datetime) -> datetime:
    """``at`` rounded up to a whole UTC hour (unchanged when it is one)."""
    floor = at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return floor if floor == at else floor + timedelta(hours=1)


def _hour_floor(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _midnight(at: datetime, tz: ZoneInfo) -> datetime:
    """The local midnight starting ``at``'s day in ``tz``."""
    return datetime.combine(at.astimezone(tz).date(), dtime(), tz)


@dataclass(frozen=True)
class Spans:
    """How a window splits: raw partial hours [start, h1) and [h2, end), roll-up hours
    [h1, d1) and [d2, h2), whole local days [d1, d2) (d1 == d2: none)."""

    start: datetime
    h1: datetime
    d1: datetime
    d2: datetime
    h2: datetime
    end: datetime


def _spans(start: datetime, end: datetime, tz: ZoneInfo) -> Spans | None:
    """The window's spans, or None when it holds no whole hour."""
    h1, h2 = _hour_ceil(start), _hour_floor(end)
    if h1 >= h2:
        return None
    d1 = _midnight(h1, tz)
    if d1 < h1:
        d1 = datetime.combine(d1.date() + timedelta(days=1), dtime(), tz)
    d2 = _midnight(h2, tz)
    if d1 >= d2 or _hour_floor(d1) != d1 or _hour_floor(d2) != d2:
        # No whole local day, or a zone whose midnights are not whole UTC hours (+05:30):
        # the hourly roll-up (UTC hours) answers all of [h1, h2).
        d1 = d2 = h2
    return Spans(start, h1, d1, d2, h2, end)


# ---------------------------------------------------------------- counts


def _add(into: dict[Any, dict[str, Any]], rows: Iterable[dict[str, Any]], sign: int = 1) -> None:
    for r in rows:
        acc = into[r["key"]]
        for f in COUNT_FIELDS:
            if r.get(f) is not None:
                acc[f] = acc.get(f, 0) + sign * r[f]


def _raw_counts(conn: Any, key: str, where: str, params: dict[str, Any],
                lo: datetime, hi: datetime, end: datetime) -> list[dict[str, Any]]:
    return _rows(conn, sql("kpi_raw").format(key=key, where=where),
                 {**params, "lo": lo, "hi": hi, "to": end})


def _open_counts(conn: Any, key: str, where: str, params: dict[str, Any],
                 start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Overdue / due-within-2h among the cohort's cases open at min(now, end)."""
    with conn.cursor() as cur:
        cur.execute("SELECT now()")
        now = cur.fetchone()[0]
    at = min(now, end)
    return _rows(conn, sql("kpi_open").format(key=key, where=where),
                 {**params, "lo": start, "hi": end, "at": at})


def _finish(c: Mapping[str, Any], median: float | None, open_state: bool = True
            ) -> dict[str, Any]:
    """Counts → the KPI dict (rates None when their denominator is 0; the open-case state
    None when it was not asked for)."""
    def ratio(num: str, den: str) -> float | None:
        d = c.get(den, 0)
        return c.get(num, 0) / d if d else None

    closed = int(c.get("closed", 0))
    return {
        "received": int(c.get("received", 0)),
        "closed": closed,
        "closure_rate": ratio("closed", "received"),
        "on_time_rate": ratio("closed_on_time", "closed"),
        "overdue_open": int(c.get("overdue_open", 0)) if open_state else None,
        "due_2h": int(c.get("due_2h", 0)) if open_state else None,
        "mean_handling_hours": c.get("handling_seconds", 0) / closed / 3600 if closed else None,
        "median_handling_hours": median,
        "reopen_rate": ratio("reopened", "received"),
        "extension_rate": ratio("extended", "received"),
        "satisfaction": ratio("satisfied", "rated"),
        "rated": int(c.get("rated", 0)),
        "provisional": bool(c.get("provisional", 0)),
    }


# ---------------------------------------------------------------- the two paths


def _direct(conn: Any, unit: Unit, key_len: int | None, start: datetime, end: datetime,
            filters: Mapping[str, Any] | None, grids: list[str] | None = None,
            counts_only: bool = False) -> dict[Any, dict[str, Any]]:
    """KPIs by key straight from ``event`` (``counts_only``: no open-case state)."""
    params: dict[str, Any] = {}
    where = _unit_sql(unit, params, grids)
    where += _filter_sql(filters, FILTER_COLUMNS, params)
    key = "''::text" if key_len is None else f"left(grid_code, {int(key_len)})"
    counts: dict[Any, dict[str, Any]] = defaultdict(dict)
    medians: dict[Any, float | None] = {}
    for r in _raw_counts(conn, key, where, params, start, end, end):
        medians[r["key"]] = r["median_handling_hours"]
        _add(counts, [r])
    if not counts_only:
        _add(counts, _open_counts(conn, key, where, params, start, end))
    if counts_only:  # (the median came with the counts here; left out as on the roll-ups)
        return {k: _finish(c, None, False) for k, c in counts.items()}
    return {k: _finish(c, medians.get(k)) for k, c in counts.items()}


@dataclass
class _RollupQuery:
    """Key expressions, WHERE clauses and parameters for the roll-up path of one request."""

    key: str  # on event
    where: str
    skey: str  # on kpi_street_daily
    swhere: str
    dkey: str  # on the district roll-ups
    dwhere: str
    params: dict[str, Any]

    def fmt(self, name: str) -> str:
        return sql(name).format(key=self.key, where=self.where, skey=self.skey,
                                swhere=self.swhere, dkey=self.dkey, dwhere=self.dwhere)


def _rollup_query(unit: Unit, key_len: int | None, filters: Mapping[str, Any] | None,
                  sp: Spans, end: datetime) -> _RollupQuery:
    params: dict[str, Any] = {
        "day_from": sp.d1.date(), "day_to": sp.d2.date() if sp.d1 < sp.d2 else sp.d1.date(),
        "h1": sp.h1, "d1": sp.d1, "d2": sp.d2, "h2": sp.h2, "to": end,
        "lo1": sp.start, "hi1": sp.d1, "lo2": sp.d2, "hi2": sp.end,
    }
    channel = {"channel": "channel", "source": "channel"}
    where = _prefix_sql("grid_code", unit.prefix, params) + _filter_sql(filters, FILTER_COLUMNS,
                                                                        params)
    swhere = _prefix_sql("street", unit.prefix, params) + _filter_sql(filters, channel, params)
    dwhere = _prefix_sql("district", unit.prefix, params) + _filter_sql(filters, channel, params)
    if key_len is None:
        return _RollupQuery("''::text", where, "''::text", swhere, "''::text", dwhere, params)
    n = int(key_len)
    return _RollupQuery(f"coalesce(left(grid_code, {n}), '')", where, f"left(street, {n})",
                        swhere, f"left(district, {n})", dwhere, params)


def _from_rollups(conn: Any, unit: Unit, key_len: int | None, start: datetime, end: datetime,
                  filters: Mapping[str, Any] | None, counts_only: bool = False
                  ) -> dict[Any, dict[str, Any]] | None:
    """KPIs by key from the roll-ups + raw partial hours; None when the roll-ups cannot answer
    (no whole hour in the window, or this transaction's own changes not yet rolled up)."""
    state = _rows(conn, sql("kpi_state"), {})[0]
    try:
        sp = _spans(start, end, ZoneInfo(state["tz"]))
        if sp is None or state["dirty"]:
            return None
        return _rollup_kpis(conn, _rollup_query(unit, key_len, filters, sp, end), sp, state,
                            counts_only)
    finally:
        if conn.get_transaction_status() != psycopg2.extensions.TRANSACTION_STATUS_INERROR:
            with conn.cursor() as cur:
                cur.execute("SELECT set_config('max_parallel_workers_per_gather', %s, false)",
                            (state["parallel"],))


def _rollup_kpis(conn: Any, q: _RollupQuery, sp: Spans, state: Mapping[str, Any],
                 counts_only: bool = False) -> dict[Any, dict[str, Any]] | None:
    start, end = sp.start, sp.end
    counts: dict[Any, dict[str, Any]] = defaultdict(dict)
    buckets: dict[Any, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    _add(counts, _rows(conn, q.fmt("kpi_rollup"), q.params))
    if not counts_only:
        for r in _rows(conn, q.fmt("kpi_hist"), {**q.params, "buckets": BUCKETS}):
            buckets[r["key"]][r["bucket"]] += r["n"]
    # Cases of the rolled-up range closed after the window: not closed as far as it is
    # concerned (their buckets are in the histogram only for the whole days).
    late = _rows(conn, q.fmt("kpi_closed_late"), {**q.params, "lo": sp.h1, "hi": sp.h2})
    _add(counts, late, sign=-1)
    for r in late:
        if r["in_days"]:
            buckets[r["key"]][r["bucket"]] -= r["closed"]
    if sp.start < sp.h1 or sp.h2 < sp.end:
        _add(counts, _rows(conn, q.fmt("kpi_edges"), {**q.params, "hi1": sp.h1, "lo2": sp.h2}))
    if counts_only:
        return {k or None: _finish(c, None, False) for k, c in counts.items()}
    at, tz = min(state["now"], end), ZoneInfo(state["tz"])
    _add(counts, _rows(conn, q.fmt("kpi_open_rollup"), {
        **q.params, "at": at, "m": _midnight(at, tz), "at_day": at.astimezone(tz).date()}))
    medians = _exact_medians(conn, q.key, q.where, q.params, start, end, buckets)
    if medians is None:
        return None
    return {k or None: _finish(c, medians.get(k)) for k, c in counts.items()}


def _exact_medians(conn: Any, key: str, where: str, params: dict[str, Any],
                   start: datetime, end: datetime,
                   buckets: Mapping[Any, Mapping[int, int]]) -> dict[Any, float | None] | None:
    """Exact medians from bucket counts + the raw values of the buckets holding them.

    Returns None when a bucket's raw size disagrees with the roll-up (stale roll-up).
    """
    wanted: list[tuple[str, int, int]] = []  # (key, bucket, rank within bucket)
    plan: dict[Any, list[tuple[int, int]]] = {}
    for k, hist in buckets.items():
        total = sum(hist.values())
        if total <= 0:
            continue
        picks = []
        for rank in sorted({(total - 1) // 2, total // 2}):
            before = 0
            for b in sorted(hist):
                if rank < before + hist[b]:
                    picks.append((b, rank - before))
                    wanted.append((k, b, rank - before))
                    break
                before += hist[b]
        plan[k] = picks
    if not wanted:
        return {}
    # One query per distinct bucket (usually one or two), all keys at once.
    rows: list[dict[str, Any]] = []
    for bucket in sorted({w[1] for w in wanted}):
        mine = [w for w in wanted if w[1] == bucket]
        for r in _rows(conn, sql("kpi_bucket_values").format(key=key, where=where), {
            **params, "lo": start, "hi": end, "to": end, "bucket": bucket,
            "keys": [w[0] for w in mine], "ranks": [w[2] for w in mine],
        }):
            rows.append({**r, "bucket": bucket})
    found = {(r["key"], r["bucket"], r["rank"]): r for r in rows}
    medians: dict[Any, float | None] = {}
    for k, picks in plan.items():
        values = []
        for b, rank in picks:
            r = found.get((k, b, rank))
            if r is None or r["n"] != buckets[k][b]:
                log.warning("kpi roll-up stale for %r bucket %s; answering from event", k, b)
                return None
            values.append(r["hours"])
        lo, hi = values[0], values[-1]
        # percentile_cont(0.5): the lower middle value plus half the gap to the upper one.
        medians[k] = lo + (hi - lo) * 0.5 if len(values) == 2 else lo
    return medians


def _kpis_by_key(conn: Any, unit: Unit, key_len: int | None, start: datetime, end: datetime,
                 filters: Mapping[str, Any] | None, grids: list[str] | None = None,
                 counts_only: bool = False) -> dict[Any, dict[str, Any]]:
    started = time.perf_counter()
    use_rollup = unit.level in ROLLUP_LEVELS and (key_len is None or key_len <= 6) and all(
        k in ROLLUP_FILTERS for k, v in (filters or {}).items() if v not in (None, "", []))
    result = _from_rollups(conn, unit, key_len, start, end, filters, counts_only) \
        if use_rollup else None
    path = "rollup"
    if result is None:
        result = _direct(conn, unit, key_len, start, end, filters, grids, counts_only)
        path = "event"
        result = {k or None: v for k, v in result.items()} if key_len else result
    log.debug("kpi %s %s by %s via %s: %.1f ms", unit.level, unit.code, key_len, path,
              (time.perf_counter() - started) * 1000)
    return result


def _empty() -> dict[str, Any]:
    return _finish({}, None)


# ---------------------------------------------------------------- public API


def unit_kpis(conn: Any, unit_code: str | None, start: datetime, end: datetime,
              filters: Mapping[str, Any] | None = None, *, grids: list[str] | None = None,
              counts_only: bool = False) -> dict[str, Any]:
    """KPIs of one unit (None = the city) for cases reported in ``[start, end)``.

    ``filters``: optional ``{"channel": ..., "major": ..., "category": ...}`` (str or list).
    ``grids``: a street's or community's grid codes as ``dashboard.queries.unit_grids`` gives
    them (saves looking them up again).
    ``counts_only``: the counts and rates alone (the dashboard's tiles): no median handling
    time and no open-case state (``median_handling_hours``, ``overdue_open``, ``due_2h``
    None), which are most of the roll-up path's statements (the handling-time histogram, its
    bucket values, the open roll-up). Without the median, a stale roll-up is not noticed
    (the full path answers from ``event`` when a bucket disagrees).
    Keys: received, closed, closure_rate, on_time_rate, overdue_open, due_2h,
    mean_handling_hours, median_handling_hours, reopen_rate, extension_rate, satisfaction,
    rated, provisional.
    """
    start, end = _check_window(start, end)
    unit = resolve_unit(conn, unit_code)
    by_key = _kpis_by_key(conn, unit, None, start, end, filters, grids, counts_only)
    return next(iter(by_key.values()), _finish({}, None, not counts_only))


def children_kpis(conn: Any, unit_code: str | None, start: datetime, end: datetime,
                  filters: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """KPIs of each unit directly below ``unit_code`` (None = the city's districts).

    Returns ``[{"unit": code, "name": name, "kpis": {...}}]`` in code order: every child
    unit (zeros included), then any code not in ``admin_unit``, then — at city level, when
    there are any — the cases without a location as ``{"unit": None, "name": "无位置"}``.
    The children's counts add up to ``unit_kpis`` of the unit.
    """
    start, end = _check_window(start, end)
    unit = resolve_unit(conn, unit_code)
    key_len = CHILD_LENGTH[unit.level]
    if key_len is None:
        return []
    by_key = _kpis_by_key(conn, unit, key_len, start, end, filters)
    names = {r["code"]: r["name"]
             for r in _rows(conn, sql("kpi_children"), {"parent": unit.code})} if unit.code else {}
    out = [{"unit": code, "name": name, "kpis": by_key.pop(code, None) or _empty()}
           for code, name in names.items()]
    nowhere = by_key.pop(None, None)
    out += [{"unit": code, "name": None, "kpis": k} for code, k in sorted(by_key.items())]
    if nowhere is not None and nowhere["received"]:
        out.append({"unit": None, "name": "无位置", "kpis": nowhere})
    return out


def baseline_kpis(conn: Any, unit_code: str | None, start: datetime, end: datetime,
                  filters: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The same KPIs as ``unit_kpis`` computed straight from ``event`` (no roll-ups)."""
    start, end = _check_window(start, end)
    unit = resolve_unit(conn, unit_code)
    return next(iter(_direct(conn, unit, None, start, end, filters).values()), _empty())
