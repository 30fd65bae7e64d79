"""Set-based re-join of stored events and cameras to redrawn grids, in PostGIS."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from psycopg2.extensions import cursor as Cursor

from cityscreen.db import Connection
from geo import queries

log = logging.getLogger("cityscreen.geo")


@dataclass(frozen=True)
class ReassignResult:
    """How many located events were checked and how many events/cameras changed grid."""

    events_checked: int
    events_moved: int
    cameras_moved: int
    rollup_rows: int
    touched_grids: int


def reassign(conn: Connection, since: datetime | None = None) -> ReassignResult:
    """Re-join events (reported since ``since``) and cameras to the grids (no commit)."""
    params = {"since": since}
    with conn.cursor() as cur:
        cur.execute(queries.LOCK_GRIDS)  # grids must not change under us
        cur.execute(queries.COUNT_LOCATED_EVENTS, params)
        checked = cur.fetchone()[0]
        cur.execute(queries.REASSIGN_EVENTS, params)
        moves = cur.fetchall()
        cur.execute(queries.REASSIGN_CAMERAS)
        camera_moves = cur.fetchall()
        keys = sorted({(code or "", at.replace(minute=0, second=0, microsecond=0))
                       for old, new, at in moves for code in (old, new)})
        rollup_rows = _refresh_rollups(cur, keys) if keys else 0
        if moves or camera_moves:
            cur.execute(queries.BUMP_DATA_VERSION)
    touched = {code for code, _ in keys}
    log.info("reassign: %d of %d events moved, %d cameras moved", len(moves), checked,
             len(camera_moves))
    return ReassignResult(checked, len(moves), len(camera_moves), rollup_rows, len(touched))


def _refresh_rollups(cur: Cursor, keys: list[tuple[str, datetime]]) -> int:
    """Rebuild the hourly roll-up rows of the (grid, hour) keys the moves touched."""
    cur.execute(queries.HAS_ROLLUP_REFRESH)
    if cur.fetchone()[0]:
        # Hours are truncated in the database's time zone there, so pass the raw timestamps.
        cur.execute(queries.REFRESH_ROLLUP, {"grids": [k[0] for k in keys],
                                             "hours": [k[1] for k in keys]})
        return int(cur.fetchone()[0] or 0)
    grids = sorted({k[0] for k in keys})
    cur.execute(queries.REBUILD_ROLLUP_DELETE, {"grids": grids})
    cur.execute(queries.REBUILD_ROLLUP_INSERT, {"grids": grids})
    return cur.rowcount
