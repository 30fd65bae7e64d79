"""The wall at 3840×2160 (100 % zoom, device pixel ratio 1) shows the 1080p screen, only
sharper: the figures are scaled in the browser (assets/cityscreen.js) by the CSS's factor,
innerHeight / 1080, before their first draw; 1920×1080 is drawn exactly as designed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from cityscreen import db
from tests.dashboard.browser import wait_labels, wait_map_idle
from tests.dashboard.conftest import Served, fresh_page
from tests.dashboard.test_browser import click_lonlat, open_map, publish_and_wait_for_the_tile

pytestmark = pytest.mark.browser

FULL_HD = {"width": 1920, "height": 1080}
UHD = {"width": 3840, "height": 2160}

# JS: what a wall viewer sees of the overview, in screen pixels.
LOOK_JS = """() => {
  const q = (s) => document.querySelector(s);
  const px = (e) => e ? parseFloat(getComputedStyle(e).fontSize) : null;
  const gd = q('#map .js-plotly-plot');
  const map = gd._fullLayout.map._subplot.map;
  const canvas = map.getCanvas();
  // the projected extent of every polygon vertex, as a share of the map's canvas
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  const walk = (c) => {
    if (typeof c[0] === 'number') {
      const p = map.project(c);
      x0 = Math.min(x0, p.x); y0 = Math.min(y0, p.y);
      x1 = Math.max(x1, p.x); y1 = Math.max(y1, p.y);
    } else { c.forEach(walk); }
  };
  gd._fullData[0].geojson.features.forEach((f) => walk(f.geometry.coordinates));
  const cb = q('#map .colorbar .cbfill');
  const trigger = q('#ctl-window .dash-dropdown-trigger');
  return {
    scale: window.cityscreenWall ? window.cityscreenWall.scale() : null,
    tick: px(q('#trend-30d .xtick text')), ytick: px(q('#trend-24h .ytick text')),
    title: px(q('#trend-30d .gtitle')), legend: px(q('#trend-24h .legendtext')),
    barTick: px(q('#category-chart .ytick text')),
    cbTick: px(q('#map .colorbar .ytick text') || q('#map .colorbar text')),
    cbWidth: cb ? cb.getBoundingClientRect().width : null,
    zoom: map.getZoom(), figureZoom: gd.layout.map.zoom,
    shareW: (x1 - x0) / canvas.clientWidth, shareH: (y1 - y0) / canvas.clientHeight,
    canvas: [canvas.width, canvas.clientWidth],
    trigger: trigger.getBoundingClientRect().height,
    check: q('#ctl-cameras input').getBoundingClientRect().height,
  };
}"""


def look(chromium: Any, base: str, viewport: dict[str, int], url: str = "/") -> dict[str, Any]:
    """Open the overview at ``viewport``, wait for the map, its labels and the charts."""
    with fresh_page(chromium, viewport["width"], viewport["height"]) as page:
        open_map(page, base + url)
        wait_labels(page)
        page.wait_for_selector("#trend-30d .xtick text")
        page.wait_for_selector("#category-chart .ytick text")
        return dict(page.evaluate(LOOK_JS))


@pytest.fixture(scope="module")
def looks(chromium: Any, served: Served, dash_city: dict[str, Any]
          ) -> dict[str, dict[str, Any]]:
    """The overview as drawn at 1920×1080 and at 3840×2160."""
    return {"hd": look(chromium, served.base, FULL_HD), "4k": look(chromium, served.base, UHD)}


def test_1080p_is_drawn_exactly_as_designed(looks: dict[str, dict[str, Any]]) -> None:
    hd = looks["hd"]
    # the figure dicts' own sizes (dashboard/components/panels.py: layout font 11, title 14)
    assert (hd["tick"], hd["title"], hd["legend"]) == (11, 14, 10)
    assert hd["zoom"] == pytest.approx(hd["figureZoom"])  # the zoom map_figure computed
    assert hd["trigger"] == 32 and hd["check"] == 13  # Dash's and the browser's own sizes


def test_4k_wall_shows_the_1080p_screen_at_twice_the_size(
        looks: dict[str, dict[str, Any]]) -> None:
    hd, uhd = looks["hd"], looks["4k"]
    # chart text: ticks, titles, legends at twice the 1080p pixel size (it was 11 px)
    for key in ("tick", "ytick", "title", "legend", "barTick", "cbTick"):
        assert uhd[key] == pytest.approx(2 * hd[key]), key
    assert uhd["cbWidth"] == pytest.approx(2 * hd["cbWidth"], abs=1)
    # the map: one zoom level closer, so the city fills the same share of a panel twice as
    # large (at the 1080p zoom it filled half of it), drawn at the wall's own resolution
    assert uhd["zoom"] == pytest.approx(hd["zoom"] + 1)
    assert uhd["shareW"] == pytest.approx(hd["shareW"], rel=0.03)
    assert uhd["shareH"] == pytest.approx(hd["shareH"], rel=0.03)
    assert max(uhd["shareW"], uhd["shareH"]) > 0.7
    assert uhd["canvas"][0] == uhd["canvas"][1] >= 2 * hd["canvas"][1] - 2  # not upscaled
    # the top bar's controls
    assert uhd["trigger"] == pytest.approx(2 * hd["trigger"])
    assert uhd["check"] == pytest.approx(2 * hd["check"])
    assert (hd["scale"], uhd["scale"]) == (1, 2)  # innerHeight / 1080, as the CSS's --px


@pytest.fixture
def wall_page(chromium: Any) -> Iterator[Any]:
    """A fresh 3840×2160 page."""
    with fresh_page(chromium, UHD["width"], UHD["height"]) as page:
        yield page


# JS: the MapLibre map of the overview, and its zoom.
MAP_JS = "() => document.querySelector('#map .js-plotly-plot')._fullLayout.map._subplot.map"


def test_4k_wall_keeps_the_users_zoom_through_a_refresh_and_drills_on_click(
        wall_page: Any, served: Served, dash_city: dict[str, Any]) -> None:
    """A live Patch finds the scaled layout unchanged: the same MapLibre map, the user's own
    wheel zoom kept (uirevision); a real click still opens the district under the mouse."""
    page, city = wall_page, dash_city["city"]
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    open_map(page, served.base + "/?window=30d")
    wait_labels(page)
    page.evaluate(f"() => {{ window.__map = ({MAP_JS})(); }}")
    drawn = page.evaluate(f"() => ({MAP_JS})().getZoom()")
    box = page.locator("#map").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -240)  # the user zooms in
    page.wait_for_function(f"(z) => ({MAP_JS})().getZoom() > z + 0.2", arg=drawn)
    assert wait_map_idle(page)
    zoomed = page.evaluate(f"() => ({MAP_JS})().getZoom()")
    publish_and_wait_for_the_tile(page, city, city.grid[len(city.grid) // 2], "wall4k")
    assert wait_map_idle(page)
    assert page.evaluate(f"() => window.__map === ({MAP_JS})()"), "the map was drawn anew"
    assert page.evaluate(f"() => ({MAP_JS})().getZoom()") == pytest.approx(zoomed)
    assert errors == [], errors
    # a real click at a grid's point that is on screen after the user's zoom
    target = page.evaluate(f"""(pts) => {{ const map = ({MAP_JS})();
        const c = map.getCanvas();
        return pts.find(([code, lon, lat]) => {{ const p = map.project([lon, lat]);
            return p.x > 100 && p.y > 100 && p.x < c.clientWidth - 300
                && p.y < c.clientHeight - 100; }}); }}""",
        [[g, *city.points[g]] for g in city.grid[::7]])
    assert target, "no grid on screen"
    click_lonlat(page, target[1], target[2])
    page.wait_for_url(re.compile(rf"unit={target[0][:6]}"))


# JS: the case table's text, row and header heights, and whether any cell's text is cut.
TABLE_JS = """() => {
  const q = (s) => document.querySelector('#grid-cases ' + s);
  const cut = [...document.querySelectorAll('#grid-cases .ag-row[row-index="0"] .ag-cell')]
    .filter((c) => c.getAttribute('col-id') !== 'address' && c.scrollWidth > c.clientWidth)
    .map((c) => c.getAttribute('col-id'));
  return {text: parseFloat(getComputedStyle(q('.ag-cell')).fontSize),
          row: q('.ag-row').getBoundingClientRect().height,
          header: q('.ag-header').getBoundingClientRect().height, cut: cut};
}"""


def test_4k_wall_shows_the_case_table_at_twice_the_size(
        chromium: Any, served: Served, dash_city: dict[str, Any]) -> None:
    """The grid view's AG Grid table scales as the rest of the wall, its columns as wide as
    their content (the case table's fixed 1080p widths cut the text at twice the size)."""
    with db.transaction("reader") as conn, conn.cursor() as cur:
        cur.execute("SELECT grid_code FROM event WHERE id = ANY(%s) GROUP BY 1 "
                    "ORDER BY count(*) DESC LIMIT 1", (dash_city["event_ids"],))
        grid = cur.fetchone()[0]
    seen = {}
    for name, size in (("hd", FULL_HD), ("4k", UHD)):
        with fresh_page(chromium, size["width"], size["height"]) as page:
            page.goto(f"{served.base}/grid/{grid}?window=30d")
            page.wait_for_selector("#grid-cases .ag-row")
            seen[name] = page.evaluate(TABLE_JS)
    hd, uhd = seen["hd"], seen["4k"]
    assert hd["text"] == 14  # AG Grid's own default at 1080p
    assert uhd["text"] == 2 * hd["text"]
    assert uhd["row"] == pytest.approx(2 * hd["row"], abs=1)
    assert uhd["header"] == pytest.approx(2 * hd["header"], abs=2)
    assert uhd["cut"] == [], f"text cut in {uhd['cut']}"
