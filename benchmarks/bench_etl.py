"""ETL end to end: an incidents file → committed events, timeline rows and hourly roll-ups.

In a throwaway database (created and dropped on the configured server) holding a 20,000-grid
demo city, the same generated rows go through:

- the pipeline (``etl.pipeline.load_file``: parse, validate, convert, STRtree grid assignment,
  COPY to staging, set-based upsert, transitions, roll-up refresh, one commit);
- baseline (a): row-by-row INSERT with a PostGIS ``ST_Intersects`` grid lookup per row
  (measured on a sample);
- baseline (b): COPY the raw points into a staging table, then one
  ``INSERT … SELECT … JOIN admin_unit ON ST_Intersects`` (set-based PostGIS, no roll-ups).

Prints rows/s for each and the ratios (goals: >= 100,000 rows/s, >= 10x (a), >= 2x (b)), plus
the machine's load average, since a shared machine skews every figure.

The pipeline runs in its own process (`python -c` calling ``load_file``) so its peak RSS is
the loader's own (issue: <= 1.5 GB for a 5M-row file: ``--rows 5000000 --no-baselines``).
Floors are measured too (what writing the rows alone costs on this machine): the final event
and timeline rows COPYed again into index-less copies of their tables and into copies with only
their keys, and the loaded events copied once more inside PostgreSQL (INSERT … SELECT into the
same table and indexes); all rolled back. The pipeline prints its time per step.

    python benchmarks/bench_etl.py [--rows 2000000] [--grids 20000] [--sample 5000]
                                   [--no-baselines]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import shapely

from cityscreen import db
from geo.coords import convert
from geo.demo_city import generate, load
from geo.schema import migrate


def _admin(url: str, sql: str) -> None:
    conn = db.connect(db.with_database(url, "postgres"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql)
    conn.close()


def _load_avg() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _points(city: object, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n points inside the city: near each grid's inner point, more in bigger-population grids."""
    grids = city.level("grid")  # type: ignore[attr-defined]
    inner = shapely.get_coordinates(shapely.point_on_surface([u.geom for u in grids]))
    weight = np.array([max(u.population or 1, 1) for u in grids], dtype=float)
    pick = rng.choice(len(grids), size=n, p=weight / weight.sum())
    jitter = rng.normal(0, 0.0002, size=(n, 2))
    pts = inner[pick] + jitter
    # Keep the point if still in its grid, else fall back to the inner point (no rejects).
    inside = shapely.contains_xy(np.array([grids[i].geom for i in pick], dtype=object),
                                 pts[:, 0], pts[:, 1])
    pts[~inside] = inner[pick[~inside]]
    return pts[:, 0], pts[:, 1]


def write_incidents(path: Path, n: int, city: object, categories: list[str],
                    prefix: str, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """A realistic incidents CSV: a third GCJ-02, a fifth closed, 180 days of report times."""
    rng = np.random.default_rng(seed)
    lon, lat = _points(city, n, rng)
    gcj = rng.random(n) < 1 / 3
    out_lon, out_lat = lon.copy(), lat.copy()
    out_lon[gcj], out_lat[gcj] = convert(lon[gcj], lat[gcj], "wgs84", "gcj02")
    start = np.datetime64("2026-05-20T00:00:00")
    reported = start + rng.integers(0, 180 * 86400, n).astype("timedelta64[s]")
    closed = rng.random(n) < 0.2
    done = reported + rng.integers(600, 3 * 86400, n).astype("timedelta64[s]")
    cats = np.asarray(categories, dtype=object)[rng.integers(0, len(categories), n)]
    rep_txt = np.datetime_as_string(reported, unit="s")
    done_txt = np.datetime_as_string(done, unit="s")
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["event_id", "reported_at", "category", "lon", "lat", "crs", "description",
                    "reporter", "status", "status_at"])
        for i in range(n):
            w.writerow([f"{prefix}{i}", rep_txt[i], cats[i], f"{out_lon[i]:.7f}",
                        f"{out_lat[i]:.7f}", "gcj02" if gcj[i] else "wgs84", "路面垃圾",
                        f"GW{i % 997:04d}", "closed" if closed[i] else "",
                        done_txt[i] if closed[i] else ""])
    return lon, lat


