"""Roll-up reads by their keys (a street's days by ``street =``, a district's hours bounded by
``day``) count what ``event`` holds; a street's ticker picks its latest keys first."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from cityscreen import db
from cityscreen.settings import get_settings
from dashboard import queries
from tests.dashboard.seed import district_cases

TZ = get_settings().tz


@pytest.fixture(scope="module")
def week(city: Any) -> dict[str, Any]:
    """Cases over five days of a district (2016, a window nobody else writes into)."""
    t_end = datetime(2016, 5, 12, 15, 0, tzinfo=TZ)
    made = district_cases(city, city.district[2], 400, end=t_end, days=5.0, seed=21, label="w")
    return {**made, "start": t_end - timedelta(days=5, minutes=-31),
            "end": t_end - timedelta(minutes=4)}


@pytest.mark.parametrize("level", ["street", "district"])
def test_days_and_hours_by_key_equal_direct_counts(week: dict[str, Any], level: str) -> None:
    start, end = week["start"], week["end"]
    with db.transaction("reader") as conn, conn.cursor() as cur:
        unit = queries.unit_info(conn, week[level])
        if unit["level"] in queries.GRID_SET_LEVELS:
            unit = {**unit, "grids": queries.unit_grids(conn, unit["code"])}
        scope = "reported_at >= %s AND reported_at < %s AND grid_code LIKE %s"
        win = [start, end, week[level] + "%"]
        cur.execute(f"SELECT date_trunc('day', reported_at), count(*) FROM event WHERE {scope} "
                    "GROUP BY 1", win)
        daily = dict(cur.fetchall())
        cur.execute(f"SELECT date_trunc('hour', reported_at), count(*) FROM event "
                    f"WHERE {scope} GROUP BY 1", win)
        hourly = dict(cur.fetchall())
        assert len(daily) >= 5 and sum(daily.values()) > 20
        got = {r["t"]: r["n"] for r in queries.daily_counts(conn, unit, start, end)}
        assert got == daily
        got = {r["t"]: r["n"] for r in queries.hourly_counts(conn, unit, start, end)}
        assert got == hourly
        assert queries.count_between(conn, unit, start, end) == sum(hourly.values())


@pytest.mark.parametrize("filters", [{}, {"channel": "grid_worker"}, {"major": "01"}])
def test_ticker_top_cases_are_the_latest_of_all(week: dict[str, Any],
                                               filters: dict[str, str]) -> None:
    """A street's ticker keeps its latest newly-overdue keys before fetching the cases: its
    first rows are the first rows of the whole list."""
    now = week["end"] - timedelta(hours=2)
    with db.transaction("reader") as conn:
        unit = queries.unit_info(conn, week["street"])
        unit = {**unit, "grids": queries.unit_grids(conn, unit["code"])}
        full = queries.ticker(conn, unit, now, filters, 1000)
        assert sum(r["kind"] == "overdue" for r in full) > 3
        for n in (1, 3, 5):
            top = queries.ticker(conn, unit, now, filters, n)
            assert [(r["kind"], r["at"]) for r in top] == [(r["kind"], r["at"])
                                                          for r in full[:n]]
