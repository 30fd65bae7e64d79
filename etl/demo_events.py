"""Realistic demo events for the demo city, written as feed files and loaded through the pipeline.

`generate()` builds, for the city already in PostGIS (grids from ``admin_unit``, taxonomy from
``category``), ``days`` days of cases ending at ``end`` (default: now):

* a diurnal rhythm per channel (grid workers on shift, hotline calls in waking hours, cameras
  all day), a weekly rhythm (grid workers thin out at weekends and on public holidays),
  a seasonal drift per major class and a slow upward trend;
* a channel mix of about 2/3 grid workers, 1/3 12345 hotline and a few percent video-AI alerts;
  hotline tickets come partly in BD-09/GCJ-02, some address-only, with callback satisfaction;
* the case lifecycle per category deadline: accepted → dispatched → resolved → verified →
  closed, with a few percent overdue (escalated), returned, extended and reopened cases, and
  recent cases still open at ``end``;
* cameras denser in the urban core, some offline or faulty;
* planted hotspots (grid, window, category, intensity), written to a ground-truth JSON file
  so that hotspot detection can be scored.

Every calendar day draws from its own random stream seeded by ``(seed, date)``, so a re-run
on the same day reproduces the same files, and a later re-run repeats the earlier days' cases
(same ids, same content, only their lifecycle has advanced). The feed files follow FEEDS.md
and are loaded with ``etl.pipeline.load_file`` like any city export.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from cityscreen.db import Connection
from cityscreen.settings import get_settings

log = logging.getLogger("cityscreen.etl.demo")

GRID_WORKER, HOTLINE, VIDEO_AI = 0, 1, 2
CHANNELS = ("grid_worker", "hotline_12345", "video_ai")
CHANNEL_SHARE = np.array([0.63, 0.33, 0.04])

HOUR = 3600
DAY = 24 * HOUR

# ---------------------------------------------------------------- rhythms and mixes

# Relative volume per hour of day (local time), per channel.
DIURNAL = np.array([
    # hours 0..11 | 12..23
    [0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.6, 2.0, 6.5, 9.0, 9.5, 8.0,
     3.5, 3.0, 7.0, 8.5, 8.0, 6.0, 2.5, 1.2, 0.9, 0.6, 0.4, 0.3],  # grid workers: on shift
    [0.6, 0.3, 0.2, 0.2, 0.2, 0.4, 1.2, 3.5, 6.5, 8.0, 8.2, 7.0,
     5.5, 5.0, 6.5, 7.0, 6.8, 6.0, 5.2, 5.5, 5.5, 4.6, 3.0, 1.5],  # hotline: waking hours
    [1.0, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 3.0, 4.5, 4.5, 4.2, 4.5,
     5.0, 4.2, 4.0, 4.2, 4.8, 5.8, 6.5, 7.0, 6.8, 5.5, 3.5, 2.0],  # cameras: evening markets
])
DIURNAL = DIURNAL / DIURNAL.sum(axis=1, keepdims=True)

# Volume on a rest day (weekend or public holiday) relative to a working day, per channel.
REST_DAY_FACTOR = np.array([0.45, 0.8, 1.05])

# Major-class mix per channel (classes 01..12 of the default taxonomy); unknown classes get 0.02.
MAJOR_MIX: dict[str, tuple[float, float, float]] = {
    #       grid   hotline video
    "01": (0.30, 0.12, 0.40),
    "02": (0.22, 0.08, 0.45),
    "03": (0.07, 0.10, 0.00),
    "04": (0.01, 0.02, 0.02),
    "05": (0.10, 0.12, 0.00),
    "06": (0.05, 0.04, 0.00),
    "07": (0.06, 0.08, 0.13),
    "08": (0.03, 0.14, 0.00),
    "09": (0.06, 0.05, 0.00),
    "10": (0.03, 0.10, 0.00),
    "11": (0.02, 0.12, 0.00),
    "12": (0.05, 0.03, 0.00),
}
# Seasonal amplitude and peak day-of-year per major class (greenery and smells peak in summer).
SEASON: dict[str, tuple[float, int]] = {
    "01": (0.10, 200), "02": (0.12, 180), "03": (0.15, 120), "04": (0.35, 200),
    "05": (0.10, 20), "06": (0.40, 170), "07": (0.05, 30), "08": (0.05, 30),
    "09": (0.15, 15), "10": (0.30, 200), "11": (0.08, 20), "12": (0.05, 100),
}
# Subitems a camera's AI model detects (by name); any other subitem never comes from video_ai.
VIDEO_SUBITEMS = ("暴露垃圾", "垃圾满溢", "道路遗撒", "店外经营", "占道经营", "流动摊贩",
                  "露天烧烤", "乱堆物堆料", "违章停车", "机动车违停", "非机动车乱停放", "违停")

INTAKE = (("phone", 0.58), ("wechat", 0.17), ("app", 0.11), ("web", 0.10), ("other", 0.04))
HOTLINE_CRS = (("bd09", 0.42), ("gcj02", 0.34), ("wgs84", 0.14), ("", 0.10))  # "" = address only
SATISFACTION = np.array([0.04, 0.04, 0.08, 0.16, 0.68])  # scores 1..5

ROADS = ("人民路", "长虹路", "春园路", "解放路", "中原路", "建设路", "大庆路", "檀溪路", "襄阳大道",
         "长征路", "前进路", "汉江路", "胜利街", "丹江路", "航空路", "邓城大道", "卧龙大道",
         "环城东路", "环城西路", "铁佛寺路", "米公路", "定中街", "荆州街", "北京路", "清河路",
         "炮铺街", "樊西路", "新华路", "民发路", "七里河路", "东风路", "广场路", "东津大道")
PLACES = ("路口", "公交站", "小区门口", "菜市场", "学校门口", "广场", "商业街", "公园东门",
          "农贸市场", "医院门口", "地铁口", "停车场")

# Department per major class: (template, weight); {city} {district} {office} are filled in
# ({office}: the 街道办事处 of a street, the 人民政府 of a town 镇 / township 乡).
DEPTS: dict[str, tuple[tuple[str, float], ...]] = {
    "01": (("{district}城管局", 0.7), ("{office}", 0.3)),
    "02": (("{district}城管局", 0.6), ("{office}", 0.4)),
    "03": (("{district}住建局", 0.6), ("{district}城管局", 0.4)),
    "04": (("{district}应急管理局", 0.7), ("{district}消防救援大队", 0.3)),
    "05": (("{district}住建局", 0.45), ("{city}水务集团", 0.2), ("国网{city}供电公司", 0.15),
           ("{office}", 0.2)),
    "06": (("{city}园林局", 0.6), ("{district}城管局", 0.4)),
    "07": (("{district}交警大队", 0.8), ("{district}交通运输局", 0.2)),
    "08": (("{office}", 0.7), ("{district}信访局", 0.3)),
    "09": (("{district}应急管理局", 0.5), ("{district}住建局", 0.25), ("{office}", 0.25)),
    "10": (("{city}生态环境局{district}分局", 0.8), ("{district}城管局", 0.2)),
    "11": (("{district}民政局", 0.35), ("{district}人社局", 0.25), ("{office}", 0.4)),
    "12": (("{office}", 1.0),),
}
DEFAULT_DEPTS = (("{office}", 1.0),)

# Lifecycle rates (fractions of cases).
# Grid-worker cases come with their lifecycle inline up to this many days before `end`; the
# later steps are loaded as status updates (the live path of a city's export).
RECENT_DAYS = 3
P_STUCK = 0.012  # dragging on for several deadlines: the overdue tail
P_EXTENDED = 0.03
P_RETURNED = 0.025
P_REOPENED = 0.02
RESOLVE_MEDIAN = 0.35  # time to close, as a fraction of the time the deadline allows
RESOLVE_SIGMA = 0.55  # lognormal spread: ~3 % of cases close after their deadline

# ---------------------------------------------------------------- city context


@dataclass
class CityContext:
    """What the generator needs from the database: grids, names, taxonomy."""

    city_code: str
    city_name: str
    grid_codes: NDArray[np.str_]
    grid_names: list[str]
    district_names: list[str]  # per grid
    street_names: list[str]  # per grid
    grid_weight: NDArray[np.float64]  # relative event volume (urban core heavier), sums to 1
    pools_lon: NDArray[np.float64]  # (n_grids, POOL) points inside each grid, WGS-84
    pools_lat: NDArray[np.float64]
    cat_codes: NDArray[np.str_]  # subitems
    cat_names: list[str]
    cat_major: NDArray[np.str_]
    cat_deadline_h: NDArray[np.float64]  # deadline in wall-clock hours (work time approximated)
    major_codes: list[str]
    center: tuple[float, float]
    cat_rule_value: NDArray[np.float64] | None = None  # the category's deadline rule
    cat_rule_unit: NDArray[np.object_] | None = None
    calendar: Any = None  # etl.workcal.WorkCalendar: the deadlines the pipeline will compute

    def deadlines(self, reported: NDArray[np.float64], cat: NDArray[np.int32]
                  ) -> NDArray[np.float64]:
        """Deadline (epoch seconds) of cases reported at ``reported`` in subitems ``cat``."""
        approx = reported + self.cat_deadline_h[cat] * HOUR
        if self.calendar is None or self.cat_rule_value is None or len(reported) == 0:
            return approx
        starts = pd.to_datetime(reported, unit="s", utc=True)
        at, _ = self.calendar.deadlines(starts, self.cat_rule_value[cat],
                                        self.cat_rule_unit[cat])  # type: ignore[index]
        exact = at.as_unit("s").asi8.astype(np.float64)
        return np.where(at.isna(), approx, exact)


POOL = 256

_GRIDS_SQL = """
SELECT g.code, g.name, d.name AS district, s.name AS street, g.population,
       ST_AsBinary(g.geom) AS wkb
