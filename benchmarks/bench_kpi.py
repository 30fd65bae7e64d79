"""KPI benchmark: city-wide 30-day KPIs at 20,000 grids and 10M events, warm, vs a baseline.

The data set is generated set-based in SQL (generate_series) into its own database
``cityscreen_bench_kpi`` on the same server, once; later runs reuse it when it has the
requested size. The baseline is one direct aggregate over the raw `event` rows of the
window (same definitions, no roll-ups); the measured path is ``dashboard.kpi.unit_kpis``.

    python benchmarks/bench_kpi.py [--events 10000000] [--grids 20000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cityscreen import db
from cityscreen.settings import get_settings

DB_NAME = "cityscreen_bench_kpi"  # --database overrides
DISTRICTS = ("420602", "420606", "420607", "420624", "420625", "420626", "420682", "420683")
STREETS, COMMUNITIES = 10, 25  # per district, per street; grids per community from --grids

GEN_UNITS = """
INSERT INTO admin_unit (code, level, parent_code, name, geom)
SELECT '420600', 'city', NULL, '襄阳市', ST_Multi(ST_MakeEnvelope(111, 31, 113, 33, 4326));
INSERT INTO admin_unit (code, level, parent_code, name, geom)
SELECT d, 'district', '420600', '区' || d, ST_Multi(ST_MakeEnvelope(111, 31, 113, 33, 4326))
FROM unnest(%(districts)s::text[]) d;
INSERT INTO admin_unit (code, level, parent_code, name, geom)
SELECT d || lpad(s::text, 3, '0'), 'street', d, '街道' || s,
       ST_Multi(ST_MakeEnvelope(111, 31, 113, 33, 4326))
FROM unnest(%(districts)s::text[]) d, generate_series(1, %(streets)s) s;
INSERT INTO admin_unit (code, level, parent_code, name, geom)
SELECT a.code || lpad(c::text, 3, '0'), 'community', a.code, '社区' || c,
       ST_Multi(ST_MakeEnvelope(111, 31, 113, 33, 4326))
FROM admin_unit a, generate_series(1, %(communities)s) c WHERE a.level = 'street';
INSERT INTO admin_unit (code, level, parent_code, name, geom)
SELECT a.code || lpad(g::text, 3, '0'), 'grid', a.code, '网格' || g,
       ST_Multi(ST_MakeEnvelope(111, 31, 111.001, 31.001, 4326))
FROM admin_unit a, generate_series(1, %(grids_per)s) g WHERE a.level = 'community';
CREATE TABLE bench_grid AS
SELECT row_number() OVER (ORDER BY code) - 1 AS i, code FROM admin_unit WHERE level = 'grid';
CREATE INDEX ON bench_grid (i);
"""

# One chunk of events, reported in [%(lo_at)s, %(hi_at)s) and inserted in time order (a real
# table fills in arrival order); 1% without a location; 85% closed unless closing would fall
# after the data set's end (%(end)s), which leaves recent cases open as in real life.
GEN_EVENTS = """
INSERT INTO event (source, source_id, category, major, grid_code, reported_at, closed_at,
                   deadline_at, status, status_at, reopened_count, extended_count, satisfaction)
SELECT src, 'b' || n, cat, left(cat, 2), g.code, rep,
       CASE WHEN closed THEN rep + handling END,
       rep + allowed,
       CASE WHEN closed THEN 'closed' ELSE 'dispatched' END,
       CASE WHEN closed THEN rep + handling ELSE rep END,
       (random() < 0.03)::int, (random() < 0.05)::int,
       CASE WHEN src = 'hotline_12345' AND closed AND random() < 0.7
            THEN 1 + floor(random() * 5)::int END
