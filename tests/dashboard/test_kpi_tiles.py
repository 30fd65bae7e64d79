"""The tiles' KPIs (``dashboard.kpi.unit_kpis(counts_only=True)``): the full KPIs' counts and
rates, without the median and the open-case state the tiles do not show."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from cityscreen import db
from cityscreen.settings import get_settings
from dashboard import kpi
from tests.dashboard.seed import district_cases

TZ = get_settings().tz
SAME = ("received", "closed", "closure_rate", "on_time_rate", "mean_handling_hours",
        "reopen_rate", "extension_rate", "satisfaction", "rated", "provisional")


@pytest.fixture(scope="module")
def cases(city: Any) -> dict[str, Any]:
    """Cases over three days of a district (2017, a window nobody else writes into)."""
    t_end = datetime(2017, 3, 9, 7, 0, tzinfo=TZ)
    made = district_cases(city, city.district[1], 300, end=t_end, days=3.0, seed=11, label="k")
    # off the hour at both ends: raw edge hours, whole roll-up hours and whole days
    return {**made, "start": t_end - timedelta(days=3, minutes=-17),
            "end": t_end - timedelta(minutes=9)}


@pytest.mark.parametrize("filters", [None, {"channel": "grid_worker"}, {"major": "01"}])
def test_counts_only_equals_the_full_kpis(cases: dict[str, Any], city: Any,
                                          filters: dict[str, str] | None) -> None:
    start, end = cases["start"], cases["end"]
    with db.transaction("reader") as conn:
        # city and district: the roll-up path (but with a class filter); street: event
        for code in (city.code, cases["district"], cases["street"]):
            full = kpi.unit_kpis(conn, code, start, end, filters)
            tiles = kpi.unit_kpis(conn, code, start, end, filters, counts_only=True)
            assert full["received"] > 0 and full["closed"] > 0, code
            for key in SAME:
                want = full[key]
                assert tiles[key] == (want if want is None else pytest.approx(want)), (code, key)
            assert tiles["median_handling_hours"] is None
            assert tiles["overdue_open"] is None and tiles["due_2h"] is None
