"""Staging and set-based upsert: COPY a chunk into temp tables, then merge into `event`/`camera`.

One batch = one transaction. Per chunk:

1. COPY the validated rows into temp staging tables (never WAL-logged, dropped at commit);
2. ``INSERT … ON CONFLICT DO NOTHING`` the new cases (one index probe per row);
3. ``UPDATE`` the cases that already existed — only where the row is newer (``status_at``)
   or, at the same ``status_at``, differs: an older row never overwrites a newer state;
4. ``event_transition`` rows, ``ON CONFLICT (event_id, at, kind) DO NOTHING`` so a reload
   adds nothing;
5. remember the touched (grid_code, hour) keys — old and new — for the roll-up refresh.

Each input row is classified loaded / updated / unchanged / rejected from what the statements
return.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from cityscreen.settings import get_settings

log = logging.getLogger("cityscreen.etl")

# Bytes handed to the server per read of a COPY's text (see _copy_text).
COPY_BLOCK = 1 << 22

STATE_STAMPS = ("accepted", "dispatched", "resolved", "verified", "closed")


@dataclass(slots=True)
class EventItem:
    """One validated case, ready to stage (lon/lat in WGS-84 once located)."""

    line_no: int
    source_id: str
    category: str
    major: str
    priority: int | None
    reported_at: datetime
    status: str
    status_at: datetime
    point: tuple[float, float, str] | None = None  # as given: lon, lat, crs
    location_optional: bool = False
    lon: float | None = None
    lat: float | None = None
    grid_code: str | None = None
    claimed_grid: str | None = None
    address: str | None = None
    description: str | None = None
    reporter: str | None = None
    intake: str | None = None
    stamps: dict[str, datetime] = field(default_factory=dict)
    deadline_at: datetime | None = None
    deadline_provisional: bool = False
    dept: str | None = None
    reopened_count: int = 0
    extended_count: int = 0
    escalation_level: int = 0
    satisfaction: int | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    camera_id: str | None = None
    # (at, kind, from_status, to_status, actor, dept, note)
    transitions: list[tuple[Any, ...]] = field(default_factory=list)

    def stage_row(self) -> tuple[Any, ...]:
        """The row in ``EVENT_STAGE`` column order."""
        st = self.stamps
        return (
            self.line_no, self.source_id, self.category, self.major, self.priority,
            self.lon, self.lat, self.grid_code, self.address, self.description, self.reporter,
            self.intake, self.reported_at, st.get("accepted"), st.get("dispatched"),
            st.get("resolved"), st.get("verified"), st.get("closed"), self.deadline_at,
            self.deadline_provisional, self.status, self.status_at, self.dept,
            self.reopened_count, self.extended_count, self.escalation_level, self.satisfaction,
            json.dumps(self.attrs, ensure_ascii=False, default=str) if self.attrs else "{}",
            self.camera_id,
        )


@dataclass(slots=True)
class CameraItem:
    """One camera register row."""

    line_no: int
    source_id: str
    name: str | None
    point: tuple[float, float, str] | None
    status: str
    last_seen: datetime | None
    stream_url: str | None
    owner: str | None
    attrs: dict[str, Any]
    lon: float | None = None
    lat: float | None = None
    grid_code: str | None = None

    def stage_row(self) -> tuple[Any, ...]:
        """The row in ``CAMERA_STAGE`` column order."""
        return (self.line_no, self.source_id, self.name, self.lon, self.lat, self.grid_code,
                self.status, self.last_seen, self.stream_url, self.owner,
                json.dumps(self.attrs, ensure_ascii=False, default=str) if self.attrs else "{}")


@dataclass(slots=True)
class HeartbeatItem:
    """One camera heartbeat: status at a time."""

    line_no: int
    camera_id: str
    status: str
    at: datetime

    def stage_row(self) -> tuple[Any, ...]:
        """The row in ``HEARTBEAT_STAGE`` column order."""
        return (self.line_no, self.camera_id, self.status, self.at)


@dataclass(slots=True)
class UpdateItem:
    """One status update of an existing case."""

    line_no: int
    source: str
    source_id: str
    kind: str
    at: datetime
    dept: str | None = None
    actor: str | None = None
    note: str | None = None
    deadline_at: datetime | None = None
    to_status: str | None = None


EVENT_STAGE = """
    line_no integer, source_id text, category text, major text, priority smallint,
    lon double precision, lat double precision, grid_code text, address text, description text,
    reporter text, intake text, reported_at timestamptz, accepted_at timestamptz,
    dispatched_at timestamptz, resolved_at timestamptz, verified_at timestamptz,
    closed_at timestamptz, deadline_at timestamptz, deadline_provisional boolean, status text,
    status_at timestamptz, dept text, reopened_count integer, extended_count integer,
    escalation_level smallint, satisfaction smallint, attrs jsonb, camera_id text
"""
TRANSITION_STAGE = """
    line_no integer, source_id text, at timestamptz, kind text, from_status text,
    to_status text, actor text, dept text, note text
"""
CAMERA_STAGE = """
    line_no integer, source_id text, name text, lon double precision, lat double precision,
    grid_code text, status text, last_seen timestamptz, stream_url text, owner text, attrs jsonb
