"""`cityscreen demo feed`: a live stream of demo cases, status changes and camera heartbeats.

Every tick (default each second) the feed sends, in small batches:

* new cases at ``rate`` (Poisson arrivals; grid workers, 12345 tickets partly in BD-09/GCJ-02
  or address-only, video-AI alerts from online cameras), in the same mix as `demo events`;
* status changes: its own cases move through 受理 → 派遣 → 处置 → 核查 → 结案 on a compressed
  schedule (minutes instead of hours; ``speed`` compresses it further), and, when writing
  directly, some open `demo events` cases (ids like GW20261125000123 — never other data)
  advance one step as well;
* camera heartbeats; now and then a camera drops offline or comes back.

By default it writes directly through ``etl.pipeline.load_records`` (one transaction per
tick); with ``url`` it POSTs to the ingest endpoint (``/api/v1/events``, ``/api/v1/cameras``)
with the bearer token. It reads the city (grids, categories, cameras) from the database in
both modes.
"""

from __future__ import annotations

import json
import logging
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from cityscreen import db
from cityscreen.settings import get_settings
from etl import demo_events as de

log = logging.getLogger("cityscreen.etl.feed")

LIFECYCLE = ("accepted", "dispatched", "resolved", "verified", "closed")
# Compressed schedule: median seconds from the previous step, per step.
STEP_MEDIAN_S = {"accepted": 40.0, "dispatched": 120.0, "resolved": 600.0, "verified": 120.0,
                 "closed": 60.0}
FEED_ORDER = ("cameras", "incidents", "hotline", "alerts", "updates")
P_CAMERA_FLIP = 0.002  # per heartbeat: an online camera drops offline (or one comes back)
HEARTBEATS_PER_TICK = 20
DB_ADVANCES_PER_NEW_CASE = 0.5  # open cases from the history moved on, per new case


