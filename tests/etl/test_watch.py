"""`cityscreen ingest watch DIR`: complete files only, done/failed with reports, nothing lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from cityscreen.cli import main
from etl.watch import PROCESSING, Watcher


def _csv(city: Any, ids: list[str], bad_category: str | None = None) -> str:
    lines = ["event_id,reported_at,category,lon,lat,crs,description"]
    for i, eid in enumerate(ids):
        lon, lat = city.points[city.grid[i % len(city.grid)]]
        lines.append(f"{eid},2026-11-18T10:0{i % 10}:00+08:00,0101,{lon},{lat},wgs84,测试")
    if bad_category:
        lon, lat = city.points[city.grid[0]]
        lines.append(f"{bad_category},2026-11-18T11:00:00+08:00,9999,{lon},{lat},wgs84,坏分类")
    return "\n".join(lines) + "\n"


def _loaded(conn: Any, ids: list[str]) -> set[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT source_id FROM event WHERE source = 'grid_worker'"
                    " AND source_id = ANY(%s)", (ids,))
        return {r[0] for r in cur.fetchall()}


def _watch_once(directory: Path) -> Any:
    return CliRunner().invoke(main, ["ingest", "watch", str(directory), "--once",
                                     "--interval", "0.05"])


def test_once_loads_a_complete_file_into_done_with_a_report(tmp_path: Path, city: Any,
                                                             conn: Any) -> None:
    ids = [f"W-{uuid.uuid4().hex[:10]}" for _ in range(3)]
    bad = f"W-{uuid.uuid4().hex[:10]}"
    (tmp_path / "incidents-0001.csv").write_text(_csv(city, ids, bad_category=bad), "utf-8")
    result = _watch_once(tmp_path)
    assert result.exit_code == 0, result.output
    done = tmp_path / "done" / "incidents-0001.csv"
    assert done.exists() and not (tmp_path / "incidents-0001.csv").exists()
    report = json.loads((tmp_path / "done" / "incidents-0001.csv.report.json").read_text("utf-8"))
    assert report["status"] == "done" and report["feed"] == "incidents"
    batch = report["batch"]
    assert (batch["rows_in"], batch["loaded"], batch["rejected"]) == (4, 3, 1)
    assert [r["line_no"] for r in batch["rejects"]] == [5]
    assert _loaded(conn, [*ids, bad]) == set(ids)
    assert "入库 incidents-0001.csv" in result.output


def test_hidden_partial_and_foreign_files_are_left_alone(tmp_path: Path, city: Any) -> None:
    names = [".incidents-hidden.csv", "incidents-big.csv.part", "incidents-x.csv.tmp",
             "README.txt"]
    for name in names:
        (tmp_path / name).write_text(_csv(city, [f"W-{uuid.uuid4().hex[:10]}"]), "utf-8")
    result = _watch_once(tmp_path)
    assert result.exit_code == 0, result.output
    for name in names:
        assert (tmp_path / name).exists(), name
    assert list((tmp_path / "done").iterdir()) == []
    assert list((tmp_path / "failed").iterdir()) == []


def test_unloadable_and_misnamed_files_go_to_failed_with_reason(tmp_path: Path) -> None:
    (tmp_path / "incidents-broken.csv").write_bytes(b"event_id,reported_at\n\xff\xfe\xfa\n")
    (tmp_path / "sensors-1.csv").write_text("a,b\n1,2\n", "utf-8")
    result = _watch_once(tmp_path)
    assert result.exit_code == 1
    failed = tmp_path / "failed"
    assert (failed / "incidents-broken.csv").exists() and (failed / "sensors-1.csv").exists()
    broken = json.loads((failed / "incidents-broken.csv.report.json").read_text("utf-8"))
    assert broken["status"] == "failed" and "utf-8" in broken["error"].lower()
    misnamed = json.loads((failed / "sensors-1.csv.report.json").read_text("utf-8"))
    assert misnamed["feed"] is None and "<feed>-" in misnamed["error"]


def test_a_growing_file_is_taken_only_once_its_size_is_stable(tmp_path: Path, city: Any,
                                                              conn: Any) -> None:
    ids = [f"W-{uuid.uuid4().hex[:10]}" for _ in range(4)]
    path = tmp_path / "incidents-growing.csv"
    text = _csv(city, ids)
    head, tail = text[: len(text) // 2], text[len(text) // 2:]
    path.write_text(head, "utf-8")
    watcher = Watcher(tmp_path)
    assert watcher.poll() == []  # first sighting
    with path.open("a", encoding="utf-8") as f:
        f.write(tail)
    assert watcher.poll() == []  # grew since the last poll
    assert path.exists()
    outcomes = watcher.poll()  # unchanged across two polls: complete
    assert [(o.name, o.status) for o in outcomes] == [("incidents-growing.csv", "done")]
    assert outcomes[0].summary["loaded"] == 4
    assert _loaded(conn, ids) == set(ids)


def test_a_file_left_in_processing_by_a_killed_watcher_is_requeued(tmp_path: Path, city: Any,
                                                                    conn: Any) -> None:
    ids = [f"W-{uuid.uuid4().hex[:10]}" for _ in range(2)]
    (tmp_path / PROCESSING).mkdir()
    (tmp_path / PROCESSING / "incidents-orphan.csv").write_text(_csv(city, ids), "utf-8")
    result = _watch_once(tmp_path)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "done" / "incidents-orphan.csv").exists()
    assert _loaded(conn, ids) == set(ids)


def test_same_name_twice_keeps_both_files(tmp_path: Path, city: Any) -> None:
    for _ in range(2):
        (tmp_path / "incidents-daily.csv").write_text(
            _csv(city, [f"W-{uuid.uuid4().hex[:10]}"]), "utf-8")
        assert _watch_once(tmp_path).exit_code == 0
    done = sorted(p.name for p in (tmp_path / "done").iterdir() if p.suffix == ".csv")
    assert len(done) == 2 and done[0].startswith("incidents-daily")


def test_unusable_directory_is_one_clear_error_and_no_file_is_lost(tmp_path: Path,
                                                                   city: Any) -> None:
    (tmp_path / "done").write_text("a file where the done/ directory should be", "utf-8")
    (tmp_path / "incidents-keep.csv").write_text(_csv(city, ["W-keep"]), "utf-8")
    result = _watch_once(tmp_path)
    assert result.exit_code == 1
    assert "done" in result.output and "Traceback" not in result.output
    assert (tmp_path / "incidents-keep.csv").exists()
    missing = _watch_once(tmp_path / "nope")
    assert missing.exit_code == 1 and "not a directory" in missing.output


def test_database_down_leaves_the_file_for_a_retry(tmp_path: Path, city: Any) -> None:
    (tmp_path / "incidents-later.csv").write_text(_csv(city, ["W-later"]), "utf-8")
    env = {**os.environ, "DATABASE_URL": "postgresql://postgres@127.0.0.1:9/nowhere"}
    exe = str(Path(sys.executable).with_name("cityscreen"))
    proc = subprocess.run([exe, "ingest", "watch",
                           str(tmp_path), "--once", "--interval", "0.05"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "incidents-later.csv" in proc.stderr and "database" in proc.stderr
    assert (tmp_path / "incidents-later.csv").exists()
    assert list((tmp_path / "done").iterdir()) == []
    assert list((tmp_path / "failed").iterdir()) == []
    assert list((tmp_path / PROCESSING).iterdir()) == []
