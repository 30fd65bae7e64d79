"""领导会商 page: model, rendering, navigation and exports against the session database.

Our cases sit in a private week of June 2018 (and the week before, for 环比), so counts in
that custom window can be asserted exactly.
"""

from __future__ import annotations

import io
import uuid
import zipfile
from datetime import datetime, timedelta
from typing import Any

import pytest

from cityscreen import db
from cityscreen.settings import get_settings
from tests.dashboard.browser import choropleth_locations, rendered_features, wait_map_idle
from tests.dashboard.conftest import Served, registered_page
from tests.dashboard.seed import insert_events

TZ = get_settings().tz
WEEK0 = datetime(2018, 6, 4, tzinfo=TZ)        # the window: 2018-06-04 .. 2018-06-10
PARAMS = {"window": "custom", "start": "2018-06-04", "end": "2018-06-10"}
HOT_NOW, HOT_BEFORE = 40, 10


@pytest.fixture(scope="module")
def mp(app: Any) -> Any:
    """The meeting page module of ``app``."""
    return registered_page("/meeting")


@pytest.fixture(scope="module")
def hot(city: Any) -> dict[str, Any]:
    """An emerging hotspot: 40 cases in one grid in the window, 10 in the week before.

    Background cases in the other districts over the five weeks before (the history the
    emerging-hotspot baseline needs) and a few in the window, so the district of the hot
    grid holds exactly our 40 + 10.
    """
    district = city.district[0]
    grid = next(g for g in city.grid if g.startswith(district))
    others = {g: city.points[g] for g in city.grid if not g.startswith(district)}
    prefix = f"meet-{uuid.uuid4().hex[:8]}"
    point = {grid: city.points[grid]}
    with db.transaction() as conn:
        ids = insert_events(conn, point, HOT_NOW, now=WEEK0 + timedelta(days=6),
                            prefix=prefix + "-a", seed=5, days=5.0)
        ids += insert_events(conn, point, HOT_BEFORE, now=WEEK0 - timedelta(days=1),
                             prefix=prefix + "-b", seed=6, days=5.0)
        ids += insert_events(conn, others, 150, now=WEEK0, prefix=prefix + "-c", seed=7,
                             days=35.0)
        ids += insert_events(conn, others, 30, now=WEEK0 + timedelta(days=7),
                             prefix=prefix + "-d", seed=8, days=7.0)
        with conn.cursor() as cur:
            cur.execute("""SELECT refresh_event_hourly(array_agg(grid_code),
                                                       array_agg(reported_at))
                           FROM event WHERE id = ANY(%s)""", (ids,))
            cur.execute("SELECT bump_data_version(NULL)")
    return {"district": district, "grid": grid, "prefix": prefix}


def test_meeting_state_defaults_to_seven_days_and_keeps_custom(mp: Any) -> None:
    assert mp.meeting_state({}).window == "7d"
    assert mp.meeting_state({"window": "bogus", "unit": "x1"}).window == "7d"
    assert mp.meeting_state({"window": "30d", "theme": "desk"}).theme == "desk"
    s = mp.meeting_state(PARAMS)
    assert (s.window, s.start, s.end) == ("custom", "2018-06-04", "2018-06-10")
    assert mp.meeting_query(s, window="30d") == "?window=30d"
    assert "window=7d" in mp.meeting_query(mp.meeting_state({"lang": "en"}))


def test_drill_href_uses_the_overview_url_format(mp: Any) -> None:
    s = mp.meeting_state({"theme": "desk", "lang": "en"})
    assert mp.drill_href(s, "420606") == "/?unit=420606&window=7d&theme=desk&lang=en"
    assert mp.drill_href(s, "420606001002003").startswith("/grid/420606001002003?")