"""
HEARTBEAT_STAGE = "line_no integer, camera_id text, status text, at timestamptz"
STATE_STAGE = """
    event_id bigint, status text, status_at timestamptz, accepted_at timestamptz,
    dispatched_at timestamptz, resolved_at timestamptz, verified_at timestamptz,
    closed_at timestamptz, deadline_at timestamptz, reopened_count integer,
    extended_count integer, escalation_level smallint, dept text
"""
EVENT_TRANSITION_STAGE = """
    event_id bigint, at timestamptz, kind text, from_status text, to_status text, actor text,
    dept text, note text
"""


def _exec(cur: Any, name: str, sql: str, params: Any = None) -> None:
    """Execute one statement, logging its name and duration (``cityscreen -vv``)."""
    started = time.perf_counter()
    cur.execute(sql, params)
    log.debug("sql %s %.1f ms", name, (time.perf_counter() - started) * 1000)


def render(rows: Iterable[Sequence[Any]]) -> tuple[str, int]:
    """Rows (Python values; None = NULL) as COPY CSV text, and how many there are.

    Lines end in CRLF: the csv module quotes only fields holding a character of its line
    terminator, so with a bare LF a lone CR in a description went out unquoted and COPY took
    it for the end of the row (the whole batch failed; found by the full fuzzing run).
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    n = 0
    for row in rows:
        writer.writerow(row)
        n += 1
    return buf.getvalue(), n


def _copy_text(cur: Any, table: str, text: str, n: int) -> int:
    if n:
        started = time.perf_counter()
        # Whole megabytes per read: psycopg2 reads the file in 8 KB blocks by default, each
        # read taking the GIL, which the chunk-preparing thread holds for up to its switch
        # interval (5 ms): with that thread busy a 50k-row COPY took 8x as long.
        cur.copy_expert(f"COPY {table} FROM STDIN WITH (FORMAT csv)", io.StringIO(text),
                        size=COPY_BLOCK)
        log.debug("copy %s %d rows %.1f ms", table, n, (time.perf_counter() - started) * 1000)
    return n


def _copy(cur: Any, table: str, rows: Iterable[Sequence[Any]]) -> int:
    """COPY rows (Python values; None = NULL) into a table in CSV form."""
    return _copy_text(cur, table, *render(rows))


def render_events(items: Sequence[EventItem]) -> tuple[tuple[str, int], tuple[str, int]]:
    """COPY text of a chunk's cases and of their transitions (can run off the DB thread)."""
    return (render(it.stage_row() for it in items),
            render((it.line_no, it.source_id, *t) for it in items for t in it.transitions))


def create_staging(conn: Any) -> None:
    """(Re)create this transaction's temp staging tables; they vanish at commit or rollback."""
    with conn.cursor() as cur:
        cur.execute(
            "DROP TABLE IF EXISTS _etl_event, _etl_transition, _etl_outcome, _etl_touched,"
            " _etl_camera, _etl_heartbeat, _etl_reject, _etl_state, _etl_event_transition,"
            " _etl_direct, _etl_direct_transition;"
            f"CREATE TEMP TABLE _etl_event ({EVENT_STAGE}) ON COMMIT DROP;"
            f"CREATE TEMP TABLE _etl_transition ({TRANSITION_STAGE}) ON COMMIT DROP;"
            "CREATE TEMP TABLE _etl_outcome (source_id text, id bigint, outcome text)"
            " ON COMMIT DROP;"
            "CREATE TEMP TABLE _etl_touched (grid_code text, hour timestamptz) ON COMMIT DROP;"
            f"CREATE TEMP TABLE _etl_camera ({CAMERA_STAGE}) ON COMMIT DROP;"
            f"CREATE TEMP TABLE _etl_heartbeat ({HEARTBEAT_STAGE}) ON COMMIT DROP;"
            "CREATE TEMP TABLE _etl_reject (line_no integer, reason text) ON COMMIT DROP;"
            f"CREATE TEMP TABLE _etl_state ({STATE_STAGE}) ON COMMIT DROP;"
            f"CREATE TEMP TABLE _etl_event_transition ({EVENT_TRANSITION_STAGE}) ON COMMIT DROP;"
            # Direct bulk chunks that fall back to the merge (event's columns and defaults).
            "CREATE TEMP TABLE _etl_direct (LIKE event INCLUDING DEFAULTS) ON COMMIT DROP;"
            f"CREATE TEMP TABLE _etl_direct_transition ON COMMIT DROP AS"
            f" SELECT {TRANSITION_DIRECT_COLS} FROM event_transition WITH NO DATA;"
            # A big batch may run for minutes; the pool's statement timeout is for queries.
            "SET LOCAL statement_timeout = 0;"
        )
        # Times without an offset are local time of CITYSCREEN_TZ (FEEDS.md).
        cur.execute("SELECT set_config('TimeZone', %s, true)", (get_settings().tz.key,))


