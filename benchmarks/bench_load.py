"""Load: N viewers polling the production server while a live feed ingests, on loopback only.

    python benchmarks/bench_load.py [--viewers 50] [--duration 300] [--rate 20] [--workers 3]

Starts ``cityscreen serve --workers N`` (gunicorn, the composed ``cityscreen.wsgi:server``) on
127.0.0.1 with the Redis cache (``--redis``, a db number of its own) against the configured
database (the city of ``make demo``). Each simulated viewer posts the page's poll callback
(the interval tick) every ``--interval`` seconds, and when the version moved posts the
overview's refresh callback — the requests a browser makes; now and then it drills down (a
district overview or a grid page). A sender posts ``--rate`` events per second in one batch
per second to the ingest endpoint, whose answer names the batch's data_version. Reported:
errors, p50/p95 latency per kind, and ingest→visible latency (from a batch's POST until a
viewer's refresh at that batch's data_version or later came back).

Before the load, the same kinds of request are sent one at a time to the same server (no
other viewer, no ingest): the quiet baseline of the same run. After it, the load's events are
deleted again and the roll-ups they touched recomputed, so the demo city (and the hotspot
benchmark reading it) is left as it was.

Prints ``RESULT name=value unit goal=... baseline=... ratio=...`` lines for
``benchmarks/report.py``: latencies with ratio = quiet baseline / under load (1 = no slowdown),
visibility with ratio = goal / measured (above 1 is headroom), the ingest rate against the
rate asked for. Goals: zero errors, p95 <= 500 ms, visible within 10 s, 20 events/s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STATE_DEFAULT = {"unit": None, "window": "today", "start": None, "end": None, "channel": None,
                 "major": None, "status": None, "metric": "count", "cams": False,
                 "theme": "wall", "lang": "zh"}


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(method: str, url: str, body: Any = None, token: str | None = None,
            timeout: float = 30.0) -> tuple[int, bytes]:
    """(status, body); status 0 when the connection failed."""
    assert url.startswith("http://127.0.0.1:"), "loopback only"
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


class Server:
    """``cityscreen serve`` (gunicorn when workers > 1) on a free loopback port."""

    def __init__(self, env: dict[str, str], workers: int, log: Path, threads: int = 1) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._log = log.open("w")
        cmd = [sys.executable, "-m", "cityscreen", "serve", "--host", "127.0.0.1", "--port",
               str(self.port), "--workers", str(workers)]
        if threads > 1:  # the production line of `serve`, with gthread workers
            cmd = [str(Path(sys.executable).parent / "gunicorn"), "-w", str(workers),
                   "--threads", str(threads), "-b", f"127.0.0.1:{self.port}", "--timeout",
                   "60", "cityscreen.wsgi:server"]
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     cwd=ROOT)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if request("GET", self.base + "/healthz", timeout=5)[0]:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server did not start; see {log}")

    def cpu_seconds(self) -> float:
        """CPU time (user + system) its processes used so far: the master and its workers."""
        pids = [self.proc.pid]
        try:
            kids = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
            pids += [int(p) for p in kids.split()]
        except OSError:
            return 0.0
        total = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        """Stop our server process (SIGTERM to its pid; gunicorn stops its workers)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


