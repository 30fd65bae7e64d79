"""Dashboard benchmark: drill-down server time (cold/warm p95), live-refresh payload vs the full
figure, first paint in headless Chromium, server RSS — at 20,000 grids and 10M events.

The data set lives in its own database ``cityscreen_bench_dash`` on the same server: the demo
city's real polygons (``geo.demo_city``) and events generated set-based in SQL (a year ending
now, skewed towards some grids); later runs reuse it when it has the requested size.

    python benchmarks/bench_dashboard.py [--grids 20000] [--events 1000000] [--samples 20]
                                         [--no-browser] [--no-drill] [--no-payload]

(The issue's scale is --events 10000000; generating it takes a long while on a busy 2-core
machine, so the default is 1M.) RESULT lines (benchmarks/report.py's convention):
drill_cold_p95_ms / drill_warm_p95_ms (the worst level's p95, per-level lines beside them),
refresh_payload_kb (grid level: a community's grids, baseline the full figure it replaces),
first_paint_s (median of 3 runs; baseline a one-polygon Plotly map page served by the same
app in the same run: the floor), rss_mb.

Drill-down time is the real Dash routing callback (POST /_dash-update-component through the
Flask test client), i.e. what a click costs the server: cold = query cache cleared before the
request, warm = the same request again. Ratios are printed against the warm time.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cityscreen import db  # noqa: E402
from cityscreen.settings import get_settings  # noqa: E402

DB_NAME = "cityscreen_bench_dash"

GEN_EVENTS = """
INSERT INTO event (source, source_id, category, major, priority, geom, grid_code, reported_at,
                   deadline_at, closed_at, status, status_at, satisfaction)
SELECT (ARRAY['grid_worker','hotline_12345','video_ai'])[1 + n %% 3], 'bd' || n, cat, left(cat, 2),
       1 + n %% 4,
       ST_SetSRID(ST_MakePoint(g.x + (random() - 0.5) * 0.0004, g.y + (random() - 0.5) * 0.0004),
                  4326),
       g.code, rep, rep + interval '24 hours',
       CASE WHEN closed THEN least(rep + random() * interval '40 hours', now()) END,
       CASE WHEN closed THEN 'closed' ELSE 'dispatched' END, rep,
       CASE WHEN closed AND n %% 3 = 1 THEN 1 + (n %% 5) END
FROM (SELECT n, floor(power(random(), 2.5) * %(ngrids)s)::int AS gi,
             now() - random() * interval '365 days' AS rep,
             (ARRAY['0101','0203','0305','0703','0902','1101'])[1 + n %% 6] AS cat,
             random() < 0.85 AS closed
      FROM generate_series(%(lo)s, %(hi)s) n) s
JOIN bench_grid g ON g.i = s.gi
"""


def bench_url(admin_url: str) -> str:
    """The benchmark database's URL."""
    return db.with_database(admin_url, DB_NAME)


def ensure_data(grids: int, events: int) -> str:
    """Create (once) the benchmark database with ``grids`` grids and ``events`` events."""
    from geo import demo_city
    from geo.schema import migrate

    admin = db.writer_url()
    url = bench_url(admin)
    conn = db.connect(db.with_database(admin, "postgres"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,))
        exists = cur.fetchone() is not None
    if exists:
        c = db.connect(url)
        with c.cursor() as cur:
            cur.execute("SELECT (SELECT count(*) FROM admin_unit WHERE level = 'grid'), "
                        "(SELECT count(*) FROM event)")
            have = cur.fetchone()
        c.close()
        if abs(have[0] - grids) <= grids * 0.05 and have[1] == events:
            conn.close()
            print(f"reusing {DB_NAME}: {have[0]} grids, {have[1]} events", flush=True)
            c = db.connect(url, timeout_ms=0)
            migrate(c)  # the code under test may need newer migrations than the data
            add_cameras(c)  # (a run that stopped after the events)
            c.close()
            ensure_rollup(url)
            return url
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE "{DB_NAME}" WITH (FORCE)')
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{DB_NAME}"')
    conn.close()
    c = db.connect(url, timeout_ms=0)
    migrate(c)
    t = time.perf_counter()
    demo_city.load(c, demo_city.generate(grids=grids, seed=1))
    c.commit()
    print(f"demo city with {grids} grids loaded in {time.perf_counter() - t:.0f}s", flush=True)
    with c.cursor() as cur:
        cur.execute("""CREATE TABLE bench_grid AS
            SELECT (row_number() OVER (ORDER BY code) - 1)::int AS i, code,
                   ST_X(ST_PointOnSurface(geom)) AS x, ST_Y(ST_PointOnSurface(geom)) AS y
            FROM admin_unit WHERE level = 'grid'""")
        cur.execute("CREATE INDEX ON bench_grid (i)")
        cur.execute("SELECT count(*) FROM bench_grid")
        ngrids = cur.fetchone()[0]
    c.commit()
    chunk = 1_000_000
    t = time.perf_counter()
    for lo in range(1, events + 1, chunk):
        hi = min(lo + chunk - 1, events)
        with c.cursor() as cur:
            cur.execute(GEN_EVENTS, {"ngrids": ngrids, "lo": lo, "hi": hi})
        c.commit()
        print(f"  events {hi:,} ({time.perf_counter() - t:.0f}s)", flush=True)
    add_cameras(c)
    c.close()
    ensure_rollup(url)
    return url