@dataclass
class ChunkResult:
    """What one chunk did: counts, and the rows the database rejected (line_no, reason)."""

    loaded: int = 0
    updated: int = 0
    unchanged: int = 0
    rejects: list[tuple[int, str]] = field(default_factory=list)


# ------------------------------------------------------------------ events

# Columns set on an existing case, as expressions over the stored row e and the staged row s.
# Lifecycle stamps and counters never go backwards; attrs merge.
_EVENT_SET: tuple[tuple[str, str], ...] = (
    ("category", "s.category"),
    ("major", "s.major"),
    ("priority", "coalesce(s.priority, e.priority)"),
    ("geom", "CASE WHEN s.lon IS NULL THEN e.geom"
             " ELSE ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326) END"),
    ("grid_code", "CASE WHEN s.lon IS NULL THEN e.grid_code ELSE s.grid_code END"),
    ("address", "coalesce(s.address, e.address)"),
    ("description", "coalesce(s.description, e.description)"),
    ("reporter", "coalesce(s.reporter, e.reporter)"),
    ("intake", "coalesce(s.intake, e.intake)"),
    ("reported_at", "s.reported_at"),
    *((f"{st}_at", f"coalesce(s.{st}_at, e.{st}_at)") for st in STATE_STAMPS),
    ("deadline_at", "CASE WHEN e.extended_count > s.extended_count THEN e.deadline_at"
                    " ELSE coalesce(s.deadline_at, e.deadline_at) END"),
    ("deadline_provisional", "CASE WHEN e.extended_count > s.extended_count"
                             " THEN e.deadline_provisional ELSE s.deadline_provisional END"),
    ("status", "CASE WHEN s.status_at >= e.status_at THEN s.status ELSE e.status END"),
    ("status_at", "greatest(s.status_at, e.status_at)"),
    ("dept", "coalesce(s.dept, e.dept)"),
    ("reopened_count", "greatest(s.reopened_count, e.reopened_count)"),
    ("extended_count", "greatest(s.extended_count, e.extended_count)"),
    ("escalation_level", "greatest(s.escalation_level, e.escalation_level)"),
    ("satisfaction", "coalesce(s.satisfaction, e.satisfaction)"),
    ("attrs", "e.attrs || s.attrs"),
)

_INSERT_COLS = (
    "source, source_id, category, major, priority, geom, grid_code, address, description,"
    " reporter, intake, reported_at, accepted_at, dispatched_at, resolved_at, verified_at,"
    " closed_at, deadline_at, deadline_provisional, status, status_at, dept, reopened_count,"
    " extended_count, escalation_level, satisfaction, attrs, batch_id"
)
_INSERT_VALUES = (
    "%(source)s, s.source_id, s.category, s.major, s.priority,"
    " CASE WHEN s.lon IS NULL THEN NULL ELSE ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326) END,"
    " s.grid_code, s.address, s.description, s.reporter, s.intake, s.reported_at,"
    " s.accepted_at, s.dispatched_at, s.resolved_at, s.verified_at, s.closed_at, s.deadline_at,"
    " s.deadline_provisional, s.status, s.status_at, s.dept, s.reopened_count,"
    " s.extended_count, s.escalation_level, s.satisfaction, s.attrs, %(batch)s"
)

_ALERT_POSITION = """
WITH gone AS (
    DELETE FROM _etl_event s
    WHERE s.camera_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM camera c WHERE c.source = 'cctv' AND c.source_id = s.camera_id
          AND c.geom IS NOT NULL)
    RETURNING s.line_no, s.camera_id)
INSERT INTO _etl_reject SELECT line_no, 'unknown camera ' || quote_literal(camera_id)
    || ' (or it has no location)' FROM gone;
UPDATE _etl_event s SET lon = ST_X(c.geom), lat = ST_Y(c.geom), grid_code = c.grid_code
FROM camera c WHERE s.camera_id IS NOT NULL AND c.source = 'cctv' AND c.source_id = s.camera_id;
"""

# A new case's timeline starts with its 'reported' (上报) step, written here from the rows
# just inserted rather than staged from Python.
_INSERT_NEW = f"""
WITH ins AS (
    INSERT INTO event ({_INSERT_COLS})
    SELECT {_INSERT_VALUES} FROM _etl_event s
    ON CONFLICT (source, source_id) DO NOTHING
    RETURNING id, source_id, grid_code, reported_at, reporter),
touched AS (
    INSERT INTO _etl_touched SELECT coalesce(grid_code, ''), date_trunc('hour', reported_at)
    FROM ins),
reported AS (
    INSERT INTO event_transition (event_id, at, kind, to_status, actor, batch_id)
    SELECT id, reported_at, 'reported', 'reported', reporter, %(batch)s FROM ins
    ON CONFLICT (event_id, at, kind) DO NOTHING)
INSERT INTO _etl_outcome SELECT source_id, id, 'loaded' FROM ins
"""


