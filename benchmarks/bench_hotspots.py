"""Hotspot detection on the demo data: precision/recall against the planted truth, and timings.

Run after `cityscreen demo generate` and `cityscreen demo events` (the truth file is
$CITYSCREEN_HOME/demo/hotspots_truth.json, or pass a path). Goal at the default threshold
(emerging hotspots, FDR 0.05, all categories): precision >= 0.9 and recall >= 0.8.
Gi* is scored too, for information: it finds persistent clusters (the busy urban core), which
the planted short-lived hotspots are not, so its precision against this truth is low by design.
Exit status 1 when the goal is missed or the data is missing. RESULT lines
(``benchmarks/report.py``): precision and recall at the default threshold against their goals,
the detectors' run times (24 h and 7 d windows) and the grid layer's cached/cold ratio.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from cityscreen import db
from cityscreen.settings import get_settings
from dashboard.analysis import hotspots, scoring

GOAL_PRECISION, GOAL_RECALL = 0.9, 0.8


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def main(argv: list[str]) -> int:
    truth_path = Path(argv[0]) if argv else get_settings().home / "demo" / "hotspots_truth.json"
    if not truth_path.exists():
        print(f"no truth file at {truth_path}: run `cityscreen demo events` first")
        return 1
    truth = scoring.load_truth(truth_path)
    conn = db.connect(db.reader_url(), application_name="bench-hotspots")
    try:
        return _run(conn, truth, truth_path)
    finally:
        conn.close()


def _run(conn: db.Connection, truth: dict, truth_path: Path) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM admin_unit WHERE level = 'grid' AND code LIKE %s",
                    (truth["city"][:4] + "%",))
        grids = cur.fetchone()[0]
        cur.execute("SELECT coalesce(sum(n_reported), 0) FROM event_hourly"
                    " WHERE grid_code LIKE %s", (truth["city"][:4] + "%",))
        cases = cur.fetchone()[0]
    print(f"truth {truth_path}: {len(truth['hotspots'])} planted hotspots, city {truth['city']},"
          f" {grids} grids, {cases} located cases in the roll-up")
    if not cases:
        print("the roll-up is empty: load the demo events first")
        return 1

    hotspots.LAYERS.clear()
    t = time.perf_counter()
    layer = hotspots.grid_layer(conn, truth["city"])
    cold = time.perf_counter() - t
    t = time.perf_counter()
    hotspots.grid_layer(conn, truth["city"])
    warm = time.perf_counter() - t
    print(f"grid layer (queen, shared borders): {len(layer.codes)} grids, cold {cold:.2f} s,"
          f" cached {warm * 1000:.0f} ms ({cold / max(warm, 1e-9):.0f}x)")
    print(f"RESULT hotspots_grid_layer_cached_ms={warm * 1000:.1f} ms baseline={cold * 1000:.0f}"
          f" ratio={cold / max(warm, 1e-9):.0f}")
    end = datetime.fromisoformat(truth["end"]).replace(minute=0, second=0, microsecond=0)
    for label, start in (("24 h", end - timedelta(hours=24)), ("7 d", end - timedelta(days=7))):
        t = time.perf_counter()
        gi = hotspots.gi_star(conn, start, end, unit=truth["city"])
        t_gi = time.perf_counter() - t
        t = time.perf_counter()
        em = hotspots.emerging_hotspots(conn, start, end, unit=truth["city"])
        t_em = time.perf_counter() - t
        print(f"window {label}: gi_star {t_gi:.2f} s ({gi['n_hot']} hot),"
              f" emerging {t_em:.2f} s ({em['n_emerging']} emerging,"
              f" {em['params']['weeks']} baseline weeks)")
        tag = label.replace(" ", "")
        print(f"RESULT hotspots_gi_star_{tag}_s={t_gi:.2f} s")
        print(f"RESULT hotspots_emerging_{tag}_s={t_em:.2f} s")

    ok = True
    for detector in ("emerging", "gi_star"):
        for mode in ("all", "major", "subitem"):
            t = time.perf_counter()
            s = scoring.score(conn, truth, detector=detector, category_mode=mode)
            took = time.perf_counter() - t
            default = detector == "emerging" and mode == "all"
            verdict = ""
            if default:
                met = (s["precision"] or 0) >= GOAL_PRECISION and s["recall"] >= GOAL_RECALL
                ok &= met
                verdict = "  <- default; goal " + ("met" if met else "MISSED")
                print(f"RESULT hotspots_precision={s['precision'] or 0:.3f} fraction"
                      f" goal=>={GOAL_PRECISION}")
                print(f"RESULT hotspots_recall={s['recall']:.3f} fraction goal=>={GOAL_RECALL}")
            print(f"{detector:9s} category={mode:8s} precision {_fmt(s['precision'])}"
                  f" ({s['true_positives']}/{s['flagged']}) recall {_fmt(s['recall'])}"
                  f" ({s['recalled']}/{s['hotspots']}; {_fmt(s['recall_visible'])} of the"
                  f" {s['visible']} with >= {scoring.MIN_VISIBLE_EXTRA} extra cases)"
                  f" in {took:.1f} s{verdict}")
            if default:
                for r in s["runs"]:
                    if not r["found"] or r["false_positives"]:
                        print(f"    {r['id']} {r['grid_code']} {r['start']}..{r['end']}"
                              f" extra cases {r['extra_events']}"
                              f" found={r['found']} false positives={r['false_positives'][:6]}")
    t = time.perf_counter()
    sweep = scoring.score_sweep(conn, truth, days=28, window_hours=24)
    print(f"daily sweep, last 28 days (every day, quiet ones too): precision"
          f" {_fmt(sweep['precision'])} ({sweep['true_positives']}/{sweep['flagged']}),"
          f" recall {_fmt(sweep['recall'])} ({sweep['recalled']}/{sweep['expected']} hotspot-days"
          f" active >= 12 h), {sweep['windows_with_false_positives']}/{sweep['windows']} days"
          f" with a false positive, {time.perf_counter() - t:.1f} s")
    print(f"RESULT hotspots_sweep_precision={sweep['precision'] or 0:.3f} fraction")
    print(f"RESULT hotspots_sweep_recall={sweep['recall'] or 0:.3f} fraction")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