def add_cameras(c: Any) -> None:
    """A camera on every fourth grid (one in seven offline), once; then bump data_version."""
    with c.cursor() as cur:
        cur.execute("SELECT EXISTS (SELECT 1 FROM camera)")
        if cur.fetchone()[0]:
            return
        # no parameters: the % below reach the server as they are
        cur.execute("INSERT INTO camera (source_id, name, geom, grid_code, status) "
                    "SELECT 'bc' || i, 'cam' || i, ST_SetSRID(ST_MakePoint(x, y), 4326), code, "
                    "CASE WHEN i % 7 = 0 THEN 'offline' ELSE 'online' END "
                    "FROM bench_grid WHERE i % 4 = 0")
        cur.execute("SELECT bump_data_version(NULL)")
    c.commit()


def ensure_rollup(url: str) -> None:
    """Fill ``event_hourly`` from the events when it is empty (as the loader would have)."""
    c = db.connect(url, timeout_ms=0)
    with c.cursor() as cur:
        cur.execute("SELECT EXISTS (SELECT 1 FROM event_hourly)")
        if cur.fetchone()[0]:
            c.close()
            return
        t = time.perf_counter()
        cur.execute("""
            SELECT refresh_event_hourly(array_agg(g), array_agg(h))
            FROM (SELECT DISTINCT coalesce(grid_code, '') AS g,
                         date_trunc('hour', reported_at) AS h FROM event) k""")
        print(f"event_hourly: {cur.fetchone()[0]:,} rows in {time.perf_counter() - t:.0f}s",
              flush=True)
    c.commit()
    c.autocommit = True
    with c.cursor() as cur:
        cur.execute("VACUUM ANALYZE event")
        cur.execute("VACUUM ANALYZE event_hourly")
    c.close()


def p95(xs: list[float]) -> float:
    """95th percentile (nearest rank)."""
    xs = sorted(xs)
    return xs[max(0, min(len(xs) - 1, round(0.95 * len(xs)) - 1))]


def route_payload(path: str, search: str) -> dict[str, Any]:
    """The request Dash's renderer sends when the URL changes (a drill-down)."""
    return {
        "output": ".._pages_content.children..._pages_store.data..",
        "outputs": [{"id": "_pages_content", "property": "children"},
                    {"id": "_pages_store", "property": "data"}],
        "inputs": [{"id": "_pages_location", "property": "pathname", "value": path},
                   {"id": "_pages_location", "property": "search", "value": search}],
        "changedPropIds": ["_pages_location.search"],
        "state": [],
    }


WARM_NOTES: list[str] = []