def _update_existing_sql() -> str:
    sets = ", ".join(f"{col} = {expr}" for col, expr in _EVENT_SET)
    new = ", ".join(expr for _, expr in _EVENT_SET)
    old = ", ".join(f"e.{col}" for col, _ in _EVENT_SET)
    # o is the row as it was before this statement: its grid/hour leave the roll-up.
    return f"""
WITH upd AS (
    UPDATE event e SET {sets}, batch_id = %(batch)s, updated_at = clock_timestamp()
    FROM _etl_event s, event o
    WHERE o.source = %(source)s AND o.source_id = s.source_id AND e.id = o.id
      AND NOT EXISTS (SELECT 1 FROM _etl_outcome x WHERE x.source_id = s.source_id)
      AND s.status_at >= o.status_at
      AND ({new}) IS DISTINCT FROM ({old})
    RETURNING e.id, e.source_id, e.grid_code, e.reported_at,
              o.grid_code AS old_grid, o.reported_at AS old_reported),
touched AS (
    INSERT INTO _etl_touched
    SELECT coalesce(grid_code, ''), date_trunc('hour', reported_at) FROM upd
    UNION ALL
    SELECT coalesce(old_grid, ''), date_trunc('hour', old_reported) FROM upd)
INSERT INTO _etl_outcome SELECT source_id, id, 'updated' FROM upd
"""


_UPDATE_EXISTING = _update_existing_sql()

_TRANSITIONS = """
WITH ids AS (
    SELECT DISTINCT ON (t.source_id) t.source_id,
           coalesce(o.id, (SELECT e.id FROM event e
                           WHERE e.source = %(source)s AND e.source_id = t.source_id)) AS id
    FROM (SELECT DISTINCT source_id FROM _etl_transition) t
    LEFT JOIN _etl_outcome o USING (source_id)),
ins AS (
    INSERT INTO event_transition (event_id, at, kind, from_status, to_status, actor, dept, note,
                                  batch_id)
    SELECT ids.id, t.at, t.kind, t.from_status, t.to_status, t.actor, t.dept, t.note, %(batch)s
    FROM _etl_transition t JOIN ids USING (source_id)
    WHERE ids.id IS NOT NULL
    ON CONFLICT (event_id, at, kind) DO NOTHING
    RETURNING event_id)
INSERT INTO _etl_outcome
SELECT DISTINCT ids.source_id, ids.id, 'timeline' FROM ins JOIN ids ON ids.id = ins.event_id
WHERE NOT EXISTS (SELECT 1 FROM _etl_outcome x WHERE x.source_id = ids.source_id)
"""


def apply_events(conn: Any, source: str, batch_id: int, items: Sequence[EventItem],
                 rendered: tuple[tuple[str, int], tuple[str, int]] | None = None) -> ChunkResult:
    """Stage and merge one chunk of cases (one row per source_id) and their transitions."""
    events_text, transitions_text = rendered or render_events(items)
    with conn.cursor() as cur:
        cur.execute("TRUNCATE _etl_event, _etl_transition, _etl_outcome, _etl_reject")
        staged = _copy_text(cur, "_etl_event", *events_text)
        _copy_text(cur, "_etl_transition", *transitions_text)
        return _merge_staged(cur, source, batch_id, staged,
                             alerts=any(it.camera_id for it in items))


def _merge_staged(cur: Any, source: str, batch_id: int, staged: int,
                  alerts: bool = False) -> ChunkResult:
    """Merge the staged chunk (``_etl_event``, ``_etl_transition``) into the case tables."""
    params = {"source": source, "batch": batch_id}
    result = ChunkResult()
    if alerts:
        cur.execute(_ALERT_POSITION)
        cur.execute("SELECT line_no, reason FROM _etl_reject")
        result.rejects = list(cur.fetchall())
        # Also drop their transitions: the case was not loaded.
        cur.execute("DELETE FROM _etl_transition t WHERE NOT EXISTS "
                    "(SELECT 1 FROM _etl_event s WHERE s.source_id = t.source_id)")
    # Row count and the join keys are all the merge plans need; a full ANALYZE of every
    # staged column (jsonb, free text) cost ~1.5 s per 50k-row chunk.
    _exec(cur, "analyze stage", "ANALYZE _etl_event (source_id, camera_id)")
    _exec(cur, "insert new events", _INSERT_NEW, params)
    # A chunk of only new cases (a first bulk load) has nothing left to update.
    if cur.rowcount < staged - len(result.rejects):
        _exec(cur, "update existing events", _UPDATE_EXISTING, params)
    _exec(cur, "insert transitions", _TRANSITIONS, params)
    cur.execute("SELECT outcome, count(*) FROM _etl_outcome GROUP BY outcome")
    counts = dict(cur.fetchall())
    result.loaded = counts.get("loaded", 0)
    # A row that only added timeline entries (an older update) changed the case's history.
    result.updated = counts.get("updated", 0) + counts.get("timeline", 0)
    result.unchanged = staged - len(result.rejects) - result.loaded - result.updated
    return result


# ------------------------------------------------------------------ bulk loads: direct COPY
#
# In a bulk load that holds `event` exclusively (its secondary indexes were dropped in this
# transaction, see drop_secondary_indexes), a chunk's cases are copied straight into `event`
# and their timeline rows into `event_transition`, with ids taken from a block reserved at the
# start of the batch: no staging table, no INSERT … SELECT, no ON CONFLICT, no RETURNING. The
# two COPYs run under a savepoint; a case that already exists (an earlier batch or an earlier
# chunk of this file) or a timeline row twice hits a unique index, the savepoint is rolled
# back and that chunk takes the ordinary staged merge instead, so every row ends up exactly as
# the ordinary path would leave it.

