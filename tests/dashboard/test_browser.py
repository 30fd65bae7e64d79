"""The dashboard in headless Chromium against a really served app and the real database."""

from __future__ import annotations

import ast
import json
import re
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import pytest

from cityscreen import db
from cityscreen.settings import get_settings
from tests.dashboard.browser import (
    choropleth_locations,
    rendered_features,
    rendered_labels,
    wait_labels,
    wait_map_idle,
)
from tests.dashboard.conftest import Served, serving
from tests.dashboard.seed import publish_new_case
from tests.support import create_database, drop_database

pytestmark = pytest.mark.browser

TILE = ".kpi-tile:first-child .kpi-value"


def open_map(page: Any, url: str, graph: str = "map") -> None:
    """Navigate and wait for the map to finish drawing."""
    page.goto(url)
    page.wait_for_selector(f"#{graph} .js-plotly-plot")
    assert wait_map_idle(page, graph), "the map never became idle"


def wait_locations(page: Any, want: list[str], timeout: float = 90.0) -> list[str]:
    """Wait until the map's choropleth shows exactly ``want``."""
    deadline = time.monotonic() + timeout
    got: list[str] = []
    while time.monotonic() < deadline:
        try:
            got = sorted(choropleth_locations(page))
        except Exception:  # the page is being replaced by a navigation
            got = []
        if got == sorted(want):
            return got
        time.sleep(0.2)
    raise AssertionError(f"map shows {got[:5]}… not {sorted(want)[:5]}…")


def click_lonlat(page: Any, lon: float, lat: float, graph: str = "map",
                 hover_only: bool = False) -> None:
    """A real mouse click (or only the hover) on the map at a geographic point."""
    xy = page.evaluate(
        """([id, lon, lat]) => {
             const gd = document.querySelector('#' + id + ' .js-plotly-plot');
             const map = gd._fullLayout.map._subplot.map;
             const p = map.project([lon, lat]);
             const r = map.getCanvas().getBoundingClientRect();
             return [r.left + p.x, r.top + p.y]; }""", [graph, lon, lat])
    page.mouse.move(xy[0], xy[1])
    if not hover_only:
        page.mouse.click(xy[0], xy[1])


def tile_value(page: Any) -> int:
    """The number on the first KPI tile (events today)."""
    return int(page.locator(TILE).inner_text().replace(",", ""))


def publish_and_wait_for_the_tile(page: Any, city: Any, grid: str, label: str) -> tuple[int, int]:
    """Commit a new case in ``grid`` (a live batch) and wait until the open page's first tile
    counts more; returns the tile before and after."""
    before = tile_value(page)
    publish_new_case(grid, city.points[grid], label=label, days=0.0005)
    page.wait_for_function(
        "([sel, n]) => parseInt(document.querySelector(sel).innerText.replace(/,/g, '')) > n",
        arg=[TILE, before], timeout=90_000)
    return before, tile_value(page)


def children(city: Any, level: str, parent: str) -> list[str]:
    return [c for c in city[level] if c.startswith(parent)]


def test_overview_draws_the_citys_polygons(page: Any, served: Served,
                                           dash_city: dict[str, Any]) -> None:
    city = dash_city["city"]
    open_map(page, served.base + "/")
    assert sorted(choropleth_locations(page)) == sorted(city.district)
    assert rendered_features(page) >= len(city.district)
    assert page.locator(".kpi-tile").count() == 7
    assert page.locator("#breadcrumb").inner_text().strip() == city.name


