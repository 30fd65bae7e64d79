"""The `cityscreen load …` commands as users run them: exit codes, --json, --strict, encodings,
an unreachable database, `load report`, and a load killed with SIGKILL mid-batch."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from cityscreen import db
from tests.etl.conftest import CLI, event, kill_mid_load, run_cli, write_csv

HEADER = ["event_id", "reported_at", "category", "lon", "lat", "description"]


def _rows(uid: str, grid_point: Any, n: int, start: int = 0) -> list[list[Any]]:
    rows = []
    for i in range(start, start + n):
        lon, lat, _ = grid_point(i)
        rows.append([f"{uid}-{i}", f"2026-11-{1 + i % 20:02d}T{i % 24:02d}:15:00+08:00", "0101",
                     lon, lat, "路面垃圾"])
    return rows


def _fresh() -> Any:
    return db.connect(os.environ["DATABASE_URL"])


def test_json_summary_shape_and_second_run_unchanged(tmp_path: Path, uid: str,
                                                     grid_point: Any) -> None:
    path = write_csv(tmp_path / "inc.csv", HEADER, _rows(uid, grid_point, 5))
    first = run_cli("load", "incidents", str(path), "--json")
    assert first.returncode == 0, first.stderr
    out = json.loads(first.stdout)
    assert list(out) == ["batch_id", "feed", "rows_in", "loaded", "updated", "unchanged",
                         "rejected", "seconds"]
    assert (out["feed"], out["rows_in"], out["loaded"], out["rejected"]) == ("incidents", 5, 5, 0)
    second = json.loads(run_cli("load", "incidents", str(path), "--json").stdout)
    assert (second["loaded"], second["updated"], second["unchanged"]) == (0, 0, 5)
    assert second["batch_id"] > out["batch_id"]


def test_plain_summary_line(tmp_path: Path, uid: str, grid_point: Any) -> None:
    rows = [*_rows(uid, grid_point, 2), [f"{uid}-bad", "2026-11-01T08:00:00", "9999", 1, 1, ""]]
    path = write_csv(tmp_path / "inc.csv", HEADER, rows)
    r = run_cli("load", "incidents", str(path))
    assert r.returncode == 0  # committed, rejects or not
    assert "loaded 2" in r.stdout and "rejected 1" in r.stdout and "rows/s" in r.stdout
    assert "line 4: unknown category '9999'" in r.stderr
    batch = int(r.stdout.split()[1])
    report = run_cli("load", "report", "--batch", str(batch))
    assert report.returncode == 0
    assert "line 4: unknown category '9999'" in report.stdout
    listing = run_cli("load", "report")
    assert str(batch) in listing.stdout


def test_strict_aborts_and_loads_nothing(tmp_path: Path, uid: str, grid_point: Any) -> None:
    rows = [*_rows(uid, grid_point, 3), [f"{uid}-bad", "not a time", "0101", 112.1, 32.03, ""]]
    path = write_csv(tmp_path / "strict.csv", HEADER, rows)
    r = run_cli("load", "incidents", str(path), "--strict", "--json")
    assert r.returncode == 1
    assert r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and "--strict" in r.stderr
    conn = _fresh()
    try:
        assert event(conn, "grid_worker", f"{uid}-0") is None
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM etl_batch WHERE file = %s", (str(path),))
            assert cur.fetchone()[0] == 0
    finally:
        conn.close()


def test_database_unreachable_one_line_exit_1(tmp_path: Path, uid: str,
                                              grid_point: Any) -> None:
    path = write_csv(tmp_path / "inc.csv", HEADER, _rows(uid, grid_point, 1))
    r = run_cli("load", "incidents", str(path),
                env={"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere"})
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot connect" in lines[0], r.stderr


def test_unreadable_file_and_usage_errors(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cityscreen.cli import main

    def run(*args: str) -> Any:
        return CliRunner().invoke(main, list(args))

    missing = run("load", "incidents", str(tmp_path / "nope.csv"))
    assert missing.exit_code == 1 and "cannot read" in missing.output
    no_mapping = run("load", "hotline", str(tmp_path / "x.json"), "--format", "open311")
    assert no_mapping.exit_code == 2 and "--mapping" in no_mapping.output
    (tmp_path / "x.csv").write_text("event_id\n", encoding="utf-8")
    bad_crs = run("load", "incidents", str(tmp_path / "x.csv"), "--crs", "mars")
    assert bad_crs.exit_code == 2 and "mars" in bad_crs.output


def test_help_lists_columns() -> None:
    from click.testing import CliRunner

    from cityscreen.cli import main

    for feed, column in (("incidents", "event_id"), ("hotline", "service_request_id"),
                         ("cameras", "camera_id"), ("updates", "source_id"),
                         ("alerts", "confidence")):
        r = CliRunner().invoke(main, ["load", feed, "--help"])
        assert r.exit_code == 0 and column in r.output and "--json" in r.output


def test_bom_and_gb18030(tmp_path: Path, uid: str, grid_point: Any) -> None:
    bom = tmp_path / "bom.csv"
    write_csv(bom, HEADER, _rows(uid, grid_point, 1))
    bom.write_bytes(b"\xef\xbb\xbf" + bom.read_bytes())
    r = run_cli("load", "incidents", str(bom), "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["loaded"] == 1, r.stderr

    gb = write_csv(tmp_path / "gb.csv", HEADER, _rows(f"{uid}G", grid_point, 2),
                   encoding="gb18030")
    wrong = run_cli("load", "incidents", str(gb))
    assert wrong.returncode == 1 and "gb18030" in wrong.stderr
    right = run_cli("load", "incidents", str(gb), "--encoding", "gb18030", "--json")
    assert right.returncode == 0 and json.loads(right.stdout)["loaded"] == 2, right.stderr
    conn = _fresh()
    try:
        assert event(conn, "grid_worker", f"{uid}G-0")["description"] == "路面垃圾"
    finally:
        conn.close()


def _writer_holds_event_lock(conn: Any) -> bool:
    with conn.cursor() as cur:
        cur.execute("""
            SELECT EXISTS (
              SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
              WHERE l.relation = 'event'::regclass AND a.pid <> pg_backend_pid()
                AND a.datname = current_database() AND a.application_name = 'cityscreen-writer')
        """)
        return cur.fetchone()[0]


def test_kill_9_mid_batch_leaves_nothing_and_rerun_completes(tmp_path: Path, uid: str,
                                                             grid_point: Any) -> None:
    n = 30_000  # six chunks of 5,000: the kill lands while the first is being merged
    path = write_csv(tmp_path / "big.csv", HEADER, _rows(uid, grid_point, n))
    conn = _fresh()
    conn.autocommit = True
    try:
        proc = subprocess.Popen([*CLI, "load", "incidents", str(path), "--json",
                                 "--chunk-size", "5000"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        kill_mid_load(proc, conn, lambda: _writer_holds_event_lock(conn))
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM event WHERE source = 'grid_worker'"
                        " AND source_id LIKE %s", (f"{uid}-%",))
            assert cur.fetchone()[0] == 0
            cur.execute("SELECT count(*) FROM etl_batch WHERE file = %s", (str(path),))
            assert cur.fetchone()[0] == 0
        rerun = run_cli("load", "incidents", str(path), "--json")
        assert rerun.returncode == 0, rerun.stderr
        out = json.loads(rerun.stdout)
        assert (out["rows_in"], out["loaded"], out["rejected"]) == (n, n, 0)
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM event WHERE source = 'grid_worker'"
                        " AND source_id LIKE %s", (f"{uid}-%",))
            assert cur.fetchone()[0] == n
    finally:
        conn.close()