EVENT_DIRECT_COLS = (
    "id, source, source_id, category, major, priority, geom, grid_code, address, description,"
    " reporter, intake, reported_at, accepted_at, dispatched_at, resolved_at, verified_at,"
    " closed_at, deadline_at, deadline_provisional, status, status_at, dept, reopened_count,"
    " extended_count, escalation_level, satisfaction, attrs, batch_id"
)
TRANSITION_DIRECT_COLS = "event_id, at, kind, from_status, to_status, actor, dept, note, batch_id"
# A chunk's COPY leaves out the columns that hold their default (NULL unless named here) in
# every case of the chunk: less text to render and to parse (a bulk export rarely fills
# address, intake, most lifecycle stamps, counters, satisfaction or attrs).
_EVENT_DEFAULTS: dict[str, Any] = {"deadline_provisional": False, "reopened_count": 0,
                                   "extended_count": 0, "escalation_level": 0, "attrs": "{}"}
_REPORTED_COLS = "event_id, at, kind, to_status, actor, batch_id"

# A directly copied chunk back into staging form, for the ordinary merge.
_DIRECT_TO_STAGE = """
INSERT INTO _etl_event
SELECT 0, source_id, category, major, priority, ST_X(geom), ST_Y(geom), grid_code, address,
       description, reporter, intake, reported_at, accepted_at, dispatched_at, resolved_at,
       verified_at, closed_at, deadline_at, deadline_provisional, status, status_at, dept,
       reopened_count, extended_count, escalation_level, satisfaction, attrs, NULL
FROM _etl_direct;
INSERT INTO _etl_transition
SELECT 0, d.source_id, t.at, t.kind, t.from_status, t.to_status, t.actor, t.dept, t.note
FROM _etl_direct_transition t JOIN _etl_direct d ON d.id = t.event_id;
"""


@dataclass
class Direct:
    """One chunk rendered for direct COPY: (text, rows) of the cases, of their 'reported'
    timeline rows and of the file's timeline rows. (The roll-up keys of the copied cases are
    read back from `event` by their reserved ids: etl.rollup.refresh_touched.)"""

    events: tuple[str, int]
    reported: tuple[str, int]
    transitions: tuple[str, int]
    columns: str = EVENT_DIRECT_COLS  # of `events`


def ewkb_points(lon: Sequence[float | None], lat: Sequence[float | None]) -> list[str | None]:
    """Hex EWKB of SRID-4326 points (None where lon is None): what
    ``ST_SetSRID(ST_MakePoint(lon, lat), 4326)`` stores, built column-wise."""
    n = len(lon)
    rec = np.zeros(n, dtype=[("order", "u1"), ("type", "<u4"), ("srid", "<u4"),
                             ("x", "<f8"), ("y", "<f8")])
    missing = [x is None for x in lon]
    rec["order"], rec["type"], rec["srid"] = 1, 0x20000001, 4326
    rec["x"] = [0.0 if m else x for x, m in zip(lon, missing, strict=True)]
    rec["y"] = [0.0 if m else y for y, m in zip(lat, missing, strict=True)]
    text = rec.tobytes().hex().upper()
    width = 2 * rec.itemsize
    return [None if missing[i] else text[i * width:(i + 1) * width] for i in range(n)]


def render_direct(c: Sequence[Sequence[Any]], transitions: Iterable[Sequence[Any]],
                  first_id: int, source: str, batch_id: int) -> Direct:
    """COPY text of a chunk for the direct path, from its cases as columns in ``EVENT_STAGE``
    order (one case per source_id) and its timeline rows in ``TRANSITION_STAGE`` order; ids
    from ``first_id``."""
    n = len(c[1])
    if not n:
        return Direct(("", 0), ("", 0), ("", 0))
    ids = range(first_id, first_id + n)
    same = lambda value: [value] * n  # noqa: E731
    named = zip(EVENT_DIRECT_COLS.split(", "),
                (ids, same(source), c[1], c[2], c[3], c[4], ewkb_points(c[5], c[6]), *c[7:28],
                 same(batch_id)), strict=True)
    kept = [(name, col) for name, col in named if col.count(_EVENT_DEFAULTS.get(name)) != n]
    events = render(zip(*(col for _, col in kept), strict=True))
    # A new case's timeline starts with its 'reported' step (as _INSERT_NEW writes it).
    reported = render(zip(ids, c[12], same("reported"), same("reported"), c[10],
                          same(batch_id), strict=True))
    id_of = dict(zip(c[1], ids, strict=True))
    timeline = render((id_of[t[1]], *t[2:], batch_id) for t in transitions)
    return Direct(events, reported, timeline, ", ".join(name for name, _ in kept))