_LOADER = """
import collections, json, logging, re, sys, time
from cityscreen import db
from etl.pipeline import load_file

# Where the time goes: the loader's debug timings (statements, COPYs, chunk preparation in
# the worker thread, the database thread waiting for it), summed by step.
steps = collections.Counter()
timing = re.compile(r"^(sql|copy|prepare|wait for prepare) ?(.*?) ?(?:\\d+ rows )?([\\d.]+) ms$")

class Steps(logging.Handler):
    def emit(self, record):
        m = timing.match(record.getMessage())
        if m:
            steps[(m.group(1) + " " + m.group(2).split(" (")[0]).strip()] += float(m.group(3))

log = logging.getLogger("cityscreen.etl")
log.setLevel(logging.DEBUG)
log.addHandler(Steps())
log.propagate = False
conn = db.connect(sys.argv[1], timeout_ms=0)
started = time.perf_counter()
summary = load_file(conn, "incidents", sys.argv[2], progress=True)
loaded = time.perf_counter()
with conn.cursor() as cur:  # the deferred KPI roll-up refresh (033, 043/044) runs here
    cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
flushed = time.perf_counter()
conn.commit()
seconds = time.perf_counter() - started
steps["commit: deferred KPI / street roll-ups"] = (flushed - loaded) * 1000
steps["commit"] = (time.perf_counter() - flushed) * 1000
# VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so it would report the forking
# benchmark's own size (the generated rows), not the loader's.
hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:")][0]
print(json.dumps({"seconds": seconds, "summary": summary.as_json(),
                  "peak_rss_mb": int(hwm.split()[1]) / 1024,
                  "steps_s": {k: round(v / 1000, 2) for k, v in steps.most_common()}}))
"""


def run_pipeline(url: str, path: Path) -> tuple[float, dict[str, object], float]:
    """The pipeline, file to commit, as `cityscreen load incidents` runs it, in its own
    process: (seconds, batch summary, peak RSS of that process in MB). Prints where the time
    went (seconds per step; prepare runs in a worker thread, beside the database work)."""
    proc = subprocess.run([sys.executable, "-c", _LOADER, url, str(path)], check=True,
                          stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[1])
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    print("pipeline steps (s): " + ", ".join(f"{k} {v:.1f}" for k, v in out["steps_s"].items()
                                             if v >= 0.05), flush=True)
    return out["seconds"], out["summary"], out["peak_rss_mb"]


def floor_insert(url: str) -> tuple[float, int]:
    """The database's floor: the loaded events copied once more inside PostgreSQL (INSERT …
    SELECT, same table, same indexes; no parsing, no grid lookup, no roll-up), rolled back."""
    conn = db.connect(url, timeout_ms=0)
    cols = ("category, major, priority, geom, grid_code, description, reporter, reported_at,"
            " closed_at, deadline_at, status, status_at, attrs")
    started = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute(f"INSERT INTO event (source, source_id, {cols})"
                    f" SELECT 'floor', source_id, {cols} FROM event WHERE source = 'grid_worker'")
        n = cur.rowcount
    seconds = time.perf_counter() - started
    conn.rollback()
    conn.close()
    return seconds, n


def floor_copy(url: str, tmp: Path) -> dict[str, tuple[int, float]]:
    """The physical floor: the final `event` and `event_transition` rows (COPY TO a file), copied
    back with COPY FROM STDIN into a fresh copy of each table (a) with no index, trigger or
    constraint, (b) with only the keys an idempotent load needs (event: primary key and
    UNIQUE (source, source_id); event_transition: primary key and UNIQUE (event_id, at, kind)).
    Each in its own transaction, rolled back. {label: (rows, seconds)}."""
    conn = db.connect(url, timeout_ms=0)
    out: dict[str, tuple[int, float]] = {}
    keys = {"event": "PRIMARY KEY (id), ADD UNIQUE (source, source_id)",
            "event_transition": "PRIMARY KEY (id), ADD UNIQUE (event_id, at, kind)"}
    try:
        for table, key in keys.items():
            dump = tmp / f"{table}.copy"
            with conn.cursor() as cur, open(dump, "wb") as fh:
                cur.copy_expert(f"COPY (SELECT * FROM {table}) TO STDOUT", fh)
                n = cur.rowcount
            conn.rollback()
            for label, extra in (("no index", ""), ("keys only", f"ALTER TABLE floor ADD {key}")):
                with conn.cursor() as cur, open(dump, "rb") as fh:
                    cur.execute(f"CREATE TABLE floor (LIKE {table} INCLUDING DEFAULTS)")
                    if extra:
                        cur.execute(extra)
                    started = time.perf_counter()
                    cur.copy_expert("COPY floor FROM STDIN", fh)
                    out[f"{table}, {label}"] = (n, time.perf_counter() - started)
                conn.rollback()
            dump.unlink()
    finally:
        conn.close()
    return out