def test_model_ranks_districts_and_flags_our_hotspot(mp: Any, city: Any,
                                                      hot: dict[str, Any]) -> None:
    m = mp.meeting_model(mp.meeting_state(PARAMS))
    assert m["unit"]["code"] == city.code
    items = {it["code"]: it for it in m["ranking"]["items"]}
    assert set(items) == set(city.district)
    ours = items[hot["district"]]
    assert ours["metrics"]["received"] == HOT_NOW
    assert ours["previous"]["received"]["then"] == HOT_BEFORE
    assert ours["previous"]["received"]["arrow"] == "↑"
    assert ours["previous"]["received"]["better"] is False     # more cases: bad news
    flagged = [h["grid_code"] for h in m["hotspots"]]
    assert hot["grid"] in flagged
    assert hot["grid"] in [f["id"] for f in m["layer"]["fc"]["features"]]
    assert m["tiles"]["hotspots"] >= 1
    assert m["tiles"]["received"] >= HOT_NOW


def test_render_shows_rows_arrows_hotspots_and_overlay(mp: Any, hot: dict[str, Any]) -> None:
    from dashboard import ids

    state = mp.meeting_state(PARAMS)
    page = mp.render(state, None)
    flat = page.to_plotly_json()
    text = repr(flat)
    assert f"'type': '{ids.MEETING_ROW}', 'code': '{hot['district']}'" in text
    assert f"'type': '{ids.MEETING_SPOT}', 'code': '{hot['grid']}'" in text
    assert "trend trend-bad" in text                           # the red 环比 arrow of ours
    graph = page.children[4].children[1].children
    fig = graph.figure
    assert [tr["name"] for tr in fig["data"]][:2] == ["units", "hotspots"]
    assert hot["grid"] in list(fig["data"][1]["locations"])
    assert fig["data"][0]["geojson"].endswith(".geojson")     # base geometry by URL, once


def test_english_labels(mp: Any, hot: dict[str, Any]) -> None:
    page = mp.render(mp.meeting_state({**PARAMS, "lang": "en"}), None)
    text = repr(page.to_plotly_json())
    assert "Hotspot grids" in text and "Score" in text and "热点网格" not in text


def test_csv_and_xlsx_exports(mp: Any, hot: dict[str, Any]) -> None:
    state = mp.meeting_state(PARAMS)
    name, csv_bytes = mp.export_files(state, "csv")
    assert name.endswith("ranking.csv")
    assert csv_bytes.startswith("\ufeff排名,单位,综合得分".encode())
    assert str(HOT_NOW) in csv_bytes.decode("utf-8-sig")
    name, xlsx = mp.export_files(state, "xlsx")
    assert name.endswith(".xlsx") and xlsx[:2] == b"PK"
    assert "xl/workbook.xml" in zipfile.ZipFile(io.BytesIO(xlsx)).namelist()


@pytest.mark.browser
def test_meeting_in_the_browser_draws_and_downloads(page: Any, served: Served, city: Any,
                                                     hot: dict[str, Any]) -> None:
    page.goto(served.base + "/meeting?window=custom&start=2018-06-04&end=2018-06-10"
              "&theme=desk")
    page.wait_for_selector("#meeting-map .js-plotly-plot")
    assert wait_map_idle(page, "meeting-map"), "the meeting map never became idle"
    assert sorted(choropleth_locations(page, "meeting-map", 0)) == sorted(city.district)
    assert hot["grid"] in choropleth_locations(page, "meeting-map", 1)
    assert rendered_features(page, "meeting-map") >= len(city.district)
    assert page.locator(".meeting-row").count() == len(city.district)
    assert page.locator(".spot-row").count() >= 1
    for kind, check in (("csv", lambda b: b.startswith("\ufeff排名,单位".encode())),
                        ("png", lambda b: b[:8] == b"\x89PNG\r\n\x1a\n")):
        with page.expect_download(timeout=120_000) as dl:
            page.click(f'[id*="{kind}"].export-btn')
        body = open(dl.value.path(), "rb").read()  # noqa: SIM115 - read at once
        assert check(body), f"{kind} download: {body[:16]!r}"
    # a click on a ranking row drills into the overview of that district
    page.locator(".meeting-row").first.click()
    page.wait_for_url("**/?unit=*")
    assert "unit=" in page.url and "/meeting" not in page.url
