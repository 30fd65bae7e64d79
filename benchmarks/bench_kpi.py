"""KPI benchmark: city-wide 30-day KPIs at 20,000 grids and 10M events, warm, vs a baseline.

The data set is generated set-based in SQL (generate_series) into its own database
``cityscreen_bench_kpi`` on the same server, once; later runs reuse it when it has the
requested size. The baseline is one direct aggregate over the raw `event` rows of the
window (same definitions, no roll-ups); the measured path is ``dashboard.kpi.unit_kpis``
(``children_kpis`` for the 8 districts). Windows end on the current local hour.

Prints ``RESULT`` lines (benchmarks/report.py): ``kpi_city_30d_warm_ms`` (goal < 200) and the
8-district, one-district, one-street and city 7-day figures, each with its baseline and
ratio, and ``*_agree`` = 1 when every KPI equals the baseline's.

    python benchmarks/bench_kpi.py [--events 10000000] [--grids 20000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

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
                    " (reported_at AT TIME ZONE kpi_tz())::date AS d FROM event) k")
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


def agree(fast: dict, base: dict) -> bool:
    """Same KPIs: counts and flags exactly, sums of floats to 1e-9 (summation order)."""
    for key, want in base.items():
        got = fast.get(key)
        if isinstance(want, float) and isinstance(got, float):
            if not math.isclose(got, want, rel_tol=1e-9):
                return False
        elif got != want:
            return False
    return True


@dataclass
class Case:
    """One timed request: the measured path and its baseline from `event`."""

    name: str
    label: str
    fast: Callable[[], Any]
    base: Callable[[], Any]
    goal: str = ""


def cases(conn: db.Connection, end: datetime) -> list[Case]:
    """City 30 days (the goal), its 8 districts, one district, one street, city 7 days."""
    from dashboard import kpi

    month, week = end - timedelta(days=30), end - timedelta(days=7)
    district, street = DISTRICTS[0], DISTRICTS[0] + "001"

    def kids_base() -> list:
        unit = kpi.resolve_unit(conn, None)
        by = kpi._direct(conn, unit, 6, month, end, None)
        return [by.get(d) for d in DISTRICTS]

    def kids_fast() -> list:
        by = {c["unit"]: c["kpis"] for c in kpi.children_kpis(conn, None, month, end)}
        return [by.get(d) for d in DISTRICTS]

    return [
        Case("kpi_city_30d", "city, 30 days (unit_kpis)",
             lambda: kpi.unit_kpis(conn, None, month, end),
             lambda: kpi.baseline_kpis(conn, None, month, end), "<200"),
        Case("kpi_children_30d", "8 districts, 30 days (children_kpis)", kids_fast, kids_base),
        Case("kpi_district_30d", f"district {district}, 30 days",
             lambda: kpi.unit_kpis(conn, district, month, end),
             lambda: kpi.baseline_kpis(conn, district, month, end)),
        Case("kpi_street_30d", f"street {street}, 30 days",
             lambda: kpi.unit_kpis(conn, street, month, end),
             lambda: kpi.baseline_kpis(conn, street, month, end)),
        Case("kpi_city_7d", "city, 7 days",
             lambda: kpi.unit_kpis(conn, None, week, end),
             lambda: kpi.baseline_kpis(conn, None, week, end)),
    ]


def run_case(c: Case, repeat: int, base_repeat: int) -> bool:
    """Time one case against its baseline; print a line and RESULT lines; True if they agree."""
    base_ms, base_min, base = timed(c.base, base_repeat)
    fast_ms, fast_min, fast = timed(c.fast, repeat)
    if isinstance(base, list):
        ok = all(b is not None and f is not None and agree(f, b) for f, b in zip(fast, base,
                                                                              strict=True))
    else:
        ok = agree(fast, base)  # type: ignore[arg-type]
    load = Path("/proc/loadavg").read_text().split()[0]
    print(f"  {c.label:40s} {fast_ms:8.1f} ms (best {fast_min:.1f})  baseline {base_ms:8.1f} ms"
          f" (best {base_min:.1f})  ratio {base_ms / fast_ms:5.1f}x  agree {ok}  load {load}")
    goal = f" goal={c.goal}" if c.goal else ""
    print(f"RESULT {c.name}_warm_ms={fast_ms:.1f} ms{goal} baseline={base_ms:.1f}"
          f" ratio={base_ms / fast_ms:.1f}")
    print(f"RESULT {c.name}_agree={int(ok)} count goal=1")
    return ok


def main() -> int:
    """Generate (once), then time KPIs vs the raw-aggregate baseline."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--grids", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--base-repeat", type=int, default=3)
    parser.add_argument("--generate-only", action="store_true")
    parser.add_argument("--database", default=None, help=f"Database name (default {DB_NAME}).")
    args = parser.parse_args()
    if args.database:
        globals()["DB_NAME"] = args.database
    ensure_database(args.events, args.grids)
    if args.generate_only:
        return 0
    conn = db.connect(bench_url(), timeout_ms=0)
    conn.autocommit = True
    end = datetime.now(get_settings().tz).replace(minute=0, second=0, microsecond=0)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM event WHERE reported_at >= %s AND reported_at < %s",
                    (end - timedelta(days=30), end))
        in_window = cur.fetchone()[0]
    load = Path("/proc/loadavg").read_text().split()[0]
    print(f"KPIs at {args.grids:,} grids, {args.events:,} events ({in_window:,} cases in the"
          f" city's 30 days up to {end:%Y-%m-%d %H:%M}); median of {args.repeat} warm runs"
          f" (baseline: {args.base_repeat}), load average before: {load}")
    ok = all([run_case(c, args.repeat, args.base_repeat) for c in cases(conn, end)])
    conn.close()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
