"""Headless Chromium helpers: Playwright driving Debian's /usr/bin/chromium.

Never `playwright install`: the pip wheel plus the system browser is enough.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"


def chromium_args() -> list[str]:
    """The flags STACK.md verified for headless WebGL on this machine.

    (Playwright gives every launch a fresh temporary profile itself and refuses
    ``--user-data-dir``, so that flag is left to it.)
    """
    return ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage"]


@contextmanager
def browser() -> Iterator[Browser]:
    """A headless Chromium for one test module."""
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=chromium_args())
        try:
            yield b
        finally:
            b.close()


# JS: resolves when the MapLibre map inside ``#<graph_id>`` has drawn (its `idle` event).
MAP_IDLE_JS = """async (graphId) => {
  const deadline = Date.now() + 90000;
  while (Date.now() < deadline) {
    const gd = document.querySelector('#' + graphId + ' .js-plotly-plot');
    const sub = gd && gd._fullLayout && gd._fullLayout.map && gd._fullLayout.map._subplot;
    const map = sub && sub.map;
    if (map && map.loaded() && !map.isMoving()) {
      await new Promise(r => { map.once('idle', r); map.triggerRepaint(); setTimeout(r, 3000); });
      return true;
    }
    await new Promise(r => setTimeout(r, 100));
  }
  return false;
}"""


def wait_map_idle(page: Page, graph_id: str = "map") -> bool:
    """Wait until the map has loaded its sources and finished drawing."""
    return bool(page.evaluate(MAP_IDLE_JS, graph_id))


def choropleth_locations(page: Page, graph_id: str = "map", trace: int = 0) -> list[str]:
    """Locations of the drawn choropleth (from ``gd._fullData``, what Plotly actually drew)."""
    return page.evaluate(
        """([id, i]) => { const gd = document.querySelector('#' + id + ' .js-plotly-plot');
             const t = gd && gd._fullData && gd._fullData[i];
             return t ? Array.from(t.locations) : []; }""",
        [graph_id, trace])


def rendered_features(page: Page, graph_id: str = "map") -> int:
    """How many polygon features MapLibre actually rendered in the viewport."""
    return int(page.evaluate(
        """(id) => { const gd = document.querySelector('#' + id + ' .js-plotly-plot');
             const map = gd._fullLayout.map._subplot.map;
             return map.queryRenderedFeatures()
                       .filter(f => f.geometry.type.endsWith('Polygon')).length; }""",
        graph_id))


# JS: the unit names MapLibre has laid out as labels on the map (symbol features).
LABELS_JS = """(graphId) => { const gd = document.querySelector('#' + graphId + ' .js-plotly-plot');
  const map = gd && gd._fullLayout && gd._fullLayout.map && gd._fullLayout.map._subplot
              && gd._fullLayout.map._subplot.map;
  if (!map) return [];
  return map.queryRenderedFeatures().filter(f => f.layer.type === 'symbol' && f.properties.text)
            .map(f => f.properties.text); }"""

# JS: whether the overview map wants labels (its pending labels trace has names to show).
WANTS_LABELS_JS = """(graphId) => {
  const gd = document.querySelector('#' + graphId + ' .js-plotly-plot');
  const tr = gd && gd.layout && gd.layout.meta && gd.layout.meta.labels;
  return graphId === 'map' && !!(tr && tr.text && tr.text.length); }"""


def rendered_labels(page: Page, graph_id: str = "map") -> list[str]:
    """The label texts MapLibre has drawn on the map right now."""
    return list(page.evaluate(LABELS_JS, graph_id))


def wait_labels(page: Page, graph_id: str = "map", timeout_ms: int = 90_000) -> list[str]:
    """Wait until the overview map's unit labels are drawn (they follow the polygons: the
    figure starts without them), then until the map is idle again; returns them."""
    if not page.evaluate(WANTS_LABELS_JS, graph_id):
        return []
    page.wait_for_function(f"(id) => ({LABELS_JS})(id).length > 0", arg=graph_id,
                           timeout=timeout_ms)
    wait_map_idle(page, graph_id)
    return rendered_labels(page, graph_id)