def reserve_event_ids(conn: Any, n: int) -> int:
    """Take ``n`` case ids from the sequence at once; returns the first.

    Only while this transaction holds ``event`` exclusively (a bulk load that dropped its
    indexes): nobody else inserts cases, so nobody else draws from the sequence meanwhile.
    Ids of rows that end up elsewhere stay unused, as after any rolled-back insert.
    """
    with conn.cursor() as cur:
        cur.execute("SELECT nextval(pg_get_serial_sequence('event', 'id'))")
        first = int(cur.fetchone()[0])
        cur.execute("SELECT setval(pg_get_serial_sequence('event', 'id'), %s)", (first + n,))
    return first


def copy_direct(conn: Any, chunk: Direct) -> bool:
    """COPY a chunk straight into ``event`` and ``event_transition`` under a savepoint;
    False (and nothing written) when a case or timeline row already exists."""
    import psycopg2

    with conn.cursor() as cur:
        cur.execute("SAVEPOINT etl_direct")
        try:
            _copy_text(cur, f"event ({chunk.columns})", *chunk.events)
            _copy_text(cur, f"event_transition ({_REPORTED_COLS})", *chunk.reported)
            _copy_text(cur, f"event_transition ({TRANSITION_DIRECT_COLS})", *chunk.transitions)
        except psycopg2.errors.UniqueViolation:
            cur.execute("ROLLBACK TO SAVEPOINT etl_direct")
            log.debug("direct copy: a key exists already, chunk merged instead")
            return False
        cur.execute("RELEASE SAVEPOINT etl_direct")
    return True


def apply_direct(conn: Any, source: str, batch_id: int, chunk: Direct) -> ChunkResult:
    """Load a directly rendered chunk: COPY, or the ordinary merge when a key exists."""
    if copy_direct(conn, chunk):
        return ChunkResult(loaded=chunk.events[1])
    with conn.cursor() as cur:
        cur.execute("TRUNCATE _etl_event, _etl_transition, _etl_outcome, _etl_reject,"
                    " _etl_direct, _etl_direct_transition")
        _copy_text(cur, f"_etl_direct ({chunk.columns})", *chunk.events)
        _copy_text(cur, f"_etl_direct_transition ({TRANSITION_DIRECT_COLS})",
                   *chunk.transitions)
        cur.execute(_DIRECT_TO_STAGE)
        return _merge_staged(cur, source, batch_id, chunk.events[1])


# ------------------------------------------------------------------ bulk loads

# Indexes of the case tables and the hourly roll-up that no constraint owns (ON CONFLICT
# needs the unique ones).
_SECONDARY_INDEXES = """
SELECT t.relname, i.relname, pg_get_indexdef(x.indexrelid)
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
WHERE x.indrelid IN ('event'::regclass, 'event_transition'::regclass,
                     'event_hourly'::regclass)
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
ORDER BY 1, 2
"""


def existing_events(conn: Any, limit: int) -> int:
    """How many cases the table holds, counted up to ``limit`` (bounded, cheap)."""
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM (SELECT 1 FROM event LIMIT %s) t", (limit,))
        return int(cur.fetchone()[0])


def drop_secondary_indexes(conn: Any, lock_wait: str = "2s") -> list[tuple[str, str]]:
    """Drop the secondary indexes of event, event_transition and event_hourly for a bulk load;
    returns (table, CREATE statement) of each.

    Building an index once from sorted rows costs far less than growing it row by row, when
    the load brings at least as many rows as the table holds. The drop is part of the batch's
    transaction (a failed or killed load leaves them as they were). Readers of these tables
    wait for the batch to commit, so when another session holds one of them for longer than
    ``lock_wait``, nothing is dropped and the load takes the ordinary path.
    """
    import psycopg2
    from psycopg2 import sql

    with conn.cursor() as cur:
        cur.execute(_SECONDARY_INDEXES)
        found = cur.fetchall()
        if not found:
            return []
        cur.execute("SELECT current_setting('lock_timeout')")
        before = cur.fetchone()[0]
        cur.execute("SAVEPOINT etl_bulk_indexes")
        try:
            cur.execute("SELECT set_config('lock_timeout', %s, true)", (lock_wait,))
            cur.execute(sql.SQL("DROP INDEX {}").format(
                sql.SQL(", ").join(sql.Identifier(name) for _, name, _ in found)))
        except psycopg2.errors.LockNotAvailable:
            cur.execute("ROLLBACK TO SAVEPOINT etl_bulk_indexes")
            log.info("bulk load: the case tables are busy, indexes kept")
            return []
        finally:
            cur.execute("SELECT set_config('lock_timeout', %s, true)", (before,))
        cur.execute("RELEASE SAVEPOINT etl_bulk_indexes")
    log.debug("bulk load: dropped %d indexes", len(found))
    return [(table, definition) for table, _, definition in found]


