"""`demo feed`: live cases, their lifecycle, heartbeats — directly and through a served endpoint."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from werkzeug.serving import make_server

from cityscreen import db
from cityscreen.cli import main
from cityscreen.settings import load_settings
from etl import demo_feed, pipeline
from etl.api import create_blueprint

TOKEN = "feed-test-token"


@pytest.fixture(scope="module")
def cameras(city: Any) -> list[str]:
    """A few cameras of this module's own, so alerts and heartbeats have somewhere to come from."""
    tag = uuid.uuid4().hex[:6].upper()
    rows = []
    for i, grid in enumerate(city.grid[:8]):
        lon, lat = city.points[grid]
        rows.append({"camera_id": f"FEEDCAM{tag}{i}", "lon": lon, "lat": lat, "status": "online"})
    with db.transaction() as conn:
        summary = pipeline.load_records(conn, "cameras", rows)
    assert summary.loaded == len(rows)
    return [r["camera_id"] for r in rows]


def _cases(conn: Any, run_id: str) -> list[tuple[str, str, str | None]]:
    with conn.cursor() as cur:
        cur.execute("SELECT source, status, grid_code FROM event WHERE source_id LIKE %s",
                    (f"%L{run_id}%",))
        return cur.fetchall()


def test_parse_rate_units() -> None:
    assert demo_feed.parse_rate("20") == 20  # `--rate 20` is 20 per second
    assert demo_feed.parse_rate("20/min") == pytest.approx(20 / 60)
    assert demo_feed.parse_rate("5/s") == 5
    assert demo_feed.parse_rate("3600/h") == 1
    assert demo_feed.parse_rate("1.5/min") == pytest.approx(0.025)
    for bad in ("", "fast", "-3", "5/week"):
        with pytest.raises(ValueError):
            demo_feed.parse_rate(bad)


def test_direct_feed_loads_cases_and_moves_them_through_the_lifecycle(
        city: Any, cameras: list[str], conn: Any) -> None:
    stats = demo_feed.run(rate=30.0, duration=3.0, interval=0.5, seed=7, speed=300.0)
    assert stats.errors == 0, stats.last_error
    assert stats.new > 20 and stats.rejected == 0
    assert stats.loaded == stats.new
    assert stats.updates > 0 and stats.heartbeats > 0
    rows = _cases(conn, stats.run_id)
    assert len(rows) == stats.new
    sources = {r[0] for r in rows}
    assert {"grid_worker", "hotline_12345"} <= sources
    assert any(r[1] != "reported" for r in rows)  # the compressed lifecycle advanced them
    assert all(r[2] is not None for r in rows if r[0] == "grid_worker")


def test_history_cases_of_demo_events_advance_and_other_cases_never(city: Any,
                                                                     conn: Any) -> None:
    lon, lat = city.points[city.grid[0]]
    demo_id = "GW20200101" + str(uuid.uuid4().int)[:6]
    other_id = f"REAL-{uuid.uuid4().hex[:8]}"
    rows = [{"event_id": i, "reported_at": "2020-01-01T09:00:00+08:00", "category": "0101",
             "lon": lon, "lat": lat} for i in (demo_id, other_id)]
    with db.transaction() as c:
        assert pipeline.load_records(c, "incidents", rows).loaded == 2
    from etl import demo_events

    ctx = demo_events.load_city(conn, city.code)
    feed = demo_feed.LiveFeed(ctx, rate=1.0, seed=1)
    advanced = feed.db_advances(conn, 100_000, 1_700_000_000.0)
    ids = {u["source_id"]: u["status"] for u in advanced}
    assert ids.get(demo_id) == "accepted"
    assert other_id not in ids


def test_feed_through_the_served_ingest_endpoint(city: Any, cameras: list[str],
                                                 conn: Any) -> None:
    app = Flask("feed-endpoint-test")
    app.register_blueprint(create_blueprint(load_settings({"INGEST_TOKEN": TOKEN})))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        stats = demo_feed.run(rate=20.0, url=url, token=TOKEN, duration=2.0, interval=0.5,
                              seed=11, speed=300.0)
        assert stats.errors == 0, stats.last_error
        assert stats.new > 5 and stats.loaded == stats.new and stats.rejected == 0
        assert stats.by_feed.get("cameras", 0) > 0

        wrong = demo_feed.run(rate=20.0, url=url, token="wrong", duration=0.5, interval=0.5,
                              seed=12)
        assert wrong.errors == wrong.ticks and "403" in (wrong.last_error or "")
        assert wrong.loaded == 0
    finally:
        server.shutdown()
        thread.join(timeout=5)


def test_cli_feed_with_short_duration(city: Any, cameras: list[str]) -> None:
    result = CliRunner().invoke(main, ["demo", "feed", "--rate", "20/s", "--duration", "1",
                                       "--interval", "0.5", "--seed", "5", "--json"])
    assert result.exit_code == 0, result.output
    totals = json.loads(result.output.strip().splitlines()[-1])
    assert totals["new"] > 0 and totals["errors"] == 0 and totals["rejected"] == 0
    bad = CliRunner().invoke(main, ["demo", "feed", "--rate", "lots"])
    assert bad.exit_code == 2

