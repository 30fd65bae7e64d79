"""Load, short form: a few viewers against gunicorn (2 workers, Redis cache) during live ingest.

The full form (50 viewers, 5 minutes, 20 events/s) is ``benchmarks/bench_load.py`` in
``make bench``. Here: zero errors and every ingested batch visible through the read path;
latencies are printed, not asserted (no wall-clock limits in tests).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from cityscreen import db
from tests.proof.conftest import TOKEN, clean_env
from tests.support import benchmark_module, free_port


def _bench() -> Any:
    return benchmark_module("bench_load")


def test_viewers_during_live_ingest_see_every_batch_without_errors(
        city: Any, database_url: str, tmp_path: Path) -> None:
    bench = _bench()
    port = free_port()
    redis = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(port),
                              "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = None
    try:
        env = clean_env(DATABASE_URL=database_url, INGEST_TOKEN=TOKEN,
                        REDIS_URL=f"redis://127.0.0.1:{port}/0")
        server = bench.Server(env, 2, tmp_path / "gunicorn.log")
        with db.transaction() as conn:
            units = bench.city_units(conn)
        s = bench.run_load(server.base, TOKEN, units, viewers=6, duration=10, interval=2,
                           rate=10, tail_s=5)
    finally:
        if server is not None:
            server.stop()
        redis.terminate()
        redis.wait(10)
    print("\n" + json.dumps(s))
    for line in bench.result_lines(s):
        print(line)
    assert s["errors"] == 0, s["error_statuses"]
    assert s["batches"] >= 3, "the feed ran"
    assert s["poll"]["n"] > 0 and s["refresh"]["n"] > 0
    assert s["batches_not_visible"] == 0
    log = (tmp_path / "gunicorn.log").read_text()
    assert "Booting worker" in log and log.count("Booting worker") >= 2, "gunicorn, 2 workers"