FROM (
    SELECT y.*, y.closing AND y.rep + y.handling <= %(end)s::timestamptz AS closed
    FROM (
        SELECT n,
               (ARRAY['grid_worker', 'hotline_12345', 'video_ai'])[1 + floor(random() * 3)::int]
                   AS src,
               lpad((1 + floor(random() * 12))::text, 2, '0')
                   || lpad((1 + floor(random() * 9))::text, 2, '0') AS cat,
               CASE WHEN random() < 0.01 THEN -1 ELSE floor(random() * %(ngrids)s)::int END AS gi,
               %(lo_at)s::timestamptz + random() * (%(hi_at)s::timestamptz - %(lo_at)s) AS rep,
               random() < 0.85 AS closing,
               interval '1 hour' * (random() * random() * 240) AS handling,
               interval '1 hour' * (24 + floor(random() * 5) * 24) AS allowed
        FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) n
    ) y
) x
LEFT JOIN bench_grid g ON g.i = x.gi
ORDER BY x.rep
"""


def bench_url() -> str:
    """URL of the benchmark database."""
    return db.with_database(db.writer_url(), DB_NAME)


def ensure_database(events: int, grids: int) -> None:
    """Create, migrate and fill the benchmark database unless it already has this size."""
    from geo.schema import migrate

    admin = db.connect(db.with_database(db.writer_url(), "postgres"))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,))
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{DB_NAME}"')
    admin.close()
    conn = db.connect(bench_url(), timeout_ms=0)
    migrate(conn)
    from etl.categories import seed_if_empty

    seed_if_empty(conn)
    conn.commit()
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM admin_unit WHERE level = 'grid'")
        have_grids = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM event")
        have_events = cur.fetchone()[0]
    if have_grids == grids and have_events == events:
        with conn.cursor() as cur:
            cur.execute("SELECT EXISTS (SELECT 1 FROM kpi_street_daily)")
            rolled = cur.fetchone()[0]
        if not rolled:
            started = time.perf_counter()
            refresh_rollups(conn)
            vacuum(conn)
            print(f"roll-ups filled in {time.perf_counter() - started:.0f} s", flush=True)
        conn.close()
        return
    started = time.perf_counter()
    print(f"generating {grids} grids and {events:,} events into {DB_NAME} ...", flush=True)
    with conn.cursor() as cur:
        cur.execute("TRUNCATE event, admin_unit, event_hourly CASCADE;"
                    " DROP TABLE IF EXISTS bench_grid")
        per = max(1, grids // (len(DISTRICTS) * STREETS * COMMUNITIES))
        cur.execute(GEN_UNITS, {"districts": list(DISTRICTS), "streets": STREETS,
                                "communities": COMMUNITIES, "grids_per": per})
        cur.execute("SELECT count(*) FROM bench_grid")
        ngrids = cur.fetchone()[0]
        conn.commit()
        end = datetime.now(get_settings().tz).replace(minute=0, second=0, microsecond=0)
        chunk = 1_000_000
        first = end - timedelta(days=365)
        for lo in range(1, events + 1, chunk):
            hi = min(events, lo + chunk - 1)
            # Each chunk covers its share of the year, so the table ends up in time order.
            span = timedelta(days=365) / events
            cur.execute(GEN_EVENTS, {"lo": lo, "hi": hi, "ngrids": ngrids, "end": end,
                                     "lo_at": first + span * (lo - 1), "hi_at": first + span * hi})
            conn.commit()
            print(f"  {hi:,} events ({time.perf_counter() - started:.0f} s)", flush=True)
        refresh_rollups(conn)
    vacuum(conn)
    conn.close()
    print(f"generated in {time.perf_counter() - started:.0f} s", flush=True)


def refresh_rollups(conn: db.Connection) -> None:
    """Fill the KPI roll-ups for the whole data set (what the ETL triggers per batch)."""
    with conn.cursor() as cur:
        cur.execute("SELECT refresh_kpi_rollup(array_agg(s), array_agg(d)) FROM ("
                    " SELECT DISTINCT coalesce(left(grid_code, 9), '') AS s,"
                    " (reported_at AT TIME ZONE 'UTC')::date AS d FROM event) k")
    conn.commit()


def vacuum(conn: db.Connection) -> None:
    """VACUUM ANALYZE: statistics, and visibility maps for index-only scans."""
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    conn.autocommit = False


def timed(fn, repeat: int) -> tuple[float, float, object]:  # type: ignore[no-untyped-def]
    """Median and best wall time in ms over ``repeat`` warm runs (after one warm-up)."""
    result = fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), min(times), result


def main() -> int:
    """Generate (once), then time KPIs vs the raw-aggregate baseline."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--grids", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--generate-only", action="store_true")
    parser.add_argument("--database", default=None, help=f"Database name (default {DB_NAME}).")
    args = parser.parse_args()
    if args.database:
        globals()["DB_NAME"] = args.database
    ensure_database(args.events, args.grids)
    if args.generate_only:
        return 0
    from dashboard import kpi

    conn = db.connect(bench_url(), timeout_ms=0)
    conn.autocommit = True
    end = datetime.now(get_settings().tz).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=30)
    base_ms, base_min, base = timed(lambda: kpi.baseline_kpis(conn, None, start, end),
                                    args.repeat)
    fast_ms, fast_min, fast = timed(lambda: kpi.unit_kpis(conn, None, start, end), args.repeat)
    kids_ms, kids_min, _ = timed(lambda: kpi.children_kpis(conn, None, start, end), args.repeat)
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    agree = all(fast[k] == base[k] for k in ("received", "closed", "median_handling_hours"))
    print(f"city-wide 30-day KPIs, {args.grids:,} grids, {args.events:,} events "
          f"({fast['received']:,} cases in window)")
    print(f"  (median of {args.repeat} warm runs, best in brackets; load average {load})")
    print(f"  baseline (direct aggregate over event): {base_ms:8.1f} ms ({base_min:.1f})")
    print(f"  unit_kpis (roll-ups + open state):      {fast_ms:8.1f} ms ({fast_min:.1f})  "
          f"ratio {base_ms / fast_ms:.1f}x  goal < 200 ms: {'yes' if fast_ms < 200 else 'NO'}")
    print(f"  children_kpis (8 districts):            {kids_ms:8.1f} ms ({kids_min:.1f})")
    print(f"  results agree with baseline: {agree}")
    conn.close()
    return 0 if agree else 1


if __name__ == "__main__":
    raise SystemExit(main())