FROM admin_unit g
LEFT JOIN admin_unit d ON d.code = left(g.code, 6)
LEFT JOIN admin_unit s ON s.code = left(g.code, 9)
WHERE g.level = 'grid' {city_filter}
ORDER BY g.code
"""
_CITY_SQL = """
SELECT code, name, ST_X(ST_Centroid(geom)), ST_Y(ST_Centroid(geom))
FROM admin_unit WHERE level = 'city' {city_filter} ORDER BY code LIMIT 1
"""
_CATEGORY_SQL = """
SELECT c.code, c.name, c.parent, coalesce(c.deadline_value, p.deadline_value, 5),
       coalesce(c.deadline_unit, p.deadline_unit, 'workdays')
FROM category c LEFT JOIN category p ON p.code = c.parent
WHERE c.parent IS NOT NULL
ORDER BY c.code
"""


def wall_hours(value: float, unit: str) -> float:
    """Approximate wall-clock hours of a deadline (the pipeline computes the exact one)."""
    value = float(value)
    if unit == "hours":
        return value
    if unit == "days":
        return value * 24
    if unit == "workhours":  # 8 working hours a day, spread over evenings and weekends
        return value * 3.0 if value <= 8 else value / 8 * 24 * 1.4
    return value * 24 * 1.4  # workdays


def load_city(conn: Connection, city_code: str | None = None, seed: int = 1) -> CityContext:
    """Read the grids and the taxonomy of the demo city from PostGIS."""
    city_filter = "AND code = %s" if city_code else ""
    params = (city_code,) if city_code else ()
    with conn.cursor() as cur:
        cur.execute(_CITY_SQL.format(city_filter=city_filter), params)
        row = cur.fetchone()
        if city_code and row is None:
            raise ValueError(f"no city {city_code} in admin_unit")
        grid_filter = "AND g.code LIKE %s" if row else ""
        gparams = (row[0][:4] + "%",) if row else ()
        cur.execute(_GRIDS_SQL.format(city_filter=grid_filter), gparams)
        grids = cur.fetchall()
        cur.execute(_CATEGORY_SQL)
        cats = cur.fetchall()
    if not grids:
        raise ValueError("no grids in admin_unit: run `cityscreen demo generate` first")
    if not cats:
        raise ValueError("the category table is empty: run `cityscreen db migrate`")
    geoms = shapely.from_wkb([bytes(g[5]) for g in grids])
    cent = shapely.centroid(geoms)
    cx, cy = shapely.get_x(cent), shapely.get_y(cent)
    if row:
        city_code, city_name, center = row[0], row[1], (float(row[2]), float(row[3]))
    else:
        city_code, city_name = grids[0][0][:4] + "00", "本市"
        center = (float(np.average(cx)), float(np.average(cy)))
    pops = np.array([g[4] if g[4] is not None else np.nan for g in grids], dtype=float)
    # Volume follows population where known, else falls off with distance from the centre.
    dist_km = np.hypot((cx - center[0]) * 94.0, (cy - center[1]) * 111.0)
    weight = np.exp(-dist_km / 6.0) + 0.08
    if np.isfinite(pops).all() and pops.sum() > 0:
        weight = 0.5 * weight / weight.sum() + 0.5 * pops / pops.sum()
    weight = weight / weight.sum()
    pools_lon, pools_lat = _point_pools(geoms, np.random.default_rng([seed, 7]))
    deadline_h = np.array([wall_hours(c[3], c[4]) for c in cats])
    from etl.workcal import WorkCalendar

    return CityContext(
        city_code=city_code, city_name=city_name,
        grid_codes=np.array([g[0] for g in grids]),
        grid_names=[g[1] for g in grids],
        district_names=[g[2] or "市辖区" for g in grids],
        street_names=[g[3] or g[1] for g in grids],
        grid_weight=weight, pools_lon=pools_lon, pools_lat=pools_lat,
        cat_codes=np.array([c[0] for c in cats]), cat_names=[c[1] for c in cats],
        cat_major=np.array([c[2] for c in cats]), cat_deadline_h=deadline_h,
        major_codes=sorted({c[2] for c in cats}), center=center,
        cat_rule_value=np.array([float(c[3]) for c in cats]),
        cat_rule_unit=np.array([c[4] for c in cats], dtype=object),
        calendar=WorkCalendar.from_db(conn),
    )


def _point_pools(geoms: NDArray[Any], rng: np.random.Generator
                 ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """POOL random points strictly inside each grid polygon (rejection sampling, vectorised)."""
    n = len(geoms)
    bounds = shapely.bounds(geoms)
    lon = np.empty((n, POOL))
    lat = np.empty((n, POOL))
    filled = np.zeros(n, dtype=int)
    shapely.prepare(geoms)
    for _ in range(12):
        todo = np.flatnonzero(filled < POOL)
        if len(todo) == 0:
            break
        k = POOL * 2
        gi = np.repeat(todo, k)
        x = rng.uniform(bounds[gi, 0], bounds[gi, 2])
        y = rng.uniform(bounds[gi, 1], bounds[gi, 3])
        ok = shapely.contains_xy(geoms[gi], x, y)
        # group the accepted points by grid in one pass
        order = np.argsort(gi[ok], kind="stable")
        acc_g, acc_x, acc_y = gi[ok][order], x[ok][order], y[ok][order]
        starts = np.searchsorted(acc_g, todo)
        ends = np.searchsorted(acc_g, todo, side="right")
        for g, s, e in zip(todo, starts, ends, strict=True):
            take = min(e - s, POOL - filled[g])
            lon[g, filled[g]:filled[g] + take] = acc_x[s:s + take]
            lat[g, filled[g]:filled[g] + take] = acc_y[s:s + take]
            filled[g] += take
    for g in np.flatnonzero(filled < POOL):  # slivers: fall back to a point on the surface
        p = shapely.point_on_surface(geoms[g])
        lon[g, filled[g]:] = shapely.get_x(p)
        lat[g, filled[g]:] = shapely.get_y(p)
    return lon, lat


# ---------------------------------------------------------------- hotspots


@dataclass
class Hotspot:
    """One planted anomaly: extra cases of one category in one grid during a window."""

    id: str
    grid: int
    start: float  # epoch seconds
    end: float
    category: int
    intensity: float  # the grid's volume is multiplied by this during the window
    baseline_per_day: float = 0.0
    extra_events: int = 0


def plant_hotspots(ctx: CityContext, start: float, end: float, per_day: int, seed: int,
                   n: int | None = None) -> list[Hotspot]:
    """Choose hotspot grids, windows, categories and intensities (two of them active at ``end``)."""
    rng = np.random.default_rng([seed, 99])
    days = (end - start) / DAY
    n = n if n is not None else int(np.clip(days // 20, 3, 12))
    # Urban grids are likelier, but not only the very centre.
    p = np.sqrt(ctx.grid_weight)
    grids = rng.choice(len(ctx.grid_codes), size=min(n, len(ctx.grid_codes)), replace=False,
                       p=p / p.sum())
    grid_major = _channel_cat_probs(ctx, GRID_WORKER, None)
    spots = []
    for k, g in enumerate(grids):
        length = float(rng.uniform(2, min(10, max(days, 2.5))))
        if k < 2:  # ongoing now: the live screen shows them
            w_end = end
            w_start = max(start, end - length * DAY)
        else:
            w_start = float(rng.uniform(start, max(start, end - length * DAY)))
            w_end = min(end, w_start + length * DAY)
        cat = int(rng.choice(len(ctx.cat_codes), p=grid_major))
        baseline = per_day * float(ctx.grid_weight[g])
        spots.append(Hotspot(id=f"H{k + 1:02d}", grid=int(g), start=w_start, end=w_end,
                             category=cat, intensity=round(float(rng.uniform(3, 6)), 1),
                             baseline_per_day=round(baseline, 2)))
    return spots


# ---------------------------------------------------------------- generation


@dataclass
class DemoData:
    """All generated cases, cameras and hotspots, as columns."""

    ctx: CityContext
    end: float
    tz_offset: int  # seconds east of UTC used for writing local times
    cols: dict[str, NDArray[Any]]
    cameras: dict[str, NDArray[Any]]
    hotspots: list[Hotspot] = field(default_factory=list)

    @property
    def n(self) -> int:
        """Number of cases."""
        return len(self.cols["channel"])


def _channel_cat_probs(ctx: CityContext, channel: int, doy: float | None) -> NDArray[np.float64]:
    """Probability of each subitem for a channel on a day of the year (seasonal drift)."""
    major_w = np.array([MAJOR_MIX.get(m, (0.02, 0.02, 0.0))[channel] for m in ctx.cat_major])
    if doy is not None:
        amp = np.array([SEASON.get(m, (0.05, 100))[0] for m in ctx.cat_major])
        peak = np.array([SEASON.get(m, (0.05, 100))[1] for m in ctx.cat_major])
        major_w = major_w * (1 + amp * np.cos(2 * np.pi * (doy - peak) / 365.25))
    if channel == VIDEO_AI:
        video = np.array([any(v in name for v in VIDEO_SUBITEMS) for name in ctx.cat_names])
        if not video.any():
            video = np.isin(ctx.cat_major, ctx.major_codes[:2])
        major_w = np.where(video, np.maximum(major_w, 0.05), 0.0)
    # Within a class a few subitems dominate (Zipf over the code order, "other" last and rare).
    w = np.zeros(len(ctx.cat_codes))
    for m in np.unique(ctx.cat_major):
        idx = np.flatnonzero(ctx.cat_major == m)
        zipf = 1.0 / np.arange(1, len(idx) + 1) ** 0.9
        if channel == VIDEO_AI:
            zipf = np.ones(len(idx))
        w[idx] = major_w[idx] * zipf / zipf.sum()
    return w / w.sum()


def _is_rest_day(d: date) -> bool:
    try:
        import chinese_calendar

        return not chinese_calendar.is_workday(d)
    except (NotImplementedError, ImportError):  # years the package does not know yet
        return d.weekday() >= 5


def _day_volumes(days: list[date], per_day: int) -> NDArray[np.float64]:
    """Expected cases per (day, channel): weekly rhythm, holidays, seasonal drift.

    A function of the date alone (not of the window asked for), so that every run
    draws the same cases for the same day.
    """
    rest = np.array([_is_rest_day(d) for d in days])
    doy = np.array([d.timetuple().tm_yday for d in days], dtype=float)
    season = 1 + 0.12 * np.cos(2 * np.pi * (doy - 200) / 365.25)
    week_mean = (5 + 2 * REST_DAY_FACTOR) / 7  # per channel: a week averages to 1
    week = np.where(rest[:, None], REST_DAY_FACTOR[None, :], 1.0) / week_mean[None, :]
    return week * season[:, None] * CHANNEL_SHARE[None, :] * per_day


def generate(ctx: CityContext, *, days: int = 180, per_day: int = 3000, seed: int = 1,
             end: datetime | None = None, n_cameras: int | None = None,
             n_hotspots: int | None = None) -> DemoData:
    """Generate ``days`` days of cases ending at ``end`` (default now), cameras and hotspots."""
    settings = get_settings()
    tz = settings.tz
    end_dt = (end or datetime.now(tz)).astimezone(tz)
    end_ts = end_dt.timestamp()
    tz_offset = int(end_dt.utcoffset().total_seconds())  # type: ignore[union-attr]
    first_day = end_dt.date() - timedelta(days=days - 1)
    day_list = [first_day + timedelta(days=i) for i in range(days)]
    start_ts = datetime(first_day.year, first_day.month, first_day.day, tzinfo=tz).timestamp()
    vols = _day_volumes(day_list, per_day)
    cameras = make_cameras(ctx, seed, end_ts, n_cameras)
    hotspots = plant_hotspots(ctx, start_ts, end_ts, per_day, seed, n_hotspots)
    parts = []
    for i, d in enumerate(day_list):
        day_start = datetime(d.year, d.month, d.day, tzinfo=tz).timestamp()
        rng = np.random.default_rng([seed, d.toordinal()])
        part = _day_cases(ctx, rng, d, day_start, vols[i], cameras, hotspots)
        parts.append(part)
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    keep = cols["reported"] <= end_ts
    cols = {k: v[keep] for k, v in cols.items()}
    for h in hotspots:
        h.extra_events = int(np.sum(cols["hotspot"] == int(h.id[1:])))
    data = DemoData(ctx=ctx, end=end_ts, tz_offset=tz_offset, cols=cols, cameras=cameras,
                    hotspots=hotspots)
    log.info("generated %d cases, %d cameras, %d hotspots", data.n, len(cameras["id"]),
             len(hotspots))
    return data


def _times_in_day(rng: np.random.Generator, channel: int, n: int, day_start: float
                  ) -> NDArray[np.float64]:
    hours = rng.choice(24, size=n, p=DIURNAL[channel])
    return day_start + hours * HOUR + rng.uniform(0, HOUR, size=n)


def _day_cases(ctx: CityContext, rng: np.random.Generator, d: date, day_start: float,
               volume: NDArray[np.float64], cameras: dict[str, NDArray[Any]],
               hotspots: Sequence[Hotspot]) -> dict[str, NDArray[Any]]:
    """All cases reported on one day, with their lifecycle."""
    doy = d.timetuple().tm_yday
    counts = rng.poisson(volume)
    chan, rep, grid, cat, cam, spot = [], [], [], [], [], []
    n_grids = len(ctx.grid_codes)
    for c in range(3):
        n = int(counts[c])
        chan.append(np.full(n, c, dtype=np.int8))
        rep.append(_times_in_day(rng, c, n, day_start))
        cat.append(rng.choice(len(ctx.cat_codes), size=n, p=_channel_cat_probs(ctx, c, doy)))
        if c == VIDEO_AI:
            online = cameras["p_alert"]
            k = rng.choice(len(online), size=n, p=online)
            cam.append(k)
            grid.append(cameras["grid"][k])
        else:
            cam.append(np.full(n, -1))
            grid.append(rng.choice(n_grids, size=n, p=ctx.grid_weight))
        spot.append(np.zeros(n, dtype=np.int16))
    # Planted hotspots: extra cases of their category in their grid during their window.
    day_end = day_start + DAY
    for h in hotspots:
        overlap = min(day_end, h.end) - max(day_start, h.start)
        if overlap <= 0:
            continue
        n = int(rng.poisson((h.intensity - 1) * h.baseline_per_day * overlap / DAY))
        c = np.where(rng.random(n) < 0.7, GRID_WORKER, HOTLINE).astype(np.int8)
        t = np.where(c == GRID_WORKER, _times_in_day(rng, GRID_WORKER, n, day_start),
                     _times_in_day(rng, HOTLINE, n, day_start))
        inside = (t >= h.start) & (t <= h.end)
        # times outside the window are redrawn uniformly inside it
        t = np.where(inside, t, rng.uniform(max(day_start, h.start), min(day_end, h.end), n))
        chan.append(c)
        rep.append(t)
        grid.append(np.full(n, h.grid))
        cat.append(np.full(n, h.category))
        cam.append(np.full(n, -1))
        spot.append(np.full(n, int(h.id[1:]), dtype=np.int16))
    cols: dict[str, NDArray[Any]] = {
        "channel": np.concatenate(chan), "reported": np.concatenate(rep),
        "grid": np.concatenate(grid).astype(np.int32), "cat": np.concatenate(cat).astype(np.int32),
        "camera": np.concatenate(cam).astype(np.int32), "hotspot": np.concatenate(spot),
    }
    order = np.argsort(cols["reported"], kind="stable")
    cols = {k: v[order] for k, v in cols.items()}
    n = len(order)
    # Location: a point inside the grid (video: the camera's position).
    pick = rng.integers(0, POOL, size=n)
    lon = ctx.pools_lon[cols["grid"], pick]
    lat = ctx.pools_lat[cols["grid"], pick]
    is_cam = cols["camera"] >= 0
    lon[is_cam] = cameras["lon"][cols["camera"][is_cam]]
    lat[is_cam] = cameras["lat"][cols["camera"][is_cam]]
    cols["lon"], cols["lat"] = lon, lat
    cols["date"] = np.full(n, int(d.strftime("%Y%m%d")), dtype=np.int32)
    cols["seq"] = np.arange(1, n + 1, dtype=np.int32)
    cols.update(_lifecycle(ctx, rng, cols))
    cols.update(_attributes(ctx, rng, cols))
    return cols


def _lognormal(rng: np.random.Generator, median: NDArray[Any] | float, sigma: float, n: int
               ) -> NDArray[np.float64]:
    return np.asarray(median) * np.exp(rng.normal(0.0, sigma, size=n))


def _lifecycle(ctx: CityContext, rng: np.random.Generator, cols: dict[str, NDArray[Any]]
               ) -> dict[str, NDArray[np.float64]]:
    """Timestamps of every lifecycle step (NaN = does not happen), per category deadline."""
    n = len(cols["reported"])
    ch = cols["channel"]
    t0 = cols["reported"]
    deadline = ctx.deadlines(t0, cols["cat"])
    dl = np.maximum(deadline - t0, 1800.0)  # wall-clock time allowed
    # Total time to 结案 per case: most well inside the deadline, a few percent late.
    total = _lognormal(rng, RESOLVE_MEDIAN * dl, RESOLVE_SIGMA, n)
    acc_median = np.select([ch == GRID_WORKER, ch == HOTLINE], [120.0, 420.0], 600.0)
    accepted = t0 + np.minimum(30 + _lognormal(rng, acc_median, 0.7, n), 0.04 * total)
    dispatched = accepted + np.minimum(60 + _lognormal(rng, 900.0, 0.8, n), 0.08 * total)
    # 回退: a few cases go back once and are dispatched again, to another department.
    ret_mask = rng.random(n) < P_RETURNED
    returned = np.where(ret_mask, dispatched + np.minimum(_lognormal(rng, 1800, 0.6, n),
                                                          0.1 * total), np.nan)
    redispatched = returned + np.minimum(_lognormal(rng, 1200, 0.6, n), 0.05 * total)
    # 延期: the department asks for more time before the deadline; the work then takes longer.
    extended_mask = rng.random(n) < P_EXTENDED
    total = np.where(extended_mask, _lognormal(rng, 1.2 * dl, 0.25, n), total)
    extended = np.where(extended_mask, t0 + np.minimum(0.6 * dl, 0.5 * total), np.nan)
    new_deadline = np.where(extended_mask, deadline + dl, np.nan)
    # The long tail: a few cases drag on for several deadlines (still open if recent).
    stuck = (rng.random(n) < P_STUCK) & ~extended_mask
    total = np.where(stuck, dl * rng.uniform(2.0, 12.0, n), total)
    closed = t0 + total
    resolved = t0 + total * rng.uniform(0.6, 0.85, n)
    verified = resolved + (closed - resolved) * rng.uniform(0.5, 0.9, n)
    final_deadline = np.where(extended_mask, new_deadline, deadline)
    # 督办: overdue cases are escalated after their deadline passes (before they are closed).
    late = np.isnan(closed) | (closed > final_deadline + 600)
    delay = _lognormal(rng, 1800, 0.5, n)
    delay = np.where(np.isnan(closed), delay, np.minimum(delay, (closed - final_deadline) / 2))
    escalated = np.where(late, final_deadline + delay, np.nan)
    # 重办: the caller or an inspector is not satisfied; the case runs through once more
    # (reopening puts it back at 派遣 dispatched).
    reopen_mask = (rng.random(n) < P_REOPENED) & ~np.isnan(closed)
    reopened = np.where(reopen_mask, closed + _lognormal(rng, 0.8 * DAY, 0.6, n), np.nan)
    re_resolved = reopened + _lognormal(rng, 0.3 * dl, 0.5, n)
    re_verified = re_resolved + _lognormal(rng, 1.2 * HOUR, 0.6, n)
    re_closed = re_verified + _lognormal(rng, 1200, 0.6, n)
    return {
        "accepted": accepted, "dispatched": dispatched, "returned": returned,
        "redispatched": redispatched, "extended": extended, "deadline": deadline,
        "new_deadline": new_deadline, "resolved": resolved, "escalated": escalated,
        "verified": verified, "closed": closed, "reopened": reopened,
"re_resolved": re_resolved,
        "re_verified": re_verified, "re_closed": re_closed,
    }


def _attributes(ctx: CityContext, rng: np.random.Generator, cols: dict[str, NDArray[Any]]
                ) -> dict[str, NDArray[Any]]:
    """Per-case attributes: department, priority, hotline intake/crs/satisfaction, reporter."""
    n = len(cols["reported"])
    dept_choice = rng.random(n)
    intake = rng.choice(len(INTAKE), size=n, p=[p for _, p in INTAKE])
    crs = rng.choice(len(HOTLINE_CRS), size=n, p=[p for _, p in HOTLINE_CRS])
    rated = rng.random(n) < 0.8
    score = rng.choice(5, size=n, p=SATISFACTION) + 1
    # Late or reopened cases leave callers less satisfied.
    unhappy = ~np.isnan(cols["escalated"]) | ~np.isnan(cols["reopened"])
    score = np.where(unhappy & (rng.random(n) < 0.6), np.minimum(score, rng.integers(1, 4, n)),
                     score)
    return {
        "dept_u": dept_choice, "dept_u2": rng.random(n), "intake": intake.astype(np.int8),
        "crs": crs.astype(np.int8), "satisfaction": np.where(rated, score, 0).astype(np.int8),
        "reporter": rng.integers(1, 40, size=n).astype(np.int16),
        "road": rng.integers(0, len(ROADS), size=n).astype(np.int16),
        "house": rng.integers(1, 300, size=n).astype(np.int16),
        "confidence": np.round(rng.uniform(0.62, 0.99, size=n), 2),
    }


def make_cameras(ctx: CityContext, seed: int, end: float, n: int | None = None
                 ) -> dict[str, NDArray[Any]]:
    """Cameras, denser in the urban core; a few offline or faulty."""
    rng = np.random.default_rng([seed, 5])
    n = n if n is not None else int(np.clip(len(ctx.grid_codes) * 8, 200, 5000))
    p = ctx.grid_weight ** 1.4
    grid = rng.choice(len(ctx.grid_codes), size=n, p=p / p.sum()).astype(np.int32)
    pick = rng.integers(0, POOL, size=n)
    status = rng.choice(3, size=n, p=[0.93, 0.05, 0.02])  # online, offline, fault
    ago = np.select([status == 0, status == 1],
                    [rng.uniform(5, 240, n), rng.uniform(3600, 5 * DAY, n)],
                    rng.uniform(DAY, 30 * DAY, n))
    p_alert = np.where(status == 0, 1.0, 0.05) * (0.3 + rng.random(n))
    return {
        "id": np.array([f"{ctx.city_code}CAM{i:05d}" for i in range(1, n + 1)]),
        "grid": grid, "lon": ctx.pools_lon[grid, pick], "lat": ctx.pools_lat[grid, pick],
        "status": status.astype(np.int8), "last_seen": end - ago,
        "road": rng.integers(0, len(ROADS), size=n), "place": rng.integers(0, len(PLACES), size=n),
        "owner": rng.choice(3, size=n, p=[0.6, 0.25, 0.15]),
        "p_alert": p_alert / p_alert.sum(),
    }


# ---------------------------------------------------------------- writing feed files


def _iso(ts: NDArray[np.float64], tz_offset: int) -> NDArray[np.object_]:
    """Epoch seconds → local ISO 8601 with offset ('' for NaN), vectorised via lookup tables."""
    ok = np.isfinite(ts)
    local = np.where(ok, ts, 0).astype(np.int64) + tz_offset
    day = local // DAY
    sec = local - day * DAY
    sign = "+" if tz_offset >= 0 else "-"
    suffix = f"{sign}{abs(tz_offset) // 3600:02d}:{abs(tz_offset) % 3600 // 60:02d}"
    d0, d1 = (int(day[ok].min()), int(day[ok].max())) if ok.any() else (0, 0)
    days = np.arange(d0, d1 + 1).astype("datetime64[D]")
    day_tab = np.array([f"{d}T" for d in np.datetime_as_string(days)], dtype=object)
    tod_tab = _time_of_day_table(suffix)
    out = day_tab[np.clip(day - d0, 0, len(day_tab) - 1)] + tod_tab[sec]
    out[~ok] = ""
    return out


@lru_cache(maxsize=4)
def _time_of_day_table(suffix: str) -> NDArray[np.object_]:
    s = np.arange(DAY)
    hms = zip(s // 3600, s // 60 % 60, s % 60, strict=True)
    return np.array([f"{h:02d}:{m:02d}:{x:02d}{suffix}" for h, m, x in hms], dtype=object)


def _strs(value: Any, n: int) -> Any:
    """A column as a sequence of str (floats with 6 decimals, the precision of the feeds)."""
    if isinstance(value, str):
        return repeat(value, n)
    arr = np.asarray(value)
    if arr.dtype.kind == "f":
        return [f"{v:.6f}" for v in arr.tolist()]
    if arr.dtype.kind in "iu" and n and arr.min() >= 0 and arr.max() < 4096:
        return np.array([str(i) for i in range(int(arr.max()) + 1)], dtype=object)[arr].tolist()
    if arr.dtype.kind == "O":
        return arr.tolist()
    return arr.astype(str).tolist()


def _write_csv(path: Path, columns: dict[str, Any]) -> None:
    """Write plain CSV fast; values are our own and never hold commas, quotes or newlines."""
    n = max(len(v) for v in columns.values() if not isinstance(v, str))
    lists = [_strs(v, n) for v in columns.values()]
    with path.open("w", encoding="utf-8") as f:
        f.write(",".join(columns) + "\n")
        if n:
            f.write("\n".join(map(",".join, zip(*lists, strict=False))) + "\n")


def source_ids(data: DemoData) -> NDArray[np.str_]:
    """Each case's id in its feed: channel prefix, local date, daily sequence number."""
    prefix = np.array(["GW", "XY", "AI"], dtype=object)[data.cols["channel"]]
    seq = data.cols["seq"]
    seq_tab = np.array([f"{i:06d}" for i in range(int(seq.max(initial=0)) + 1)], dtype=object)
    return prefix + data.cols["date"].astype(str).astype(object) + seq_tab[seq]