@dataclass
class Stats:
    """Every request's (kind, latency, ok) and every batch's visibility, thread-safe."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    samples: list[tuple[str, float, bool, int, float]] = field(default_factory=list)
    batches: list[tuple[float, int]] = field(default_factory=list)  # (post start, version)
    seen: list[tuple[float, int]] = field(default_factory=list)  # (refresh done, version)
    sent_events: int = 0

    def add(self, kind: str, seconds: float, status: int) -> None:
        ok = status in (200, 204)
        with self.lock:
            self.samples.append((kind, seconds, ok, status, time.monotonic() - seconds))


def dep_outputs(dep: dict[str, Any]) -> list[Any]:
    """The ``outputs`` of a callback request (pattern-matched outputs: none on the page)."""
    outputs: list[Any] = []
    for part in dep["output"].strip(".").split("..."):
        obj, prop = part.rsplit(".", 1)
        outputs.append([] if obj.startswith("{") else {"id": obj, "property": prop})
    return outputs


def refresh_body(dep: dict[str, Any], state: dict[str, Any], version: dict[str, Any],
                 previous: int) -> dict[str, Any]:
    """The overview refresh callback request, as the browser posts it."""
    return {"output": dep["output"], "outputs": dep_outputs(dep),
            "inputs": [{"id": "data-version", "property": "data", "value": version}],
            "changedPropIds": ["data-version.data"],
            "state": [{"id": "page-state", "property": "data", "value": state},
                      {"id": "page-version", "property": "data", "value": previous}]}


def page_body(pathname: str, search: str) -> dict[str, Any]:
    """The pages callback request (a navigation: drill-down)."""
    return {"output": ".._pages_content.children..._pages_store.data..",
            "outputs": [{"id": "_pages_content", "property": "children"},
                        {"id": "_pages_store", "property": "data"}],
            "inputs": [{"id": "_pages_location", "property": "pathname", "value": pathname},
                       {"id": "_pages_location", "property": "search", "value": search}],
            "changedPropIds": ["_pages_location.pathname"], "state": []}


def timed(stats: Stats, kind: str, method: str, url: str, body: Any = None,
          token: str | None = None) -> tuple[int, bytes]:
    """One request, recorded."""
    t0 = time.perf_counter()
    status, data = request(method, url, body, token)
    stats.add(kind, time.perf_counter() - t0, status)
    return status, data


def poll_body(dep: dict[str, Any], current: dict[str, Any] | None, n: int) -> dict[str, Any]:
    """The live poll callback request (the page's interval tick), as the browser posts it."""
    return {"output": dep["output"], "outputs": dep_outputs(dep),
            "inputs": [{"id": "tick", "property": "n_intervals", "value": n}],
            "changedPropIds": ["tick.n_intervals"],
            "state": [{"id": "data-version", "property": "data", "value": current},
                      {"id": "stale-since", "property": "data", "value": None}]}


def polled_version(status: int, data: bytes) -> dict[str, Any] | None:
    """The new ``data-version`` store value of a poll answer (None: unchanged)."""
    if status != 200:
        return None
    resp = json.loads(data)["response"]  # all outputs unchanged: an empty response
    return resp["data-version"]["data"] if "data-version" in resp else None


def viewer(base: str, deps: dict[str, Any], units: dict[str, list[str]], stats: Stats,
           stop: threading.Event, interval: float, seed: int) -> None:
    """One wall screen / desk: poll the version, refresh on change, drill down now and then."""
    rng = random.Random(seed)
    home = rng.choice([None, *units["district"][:4]])
    state = {**STATE_DEFAULT, "unit": home}
    current: dict[str, Any] | None = None
    n = 0
    if stop.wait(rng.uniform(0, interval)):
        return
    while not stop.is_set():
        n += 1
        status, data = timed(stats, "poll", "POST", base + "/_dash-update-component",
                             poll_body(deps["poll"], current, n))
        new = polled_version(status, data)
        if new is not None:
            if current is not None and new["v"] != current["v"]:
                st, _ = timed(stats, "refresh", "POST", base + "/_dash-update-component",
                              refresh_body(deps["refresh"], state, new, current["v"]))
                if st in (200, 204):
                    with stats.lock:
                        stats.seen.append((time.monotonic(), new["v"]))
            current = new
        if rng.random() < 0.1:
            if rng.random() < 0.5 or not units["grid"]:
                code = rng.choice(units["district"] or [None])
                timed(stats, "drill", "POST", base + "/_dash-update-component",
                      page_body("/", f"?unit={code}" if code else ""))
            else:
                timed(stats, "drill", "POST", base + "/_dash-update-component",
                      page_body(f"/grid/{rng.choice(units['grid'])}", ""))
        stop.wait(interval)


def sender(base: str, token: str, points: list[tuple[float, float]], rate: int, stats: Stats,
           stop: threading.Event, prefix: str = "LOAD-") -> None:
    """The live feed: one batch of ``rate`` incidents per second (its version from the answer)."""
    tag = f"{prefix}{uuid.uuid4().hex[:8]}"
    n = 0
    next_t = time.monotonic()
    while not stop.is_set():
        rows = []
        now = time.strftime("%Y-%m-%dT%H:%M:%S+08:00",
                            time.gmtime(time.time() + 8 * 3600))
        for _ in range(rate):
            lon, lat = points[n % len(points)]
            rows.append({"event_id": f"{tag}-{n}", "reported_at": now, "category": "0101",
                         "lon": lon, "lat": lat})
            n += 1
        t0 = time.monotonic()
        status, data = timed(stats, "ingest", "POST", base + "/api/v1/events?feed=incidents",
                             rows, token)
        if status == 200:
            with stats.lock:  # visible once a screen shows this batch's version or a later one
                stats.batches.append((t0, json.loads(data)["data_version"]))
                stats.sent_events += len(rows)
        next_t += 1.0
        stop.wait(max(0.0, next_t - time.monotonic()))


# The load's events leave the city as they found it: gone, and the roll-ups they touched
# recomputed (the hotspot benchmark and the demo screens read the same database).
REMOVE_EVENTS = """
CREATE TEMP TABLE _load_gone ON COMMIT DROP AS
    SELECT id, coalesce(grid_code, '') AS g, date_trunc('hour', reported_at) AS h
    FROM event WHERE source_id LIKE %(prefix)s;
DELETE FROM event_transition WHERE event_id IN (SELECT id FROM _load_gone);
DELETE FROM event WHERE id IN (SELECT id FROM _load_gone);
SELECT refresh_event_hourly(coalesce(array_agg(g), '{}'), coalesce(array_agg(h), '{}'))
    FROM (SELECT DISTINCT g, h FROM _load_gone) k;
SELECT bump_data_version(NULL);
"""


def remove_events(conn: Any, prefix: str) -> int:
    """Delete the events whose source id starts with ``prefix`` (one transaction); how many."""
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM event WHERE source_id LIKE %s", (prefix + "%",))
        n = int(cur.fetchone()[0])
        if n:
            cur.execute(REMOVE_EVENTS, {"prefix": prefix + "%"})
    conn.commit()
    return n


def city_units(conn: Any) -> dict[str, Any]:
    """District and grid codes, and one inner point per grid, of the loaded city."""
    with conn.cursor() as cur:
        cur.execute("SELECT code FROM admin_unit WHERE level = 'district' ORDER BY code")
        districts = [r[0] for r in cur.fetchall()]
        cur.execute("""SELECT code, ST_X(p), ST_Y(p) FROM (
                         SELECT code, ST_PointOnSurface(geom) AS p FROM admin_unit
                         WHERE level = 'grid' ORDER BY code LIMIT 200) g""")
        rows = cur.fetchall()
    return {"district": districts, "grid": [r[0] for r in rows],
            "points": [(r[1], r[2]) for r in rows]}


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of values (0 when empty)."""
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def timeline(stats: Stats, step: float = 10.0) -> list[int]:
    """Viewer p95 latency (ms) per ``step`` seconds of the run: where a slowdown sits."""
    viewer = [(s[4], s[1] * 1000) for s in stats.samples if s[0] not in ("ingest", "crash")]
    if not viewer:
        return []
    t0 = min(t for t, _ in viewer)
    buckets: dict[int, list[float]] = {}
    for t, ms in viewer:
        buckets.setdefault(int((t - t0) // step), []).append(ms)
    return [round(pct(buckets.get(i, []), 95)) for i in range(max(buckets) + 1)]


def summarise(stats: Stats, duration: float) -> dict[str, Any]:
    """Errors, latency percentiles per kind and the ingest→visible latencies."""
    out: dict[str, Any] = {"requests": len(stats.samples), "events_sent": stats.sent_events,
                           "events_per_s": round(stats.sent_events / duration, 1)}
    out["errors"] = sum(1 for s in stats.samples if not s[2])
    out["error_statuses"] = sorted({s[3] for s in stats.samples if not s[2]})
    viewer = [s[1] * 1000 for s in stats.samples if s[0] not in ("ingest", "crash")]
    out["p50_ms"], out["p95_ms"] = pct(viewer, 50), pct(viewer, 95)
    for kind in ("poll", "refresh", "drill", "ingest"):
        lat = [s[1] * 1000 for s in stats.samples if s[0] == kind]
        out[kind] = {"n": len(lat), "p50_ms": round(pct(lat, 50), 1),
                     "p95_ms": round(pct(lat, 95), 1)}
    visible = []
    invisible = 0
    for t_post, v in stats.batches:
        times = [t for t, sv in stats.seen if sv >= v and t >= t_post]
        if times:
            visible.append(min(times) - t_post)
        else:
            invisible += 1
    out["p95_ms_per_10s"] = timeline(stats)
    out["batches"] = len(stats.batches)
    out["batches_not_visible"] = invisible
    out["visible_p50_s"] = round(pct(visible, 50), 2)
    out["visible_p95_s"] = round(pct(visible, 95), 2)
    out["visible_max_s"] = round(max(visible), 2) if visible else None
    return out


def quiet_baseline(base: str, units: dict[str, Any], rounds: int = 30) -> dict[str, Any]:
    """The same kinds of request one at a time, with no other viewer and no ingest.

    The baseline the loaded figures are set against (measured in the same run, on the same
    server): each round polls, refreshes one of the viewers' home views and drills down.
    """
    deps = callback_deps(base)
    stats = Stats()
    rng = random.Random(0)
    homes = [None, *units["district"][:4]]
    for i in range(rounds):
        _, data = timed(stats, "poll", "POST", base + "/_dash-update-component",
                        poll_body(deps["poll"], None, 1))
        v = (polled_version(200, data) or {"v": 0})["v"]
        state = {**STATE_DEFAULT, "unit": homes[i % len(homes)]}
        timed(stats, "refresh", "POST", base + "/_dash-update-component",
              refresh_body(deps["refresh"], state, {"v": v, "r": 0}, v - 1))
        if i % 2:
            code = rng.choice(units["district"] or [None])
            page = page_body("/", f"?unit={code}" if code else "")
        else:
            page = page_body(f"/grid/{rng.choice(units['grid'])}", "")
        timed(stats, "drill", "POST", base + "/_dash-update-component", page)
    ms = [s[1] * 1000 for s in stats.samples]
    return {"requests": len(ms), "errors": sum(1 for s in stats.samples if not s[2]),
            "p50_ms": round(pct(ms, 50), 1), "p95_ms": round(pct(ms, 95), 1)}


def callback_deps(base: str) -> dict[str, Any]:
    """The overview refresh and the live poll callbacks, from the app's dependency list."""
    found = json.loads(request("GET", base + "/_dash-dependencies")[1])
    return {"refresh": next(d for d in found if d["inputs"][0]["id"] == "data-version"
                            and [s["id"] for s in d["state"]] == ["page-state", "page-version"]),
            "poll": next(d for d in found if d["inputs"][0]["id"] == "tick"
                         and d["output"].startswith("..data-version.data.."))}


def guarded(target: Any, stats: Stats) -> Any:
    """``target`` for a thread: a crash counts as an error instead of silently ending it."""

    def run(*args: Any) -> None:
        try:
            target(*args)
        except Exception as exc:
            stats.add("crash", 0.0, 0)
            print(f"{target.__name__} thread crashed: {exc!r}", file=sys.stderr)

    return run


def run_load(base: str, token: str, units: dict[str, Any], *, viewers: int, duration: float,
             interval: float, rate: int, tail_s: float = 12.0,
             prefix: str = "LOAD-") -> dict[str, Any]:
    """Run viewers + sender against a served app for ``duration`` s; return the summary.

    The sender stops at ``duration``; viewers keep polling ``tail_s`` more so the last
    batches can become visible.
    """
    deps = callback_deps(base)
    stats = Stats()
    stop_send, stop_view = threading.Event(), threading.Event()
    view, send = guarded(viewer, stats), guarded(sender, stats)
    threads = [threading.Thread(target=view, args=(base, deps, units, stats, stop_view, interval,
                                                   i), daemon=True)
               for i in range(viewers)]
    threads.append(threading.Thread(target=send, args=(base, token, units["points"], rate, stats,
                                                       stop_send, prefix), daemon=True))
    for t in threads:
        t.start()
    time.sleep(duration)
    stop_send.set()
    threads[-1].join(60)
    time.sleep(tail_s)
    stop_view.set()
    for t in threads[:-1]:
        t.join(60)
    return summarise(stats, duration)


def _vs(baseline: float | None, value: float) -> str:
    """`` baseline=… ratio=…`` (baseline / value: 1 = as fast as with nothing else going on)."""
    if not baseline:
        return ""
    return f" baseline={baseline:.1f} ratio={baseline / value if value else 0:.2f}"


def result_lines(s: dict[str, Any]) -> list[str]:
    """The RESULT lines of a summary (goals from the issue).

    Latencies carry the quiet baseline of the same run (``s["quiet"]``: the same requests
    one at a time), ratio = baseline / loaded; the ingest rate carries the rate asked for.
    Visibility has no baseline: its ratio is goal / measured.
    """
    quiet = s.get("quiet") or {}
    p95, vis, vis95 = s["p95_ms"], s["visible_max_s"], s["visible_p95_s"]
    lines = [
        f"RESULT load_errors={s['errors']} count goal=0",
        f"RESULT load_p50_ms={s['p50_ms']:.1f} ms{_vs(quiet.get('p50_ms'), s['p50_ms'])}",
        f"RESULT load_p95_ms={p95:.1f} ms goal=<=500{_vs(quiet.get('p95_ms'), p95)}",
        f"RESULT load_visible_p95_s={vis95} s goal=<=10 ratio={10 / vis95 if vis95 else 0:.2f}",
        f"RESULT load_visible_max_s={vis} s goal=<=10 ratio={10 / vis if vis else 0:.2f}",
        f"RESULT load_batches_not_visible={s['batches_not_visible']} count goal=0",
    ]
    rate = s.get("rate")
    lines.append(f"RESULT load_ingest_rate={s['events_per_s']} events/s"
                 + (f" goal=>={rate} ratio={s['events_per_s'] / rate:.2f}" if rate else ""))
    if "server_cpu_cores" in s:
        lines.append(f"RESULT load_server_cpu={s['server_cpu_cores']} cores")
    return lines


def main() -> int:
    """Serve with gunicorn + Redis, run the load, print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--viewers", type=int, default=50)
    ap.add_argument("--duration", type=float, default=300.0, help="seconds of live feed")
    ap.add_argument("--interval", type=float, default=5.0, help="viewer poll interval, s")
    ap.add_argument("--rate", type=int, default=20, help="events per second")
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1,
                    help="threads per worker (gunicorn gthread) instead of `cityscreen serve`")
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/9",
                    help="Redis URL of the cache (a db number of its own); '' for none")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from cityscreen import db
    from cityscreen.settings import get_settings

    settings = get_settings()
    url = db.writer_url(settings)
    conn = db.connect(url)
    try:
        units = city_units(conn)
    finally:
        conn.close()
    if not units["grid"]:
        print("no grids loaded: run `cityscreen demo generate` first")
        return 1
    prefix = f"LOAD-{os.getpid()}-"
    token = secrets.token_urlsafe(24)
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "INGEST_TOKEN")}
    env.update(DATABASE_URL=url, INGEST_TOKEN=token)
    if args.redis:
        env["REDIS_URL"] = args.redis
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"cityscreen-bench-load-{os.getpid()}.log"
    print(f"load average before: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
    server = Server(env, args.workers, log, args.threads)
    print(f"load: {args.viewers} viewers every {args.interval:g} s, {args.rate} events/s, "
          f"{args.duration:g} s, gunicorn {args.workers} workers x {args.threads} threads, "
          f"cache {args.redis or 'none'}",
          flush=True)
    try:
        quiet = quiet_baseline(server.base, units)
        cpu0, t0 = server.cpu_seconds(), time.monotonic()
        s = run_load(server.base, token, units, viewers=args.viewers, duration=args.duration,
                     interval=args.interval, rate=args.rate, prefix=prefix)
        s["server_cpu_cores"] = round((server.cpu_seconds() - cpu0) / (time.monotonic() - t0), 2)
        s["quiet"], s["rate"] = quiet, args.rate
    finally:
        server.stop()
        conn = db.connect(url, timeout_ms=0)
        try:
            print(f"removed the load's {remove_events(conn, prefix)} events again")
        finally:
            conn.close()
    print(f"load average after: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
    print(json.dumps(s, indent=1))
    for line in result_lines(s):
        print(line)
    ok = (s["errors"] == 0 and s["p95_ms"] <= 500 and s["batches_not_visible"] == 0
          and (s["visible_max_s"] or 0) <= 10)
    print("goals met" if ok else "goals NOT met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