def parse_rate(text: str) -> float:
    """Cases per second from ``20`` (= ``20/s``, as in ``--rate 20``), ``20/min`` or ``600/h``."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(?:/\s*(s|sec|m|min|h|hour))?\s*", text)
    if not match:
        raise ValueError(f"rate {text!r}: expected cases per second, or N/min, N/h")
    value = float(match.group(1))
    unit = (match.group(2) or "s")[0]
    return value / {"s": 1.0, "m": 60.0, "h": 3600.0}[unit]


@dataclass
class Case:
    """A case the feed created, with the times of its remaining steps."""

    source: str
    source_id: str
    dept: str
    schedule: list[tuple[float, str]]  # (epoch seconds, status), in order


@dataclass
class FeedStats:
    """Running totals of what the feed sent and what the pipeline answered."""

    run_id: str = ""  # part of every case id this run created: GWL<run_id><seq>
    ticks: int = 0
    new: int = 0
    updates: int = 0
    heartbeats: int = 0
    loaded: int = 0
    updated: int = 0
    rejected: int = 0
    errors: int = 0
    last_error: str | None = None
    by_feed: dict[str, int] = field(default_factory=dict)

    def add(self, feed: str, summary: dict[str, Any]) -> None:
        """Count one batch summary."""
        self.loaded += int(summary.get("loaded", 0))
        self.updated += int(summary.get("updated", 0))
        self.rejected += int(summary.get("rejected", 0))
        self.by_feed[feed] = self.by_feed.get(feed, 0) + int(summary.get("rows_in", 0))

    def as_json(self) -> dict[str, Any]:
        """Totals as a plain dict."""
        return {k: v for k, v in self.__dict__.items() if k != "last_error" or v}


class DirectSink:
    """Loads each tick's records through the pipeline in one transaction."""

    def send(self, batches: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
        """Load the batches; the summaries per feed."""
        from etl import pipeline

        out = {}
        with db.transaction() as conn:
            for feed in FEED_ORDER:
                if batches.get(feed):
                    summary = pipeline.load_records(conn, feed, batches[feed],
                                                    source_name="demo-feed")
                    out[feed] = summary.as_json()
        return out


class HttpSink:
    """POSTs each feed's records to the ingest endpoint as a JSON array."""

    def __init__(self, url: str, token: str | None, timeout: float = 30.0) -> None:
        self.base = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _post(self, path: str, records: list[dict[str, Any]]) -> dict[str, Any]:
        body = json.dumps(records, ensure_ascii=False).encode("utf-8")
        req = urllib.request.Request(self.base + path, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return dict(json.loads(resp.read().decode("utf-8")))
        except urllib.error.HTTPError as exc:
            text = exc.read().decode("utf-8", "replace")
            try:
                answer = json.loads(text)
            except ValueError:
                answer = {}
            if exc.code == 400 and "rows_in" in answer:  # some rows rejected, the rest loaded
                return dict(answer)
            raise FeedError(f"{self.base}{path}: HTTP {exc.code} "
                            f"{answer.get('error') or text[:200]}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise FeedError(f"{self.base}{path}: {reason}") from None

    def send(self, batches: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
        """POST the batches in dependency order; the summaries per feed."""
        out = {}
        for feed in FEED_ORDER:
            if batches.get(feed):
                path = "/api/v1/cameras" if feed == "cameras" else f"/api/v1/events?feed={feed}"
                out[feed] = self._post(path, batches[feed])
        return out


class FeedError(RuntimeError):
    """A batch could not be delivered (endpoint unreachable, refused); one line."""


_OPEN_SQL = """
SELECT source, source_id, status, coalesce(dept, '')
FROM event
WHERE status <> 'closed' AND source = ANY(%s) AND grid_code LIKE %s
  AND source_id ~ '^(GW|XY|AI)[0-9]{14}$'  -- only `demo events` cases, never real ones
ORDER BY random() LIMIT %s
"""
_CAMERAS_SQL = """
SELECT source_id, status FROM camera WHERE grid_code LIKE %s ORDER BY source_id
"""


class LiveFeed:
    """Makes each tick's records: new cases, their next steps, heartbeats."""

    def __init__(self, ctx: de.CityContext, *, rate: float, seed: int | None = None,
                 cameras: list[tuple[str, str]] | None = None, advance_db: bool = True,
                 speed: float = 1.0) -> None:
        self.ctx = ctx
        self.rate = rate
        self.speed = speed
        self.rng = np.random.default_rng(seed)
        self.tz = get_settings().tz
        self.run_id = datetime.now(self.tz).strftime("%y%m%d%H%M%S")
        self.seq = 0
        self.cases: list[Case] = []
        self.advance_db = advance_db
        self.cameras = dict(cameras or [])
        self.camera_ids = np.array(sorted(self.cameras))
        self.cat_p = [de._channel_cat_probs(ctx, c, None) for c in range(3)]

    def _iso(self, ts: float) -> str:
        return datetime.fromtimestamp(ts, self.tz).isoformat(timespec="seconds")

    def _next_id(self, prefix: str) -> str:
        self.seq += 1
        return f"{prefix}L{self.run_id}{self.seq:06d}"

    def _dept(self, major: str, grid: int) -> str:
        options = de.DEPTS.get(major, de.DEFAULT_DEPTS)
        w = np.array([x for _, x in options])
        template = options[int(self.rng.choice(len(options), p=w / w.sum()))][0]
        return template.format(city=self.ctx.city_name, district=self.ctx.district_names[grid],
                               office=de.street_office(self.ctx.street_names[grid]))

    def _schedule(self, start: float) -> list[tuple[float, str]]:
        out, t = [], start
        for step in LIFECYCLE:
            t += (5 + STEP_MEDIAN_S[step] * float(np.exp(self.rng.normal(0, 0.6)))) / self.speed
            out.append((t, step))
        return out

    def new_cases(self, now: float, interval: float) -> dict[str, list[dict[str, Any]]]:
        """Poisson arrivals during the last ``interval`` seconds."""
        out: dict[str, list[dict[str, Any]]] = {"incidents": [], "hotline": [], "alerts": []}
        n = int(self.rng.poisson(self.rate * interval))
        ctx = self.ctx
        for _ in range(n):
            channel = int(self.rng.choice(3, p=de.CHANNEL_SHARE))
            online = [c for c, st in self.cameras.items() if st == "online"]
            if channel == de.VIDEO_AI and not online:
                channel = de.GRID_WORKER
            cat = int(self.rng.choice(len(ctx.cat_codes), p=self.cat_p[channel]))
            major = str(ctx.cat_major[cat])
            at = now - float(self.rng.uniform(0, interval))
            grid = int(self.rng.choice(len(ctx.grid_codes), p=ctx.grid_weight))
            pick = int(self.rng.integers(0, de.POOL))
            lon, lat = float(ctx.pools_lon[grid, pick]), float(ctx.pools_lat[grid, pick])
            road = de.ROADS[int(self.rng.integers(len(de.ROADS)))]
            dept = self._dept(major, grid)
            if channel == de.GRID_WORKER:
                sid = self._next_id("GW")
                out["incidents"].append({
                    "event_id": sid, "reported_at": self._iso(at), "category": ctx.cat_codes[cat],
                    "lon": round(lon, 6), "lat": round(lat, 6), "crs": "wgs84",
                    "description": f"{road}附近{ctx.cat_names[cat]}",
                    "reporter": f"GW{ctx.grid_codes[grid]}{int(self.rng.integers(1, 40)):02d}",
                    "grid_code": str(ctx.grid_codes[grid])})
                source = "grid_worker"
            elif channel == de.HOTLINE:
                sid = self._next_id("XY")
                out["hotline"].append(self._ticket(sid, at, cat, grid, lon, lat, road))
                source = "hotline_12345"
            else:
                sid = self._next_id("AI")
                cam = str(online[int(self.rng.integers(len(online)))])
                out["alerts"].append({
                    "alert_id": sid, "camera_id": cam, "at": self._iso(at),
                    "category": ctx.cat_codes[cat],
                    "confidence": round(float(self.rng.uniform(0.62, 0.99)), 2),
                    "snapshot_url": f"https://video.example.invalid/snap/{sid}.jpg"})
                source = "video_ai"
            self.cases.append(Case(source, sid, dept, self._schedule(at)))
        return out

    def _ticket(self, sid: str, at: float, cat: int, grid: int, lon: float, lat: float,
                road: str) -> dict[str, Any]:
        from geo.coords import convert

        ctx = self.ctx
        crs = de.HOTLINE_CRS[int(self.rng.choice(len(de.HOTLINE_CRS),
                                                 p=[p for _, p in de.HOTLINE_CRS]))][0]
        rec: dict[str, Any] = {
            "ticket_id": sid, "received_at": self._iso(at),
            "intake": de.INTAKE[int(self.rng.choice(len(de.INTAKE),
                                                    p=[p for _, p in de.INTAKE]))][0],
            "category": str(ctx.cat_codes[cat]),
            "address": f"{ctx.district_names[grid]}{road}{int(self.rng.integers(1, 300))}号",
        }
        if crs:
            x, y = convert(lon, lat, "wgs84", crs)
            rec.update(lon=round(x, 6), lat=round(y, 6), crs=crs)
        return rec

    def due_updates(self, now: float) -> list[dict[str, Any]]:
        """The steps of the feed's own cases that are due, in time order."""
        out = []
        keep = []
        for case in self.cases:
            while case.schedule and case.schedule[0][0] <= now:
                at, status = case.schedule.pop(0)
                upd: dict[str, Any] = {"source": case.source, "source_id": case.source_id,
                                       "status": status, "at": self._iso(at)}
                if status == "dispatched":
                    upd["dept"] = case.dept
                if status == "closed" and case.source == "hotline_12345":
                    upd["note"] = "回访满意" if self.rng.random() < 0.85 else "回访不满意"
                out.append(upd)
            if case.schedule:
                keep.append(case)
        self.cases = keep
        out.sort(key=lambda u: u["at"])
        return out

    def db_advances(self, conn: Any, n: int, now: float) -> list[dict[str, Any]]:
        """Move ``n`` random open cases of the city one step on (the history comes alive)."""
        if n <= 0:
            return []
        with conn.cursor() as cur:
            cur.execute(_OPEN_SQL, (list(de.CHANNELS), self.ctx.city_code[:4] + "%", n))
            rows = cur.fetchall()
        out = []
        for source, source_id, status, dept in rows:
            if status not in ("reported", *LIFECYCLE[:-1]):
                continue
            nxt = LIFECYCLE[0] if status == "reported" else LIFECYCLE[LIFECYCLE.index(status) + 1]
            upd = {"source": source, "source_id": source_id, "status": nxt, "at": self._iso(now)}
            if nxt == "dispatched" and dept:
                upd["dept"] = dept
            out.append(upd)
        return out

    def heartbeats(self, now: float) -> list[dict[str, Any]]:
        """A few cameras report in; now and then one drops offline or comes back."""
        if not len(self.camera_ids):
            return []
        k = min(HEARTBEATS_PER_TICK, len(self.camera_ids))
        out = []
        for cam in self.rng.choice(self.camera_ids, size=k, replace=False):
            cam = str(cam)
            status = self.cameras[cam]
            flip = self.rng.random() < (P_CAMERA_FLIP if status == "online" else 0.2)
            if flip:
                status = "online" if status != "online" else str(
                    self.rng.choice(["offline", "fault"], p=[0.8, 0.2]))
            self.cameras[cam] = status
            if status == "online":
                out.append({"camera_id": cam, "status": status, "at": self._iso(now)})
            else:  # an offline camera is reported by the platform, not by itself
                out.append({"camera_id": cam, "status": status,
                            "at": self._iso(now - float(self.rng.uniform(0, 60)))})
        return out


def load_cameras(conn: Any, city_code: str) -> list[tuple[str, str]]:
    """(camera id, status) of the city's cameras."""
    with conn.cursor() as cur:
        cur.execute(_CAMERAS_SQL, (city_code[:4] + "%",))
        return [(r[0], r[1]) for r in cur.fetchall()]


def run(*, rate: float, url: str | None = None, token: str | None = None,
        duration: float | None = None, interval: float = 1.0, seed: int | None = None,
        speed: float = 1.0, on_tick: Callable[[FeedStats], None] | None = None,
        stop: Callable[[], bool] | None = None) -> FeedStats:
    """Stream until ``duration`` seconds have passed, ``stop()`` says so, or Ctrl-C."""
    with db.transaction() as conn:
        ctx = de.load_city(conn, seed=seed if seed is not None else 1)
        cameras = load_cameras(conn, ctx.city_code)
    feed = LiveFeed(ctx, rate=rate, seed=seed, cameras=cameras, advance_db=url is None,
                    speed=speed)
    sink: DirectSink | HttpSink = HttpSink(url, token) if url else DirectSink()
    stats = FeedStats(run_id=feed.run_id)
    started = time.monotonic()
    next_tick = started
    last = time.time() - interval  # the first tick already brings one interval's cases
    try:
        while True:
            next_tick += interval
            now = time.time()
            batches = feed.new_cases(now, max(now - last, 0.0))
            last = now
            updates = feed.due_updates(now)
            if feed.advance_db:
                n_db = int(feed.rng.poisson(rate * interval * DB_ADVANCES_PER_NEW_CASE))
                with db.transaction() as conn:
                    updates += feed.db_advances(conn, n_db, now)
            batches["updates"] = updates
            batches["cameras"] = feed.heartbeats(now)
            stats.ticks += 1
            stats.new += sum(len(batches[f]) for f in ("incidents", "hotline", "alerts"))
            stats.updates += len(updates)
            stats.heartbeats += len(batches["cameras"])
            try:
                for f, summary in sink.send(batches).items():
                    stats.add(f, summary)
            except (FeedError, db.DatabaseError) as exc:
                stats.errors += 1
                stats.last_error = str(exc)
                log.warning("demo feed: %s", exc)
            if on_tick is not None:
                on_tick(stats)
            if (duration is not None and time.monotonic() - started >= duration) or \
                    (stop is not None and stop()):
                return stats
            time.sleep(max(0.0, next_tick - time.monotonic()))
    except KeyboardInterrupt:
        return stats