def departments(data: DemoData) -> NDArray[np.object_]:
    """Each case's handling department (and a second one for returned cases), by class."""
    ctx = data.ctx
    major = ctx.cat_major[data.cols["cat"]]
    out = np.empty(data.n, dtype=object)
    out2 = np.empty(data.n, dtype=object)
    for m in np.unique(major):
        options = DEPTS.get(str(m), DEFAULT_DEPTS)
        cum = np.cumsum([w for _, w in options])
        cum = cum / cum[-1]
        rows = np.flatnonzero(major == m)
        for col, u in ((out, data.cols["dept_u"]), (out2, data.cols["dept_u2"])):
            pick = np.minimum(np.searchsorted(cum, u[rows]), len(options) - 1)
            for j, (template, _) in enumerate(options):
                sel = rows[pick == j]
                grids = data.cols["grid"][sel]
                col[sel] = [template.format(city=ctx.city_name, district=ctx.district_names[g],
                                            office=street_office(ctx.street_names[g]))
                              for g in grids]
    data.cols["dept2"] = out2
    return out


def street_office(street: str) -> str:
    """The office handling a street's cases: 街道办事处, or a town's 人民政府."""
    return street + ("人民政府" if street.endswith(("镇", "乡")) else "办事处")


STEPS: tuple[tuple[str, str], ...] = (
    # (column, transition kind) in lifecycle order
    ("accepted", "accepted"), ("dispatched", "dispatched"), ("returned", "returned"),
    ("redispatched", "dispatched"), ("extended", "extended"), ("escalated", "escalated"),
    ("resolved", "resolved"), ("verified", "verified"), ("closed", "closed"),
    ("reopened", "reopened"), ("re_resolved", "resolved"),
    ("re_verified", "verified"), ("re_closed", "closed"),
)
RETURNED_TO = "accepted"