_BASELINE_INSERT = """
INSERT INTO event (source, source_id, category, major, geom, grid_code, reported_at, status,
                   status_at)
SELECT 'bench_a', %(id)s, %(cat)s, left(%(cat)s, 2), p.g,
       (SELECT code FROM admin_unit WHERE level = 'grid' AND ST_Intersects(geom, p.g)
        ORDER BY code LIMIT 1),
       %(at)s, 'reported', %(at)s
FROM (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS g) p
"""


def baseline_rowwise(url: str, lon: np.ndarray, lat: np.ndarray, cats: list[str]) -> float:
    """(a) One INSERT per row with a per-row ST_Intersects lookup; one commit at the end."""
    conn = db.connect(url, timeout_ms=0)
    started = time.perf_counter()
    with conn.cursor() as cur:
        for i in range(lon.size):
            cur.execute(_BASELINE_INSERT, {"id": f"A{i}", "cat": cats[i % len(cats)],
                                           "lon": float(lon[i]), "lat": float(lat[i]),
                                           "at": "2026-11-01T08:00:00+08:00"})
    conn.commit()
    seconds = time.perf_counter() - started
    conn.close()
    return seconds


def baseline_setbased(url: str, lon: np.ndarray, lat: np.ndarray, cats: list[str]) -> float:
    """(b) COPY raw points, then one INSERT … SELECT … JOIN ON ST_Intersects; one commit."""
    conn = db.connect(url, timeout_ms=0)
    started = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute("CREATE UNLOGGED TABLE bench_raw (source_id text, category text,"
                    " lon float8, lat float8, reported_at timestamptz)")
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        for i in range(lon.size):
            w.writerow((f"B{i}", cats[i % len(cats)], f"{lon[i]:.7f}", f"{lat[i]:.7f}",
                        "2026-11-01T08:00:00+08:00"))
        buf.seek(0)
        cur.copy_expert("COPY bench_raw FROM STDIN WITH (FORMAT csv)", buf)
        cur.execute("""
            INSERT INTO event (source, source_id, category, major, geom, grid_code,
                               reported_at, status, status_at)
            SELECT 'bench_b', r.source_id, r.category, left(r.category, 2), p.g, g.code,
                   r.reported_at, 'reported', r.reported_at
            FROM bench_raw r
            CROSS JOIN LATERAL (SELECT ST_SetSRID(ST_MakePoint(r.lon, r.lat), 4326) AS g) p
            JOIN admin_unit g ON g.level = 'grid' AND ST_Intersects(g.geom, p.g)
        """)
    conn.commit()
    seconds = time.perf_counter() - started
    conn.close()
    return seconds


