"""Fault injection, short bounded forms: PostgreSQL restarted under live ingest and viewing,
Redis stopped under viewing, the watch directory out of space or unwritable.

ETL killed with SIGKILL mid-batch (no partial batch, the re-run completes) is proved in
tests/etl/test_cli.py::test_kill_9_mid_batch_leaves_nothing_and_rerun_completes; the stale
banner in the browser in tests/dashboard/test_browser.py.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cityscreen import db, pgcluster
from cityscreen.settings import load_settings
from tests.proof.conftest import TOKEN, Served, clean_env, scale, store_data
from tests.support import free_port


def http(method: str, url: str, body: bytes | None = None, timeout: float = 10.0
         ) -> tuple[int, bytes]:
    """(status, body) of one request; status 0 when the server could not be reached."""
    req = urllib.request.Request(url, data=body, method=method, headers={
        "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


# ------------------------------------------------------------------ PostgreSQL restart


@pytest.fixture(scope="module")
def private_pg(tmp_path_factory: Any) -> Iterator[dict[str, Any]]:
    """Our own PostGIS cluster on a free port, migrated, with a tiny demo city."""
    home = tmp_path_factory.mktemp("pg-home")
    settings = load_settings({"CITYSCREEN_HOME": str(home), "CITYSCREEN_PG_PORT": str(free_port())})
    url = f"postgresql://postgres@127.0.0.1:{settings.pg_port}/cityscreen"
    try:
        pgcluster.up(settings)
        env = clean_env(DATABASE_URL=url, CITYSCREEN_HOME=str(home))
        subprocess.run([sys.executable, "-m", "cityscreen", "db", "migrate"], env=env,
                       check=True, capture_output=True, timeout=120)
        from geo.demo_city import generate, info, load

        demo = generate(grids=30, seed=3)
        conn = db.connect(url)
        try:
            load(conn, demo)
            conn.commit()
        finally:
            conn.close()
        yield {"settings": settings, "url": url, "city": info(demo), "env": env}
    finally:
        pgcluster.down(settings)
        pointer = home / "pg.location"
        if pointer.exists():
            shutil.rmtree(pointer.read_text().strip(), ignore_errors=True)


def test_postgres_restart_loses_no_ingested_event_and_health_recovers(
        private_pg: dict[str, Any], tmp_path: Path) -> None:
    env = {**private_pg["env"], "INGEST_TOKEN": TOKEN}
    app = Served(env, tmp_path / "served.log")
    city = private_pg["city"]
    grid = city.grid[0]
    lon, lat = city.points[grid]
    prefix = f"PRF-PG-{uuid.uuid4().hex[:6]}"
    n_events = scale(40, 400)
    sent: list[str] = []
    retries = [0]
    health: list[tuple[float, int]] = []
    stop = threading.Event()

    def sender() -> None:
        for i in range(n_events):
            sid = f"{prefix}-{i}"
            body = json.dumps([{"event_id": sid, "reported_at": "2026-11-24T10:00:00+08:00",
                                "category": "0101", "lon": lon, "lat": lat}]).encode()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                status, _ = http("POST", app.base + "/api/v1/events?feed=incidents", body)
                if status == 200:
                    sent.append(sid)
                    break
                retries[0] += 1
                time.sleep(0.2)
            time.sleep(0.05)  # ~20 events/s when the database is up

    def viewer() -> None:
        while not stop.is_set():
            started = time.monotonic()
            status, _ = http("GET", app.base + "/healthz", timeout=5)
            health.append((started, status))
            time.sleep(0.2)

    threads = [threading.Thread(target=sender), threading.Thread(target=viewer)]
    try:
        for t in threads:
            t.start()
        time.sleep(1.5)
        pgcluster.down(private_pg["settings"])
        t_down = time.monotonic()
        time.sleep(2)
        t_up = time.monotonic()  # the database returns during up(): measure from its start
        pgcluster.up(private_pg["settings"])
        threads[0].join(120)
        time.sleep(0.5)
        stop.set()
        threads[1].join(10)
    finally:
        stop.set()
        app.stop()
    conn = db.connect(private_pg["url"])
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM event WHERE source_id LIKE %s", (prefix + "-%",))
            stored = cur.fetchone()[0]
    finally:
        conn.close()
    down = [s for t, s in health if t_down < t < t_up]
    back = [t for t, s in health if t > t_up and s == 200]
    recovery = back[0] - t_up if back else None
    print(f"\nPG restart: sent {len(sent)}, stored {stored}, sender retries {retries[0]}, "
          f"/healthz 200 again {recovery:.2f} s after the database returned"
          if recovery is not None else "\nno recovery")
    assert len(sent) == n_events, "every event was eventually accepted"
    assert stored == len(sent), "count sent == count stored"
    assert retries[0] > 0, "the outage was felt by the sender"
    assert down and all(s == 503 for s in down), f"/healthz says the DB is down: {set(down)}"
    assert recovery is not None and recovery <= 10.0


# ------------------------------------------------------------------ Redis stopped


def test_redis_stopped_app_keeps_answering_with_right_data(city: Any, database_url: str,
                                                           tmp_path: Path) -> None:
    exe = shutil.which("redis-server")
    assert exe, "redis-server is installed (STACK.md)"
    port = free_port()
    redis = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    app = None
    try:
        import redis as redis_lib

        client = redis_lib.Redis(port=port)
        for _ in range(50):
            try:
                client.ping()
                break
            except redis_lib.ConnectionError:
                time.sleep(0.1)
        app = Served(clean_env(DATABASE_URL=database_url, INGEST_TOKEN=TOKEN,
                               REDIS_URL=f"redis://127.0.0.1:{port}/0"), tmp_path / "app.log")
        view = json.dumps({
            "output": ".._pages_content.children..._pages_store.data..",
            "outputs": [{"id": "_pages_content", "property": "children"},
                        {"id": "_pages_store", "property": "data"}],
            "inputs": [{"id": "_pages_location", "property": "pathname", "value": "/"},
                       {"id": "_pages_location", "property": "search", "value": "?window=7d"}],
            "changedPropIds": ["_pages_location.pathname"], "state": []}).encode()

        def check(label: str) -> int:
            status, body = http("POST", app.base + "/_dash-update-component", view, timeout=30)
            assert status == 200, (label, status)
            page_version = store_data(json.loads(body), "page-version")
            status, body = http("GET", app.base + "/api/v1/version")
            assert status == 200, (label, status)
            version = json.loads(body)["data_version"]
            assert page_version == version, (label, page_version, version)
            with db.transaction() as conn, conn.cursor() as cur:
                cur.execute("SELECT version FROM data_version")
                assert cur.fetchone()[0] == version, label
            return version

        check("with redis")
        assert client.dbsize() > 0, "the cache lives in our redis"
        redis.terminate()
        redis.wait(10)
        t0 = time.monotonic()
        v1 = check("redis gone")
        # new data while redis is gone: still seen (the cache never serves a stale version)
        lon, lat = city.points[city.grid[2]]
        body = json.dumps([{"event_id": f"PRF-RD-{uuid.uuid4().hex[:8]}", "category": "0101",
                            "reported_at": "2026-11-24T10:00:00+08:00", "lon": lon,
                            "lat": lat}]).encode()
        assert http("POST", app.base + "/api/v1/events?feed=incidents", body)[0] == 200
        v2 = check("redis gone, new data")
        assert v2 > v1
        print(f"\nredis stopped: 2 views + 2 polls + 1 ingest answered 200 in "
              f"{time.monotonic() - t0:.2f} s")
    finally:
        if app is not None:
            app.stop()
        if redis.poll() is None:
            redis.terminate()
            redis.wait(10)


# ------------------------------------------------------------------ watch directory


def _mount_tmpfs(path: Path, options: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                       capture_output=True, check=False)
    return p.returncode == 0


def _umount(path: Path) -> None:
    subprocess.run(["umount", str(path)], capture_output=True, check=False)


def _incidents_file(path: Path, city: Any, prefix: str, n: int = 3) -> list[str]:
    lon, lat = city.points[city.grid[4]]
    ids = [f"{prefix}-{i}" for i in range(n)]
    path.write_text("event_id,reported_at,category,lon,lat\n" + "".join(
        f"{i},2026-11-24T10:00:00+08:00,0101,{lon},{lat}\n" for i in ids))
    return ids


def _stored(ids: list[str]) -> int:
    rows = db.query("SELECT count(*) AS n FROM event WHERE source_id = ANY(%s)", (ids,))
    return rows[0]["n"]


def test_watch_directory_full_disk_is_a_clear_error_and_no_file_is_lost(
        tmp_path: Path, city: Any, caplog: Any) -> None:
    from etl.watch import Watcher

    root = tmp_path / "watch"
    if not _mount_tmpfs(root, "size=64k"):
        pytest.fail("mount -t tmpfs failed (not root?): this fault needs a small filesystem")
    try:
        ids = _incidents_file(root / "incidents-full.csv", city, f"PRF-WF-{uuid.uuid4().hex[:6]}")
        w = Watcher(root)
        filler = root / ".filler"
        try:  # fill the disk to the last byte (opening may already hit ENOSPC)
            with filler.open("wb") as f:
                while True:
                    f.write(b"\0" * 1024)
                    f.flush()
        except OSError:
            pass
        with caplog.at_level(logging.ERROR, logger="cityscreen.etl.watch"):
            w.poll()
            outcomes = w.poll()
        assert [o.status for o in outcomes] == ["done"]
        assert (root / "done" / "incidents-full.csv").exists(), "the file is kept in done/"
        assert _stored(ids) == len(ids)
        errors = " ".join(r.getMessage() for r in caplog.records)
        assert "No space left on device" in errors and "report" in errors, errors
    finally:
        _umount(root)
    assert not root.is_mount()


def test_watch_unwritable_done_dir_is_a_clear_error_and_no_file_is_lost(
        tmp_path: Path, city: Any, caplog: Any) -> None:
    from etl.watch import Watcher

    root = tmp_path / "watch"
    root.mkdir()
    ids = _incidents_file(root / "incidents-ro.csv", city, f"PRF-WR-{uuid.uuid4().hex[:6]}")
    w = Watcher(root)
    done = root / "done"
    mounted = _mount_tmpfs(done, "ro,size=16k")  # read-only (and another filesystem)
    if not mounted:
        done.chmod(0o500)  # not root: plain permissions do it
    try:
        with caplog.at_level(logging.ERROR, logger="cityscreen.etl.watch"):
            w.poll()
            outcomes = w.poll()
        assert [o.status for o in outcomes] == ["retry"]
        assert (root / "incidents-ro.csv").exists(), "the file is back in the watch dir"
        errors = " ".join(r.getMessage() for r in caplog.records)
        assert "cannot move incidents-ro.csv to done/" in errors, errors
    finally:
        if mounted:
            _umount(done)
        else:
            done.chmod(0o700)
    assert not done.is_mount()
    # once done/ is usable again the retry files it, and the re-load duplicates nothing
    outcomes = w.poll() + w.poll()
    assert [o.status for o in outcomes] == ["done"]
    assert (done / "incidents-ro.csv").exists()
    assert _stored(ids) == len(ids)