def rebuild_indexes(conn: Any, dropped: Sequence[tuple[str, str]],
                    tables: Sequence[str]) -> None:
    """Re-create the dropped indexes of ``tables`` (see :func:`drop_secondary_indexes`), then
    refresh those tables' statistics (the table was near-empty when last analysed)."""
    todo = [(t, d) for t, d in dropped if t in tables]
    if not todo:
        return
    with conn.cursor() as cur:
        cur.execute("SELECT set_config('maintenance_work_mem', '512MB', true)")
        for _, definition in todo:
            _exec(cur, f"rebuild index {definition.split()[2]}", definition)
        for table in sorted({t for t, _ in todo}):
            _exec(cur, f"analyze {table}", f"ANALYZE {table}")


# ------------------------------------------------------------------ cameras

_CAMERA_UPSERT = """
WITH up AS (
    INSERT INTO camera AS c (source, source_id, name, geom, grid_code, status, last_seen,
                             stream_url, owner, attrs, batch_id)
    SELECT 'cctv', s.source_id, s.name, ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326),
           s.grid_code, s.status, s.last_seen, s.stream_url, s.owner, s.attrs, %(batch)s
    FROM _etl_camera s
    ON CONFLICT (source, source_id) DO UPDATE SET
        name = coalesce(excluded.name, c.name), geom = excluded.geom,
        grid_code = excluded.grid_code,
        status = CASE WHEN c.last_seen IS NULL OR excluded.last_seen >= c.last_seen
                      THEN excluded.status ELSE c.status END,
        last_seen = greatest(excluded.last_seen, c.last_seen),
        stream_url = coalesce(excluded.stream_url, c.stream_url),
        owner = coalesce(excluded.owner, c.owner), attrs = c.attrs || excluded.attrs,
        batch_id = excluded.batch_id, updated_at = clock_timestamp()
    WHERE (coalesce(excluded.name, c.name), excluded.geom, excluded.grid_code,
           CASE WHEN c.last_seen IS NULL OR excluded.last_seen >= c.last_seen
                THEN excluded.status ELSE c.status END,
           greatest(excluded.last_seen, c.last_seen), coalesce(excluded.stream_url, c.stream_url),
           coalesce(excluded.owner, c.owner), c.attrs || excluded.attrs)
          IS DISTINCT FROM
          (c.name, c.geom, c.grid_code, c.status, c.last_seen, c.stream_url, c.owner, c.attrs)
    RETURNING (xmax = 0) AS inserted)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up
"""

_HEARTBEATS = """
WITH unknown AS (
    SELECT h.line_no, h.camera_id FROM _etl_heartbeat h
    WHERE NOT EXISTS (SELECT 1 FROM camera c WHERE c.source = 'cctv'
                      AND c.source_id = h.camera_id)),
latest AS (
    SELECT DISTINCT ON (camera_id) * FROM _etl_heartbeat h
    WHERE NOT EXISTS (SELECT 1 FROM unknown u WHERE u.line_no = h.line_no)
    ORDER BY camera_id, at DESC, line_no DESC),
upd AS (
    UPDATE camera c SET status = l.status, last_seen = l.at, batch_id = %(batch)s,
                        updated_at = clock_timestamp()
    FROM latest l
    WHERE c.source = 'cctv' AND c.source_id = l.camera_id
      AND (c.last_seen IS NULL OR l.at >= c.last_seen)
      AND (c.status, c.last_seen) IS DISTINCT FROM (l.status, l.at)
    RETURNING c.id)
SELECT (SELECT count(*) FROM upd),
       (SELECT coalesce(json_agg(json_build_array(line_no, camera_id)), '[]') FROM unknown)
"""


def apply_cameras(conn: Any, batch_id: int, cameras: Sequence[CameraItem],
                  heartbeats: Sequence[HeartbeatItem]) -> ChunkResult:
    """Upsert camera rows, then apply heartbeats (newest per camera; unknown cameras rejected)."""
    params = {"batch": batch_id}
    result = ChunkResult()
    with conn.cursor() as cur:
        cur.execute("TRUNCATE _etl_camera, _etl_heartbeat")
        # One row per camera per statement: keep the newest (last_seen, then line).
        newest: dict[str, CameraItem] = {}
        for cam in cameras:
            old = newest.get(cam.source_id)
            if old is None or _camera_key(cam) >= _camera_key(old):
                newest[cam.source_id] = cam
        result.unchanged += len(cameras) - len(newest)
        if _copy(cur, "_etl_camera", (c.stage_row() for c in newest.values())):
            cur.execute(_CAMERA_UPSERT, params)
            ins, upd = cur.fetchone()
            result.loaded += ins
            result.updated += upd
            result.unchanged += len(newest) - ins - upd
        if _copy(cur, "_etl_heartbeat", (h.stage_row() for h in heartbeats)):
            cur.execute(_HEARTBEATS, params)
            upd, unknown = cur.fetchone()
            result.updated += upd
            result.rejects = [(n, f"unknown camera {cam!r}") for n, cam in unknown]
            result.unchanged += len(heartbeats) - upd - len(unknown)
    return result


def _camera_key(cam: CameraItem) -> tuple[float, int]:
    return (cam.last_seen.timestamp() if cam.last_seen else float("-inf"), cam.line_no)


# ------------------------------------------------------------------ status updates

_STATE_COLS = ("status", "status_at", "accepted_at", "dispatched_at", "resolved_at",
               "verified_at", "closed_at", "deadline_at", "reopened_count", "extended_count",
               "escalation_level", "dept")

