"""The closed-loop commands through the real CLI: kpi --json, load holidays, load categories."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from click.testing import CliRunner

from cityscreen import db
from cityscreen.cli import main

TZ = ZoneInfo("Asia/Shanghai")


def test_kpi_json_shape_and_sums(city: Any) -> None:
    grids = city["grid"]
    rows = [(f"cli-{i}", grids[i * 7 % len(grids)], datetime(2017, 7, 3 + i, 10, tzinfo=TZ))
            for i in range(6)]
    with db.transaction() as conn, conn.cursor() as cur:
        for sid, grid, at in rows:
            cur.execute("INSERT INTO event (source, source_id, category, grid_code, reported_at,"
                        " status, status_at, closed_at) VALUES ('grid_worker', %s, '0101', %s,"
                        " %s, 'closed', %s, %s + interval '3 hours')", (sid, grid, at, at, at))
        cur.execute("INSERT INTO event (source, source_id, category, reported_at, status,"
                    " status_at) VALUES ('hotline_12345', 'cli-noloc', '0101', %s, 'accepted', %s)",
                    (datetime(2017, 7, 4, 9, tzinfo=TZ),) * 2)
        cur.execute("SELECT refresh_event_hourly(array_agg(coalesce(grid_code, '')),"
                    " array_agg(reported_at)) FROM event WHERE source_id LIKE 'cli-%%'")
    result = CliRunner().invoke(main, ["kpi", "--from", "2017-07-01", "--to", "2017-08-01",
                                       "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["unit"] == "420600"
    assert out["from"].startswith("2017-07-01T00:00:00+08:00")
    k = out["kpis"]
    assert (k["received"], k["closed"], k["median_handling_hours"]) == (7, 6, 3.0)
    assert k["closure_rate"] == 6 / 7
    for key in ("on_time_rate", "overdue_open", "reopen_rate", "extension_rate", "satisfaction"):
        assert key in k
    assert k["satisfaction"] is None  # nobody rated: denominator 0
    assert sum(c["kpis"]["received"] for c in out["children"]) == 7
    assert out["children"][-1]["unit"] is None
    assert out["children"][-1]["kpis"]["received"] == 1
    # A plain table for people; bad usage exits 2.
    table = CliRunner().invoke(main, ["kpi", "--from", "2017-07-01", "--to", "2017-08-01"])
    assert table.exit_code == 0 and "结案率" in table.output
    assert CliRunner().invoke(main, ["kpi", "--from", "July"]).exit_code == 2


def test_load_holidays_and_categories(tmp_path: Path) -> None:
    h = tmp_path / "holidays.csv"
    h.write_text("date,kind,name\n2031-01-01,休,元旦\n2031-01-05,班,补班\n", "utf-8")
    result = CliRunner().invoke(main, ["load", "holidays", str(h)])
    assert result.exit_code == 0, result.output
    rows = db.query("SELECT day::text, kind FROM holiday WHERE day >= '2031-01-01' ORDER BY 1",
                    role="writer")
    assert rows == [{"day": "2031-01-01", "kind": "holiday"},
                    {"day": "2031-01-05", "kind": "workday"}]
    with db.transaction() as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM holiday WHERE day >= '2031-01-01' AND day < '2032-01-01'")
    bad = tmp_path / "bad.csv"
    bad.write_text("code,parent,name,deadline_value,deadline_unit\n01,,x,1,fortnights\n", "utf-8")
    result = CliRunner().invoke(main, ["load", "categories", str(bad)])
    assert result.exit_code == 1 and "fortnights" in result.output
    # The taxonomy is untouched by the refused file.
    assert db.query("SELECT count(*) AS n FROM category WHERE code = '0101'")[0]["n"] == 1


def test_escalate_every_keeps_running_until_stopped(database_url: str) -> None:
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "cityscreen", "escalate", "--every", "1", "--dry-run", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        runs = [json.loads(proc.stdout.readline()) for _ in range(2)]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert all("escalated" in r and "by_level" in r for r in runs)
    assert runs[0]["at"] != runs[1]["at"]  # two separate evaluations, each as of its own time


def test_escalate_every_refuses_a_fixed_time() -> None:
    result = CliRunner().invoke(main, ["escalate", "--every", "5", "--at", "2026-01-01T00:00"])
    assert result.exit_code == 2 and "--at" in result.output