def test_click_drills_down_to_a_grid_and_the_breadcrumb_goes_back(
        page: Any, served: Served, dash_city: dict[str, Any]) -> None:
    city = dash_city["city"]
    # 30 days, not the default "today": just after local midnight today holds no case yet
    open_map(page, served.base + "/?window=30d")
    # a real click on the map, inside a district (at an inner point of one of its grids)
    grid = city.grid[len(city.grid) // 2]
    district = grid[:6]
    click_lonlat(page, *city.points[grid])
    page.wait_for_url(re.compile(rf"unit={district}"))
    wait_locations(page, children(city, "street", district))
    # then down the ranking: street -> community -> grid
    for code, level in ((grid[:9], "community"), (grid[:12], "grid")):
        page.locator(f"button[id*='{code}']").click()
        page.wait_for_url(re.compile(rf"unit={code}"))
        wait_locations(page, children(city, level, code))
    page.locator(f"button[id*='{grid}']").click()
    page.wait_for_url(re.compile(rf"/grid/{grid}"))
    page.wait_for_selector("#grid-cases .ag-row")
    page.evaluate("() => { window.__sameDocument = true; }")
    page.wait_for_timeout(2500)  # a few version polls: the grid view must stay put
    assert page.evaluate("() => window.__sameDocument === true"), "the grid view reloaded"
    crumbs = page.locator("#breadcrumb a")
    assert crumbs.count() == 4  # city, district, street, community (the grid is current)
    crumbs.nth(1).click()  # back up to the district
    page.wait_for_url(re.compile(rf"/\?unit={district}&window=30d$"))
    wait_locations(page, children(city, "street", district))
    page.go_back()  # the browser's Back returns to the grid view
    page.wait_for_url(re.compile(rf"/grid/{grid}"))
    row = page.locator("#grid-cases .ag-row").first
    case_id = row.get_attribute("row-id")
    assert case_id and case_id.isdigit()
    row.locator(".ag-cell").first.click()  # a case opens its detail with the timeline
    page.wait_for_url(re.compile(rf"/case/{case_id}"))
    page.wait_for_selector("#case-timeline tbody tr")


def test_a_url_reopens_the_same_view(page: Any, served: Served,
                                     dash_city: dict[str, Any]) -> None:
    city = dash_city["city"]
    street = city.street[3]
    open_map(page, f"{served.base}/?unit={street}&window=7d&metric=overdue&theme=desk&lang=en")
    wait_locations(page, children(city, "community", street))
    assert "theme-desk" in page.locator("#page-root").get_attribute("class")
    assert page.locator("h1.title").inner_text() == "City operations"
    assert page.locator("#breadcrumb > *:not(.crumb-sep)").count() == 3
    assert "Overdue" in page.locator("#ctl-metric").inner_text()
    assert "Last 7 days" in page.locator("#ctl-window").inner_text()


def test_a_new_event_changes_a_tile_without_reload(page: Any, served: Served,
                                                   dash_city: dict[str, Any]) -> None:
    city = dash_city["city"]
    district = city.district[2]
    grid = children(city, "grid", district)[0]
    open_map(page, f"{served.base}/?unit={district}")
    page.evaluate("() => { window.__sameDocument = true; }")
    geometry_fetches: list[str] = []
    page.on("request", lambda r: geometry_fetches.append(r.url) if "/geometry/" in r.url else None)
    before, after = publish_and_wait_for_the_tile(page, city, grid, "live")
    assert after == before + 1
    assert page.evaluate("() => window.__sameDocument === true"), "the page was reloaded"
    assert geometry_fetches == [], "a refresh must send values only, not geometry"


@pytest.fixture
def throwaway_app(database_url: str) -> Iterator[tuple[Served, str, str]]:
    """An app on its own small database that the test can take away and give back."""
    from geo.demo_city import generate, load
    from geo.schema import migrate

    url = create_database(database_url, "cityscreen_test_stale")
    name = url.rsplit("/", 1)[1]
    conn = db.connect(url)
    migrate(conn)
    load(conn, generate(grids=30, seed=2))
    conn.commit()
    conn.close()
    try:
        with serving(url) as app:
            yield app, name, url
    finally:
        admin = db.connect(db.with_database(database_url, "postgres"))
        admin.autocommit = True
        with admin.cursor() as cur:  # the test may have left it closed to connections
            cur.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        admin.close()
        drop_database(url)


def test_stale_banner_when_the_database_goes_and_comes_back(
        page: Any, throwaway_app: tuple[Served, str, str], database_url: str) -> None:
    app, name, _url = throwaway_app
    open_map(page, app.base + "/")
    shown = choropleth_locations(page)
    assert len(shown) > 0
    banner = page.locator("#stale-banner")
    assert not banner.is_visible()
    admin = db.connect(db.with_database(database_url, "postgres"))
    admin.autocommit = True
    try:
        with admin.cursor() as cur:  # take the database away from the app
            cur.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = %s", (name,))
        banner.wait_for(state="visible", timeout=90_000)
        assert re.search(r"数据延迟 / data delayed since \d\d:\d\d", banner.inner_text())
        assert choropleth_locations(page) == shown  # the last data stays on screen
        health = page.request.get(app.base + "/healthz")
        assert health.status == 503 and health.json()["database"] == "down"
        with admin.cursor() as cur:  # and give it back
            cur.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        banner.wait_for(state="hidden", timeout=90_000)
        assert choropleth_locations(page) == shown
    finally:
        admin.close()


def test_the_clock_shows_cityscreen_tz_in_a_utc_browser(chromium: Any, served: Served,
                                                        dash_city: dict[str, Any]) -> None:
    context = chromium.new_context(viewport={"width": 1280, "height": 800}, timezone_id="UTC")
    try:
        page = context.new_page()
        page.set_default_timeout(120_000)
        page.goto(served.base + "/")
        assert page.evaluate("() => new Date().getTimezoneOffset()") == 0
        tz = get_settings().tz
        # Wait for a client-side tick, then compare with the server's zone (within a minute).
        first = page.locator("#clock").inner_text()
        page.wait_for_function("(t) => document.querySelector('#clock').innerText !== t",
                               arg=first, timeout=30_000)
        shown = datetime.strptime(page.locator("#clock").inner_text(), "%Y-%m-%d %H:%M:%S")
        want = datetime.now(tz).replace(tzinfo=None)
        assert abs((want - shown).total_seconds()) < 60, (shown, want)
        assert datetime.now(tz).utcoffset().total_seconds() != 0  # the test means something
    finally:
        context.close()


# JS: how many traces a chart has drawn / the sum of its first trace's y values.
CHART_TRACES_JS = """(id) => { const gd = document.querySelector('#' + id + ' .js-plotly-plot');
  return gd && gd._fullData ? gd._fullData.length : 0; }"""
CHART_Y_SUM_JS = """(id) => { const gd = document.querySelector('#' + id + ' .js-plotly-plot');
  const tr = gd && gd._fullData && gd._fullData[0];
  return tr ? Array.from(tr.y).reduce((a, b) => a + (b || 0), 0) : 0; }"""


def unit_names(codes: list[str]) -> dict[str, str]:
    """Names of admin units, from the database."""
    with db.transaction() as conn, conn.cursor() as cur:
        cur.execute("SELECT code, name FROM admin_unit WHERE code = ANY(%s)", (codes,))
        return dict(cur.fetchall())


def district_names(page: Any) -> list[str]:
    """The district names the overview's pending labels trace carries (what should be
    drawn)."""
    return page.evaluate("""() => Array.from(
        document.querySelector('#map .js-plotly-plot').layout.meta.labels.text)""")


def test_labels_appear_and_a_click_still_drills_after_a_live_patch(
        page: Any, served: Served, dash_city: dict[str, Any]) -> None:
    """The unit labels and the trend charts come after the polygons; the map keeps drawing,
    hovering and drilling after the labels' Patch and after a live refresh Patch."""
    city = dash_city["city"]
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    open_map(page, served.base + "/?window=30d")
    names = district_names(page)
    assert sorted(names) == sorted(unit_names(city.district).values())
    drawn = wait_labels(page)
    assert drawn and set(drawn) <= set(names)
    # the trend charts follow the map too (drawn from their store)
    page.wait_for_function(f"(id) => ({CHART_TRACES_JS})(id) === 3", arg="trend-24h")
    assert page.evaluate(CHART_TRACES_JS, "category-chart") == 1
    bars_before = page.evaluate(CHART_Y_SUM_JS, "trend-30d")
    grid = city.grid[len(city.grid) // 3]
    # a live refresh: the page patches values into the map
    publish_and_wait_for_the_tile(page, city, grid, "labels")
    assert wait_map_idle(page)
    assert set(rendered_labels(page)) == set(drawn), "the refresh lost the labels"
    # the refresh patched the charts' store and the 30-day bars show the new case
    page.wait_for_function(f"(id) => ({CHART_Y_SUM_JS})(id) > {bars_before}", arg="trend-30d")
    assert page.evaluate(CHART_TRACES_JS, "trend-24h") == 3
    assert errors == [], errors  # e.g. MapLibre rejecting the style Plotly.react handed it
    # hover shows the district's name, and a real click still drills down
    click_lonlat(page, *city.points[grid], hover_only=True)
    hover = page.locator("#map .hoverlayer .hovertext")
    hover.first.wait_for(state="visible")
    assert unit_names([grid[:6]])[grid[:6]] in (hover.first.text_content() or "")
    click_lonlat(page, *city.points[grid])
    page.wait_for_url(re.compile(rf"unit={grid[:6]}"))
    wait_locations(page, children(city, "street", grid[:6]))
    assert wait_labels(page), "no labels on the district after drilling"


def test_the_first_layout_carries_the_page(page: Any, served: Served,
                                            dash_city: dict[str, Any]) -> None:
    """Opening a URL costs no routing round trip: the layout request (preloaded with the
    bundles) already holds the page of its Referer."""
    city = dash_city["city"]
    street = city.street[1]
    posts: list[str] = []
    layouts: list[str] = []
    page.on("request", lambda r: posts.append(r.post_data or "")
            if "_dash-update-component" in r.url else None)
    page.on("request", lambda r: layouts.append(r.url) if "_dash-layout" in r.url else None)
    open_map(page, f"{served.base}/?unit={street}&window=7d")
    wait_locations(page, children(city, "community", street))
    assert not [p for p in posts if "_pages_content" in p], "a routing callback ran"
    assert len(layouts) == 1, layouts  # the renderer used the preloaded response
    # without a Referer (or from elsewhere) the layout is Dash's empty container, routed
    for headers in ({}, {"Referer": "http://elsewhere.example/?unit=" + street}):
        req = urllib.request.Request(served.base + "/_dash-layout", headers=headers)
        body = urllib.request.urlopen(req, timeout=30).read().decode()
        assert "page-root" not in body and "_pages_content" in body
    req = urllib.request.Request(served.base + "/_dash-layout",
                                 headers={"Referer": f"{served.base}/?unit={street}"})
    layout = json.loads(urllib.request.urlopen(req, timeout=30).read())
    assert f'"unit": "{street}"' in json.dumps(layout, ensure_ascii=False)


def trace_types_in_dashboard() -> set[str]:
    """Every Plotly trace type the dashboard's Python code builds: ``go.<Trace>(...)``, or a
    plain trace dict ``{"type": "<trace>", ...}``."""
    from plotly.basedatatypes import BaseTraceType

    traces = {name.lower() for name in dir(go)
              if isinstance(cls := getattr(go, name), type) and issubclass(cls, BaseTraceType)}
    root = Path(__file__).resolve().parents[2] / "dashboard"
    found: set[str] = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id == "go" and node.attr.lower() in traces):
                found.add(node.attr.lower())
            if isinstance(node, ast.Dict):
                for k, v in zip(node.keys, node.values, strict=True):
                    if (isinstance(k, ast.Constant) and k.value == "type"
                            and isinstance(v, ast.Constant) and v.value in traces):
                        found.add(v.value)
    return found


def test_every_trace_type_the_pages_use_is_in_the_bundle(page: Any, served: Served,
                                                         dash_city: dict[str, Any]) -> None:
    """The pages load a partial plotly.js (assets/vendor): a trace type missing from it
    would draw nothing."""
    page.goto(served.base + "/")
    page.wait_for_function("() => !!window.Plotly")
    bundled = set(page.evaluate("() => Object.keys(Plotly.PlotSchema.get().traces)"))
    used = trace_types_in_dashboard()
    assert {"choroplethmap", "scattermap", "densitymap", "bar", "scatter"} <= used
    assert used <= bundled, f"add {sorted(used - bundled)} to assets/vendor's bundle"
    loaded = page.evaluate("() => performance.getEntriesByType('resource').map(r => r.name)")
    assert not [u for u in loaded if "package_data/plotly" in u], "the full bundle loaded too"
