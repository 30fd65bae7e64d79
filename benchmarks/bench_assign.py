"""Point → grid assignment: in-process STRtree vs PostGIS set-based ST_Intersects (goal >= 5x).

20,000 demo grids × 2,000,000 points, both paths in the same run on the same data, in a
throwaway database created (and dropped) on the configured server. RESULT lines
(``benchmarks/report.py``): the STRtree rate with PostGIS as baseline, the speed-up with and
without building the index (goal >= 5), and the disagreements on a sample (goal 0).
"""

from __future__ import annotations

import io
import signal
import sys
import time
import uuid

import numpy as np

from cityscreen import db
from geo.assign import GridAssigner
from geo.demo_city import generate, load
from geo.schema import migrate

GRIDS = 20_000
POINTS = 2_000_000


def _admin(url: str, sql: str) -> None:
    conn = db.connect(db.with_database(url, "postgres"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql)
    conn.close()


def _copy_points(conn: db.Connection, lon: np.ndarray, lat: np.ndarray) -> float:
    started = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute("CREATE UNLOGGED TABLE bench_pt (id integer, x float8, y float8)")
        buf = io.StringIO()
        np.savetxt(buf, np.column_stack([np.arange(lon.size), lon, lat]),
                   fmt=["%d", "%.9f", "%.9f"], delimiter="\t")
        buf.seek(0)
        cur.copy_expert("COPY bench_pt FROM STDIN", buf)
        cur.execute("ALTER TABLE bench_pt ADD COLUMN geom geometry(Point, 4326)")
        cur.execute("UPDATE bench_pt SET geom = ST_SetSRID(ST_Point(x, y), 4326)")
        cur.execute("ANALYZE bench_pt")
        cur.execute("ANALYZE admin_unit")
    conn.commit()
    return time.perf_counter() - started


def _results(points: int, t_query: float, t_total: float, t_pg: float, disagree: int) -> None:
    """The RESULT lines (PostGIS's set-based join is the baseline)."""
    pg_rate = points / t_pg
    print(f"RESULT assign_strtree_rate={points / t_query:.0f} pts/s baseline={pg_rate:.0f} "
          f"ratio={t_pg / t_query:.1f}")
    print(f"RESULT assign_speedup={t_pg / t_query:.1f} x goal=>=5 baseline={pg_rate:.0f} "
          f"ratio={t_pg / t_query:.1f}")
    print(f"RESULT assign_speedup_incl_build={t_pg / t_total:.1f} x goal=>=5 "
          f"baseline={pg_rate:.0f} ratio={t_pg / t_total:.1f}")
    print(f"RESULT assign_disagreements={disagree} count goal=0")


def main(points: int = POINTS) -> int:
    """Run both paths, check they agree, print points/s and the ratio."""
    # an interrupted run still drops its database (the finally below)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    base = db.writer_url()
    name = f"cityscreen_bench_assign_{uuid.uuid4().hex[:8]}"
    _admin(base, f'CREATE DATABASE "{name}"')
    url = db.with_database(base, name)
    try:
        conn = db.connect(url, timeout_ms=0)
        migrate(conn)
        t0 = time.perf_counter()
        city = generate(grids=GRIDS, seed=1)
        t_gen = time.perf_counter() - t0
        t0 = time.perf_counter()
        load(conn, city)
        conn.commit()
        t_load = time.perf_counter() - t0
        print(f"demo city: {len(city.codes['grid'])} grids generated in {t_gen:.1f} s, "
              f"stored in {t_load:.1f} s")

        rng = np.random.default_rng(42)
        xmin, ymin, xmax, ymax = city.level("city")[0].geom.bounds
        lon = rng.uniform(xmin, xmax, points)
        lat = rng.uniform(ymin, ymax, points)
        t_copy = _copy_points(conn, lon, lat)

        t0 = time.perf_counter()
        assigner = GridAssigner.from_db(conn)
        t_build = time.perf_counter() - t0
        t0 = time.perf_counter()
        ours = assigner.assign(lon, lat)
        t_query = time.perf_counter() - t0
        strtree_total = t_build + t_query

        with conn.cursor() as cur:
            t0 = time.perf_counter()
            cur.execute(
                "CREATE UNLOGGED TABLE bench_res AS SELECT p.id, g.code FROM bench_pt p"
                " LEFT JOIN LATERAL (SELECT min(a.code) AS code FROM admin_unit a"
                " WHERE a.level = 'grid' AND ST_Intersects(a.geom, p.geom)) g ON true")
            t_pg = time.perf_counter() - t0
            sample = rng.choice(points, min(points, 100_000), replace=False)
            cur.execute("SELECT id, code FROM bench_res WHERE id = ANY(%s)", (sample.tolist(),))
            theirs = dict(cur.fetchall())
        conn.commit()
        conn.close()
        disagree = sum(1 for i in sample if ours[i] != theirs[int(i)])
        inside = int(sum(c is not None for c in ours))

        print(f"{points:,} points ({inside:,} inside a grid), {len(assigner):,} grids")
        print(f"STRtree: build {t_build:.2f} s (read polygons + index), assign {t_query:.2f} s "
              f"= {points / t_query:,.0f} pts/s ({points / strtree_total:,.0f} pts/s incl. build)")
        print(f"PostGIS set-based ST_Intersects join: {t_pg:.2f} s = {points / t_pg:,.0f} pts/s "
              f"(points COPY + geometry: {t_copy:.1f} s, not counted)")
        print(f"ratio STRtree vs PostGIS: {t_pg / t_query:.1f}x (assign only), "
              f"{t_pg / strtree_total:.1f}x (incl. build) — goal >= 5x")
        print(f"agreement on a {len(sample):,}-point sample: {len(sample) - disagree:,} agree")
        _results(points, t_query, strtree_total, t_pg, disagree)
        return 0 if disagree == 0 else 1
    finally:
        db.close_pools()
        _admin(base, f'DROP DATABASE IF EXISTS "{name}"')


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else POINTS))