def _gc_counter() -> list[float]:
    """``[full collections, seconds spent in any collection]`` since it was installed."""
    n = [0.0, 0.0]
    started = [0.0]

    def cb(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            n[0] += info["generation"] == 2
        else:
            n[1] += time.perf_counter() - started[0]
    gc.callbacks.append(cb)
    return n


def drill_times(app: Any, units: list[str], samples: int) -> tuple[list[float], list[float]]:
    """Server time of drill-down requests to ``units``: cold (cache cleared) and warm.

    A warm sample slower than 20 ms, or whose request began in another clock minute than the
    cold one (the views' cache key holds the minute: the window ends at now rounded up), or
    that met a full garbage collection is noted in ``WARM_NOTES`` with the time spent in gc,
    so an outlier can be told from a slow path.
    """
    from dashboard.cache import EXTENSION

    client = app.server.test_client()
    client.get("/")  # first request sets up the page router
    cache = app.server.extensions[EXTENSION].cache
    cold, warm = [], []
    gcs = _gc_counter()
    for code in random.Random(1).sample(units, min(samples, len(units))):
        path = f"/grid/{code}" if len(code) == 15 else "/"
        search = "" if len(code) == 15 else f"?unit={code}"
        body = route_payload(path, search)
        cache.clear()
        m0 = time.strftime("%H%M")
        t = time.perf_counter()
        r = client.post("/_dash-update-component", json=body)
        cold.append(time.perf_counter() - t)
        assert r.status_code == 200, r.data[:300]
        m1, g0, s0 = time.strftime("%H%M"), gcs[0], gcs[1]
        t = time.perf_counter()
        client.post("/_dash-update-component", json=body)
        warm.append(time.perf_counter() - t)
        if m1 != m0 or gcs[0] != g0 or warm[-1] > 0.02:
            WARM_NOTES.append(f"{code}: warm {warm[-1] * 1000:.1f} ms, minute {m0}->{m1}, "
                              f"{gcs[0] - g0:.0f} full gc, {(gcs[1] - s0) * 1000:.1f} ms in gc")
    gc.callbacks.pop()
    return cold, warm


def payload_sizes(code: str, window: str = "today") -> dict[str, int]:
    """Live-refresh Patch of the map vs the full figure it replaces (geometry embedded, as the
    page sends it)."""
    import plotly.io as pio

    from dashboard import data
    from dashboard.components import map_figure as mf
    from dashboard.pages.overview import map_patch
    from dashboard.state import ViewState

    state = ViewState(unit=code, window=window)
    m = data.overview_model(state)
    fig = mf.map_figure(m["unit"]["code"], m["units"], m["values"], m["bbox"], metric="count",
                        theme="wall", lang="zh", heat=m["heat"], cameras=[], fc=m["fc"])
    vals = data.refresh_values(state, m["version"])
    patch = json.dumps(map_patch(vals, state).to_plotly_json()).encode()
    full = pio.to_json(fig, validate=False).encode()
    return {"units": len(m["units"]), "heat_points": len(m["heat"]),
            "patch": len(patch), "patch_gz": len(gzip.compress(patch)),
            "figure": len(full), "figure_gz": len(gzip.compress(full))}


# First meaningful paint: MapLibre has rendered at least one polygon of the map in the viewport.
POLYGONS_DRAWN_JS = """() => {
  const gd = document.querySelector('#map .js-plotly-plot');
  const map = gd && gd._fullLayout && gd._fullLayout.map && gd._fullLayout.map._subplot
              && gd._fullLayout.map._subplot.map;
  if (!map || !map.loaded()) return false;
  return map.queryRenderedFeatures().some(f => f.geometry.type.endsWith('Polygon')); }"""


# The same plotly.js from the same server drawing one polygon on a MapLibre map with the app's
# offline style: what any Plotly map page costs on this machine right now (the floor).
BASELINE_HTML = """<!doctype html><html><head><meta charset="utf-8"></head><body style="margin:0">
<div id="map" style="width:1100px;height:760px"><div class="js-plotly-plot" id="gd"
 style="width:100%;height:100%"></div></div>
<script src="/_dash-component-suites/plotly/package_data/plotly.min.js"></script>
<script>Plotly.newPlot('gd', [{type: 'choroplethmap', locations: ['a'], z: [1],
  featureidkey: 'id', geojson: {type: 'FeatureCollection', features: [{type: 'Feature',
  id: 'a', properties: {}, geometry: {type: 'Polygon', coordinates: [[[112.0, 31.9],
  [112.2, 31.9], [112.2, 32.1], [112.0, 32.1], [112.0, 31.9]]]}}]}}],
  {map: {style: {version: 8, sources: {}, layers: [{id: 'background', type: 'background',
   paint: {'background-color': '#0b1220'}}]}, center: {lon: 112.1, lat: 32.0}, zoom: 8},
   margin: {l: 0, r: 0, t: 0, b: 0}});</script></body></html>"""


# The unit labels drawn (the overview shows them once the polygons are on screen).
LABELS_DRAWN_JS = """() => { const gd = document.querySelector('#map .js-plotly-plot');
  const meta = gd.layout.meta;  // the labels trace waits there until the map has drawn
  if (!(meta && meta.labels && meta.labels.text && meta.labels.text.length)) return true;
  const map = gd._fullLayout.map._subplot.map;
  return map.queryRenderedFeatures().some(f => f.layer.type === 'symbol' && f.properties.text); }"""


def timed_load(b: Any, url: str, app: Any) -> tuple[float, float, float]:
    """Navigation → first polygon rendered by MapLibre, → unit labels drawn, → MapLibre idle
    after that, seconds."""
    from tests.dashboard.browser import wait_map_idle

    ctx = b.new_context(viewport={"width": 1920, "height": 1080})
    try:
        page = ctx.new_page()
        page.route(app.base + "/__baseline",
                   lambda r: r.fulfill(body=BASELINE_HTML, content_type="text/html"))
        t = time.perf_counter()
        page.goto(app.base + url)
        page.wait_for_function(POLYGONS_DRAWN_JS, timeout=120_000, polling="raf")
        drawn = time.perf_counter() - t
        page.wait_for_function(LABELS_DRAWN_JS, timeout=120_000, polling="raf")
        labels = time.perf_counter() - t
        wait_map_idle(page)
        return drawn, labels, time.perf_counter() - t
    finally:
        ctx.close()


def first_paint(url: str, env: dict[str, str], runs: int = 3
                ) -> list[tuple[float, ...]]:
    """Per run: the app's (drawn, labels, idle) and the one-polygon Plotly map page's, in a
    real served app."""
    from tests.dashboard.browser import browser
    from tests.dashboard.conftest import Served

    app = Served(env, interval_ms=5000)
    out: list[tuple[float, ...]] = []
    try:
        with browser() as b:
            for _ in range(runs):
                base = timed_load(b, "/__baseline", app)
                out.append((*timed_load(b, url, app), *base))
        rss = int(next(line.split()[1] for line in
                       Path(f"/proc/{app.proc.pid}/status").read_text().splitlines()
                       if line.startswith("VmRSS")))
        out.append((rss / 1024,))
    finally:
        app.stop()
    return out


def main() -> None:
    """Build or reuse the data, then measure and print."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grids", type=int, default=20000)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--no-drill", action="store_true", help="skip the drill-down timings")
    ap.add_argument("--no-payload", action="store_true", help="skip the refresh payload sizes")
    args = ap.parse_args()
    url = ensure_data(args.grids, args.events)
    # From here on this process is a dashboard reading the benchmark database.
    os.environ["DATABASE_URL"] = url
    get_settings.cache_clear()
    db.close_pools()
    from dashboard.app import create_app

    app = create_app()
    c = db.connect(url)
    with c.cursor() as cur:
        cur.execute("SELECT level, array_agg(code ORDER BY code) FROM admin_unit GROUP BY level")
        by_level = dict(cur.fetchall())
        cur.execute("SELECT left(grid_code, 12) FROM event WHERE reported_at > now() - "
                    "interval '30 days' GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
        busiest = cur.fetchone()[0]
    c.close()
    print(f"\n{len(by_level['grid'])} grids, {args.events:,} events "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    if not args.no_drill:
        report_drill(app, by_level, args.samples)
    if not args.no_payload:
        report_payload(by_level["city"][0], busiest)
    if not args.no_browser:
        report_paint(url)


def report_drill(app: Any, by_level: dict[str, list[str]], samples: int) -> None:
    """Drill-down server time per level; RESULT lines of the worst level's p95."""
    print("drill-down: server time of the routing callback, ms (p50 / p95)")
    worst_cold = worst_warm = 0.0
    for level in ("district", "street", "community", "grid"):
        cold, warm = drill_times(app, by_level[level], samples)
        cp, wp = p95(cold) * 1000, p95(warm) * 1000
        worst_cold, worst_warm = max(worst_cold, cp), max(worst_warm, wp)
        print(f"  to {level:9s} cold {statistics.median(cold) * 1000:7.1f} / {cp:7.1f}   "
              f"warm {statistics.median(warm) * 1000:6.1f} / {wp:6.1f}   "
              f"cold/warm p95 {cp / wp:5.1f}x   (targets: cold <= 150, warm <= 20)")
        for note in WARM_NOTES:
            print(f"    warm sample noted: {note}")
        WARM_NOTES.clear()
        print(f"RESULT dashboard.drill_{level}_cold_p95={cp:.1f} ms goal=<=150")
        print(f"RESULT dashboard.drill_{level}_warm_p95={wp:.1f} ms goal=<=20 "
              f"baseline={cp:.1f} ratio={cp / wp:.1f}")
    print(f"RESULT drill_cold_p95_ms={worst_cold:.1f} ms goal=<=150 "
          f"ratio={150 / worst_cold:.2f}")
    print(f"RESULT drill_warm_p95_ms={worst_warm:.1f} ms goal=<=20 baseline={worst_cold:.1f} "
          f"ratio={worst_cold / worst_warm:.1f}")


def report_payload(city: str, busiest: str) -> None:
    """Live-refresh Patch vs the full figure; RESULT of the grid level (a community's grids)."""
    print("live refresh payload (map Patch) vs the full figure it replaces")
    worst: tuple[float, float] = (0.0, 0.0)
    for level, code, window in (("city", city, "today"),
                                ("community", busiest, "today"), ("community", busiest, "30d")):
        s = payload_sizes(code, window)
        level = f"{level}/{window}"
        print(f"  {level:15s} {s['units']:4d} units {s['heat_points']:6d} heat pts: patch "
              f"{s['patch'] / 1024:7.1f} KB ({s['patch_gz'] / 1024:5.1f} gz)  full figure "
              f"{s['figure'] / 1024:7.1f} KB ({s['figure_gz'] / 1024:5.1f} gz)  "
              f"ratio {s['figure'] / s['patch']:5.1f}x")
        if level.startswith("community"):
            worst = max(worst, (s["patch"] / 1024, s["figure"] / 1024))
    print(f"RESULT refresh_payload_kb={worst[0]:.1f} KB goal=<=100 baseline={worst[1]:.1f} "
          f"ratio={worst[1] / worst[0]:.1f}")


def report_paint(url: str) -> None:
    """First paint of the overview against a one-polygon Plotly map page; server RSS."""
    runs = first_paint("/", {**os.environ, "DATABASE_URL": url})
    *paints, (rss, *_) = runs
    for drawn, labels, idle, b_drawn, _b_labels, b_idle in paints:
        print(f"first paint (headless Chromium, loopback): first polygon drawn {drawn:5.2f}s, "
              f"labels {labels:5.2f}s, MapLibre idle {idle:5.2f}s  (target <= 2 s); "
              f"one-polygon Plotly map page (full plotly.js) {b_drawn:5.2f}s / idle "
              f"{b_idle:5.2f}s; app/floor {drawn / b_drawn:4.2f}x")
    print(f"dashboard server RSS after the runs: {rss:.0f} MB (target <= 600 MB)")
    app_s = statistics.median(p[0] for p in paints)
    floor_s = statistics.median(p[3] for p in paints)
    print(f"RESULT first_paint_s={app_s:.2f} s goal=<=2 baseline={floor_s:.2f} "
          f"ratio={app_s / floor_s:.2f}")
    print(f"RESULT first_paint_labels_s={statistics.median(p[1] for p in paints):.2f} s "
          f"baseline={floor_s:.2f}")
    print(f"RESULT first_paint_idle_s={statistics.median(p[2] for p in paints):.2f} s "
          f"baseline={statistics.median(p[5] for p in paints):.2f}")
    print(f"RESULT rss_mb={rss:.0f} MB goal=<=600 ratio={600 / rss:.2f}")


if __name__ == "__main__":
    main()