def main(argv: list[str] | None = None) -> int:
    """Build the database, run the three loads, print rows/s and ratios."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--grids", type=int, default=20_000)
    ap.add_argument("--sample", type=int, default=5_000, help="rows for baseline (a)")
    ap.add_argument("--b-rows", type=int, default=None, help="rows for baseline (b)")
    ap.add_argument("--keep", action="store_true", help="keep the database")
    ap.add_argument("--no-baselines", action="store_true",
                    help="pipeline only (e.g. --rows 5000000 for the peak-RSS figure)")
    args = ap.parse_args(argv)
    b_rows = args.b_rows or args.rows

    base = db.writer_url()
    name = f"cityscreen_bench_etl_{uuid.uuid4().hex[:8]}"
    _admin(base, f'CREATE DATABASE "{name}"')
    url = db.with_database(base, name)
    print(f"load average at start: {_load_avg()} ({os.cpu_count()} cores)", flush=True)
    try:
        conn = db.connect(url, timeout_ms=0)
        migrate(conn)
        from etl.commands import after_migrate

        after_migrate(conn)
        conn.commit()
        t0 = time.perf_counter()
        city = generate(grids=args.grids, seed=1)
        load(conn, city)
        conn.commit()
        with conn.cursor() as cur:
            cur.execute("ANALYZE admin_unit")
            cur.execute("SELECT code FROM category WHERE parent IS NOT NULL ORDER BY code")
            cats = [r[0] for r in cur.fetchall()]
        conn.commit()
        conn.close()
        print(f"demo city: {len(city.codes['grid'])} grids in {time.perf_counter() - t0:.1f} s",
              flush=True)

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "incidents.csv"
            t0 = time.perf_counter()
            lon, lat = write_incidents(path, args.rows, city, cats, "E")
            print(f"generated {args.rows:,} rows ({path.stat().st_size / 1e6:.0f} MB) in "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)
            load_before = _load_avg()
            secs, summary, rss = run_pipeline(url, path)
        ours = args.rows / secs
        print(f"pipeline: {summary}", flush=True)
        print(f"pipeline: {args.rows:,} rows in {secs:.1f} s = {ours:,.0f} rows/s "
              "(file → committed events + transitions + roll-ups); peak RSS of the loading "
              f"process {rss:,.0f} MB (load average before {load_before}, after {_load_avg()})",
              flush=True)
        print(f"RESULT etl_pipeline_rows_s={ours:.0f} rows/s goal=>=100000 "
              f"ratio={ours / 100_000:.2f}")
        print(f"RESULT etl_peak_rss_mb={rss:.0f} MB goal=<=1536 ratio={1536 / rss:.2f}"
              f" rows={args.rows}")
        if args.no_baselines:
            return 0
        with tempfile.TemporaryDirectory() as tmp:
            floors = floor_copy(url, Path(tmp))
            for label, (n_c, secs_c) in floors.items():
                print(f"floor: COPY of the {n_c:,} final rows of {label}: {secs_c:.1f} s = "
                      f"{n_c / secs_c:,.0f} rows/s", flush=True)
                key = label.replace(", ", "_").replace(" ", "_")
                print(f"RESULT etl_floor_copy_{key}_rows_s={n_c / secs_c:.0f} rows/s")
            # Both tables, per input row: what writing the final rows alone allows.
            for kind in ("no index", "keys only"):
                n_e, secs_e = floors[f"event, {kind}"]
                secs_t = floors[f"event_transition, {kind}"][1]
                both = n_e / (secs_e + secs_t)
                print(f"floor: events + their timeline rows, {kind}: {secs_e + secs_t:.1f} s = "
                      f"{both:,.0f} input rows/s", flush=True)
                print(f"RESULT etl_floor_copy_both_{kind.replace(' ', '_')}_rows_s={both:.0f}"
                      " rows/s")
        secs_f, n_f = floor_insert(url)
        rate_f = n_f / secs_f
        print(f"floor: INSERT … SELECT of the {n_f:,} loaded events into event inside "
              f"PostgreSQL: {secs_f:.1f} s = {rate_f:,.0f} rows/s", flush=True)
        print(f"RESULT etl_floor_db_insert_rows_s={rate_f:.0f} rows/s baseline={rate_f:.0f} "
              f"ratio={ours / rate_f:.2f}")

        n_a = min(args.sample, args.rows)
        secs_a = baseline_rowwise(url, lon[:n_a], lat[:n_a], cats)
        rate_a = n_a / secs_a
        print(f"baseline (a) row-by-row INSERT + ST_Intersects: {n_a:,} rows in {secs_a:.1f} s"
              f" = {rate_a:,.0f} rows/s", flush=True)
        n_b = min(b_rows, args.rows)
        secs_b = baseline_setbased(url, lon[:n_b], lat[:n_b], cats)
        rate_b = n_b / secs_b
        print(f"baseline (b) COPY + INSERT…SELECT…JOIN ST_Intersects: {n_b:,} rows in "
              f"{secs_b:.1f} s = {rate_b:,.0f} rows/s", flush=True)
        print(f"ratios: pipeline / (a) = {ours / rate_a:.1f}x (goal >= 10x), "
              f"pipeline / (b) = {ours / rate_b:.2f}x (goal >= 2x), "
              f"pipeline {ours:,.0f} rows/s (goal >= 100,000)")
        print(f"RESULT etl_ratio_rowwise={ours / rate_a:.1f} x goal=>=10 baseline={rate_a:.0f} "
              f"ratio={ours / rate_a:.1f}")
        print(f"RESULT etl_ratio_setbased={ours / rate_b:.2f} x goal=>=2 baseline={rate_b:.0f} "
              f"ratio={ours / rate_b:.2f}")
        print(f"load average at end: {_load_avg()}")
    finally:
        db.close_pools()
        if not args.keep:
            _admin(base, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                         f" WHERE datname = '{name}'")
            _admin(base, f'DROP DATABASE IF EXISTS "{name}"')
    return 0


if __name__ == "__main__":
    sys.exit(main())