_FETCH_CASES = f"""
SELECT e.source, e.source_id, e.id, {", ".join("e." + c for c in _STATE_COLS)},
       coalesce(e.grid_code, ''), date_trunc('hour', e.reported_at)
FROM event e JOIN unnest(%s::text[], %s::text[]) AS k(source, source_id)
  ON e.source = k.source AND e.source_id = k.source_id
FOR UPDATE OF e
"""

_APPLY_STATES = f"""
UPDATE event e SET {", ".join(f"{c} = s.{c}" for c in _STATE_COLS)},
       batch_id = %(batch)s, updated_at = clock_timestamp()
FROM _etl_state s WHERE e.id = s.event_id
"""


def apply_updates(conn: Any, batch_id: int, items: Sequence[UpdateItem],
                  check: Any) -> ChunkResult:
    """Apply a chunk of status updates case by case, in time order, through ``check``.

    ``check(current_status, kind, to_status=, deadline_at=, current_deadline=)`` is the
    lifecycle rule (``etl.lifecycle.check_transition``).
    """
    result = ChunkResult()
    keys = sorted({(u.source, u.source_id) for u in items})
    with conn.cursor() as cur:
        cur.execute(_FETCH_CASES, ([k[0] for k in keys], [k[1] for k in keys]))
        cases = {(r[0], r[1]): {"id": r[2], **dict(zip(_STATE_COLS, r[3:15], strict=True)),
                                "key": (r[15], r[16])} for r in cur.fetchall()}
        ids = [c["id"] for c in cases.values()]
        cur.execute("SELECT event_id, at, kind FROM event_transition WHERE event_id = ANY(%s)",
                    (ids,))
        seen = {(r[0], r[1], r[2]) for r in cur.fetchall()}

        transitions: list[tuple[Any, ...]] = []
        changed: dict[int, dict[str, Any]] = {}
        for u in sorted(items, key=lambda u: (u.source, u.source_id, u.at, u.line_no)):
            case = cases.get((u.source, u.source_id))
            if case is None:
                result.rejects.append((u.line_no, f"unknown case {u.source}/{u.source_id}"))
                continue
            mark = (case["id"], u.at, u.kind)
            if mark in seen:
                result.unchanged += 1
                continue
            if u.at < case["status_at"]:
                # Late news: goes into the timeline, the current state stays.
                seen.add(mark)
                to = u.kind if u.kind in STATE_STAMPS or u.kind == "reported" else None
                transitions.append((case["id"], u.at, u.kind, None, to, u.actor, u.dept,
                                    u.note))
                result.updated += 1
                continue
            out = check(case["status"], u.kind, to_status=u.to_status,
                        deadline_at=u.deadline_at, current_deadline=case["deadline_at"])
            if not out.ok:
                result.rejects.append((u.line_no, f"impossible transition: {out.reason}"))
                continue
            seen.add(mark)
            transitions.append((case["id"], u.at, u.kind, case["status"], out.status, u.actor,
                                u.dept, u.note))
            if out.unchanged:
                result.unchanged += 1
                continue
            _apply_outcome(case, u, out)
            changed[case["id"]] = case
            result.updated += 1

        _copy(cur, "_etl_event_transition", transitions)
        if transitions:
            cur.execute(
                "INSERT INTO event_transition (event_id, at, kind, from_status, to_status, actor,"
                " dept, note, batch_id) SELECT *, %s FROM _etl_event_transition"
                " ON CONFLICT (event_id, at, kind) DO NOTHING", (batch_id,))
            cur.execute("TRUNCATE _etl_event_transition")
        if changed:
            _copy(cur, "_etl_state", ((cid, *(c[k] for k in _STATE_COLS))
                                      for cid, c in changed.items()))
            cur.execute(_APPLY_STATES, {"batch": batch_id})
            cur.execute("TRUNCATE _etl_state")
            _copy(cur, "_etl_touched", (c["key"] for c in changed.values()))
    return result


def _apply_outcome(case: dict[str, Any], u: UpdateItem, out: Any) -> None:
    """Move the in-memory case state by one accepted update."""
    for col in out.clear:
        case[col] = None
    if u.kind in STATE_STAMPS or out.status != case["status"]:
        col = f"{out.status}_at"
        if col in case and (case[col] is None or out.status != case["status"]):
            case[col] = u.at
    if out.counter:
        case[out.counter] = (case[out.counter] or 0) + 1
    if out.counter == "extended_count":
        case["deadline_at"] = u.deadline_at
    case["status"], case["status_at"] = out.status, u.at
    case["dept"] = u.dept or case["dept"]


# ------------------------------------------------------------------ roll-up keys

def touched_keys(conn: Any) -> tuple[list[str], list[datetime]]:
    """The distinct (grid_code, hour) keys this batch touched so far."""
    with conn.cursor() as cur:
        cur.execute("SELECT DISTINCT grid_code, date_trunc('hour', hour) FROM _etl_touched")
        rows = cur.fetchall()
    return [r[0] for r in rows], [r[1] for r in rows]
