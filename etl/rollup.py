"""Incremental refresh of the `event_hourly` roll-up for the (grid_code, hour) keys a batch touched.

The work is the SQL function ``refresh_event_hourly(text[], timestamptz[])``
(``geo/sql/020_etl_rollup.sql``): it recomputes the given keys from the raw ``event`` rows, so
anyone who changes events (geo's ``reassign``) can call it too. grid_code '' = no location.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

log = logging.getLogger("cityscreen.etl")


def refresh_keys(conn: Any, keys: Iterable[tuple[str | None, datetime]]) -> int:
    """Recompute the roll-up rows of the given (grid_code, hour) keys; returns rows written."""
    grids: list[str] = []
    hours: list[datetime] = []
    for grid, hour in keys:
        grids.append(grid or "")
        hours.append(hour)
    with conn.cursor() as cur:
        cur.execute("SELECT refresh_event_hourly(%s::text[], %s::timestamptz[])", (grids, hours))
        return int(cur.fetchone()[0])


def refresh_touched(conn: Any, ids: tuple[int, int] | None = None) -> int:
    """Recompute the keys collected in this batch's ``_etl_touched`` staging table, and those
    of the cases whose id is in ``ids`` = [first, end) (a bulk load's directly copied cases:
    ``refresh_event_hourly_ids``, geo/sql/046, finds their keys in its own pass over the events
    instead of being handed them as a list)."""
    n = 0
    with conn.cursor() as cur:
        if ids is not None and ids[1] > ids[0]:
            started = time.perf_counter()
            cur.execute("SELECT refresh_event_hourly_ids(%s, %s)", ids)
            n += int(cur.fetchone()[0])
            log.debug("sql refresh_event_hourly_ids %.1f ms",
                      (time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        cur.execute(
            "SELECT refresh_event_hourly(coalesce(array_agg(grid_code), '{}'),"
            " coalesce(array_agg(hour), '{}'))"
            " FROM (SELECT DISTINCT grid_code, date_trunc('hour', hour) AS hour"
            " FROM _etl_touched) k")
        n += int(cur.fetchone()[0])
    log.debug("sql refresh_event_hourly %.1f ms", (time.perf_counter() - started) * 1000)
    return n