def transitions(data: DemoData, rows: NDArray[np.int64] | None = None) -> pd.DataFrame:
    """Lifecycle steps that happened by ``end``, one row per step, ordered by time."""
    cols = data.cols
    rows = np.arange(data.n) if rows is None else rows
    frames = []
    for order, (col, kind) in enumerate(STEPS):
        t = cols[col][rows]
        ok = np.isfinite(t) & (t <= data.end)
        sel = rows[ok]
        frames.append(pd.DataFrame({"row": sel, "at": t[ok], "kind": kind,
                                    "step": np.full(len(sel), order, dtype=np.int8)}))
    df = pd.concat(frames, ignore_index=True)
    return df.sort_values(["at", "row", "step"], kind="stable").reset_index(drop=True)


def current_status(data: DemoData) -> NDArray[np.str_]:
    """Each case's status at ``end`` (the last lifecycle step reached)."""
    cols = data.cols
    status = np.full(data.n, "reported", dtype=object)
    for col, kind in STEPS:
        t = cols[col]
        reached = np.isfinite(t) & (t <= data.end)
        if kind in ("extended", "escalated"):
            continue
        to = {"returned": RETURNED_TO, "reopened": "dispatched"}.get(kind, kind)
        status[reached] = to
    return status.astype(str)


def write_feeds(data: DemoData, out_dir: Path) -> dict[str, Path]:
    """Write cameras CSV, incidents / hotline / alerts JSONL, updates CSV; return paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    ctx, cols, off = data.ctx, data.cols, data.tz_offset
    sid = source_ids(data)
    dept = departments(data)
    cat_code = ctx.cat_codes[cols["cat"]]
    cat_name = np.array(ctx.cat_names, dtype=object)[cols["cat"]]
    road = np.array(ROADS, dtype=object)[cols["road"]]
    address = (np.array(ctx.district_names, dtype=object)[cols["grid"]] + road
               + cols["house"].astype(str).astype(object) + "号")
    reported_iso = _iso(cols["reported"], off)
    paths = {"cameras": out_dir / "cameras.csv", "incidents": out_dir / "incidents.jsonl",
             "hotline": out_dir / "hotline.jsonl", "alerts": out_dir / "alerts.jsonl",
             "updates": out_dir / "updates.csv"}
    _write_cameras(data, paths["cameras"])

    steps = transitions(data)
    # A grid-worker case carries its lifecycle up to RECENT_DAYS before `end` inline (the
    # city's case export); what happened since comes as separate status updates.
    step_channel = cols["channel"][steps["row"].to_numpy()]
    recent = steps["at"].to_numpy() > data.end - RECENT_DAYS * DAY
    inline = (step_channel == GRID_WORKER) & ~recent
    gw = np.flatnonzero(cols["channel"] == GRID_WORKER)
    _write_lines(paths["incidents"], (
        '{"event_id": "' + sid[gw] + '", "reported_at": "' + reported_iso[gw]
        + '", "category": "' + cat_code[gw].astype(object)
        + '", "lon": ' + np.array(_strs(cols["lon"][gw], len(gw)), dtype=object)
        + ', "lat": ' + np.array(_strs(cols["lat"][gw], len(gw)), dtype=object)
        + ', "crs": "wgs84", "description": ' + _json_strings(road[gw] + "附近" + cat_name[gw])
        + ', "reporter": "GW' + ctx.grid_codes[cols["grid"][gw]].astype(object)
        + np.array([f"{i:02d}" for i in range(100)], dtype=object)[cols["reporter"][gw]]
        + '", "grid_code": "' + ctx.grid_codes[cols["grid"][gw]].astype(object)
        + '", "priority": ' + _priority(data, gw).astype(str).astype(object)
        + _updates_field(data, gw, steps[inline], dept) + "}"))

    _write_hotline(data, paths["hotline"], sid, dept, cat_code, address, reported_iso, steps)
    _write_alerts(data, paths["alerts"], sid, cat_code)
    _write_updates(data, paths["updates"], sid, dept, steps[~inline])
    log.info("wrote demo feeds to %s in %.1f s", out_dir, time.perf_counter() - started)
    return paths


def _priority(data: DemoData, rows: NDArray[np.int64]) -> NDArray[np.int8]:
    """Mostly the normal priority 3; a few urgent (1) and high (2), some low (4)."""
    u = data.cols["dept_u2"][rows]
    return np.select([u < 0.03, u < 0.15, u > 0.9], [1, 2, 4], 3).astype(np.int8)


def _write_cameras(data: DemoData, path: Path) -> None:
    ctx, cam = data.ctx, data.cameras
    owner = np.array([f"{ctx.city_name}公安局", f"{ctx.city_name}城管局",
                      f"{ctx.city_name}交警支队"], dtype=object)[cam["owner"]]
    name = (np.array(ctx.district_names, dtype=object)[cam["grid"]]
            + np.array(ROADS, dtype=object)[cam["road"]]
            + np.array(PLACES, dtype=object)[cam["place"]])
    _write_csv(path, {
        "camera_id": cam["id"], "name": name,
        "lon": cam["lon"], "lat": cam["lat"], "crs": "wgs84",
        "status": np.array(["online", "offline", "fault"])[cam["status"]],
        "last_seen": _iso(cam["last_seen"], data.tz_offset),
        "stream_url": "rtsp://video.example.invalid/live/" + cam["id"].astype(object),
        "owner": owner,
    })


def _json_strings(values: NDArray[Any]) -> NDArray[np.object_]:
    """JSON string literals for an array of str, encoding each distinct value once."""
    uniq, inv = np.unique(np.asarray(values).astype(str), return_inverse=True)
    enc = np.array([json.dumps(u, ensure_ascii=False) for u in uniq], dtype=object)
    return enc[inv.reshape(-1)]


def _write_hotline(data: DemoData, path: Path, sid: NDArray[Any], dept: NDArray[Any],
                   cat_code: NDArray[np.str_], address: NDArray[Any], reported_iso: NDArray[Any],
                   steps: pd.DataFrame) -> None:
    """12345 tickets as JSON Lines, each with its updates inline (built column-wise for speed)."""
    from geo.coords import convert

    cols, off = data.cols, data.tz_offset
    rows = np.flatnonzero(cols["channel"] == HOTLINE)
    if len(rows) == 0:
        path.write_text("", encoding="utf-8")
        return
    crs = np.array([c for c, _ in HOTLINE_CRS], dtype=object)[cols["crs"][rows]]
    lon, lat = cols["lon"][rows].copy(), cols["lat"][rows].copy()
    for system in ("bd09", "gcj02"):
        m = crs == system
        if m.any():
            lon[m], lat[m] = convert(lon[m], lat[m], "wgs84", system)
    status = current_status(data)[rows]
    deadline_iso = _iso(cols["deadline"], off)  # the original one: extensions move it later
    intake = np.array([i for i, _ in INTAKE], dtype=object)[cols["intake"][rows]]
    hs = steps[np.isin(steps["row"].to_numpy(), rows)]
    upd = _update_objects(data, rows, hs, dept)
    kind = hs["kind"].to_numpy().astype(object)
    # The department holding the ticket now: the last one it was dispatched to.
    disp = hs[kind == "dispatched"]
    holder = dept.copy()
    last = disp.groupby("row").tail(1)
    holder[last["row"].to_numpy()] = np.where(last["step"].to_numpy() == 3,
                                              cols["dept2"][last["row"].to_numpy()],
                                              dept[last["row"].to_numpy()])
    loc = np.where(crs != "",
                   ', "lon": ' + np.array(_strs(lon, len(rows)), dtype=object)
                   + ', "lat": ' + np.array(_strs(lat, len(rows)), dtype=object)
                   + ', "crs": "' + crs + '"', "")
    sat = cols["satisfaction"][rows]
    rated = (status == "closed") & (sat > 0)
    sat_s = np.where(rated, ', "satisfaction": ' + sat.astype(str).astype(object), "")
    line = ('{"ticket_id": "' + sid[rows] + '", "received_at": "' + reported_iso[rows]
            + '", "intake": "' + intake + '", "category": "' + cat_code[rows].astype(object)
            + '", "address": ' + _json_strings(address[rows]) + loc
            + ', "dept": ' + _json_strings(holder[rows]) + ', "deadline_at": "'
            + deadline_iso[rows] + '", "status": "' + status.astype(object)
            + '", "updates": [' + upd + "]" + sat_s + "}")
    _write_lines(path, line)


def _update_objects(data: DemoData, rows: NDArray[np.int64], steps: pd.DataFrame,
                    dept: NDArray[Any]) -> NDArray[np.object_]:
    """Per case of ``rows``: its ``steps`` as comma-joined JSON update objects, in time order."""
    cols, off = data.cols, data.tz_offset
    r = steps["row"].to_numpy()
    kind = steps["kind"].to_numpy().astype(object)
    after_return = steps["step"].to_numpy() == 3
    step_dept = np.where(after_return, cols["dept2"][r], dept[r])
    frag = '{"status": "' + kind + '", "at": "' + _iso(steps["at"].to_numpy(), off) + '"'
    frag = np.where(kind == "dispatched", frag + ', "dept": ' + _json_strings(step_dept), frag)
    frag = np.where(kind == "extended",
                    frag + ', "deadline_at": "' + _iso(cols["new_deadline"][r], off) + '"', frag)
    frag = np.where(kind == "escalated", frag + ', "actor": "城运中心督办"', frag)
    frag = frag + "}"
    order = np.argsort(r, kind="stable")  # steps are in time order; keep it within a case
    r_sorted = r[order]
    frags = frag[order].tolist()
    lo = np.searchsorted(r_sorted, rows)
    hi = np.searchsorted(r_sorted, rows, side="right")
    return np.array([", ".join(frags[a:b]) for a, b in zip(lo.tolist(), hi.tolist(), strict=True)],
                    dtype=object)


def _updates_field(data: DemoData, rows: NDArray[np.int64], steps: pd.DataFrame,
                   dept: NDArray[Any]) -> NDArray[np.object_]:
    """``, "updates": [...]`` for the cases of ``rows`` that have steps, else ''."""
    upd = _update_objects(data, rows, steps, dept)
    return np.where(upd != "", ', "updates": [' + upd + "]", "")


def _write_lines(path: Path, lines: NDArray[np.object_]) -> None:
    with path.open("w", encoding="utf-8") as f:
        if len(lines):
            f.write("\n".join(lines.tolist()) + "\n")


def _write_alerts(data: DemoData, path: Path, sid: NDArray[np.str_],
                  cat_code: NDArray[np.str_]) -> None:
    cols = data.cols
    rows = np.flatnonzero(cols["channel"] == VIDEO_AI)
    at = _iso(cols["reported"][rows], data.tz_offset)
    cam_ids = data.cameras["id"][cols["camera"][rows]]
    with path.open("w", encoding="utf-8") as f:
        for j, r in enumerate(rows):
            f.write(json.dumps({
                "alert_id": sid[r], "camera_id": cam_ids[j], "at": at[j],
                "category": cat_code[r], "confidence": float(cols["confidence"][r]),
                "snapshot_url": f"https://video.example.invalid/snap/{sid[r]}.jpg",
            }, ensure_ascii=False) + "\n")


def _write_updates(data: DemoData, path: Path, sid: NDArray[np.str_], dept: NDArray[Any],
                   steps: pd.DataFrame) -> None:
    """``steps`` of video-AI and grid-worker cases as status updates (hotline tickets carry
    theirs inline)."""
    cols = data.cols
    st = steps[cols["channel"][steps["row"].to_numpy()] != HOTLINE]
    r = st["row"].to_numpy()
    kind = st["kind"].to_numpy()
    dept_col = np.where(st["step"].to_numpy() == 3, cols["dept2"][r], dept[r])
    deadline = np.where(kind == "extended", _iso(cols["new_deadline"][r], data.tz_offset), "")
    _write_csv(path, {
        "source": np.array(CHANNELS)[cols["channel"][r]],
        "source_id": sid[r], "status": kind, "at": _iso(st["at"].to_numpy(), data.tz_offset),
        "dept": np.where(np.isin(kind, ["dispatched"]), dept_col, ""),
        "actor": np.where(kind == "escalated", "城运中心督办", ""),
        "deadline_at": deadline,
    })


def write_truth(data: DemoData, path: Path, seed: int) -> Path:
    """The planted hotspots as ground truth for scoring hotspot detection."""
    ctx, off = data.ctx, data.tz_offset

    def iso(t: float) -> str:
        return str(_iso(np.array([t]), off)[0])

    truth = {
        "city": ctx.city_code, "seed": seed, "generated_at": iso(time.time()),
        "end": iso(data.end), "cases": data.n,
        "intensity_meaning": "during [start, end) the grid receives (intensity - 1) x its "
                             "baseline daily cases extra, all of this category",
        "hotspots": [{
            "id": h.id, "grid_code": str(ctx.grid_codes[h.grid]),
            "grid_name": ctx.grid_names[h.grid],
            "district": ctx.district_names[h.grid], "start": iso(h.start), "end": iso(h.end),
            "category": str(ctx.cat_codes[h.category]), "category_name": ctx.cat_names[h.category],
            "major": str(ctx.cat_major[h.category]), "intensity": h.intensity,
            "baseline_per_day": h.baseline_per_day, "extra_events": h.extra_events,
        } for h in data.hotspots],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(truth, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------- loading

LOAD_ORDER = ("cameras", "incidents", "hotline", "alerts", "updates")


def load_feeds(paths: dict[str, Path], *, progress: bool = False,
               on_loaded: Callable[[str, dict[str, Any]], None] | None = None
               ) -> dict[str, dict[str, Any]]:
    """Load the demo feed files through the ETL pipeline, cameras first (alerts need them)."""
    from cityscreen import db
    from etl import pipeline

    summaries = {}
    for feed in LOAD_ORDER:
        if feed not in paths:
            continue
        with db.transaction() as conn:
            summary = pipeline.load_file(conn, feed, paths[feed], progress=progress)
        summaries[feed] = summary.as_json()
        if on_loaded:
            on_loaded(feed, summaries[feed])
    return summaries


def demo_dir() -> Path:
    """Where the demo feed files and the hotspot truth are written."""
    return get_settings().home / "demo"

