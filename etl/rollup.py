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


def refresh_touched(conn: Any) -> int:
    """Recompute the keys collected in this batch's ``_etl_touched`` staging table."""
    started = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute(
            "SELECT refresh_event_hourly(coalesce(array_agg(grid_code), '{}'),"
            " coalesce(array_agg(hour), '{}'))"
            # Direct bulk chunks stage the cases' reported_at as it is (the hour is cut here).
            " FROM (SELECT DISTINCT grid_code, date_trunc('hour', hour) AS hour"
            " FROM _etl_touched) k"
        )
        n = int(cur.fetchone()[0])
    log.debug("sql refresh_event_hourly %d rows %.1f ms", n, (time.perf_counter() - started) * 1000)
    return n
