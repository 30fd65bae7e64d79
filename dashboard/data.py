"""What each view shows, assembled from ``dashboard.queries`` through the query cache.

Callbacks and layouts call these; they hold no SQL and open no connections themselves.
One ``Reader`` per request borrows at most one read-only pooled connection, lazily, so a
fully cached answer never touches the database.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

import psycopg2
from dash.development.base_component import Component

from cityscreen import db
from cityscreen.settings import get_settings
from dashboard import queries
from dashboard.cache import QueryCache, query_cache
from dashboard.state import ViewState, window_bounds

Row = dict[str, Any]

# What a request may meet when the database goes away: keep the last data and say so.
log = logging.getLogger("cityscreen.dashboard")
DB_ERRORS = (db.DatabaseError, psycopg2.Error)


class Reader(AbstractContextManager["Reader"]):
    """A request's view of the database: cached queries over one lazily borrowed connection."""

    def __init__(self, version: Any = None, cache: QueryCache | None = None) -> None:
        self.cache = cache or query_cache()
        self._cm: Any = None
        self._conn: db.Connection | None = None
        self._serial = False
        self.version = version

    def __enter__(self) -> Reader:
        if self.version is None:
            try:
                self.version = self.fetch_version()["version"]
            except BaseException:
                self.__exit__(*sys.exc_info())
                raise
        return self

    def _borrow(self) -> db.Connection:
        if self._conn is None:
            self._cm = db.transaction("reader")
            self._conn = self._cm.__enter__()
        return self._conn

    def conn(self) -> db.Connection:
        """The borrowed read-only connection (opened on first use), without parallel plans.

        The screen's statements are short index reads; starting parallel workers costs more
        than they do on a small shared machine. A Gather planned for a roll-up branch whose
        one-time filter is false still launched its two workers: 70 ms of a district's 30-day
        trend that itself took 5 ms. (``dashboard.kpi`` does the same for its roll-up path.)
        """
        if not self._serial:
            with self._borrow().cursor() as cur:
                cur.execute("SET LOCAL max_parallel_workers_per_gather = 0")
            self._serial = True
        return self._borrow()

    def fetch_version(self) -> Row:
        """``data_version`` straight from the database (never cached)."""
        return queries.current_version(self._borrow())

    def run(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(conn, *args)`` through the cache, keyed by (name, args, data_version)."""
        return self.cache.get_or_compute(name, args, self.version, lambda: fn(self.conn(), *args))

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._cm is not None:
            self._cm.__exit__(et, ev, tb)
            self._cm = self._conn = None
            self._serial = False


def kpi_module() -> Any | None:
    """``dashboard.kpi`` (the closed-loop KPI definitions) once it exists, else None."""
    if importlib.util.find_spec("dashboard.kpi") is None:
        return None
    return importlib.import_module("dashboard.kpi")


def now_local() -> datetime:
    """Now in the configured time zone."""
    return datetime.now(get_settings().tz)


# ------------------------------------------------------------------ units


def resolve_unit(r: Reader, code: str | None) -> Row | None:
    """The unit for ``code``, or the city when the code is missing or unknown; a street or
    community carries its grid codes (``queries.unit_grids``), looked up once for the view's
    statements."""
    unit = r.run("unit_info", queries.unit_info, code) if code else None
    unit = unit or r.run("root_unit", queries.root_unit)
    if unit is not None and unit["level"] in queries.GRID_SET_LEVELS:
        unit = {**unit, "grids": r.run("unit_grids", queries.unit_grids, unit["code"])}
    return unit


def breadcrumb(r: Reader, unit: Row) -> list[Row]:
    """City → … → unit."""
    return r.run("ancestors", queries.ancestors, unit["code"])


# ------------------------------------------------------------------ values


def metric_values(rows: list[Row], units: list[Row], metric: str) -> dict[str, float | None]:
    """The chosen metric per child code (None where it is undefined)."""
    by_code = {r["code"]: r for r in rows}
    out: dict[str, float | None] = {}
    for u in units:
        r = by_code.get(u["code"], {})
        received = int(r.get("received", 0))
        if metric == "per10k":
            pop = u.get("population") or 0
            out[u["code"]] = round(received * 10000 / pop, 2) if pop else None
        elif metric == "overdue":
            out[u["code"]] = int(r.get("overdue", 0))
        elif metric == "ontime":
            closed = int(r.get("closed", 0))
            out[u["code"]] = round(100 * int(r.get("closed_on_time", 0)) / closed, 1) \
                if closed else None
        else:
            out[u["code"]] = received
    return out


def tiles(r: Reader, unit: Row, state: ViewState, now: datetime) -> dict[str, Any]:
    """The KPI tiles' numbers for the unit (the one place to swap in ``dashboard.kpi``)."""
    tz = get_settings().tz
    f = state.filters()
    start, end = window_bounds(state, tz, now)
    day0 = now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    minute_end = end  # now rounded up to the minute, stable for caching
    today = r.run("count_between", queries.count_between, unit, day0, minute_end, f)
    yday = r.run("count_between", queries.count_between, unit, day0 - timedelta(days=1),
                 minute_end - timedelta(days=1), f)
    hotline = r.run("count_between", queries.count_between, unit, day0, minute_end,
                    {**f, "channel": "hotline_12345"})
    opened = r.run("open_counts", queries.open_counts, unit, f,
                   now.replace(second=0, microsecond=0))
    cams = r.run("camera_status", queries.camera_status, unit)
    kpi = kpi_module()
    if kpi is not None:
        code = None if unit["level"] == "city" else unit["code"]
        # dashboard.kpi knows channel and class filters; a status filter does not apply to
        # closure rates (a closed-only or open-only view has no on-time rate to speak of).
        kf = {k: v for k, v in f.items() if k in ("channel", "major")} or None
        k = r.cache.get_or_compute("kpi.unit_rates", (code, start, end, kf), r.version,
                                   lambda: kpi.unit_kpis(r.conn(), code, start, end, kf,
                                                         grids=unit.get("grids"),
                                                         counts_only=True))
        on_time, satisfaction = k.get("on_time_rate"), k.get("satisfaction")
    else:
        c = r.run("unit_counts", queries.unit_counts, unit, start, end, f)
        on_time = c["closed_on_time"] / c["closed"] if c["closed"] else None
        satisfaction = c["satisfied"] / c["rated"] if c["rated"] else None
    return {
        "events_today": today,
        "events_delta": today - yday,
        "open": opened["open"],
        "overdue": opened["overdue"],
        "on_time_rate": on_time,
        "satisfaction": satisfaction,
        "hotline_today": hotline,
        "cameras_online": cams["online"] / cams["total"] if cams["total"] else None,
    }


def trends(r: Reader, unit: Row, state: ViewState, now: datetime) -> dict[str, Any]:
    """Last 24 h by hour against yesterday and last week; 30 days by day; categories."""
    f = state.filters()
    hour_end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    hours = [hour_end - timedelta(hours=24 - i) for i in range(24)]

    def series(shift: timedelta) -> list[int]:
        rows = r.run("hourly_counts", queries.hourly_counts, unit, hours[0] - shift,
                     hour_end - shift, f)
        got = {row["t"]: row["n"] for row in rows}
        return [int(got.get(h - shift, 0)) for h in hours]

    day_end = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    days = [day_end - timedelta(days=30 - i) for i in range(30)]
    drows = r.run("daily_counts", queries.daily_counts, unit, days[0], day_end, f)
    dgot = {row["t"].date(): row["n"] for row in drows}
    start, end = window_bounds(state, get_settings().tz, now)
    cats = r.run("category_counts", queries.category_counts, unit, start, end, f)
    return {
        "hours": [h.strftime("%H:00") for h in hours],
        "today": series(timedelta(0)),
        "yesterday": series(timedelta(days=1)),
        "last_week": series(timedelta(days=7)),
        "days": [d.strftime("%m-%d") for d in days],
        "daily": [int(dgot.get(d.date(), 0)) for d in days],
        "categories": cats[:12],
    }


def overview_values(r: Reader, unit: Row, state: ViewState, now: datetime,
                    units: list[Row]) -> dict[str, Any]:
    """Everything on the overview that changes with new data (what a live refresh sends)."""
    start, end = window_bounds(state, get_settings().tz, now)
    f = state.filters()
    rows = r.run("children_values", queries.children_values, unit, start, end, f)
    values = metric_values(rows, units, state.metric)
    names = {u["code"]: u["name"] for u in units}
    ranking = sorted(
        ({"code": c, "name": names[c], "value": v} for c, v in values.items()),
        key=lambda x: (x["value"] is None, -(x["value"] or 0), x["code"]))
    out: dict[str, Any] = {
        "values": values,
        "ranking": ranking,
        "tiles": tiles(r, unit, state, now),
        "trends": trends(r, unit, state, now),
        "ticker": r.run("ticker", queries.ticker, unit, now.replace(second=0, microsecond=0),
                        f),
        "heat": [],
    }
    if queries.CHILD_LEVEL.get(unit["level"]) == "grid":
        out["heat"] = r.run("event_points", queries.event_points, unit, start, end, f)
    return out


def plain(node: Any) -> Any:
    """A component tree as the data Dash sends for it: each component its ``to_plotly_json``
    dict, with the components in its props (and in lists of them) turned into dicts too.
    Dicts are left as they are (figures hold no components); anything missed still encodes,
    only slower."""
    if isinstance(node, Component):
        d = node.to_plotly_json()
        d["props"] = {k: plain(v) for k, v in d["props"].items()}
        return d
    if isinstance(node, (list, tuple)) and any(isinstance(x, Component) for x in node):
        return [plain(x) for x in node]
    return node


def cached_view(name: str, key: Any, build: Callable[[Any], Any],
                unavailable: Callable[[str], Any]) -> Any:
    """A rendered view through the query cache, keyed by (key, minute, data_version); when
    the database cannot be reached, ``unavailable(first line of the error)`` instead.

    The view is cached as ``plain`` data: a hit unpickles dicts and lists (not component
    objects) and Dash encodes them without a ``to_plotly_json`` call per component, which
    was most of a warm drill-down's time."""
    try:
        with Reader() as r:
            version = r.version
        minute = now_local().strftime("%Y%m%d%H%M")
        return query_cache().get_or_compute(f"view:{name}", (key, minute), version,
                                            lambda: plain(build(version)))
    except DB_ERRORS as exc:
        log.warning("%s render without database: %s", name, exc)
        return unavailable(str(exc).strip().splitlines()[0])


def overview_model(state: ViewState, now: datetime | None = None, version: Any = None
                   ) -> dict[str, Any]:
    """The whole overview of ``state``: unit, breadcrumb, geometry and values."""
    now = now or now_local()
    with Reader(version) as r:
        unit = resolve_unit(r, state.unit)
        if unit is None:
            return {"version": r.version, "unit": None}
        geom = r.run("children_geometry", queries.children_geometry, unit["code"])
        model = {
            "version": r.version,
            "unit": unit,
            "crumbs": breadcrumb(r, unit),
            "units": geom["units"],
            "bbox": geom["bbox"],
            "fc": geom["fc"],
            "majors": r.run("major_categories", queries.major_categories),
            "cameras": r.run("cameras_in", queries.cameras_in, unit) if state.cams else [],
        }
        model.update(overview_values(r, unit, state, now, geom["units"]))
        return model


def refresh_values(state: ViewState, version: Any, now: datetime | None = None
                   ) -> dict[str, Any]:
    """Only the values of the overview at ``version`` (for a live Patch)."""
    now = now or now_local()
    with Reader(version) as r:
        unit = resolve_unit(r, state.unit)
        if unit is None:
            return {}
        geom = r.run("children_geometry", queries.children_geometry, unit["code"])
        out = overview_values(r, unit, state, now, geom["units"])
        out["units"] = geom["units"]
        if state.cams:
            out["cameras"] = r.run("cameras_in", queries.cameras_in, unit)
        return out


def geometry(code: str) -> dict[str, Any]:
    """The children FeatureCollection of a unit (served once per level to the browser)."""
    with Reader() as r:
        return r.run("children_geometry", queries.children_geometry, code)["fc"]


def grid_model(code: str, state: ViewState, now: datetime | None = None, version: Any = None
               ) -> dict[str, Any]:
    """A grid's cases, KPIs, outline, heat and cameras."""
    now = now or now_local()
    with Reader(version) as r:
        unit = resolve_unit(r, code)
        if unit is None:
            return {"version": r.version, "unit": None}
        start, end = window_bounds(state, get_settings().tz, now)
        f = state.filters()
        return {
            "version": r.version,
            "unit": unit,
            "crumbs": breadcrumb(r, unit),
            "outline": r.run("unit_geometry", queries.unit_geometry, unit["code"]),
            "cases": r.run("grid_cases", queries.grid_cases, unit, start, end, f),
            "tiles": tiles(r, unit, state, now),
            "heat": r.run("event_points", queries.event_points, unit, start, end, f),
            "cameras": r.run("cameras_in", queries.cameras_in, unit),
        }


def case_model(case_id: int) -> dict[str, Any]:
    """One case: detail, timeline, cameras within 300 m, its grid's outline and breadcrumb."""
    with Reader() as r:
        case = r.run("case_detail", queries.case_detail, case_id)
        if case is None:
            return {"version": r.version, "case": None}
        grid = r.run("unit_info", queries.unit_info, case["grid_code"]) \
            if case["grid_code"] else None
        return {
            "version": r.version,
            "case": case,
            "timeline": r.run("case_transitions", queries.case_transitions, case_id),
            "cameras": r.run("cameras_near", queries.cameras_near, case_id, 300.0),
            "crumbs": breadcrumb(r, grid) if grid else [],
            "outline": r.run("unit_geometry", queries.unit_geometry, grid["code"])
            if grid else None,
        }


def health() -> dict[str, Any]:
    """Database status, data_version and the age of the last batch (``/healthz``)."""
    try:
        with Reader(version="health", cache=QueryCache(None, "none")) as r:
            v = r.fetch_version()
    except DB_ERRORS as exc:
        return {"database": "down", "error": str(exc).strip().splitlines()[0],
                "data_version": None, "last_batch_age_s": None}
    finished = v.get("last_batch_finished") or v.get("updated_at")
    age = (datetime.now(finished.tzinfo) - finished).total_seconds() if finished else None
    return {"database": "ok", "data_version": v["version"],
            "last_batch_id": v.get("last_batch_id"),
            "last_batch_age_s": round(age, 1) if age is not None else None}
