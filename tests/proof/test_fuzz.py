"""Property-based fuzzing of every feed parser through the pipeline (hypothesis, bounded).

Whatever arrives — arbitrary bytes as a file, arbitrary JSON values in the known fields —
a load never crashes: it ends in a batch where every row is loaded, updated, unchanged or
rejected with a reason, or in a one-line ``LoadError`` for an unusable file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl import pipeline
from tests.proof.conftest import scale

FIELDS = {
    "incidents": ["event_id", "reported_at", "category", "lon", "lat", "crs", "description",
                  "priority", "status", "status_at", "dept", "grid_code"],
    "hotline": ["ticket_id", "received_at", "intake", "category", "address", "lon", "lat",
                "crs", "dept", "deadline_at", "status", "updates", "satisfaction"],
    "cameras": ["camera_id", "name", "lon", "lat", "crs", "status", "last_seen", "at"],
    "updates": ["source", "source_id", "event_id", "status", "at", "dept", "note",
                "deadline_at"],
    "alerts": ["alert_id", "camera_id", "at", "category", "confidence", "snapshot_url"],
}
EXT = {"incidents": ("csv", "jsonl"), "hotline": ("jsonl", "json"), "cameras": ("csv", "jsonl"),
       "updates": ("csv", "jsonl"), "alerts": ("jsonl",)}
FUZZ = settings(max_examples=scale(12, 300), deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
scalar = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                   st.floats(allow_nan=True, allow_infinity=True), text,
                   st.sampled_from(["0101", "0703", "2026-11-20T09:30:00+08:00", "112.15",
                                    "32.04", "gcj02", "bd09", "closed", "accepted", "满意"]))
value = st.recursive(scalar, lambda kids: st.lists(kids, max_size=3)
                     | st.dictionaries(text, kids, max_size=3), max_leaves=6)


def _check(summary: Any) -> None:
    s = summary.as_json()
    assert s["rows_in"] == s["loaded"] + s["updated"] + s["unchanged"] + s["rejected"], s
    assert all(reason for _, reason in summary.rejects)


def _in_savepoint(conn: Any, fn: Any) -> None:
    with conn.cursor() as cur:
        cur.execute("SAVEPOINT fuzz")
    try:
        fn()
    except pipeline.LoadError as exc:
        assert str(exc).strip() and "\n" not in str(exc).strip()
    finally:
        with conn.cursor() as cur:
            cur.execute("ROLLBACK TO SAVEPOINT fuzz")


@pytest.mark.parametrize("feed", list(FIELDS))
@FUZZ
@given(data=st.data())
def test_arbitrary_records_never_crash_a_load(feed: str, data: Any, conn: Any, city: Any
                                              ) -> None:
    keys = st.sampled_from(FIELDS[feed]) | text
    records = data.draw(st.lists(st.one_of(st.dictionaries(keys, value, max_size=8), value,
                                           text), min_size=1, max_size=6))
    _in_savepoint(conn, lambda: _check(pipeline.load_records(conn, feed, records)))


@pytest.mark.parametrize("feed", list(FIELDS))
@FUZZ
@given(data=st.data())
def test_arbitrary_bytes_never_crash_a_file_load(feed: str, data: Any, conn: Any, city: Any,
                                                 tmp_path: Path) -> None:
    ext = data.draw(st.sampled_from(EXT[feed]))
    header = ",".join(FIELDS[feed]).encode() + b"\n" if ext == "csv" else b""
    raw = data.draw(st.binary(max_size=400))
    path = tmp_path / f"{feed}-fuzz.{ext}"
    path.write_bytes(data.draw(st.sampled_from([raw, header + raw])))
    _in_savepoint(conn, lambda: _check(pipeline.load_file(conn, feed, path)))


@FUZZ
@given(free=st.lists(st.tuples(st.sampled_from(["event_id", "description", "dept", "reporter"]),
                               text), min_size=1, max_size=4))
def test_valid_incidents_with_arbitrary_free_text_load_or_reject(free: list[tuple[str, str]],
                                                                 conn: Any, city: Any) -> None:
    lon, lat = city.points[city.grid[11]]
    rows = [{"event_id": f"PRF-FZ-{i}", "reported_at": "2026-11-20T09:30:00+08:00",
             "category": "0101", "lon": lon, "lat": lat, key: val}
            for i, (key, val) in enumerate(free)]

    def load() -> None:
        summary = pipeline.load_records(conn, "incidents", rows)
        _check(summary)

    _in_savepoint(conn, load)
