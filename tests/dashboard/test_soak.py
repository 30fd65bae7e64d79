"""The wall screen runs for weeks: hundreds of live refreshes leave the page as they found it
(JS heap after garbage collection, DOM nodes, the map's MapLibre layers and sources)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from cityscreen import db
from tests.dashboard.browser import wait_map_idle
from tests.dashboard.conftest import Served, fresh_page, serving

pytestmark = pytest.mark.browser

# Refreshes before the first measurement (caches, JIT and Plotly's own pools fill up), then
# between the two measurements. Measured on the overview: heap 17.3 MB at load, 20.0 after
# 20 refreshes, 22.8 after 100, 22.7 after 200; DOM nodes, layers and sources unchanged.
WARM_UP, SOAK = 40, 120
# A leak of one city figure per refresh (~42 KB encoded, more as JS objects) would add
# several MB over SOAK refreshes.
HEAP_SLACK_MB = 2.5

STATE_JS = """() => { const gd = document.querySelector('#map .js-plotly-plot');
  const style = gd._fullLayout.map._subplot.map.getStyle();
  return {nodes: document.getElementsByTagName('*').length, layers: style.layers.length,
          sources: Object.keys(style.sources).length,
          plots: document.querySelectorAll('.js-plotly-plot').length}; }"""


@pytest.fixture(scope="module")
def fast_served(dash_city: dict[str, Any], database_url: str) -> Iterator[Served]:
    """The dashboard polling data_version every 250 ms, so a soak takes a minute."""
    with serving(database_url, interval_ms=250) as app:
        yield app


def is_refresh(response: Any) -> bool:
    """A live refresh that sent new values (the overview's refresh callback, which outputs the
    page's version; 204 when it had nothing to send)."""
    return (response.status == 200 and "/_dash-update-component" in response.url
            and "page-version.data" in (response.request.post_data or ""))


def refresh(page: Any, n: int, updates: list[int]) -> None:
    """Bump data_version ``n`` times, each time waiting for the page's refresh callback."""
    conn = db.connect(db.writer_url())
    conn.autocommit = True
    try:
        for _ in range(n):
            before = len(updates)
            with conn.cursor() as cur:
                cur.execute("SELECT bump_data_version(NULL)")
            deadline = time.monotonic() + 30
            while len(updates) == before and time.monotonic() < deadline:
                page.wait_for_timeout(50)
            assert len(updates) > before, "the page stopped refreshing"
    finally:
        conn.close()


def settled(page: Any, cdp: Any) -> dict[str, Any]:
    """The page's state once the map is idle, with the heap after garbage collection."""
    assert wait_map_idle(page)
    page.wait_for_timeout(1000)  # the refresh's follow-up callbacks (tiles, ticker, charts)
    cdp.send("HeapProfiler.collectGarbage")
    cdp.send("HeapProfiler.collectGarbage")
    state = dict(page.evaluate(STATE_JS))
    state["heap_mb"] = cdp.send("Runtime.getHeapUsage")["usedSize"] / 1e6
    return state


def test_hundreds_of_live_refreshes_leave_the_overview_as_they_found_it(
        chromium: Any, fast_served: Served) -> None:
    with fresh_page(chromium) as page:
        cdp = page.context.new_cdp_session(page)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        updates: list[int] = []
        page.on("response", lambda r: updates.append(1) if is_refresh(r) else None)
        page.goto(fast_served.base + "/?window=today")
        page.wait_for_selector("#map .js-plotly-plot")
        refresh(page, WARM_UP, updates)
        before = settled(page, cdp)
        refresh(page, SOAK, updates)
        after = settled(page, cdp)
    assert errors == [], errors
    for key in ("layers", "sources", "plots"):
        assert after[key] == before[key], (key, before, after)
    assert abs(after["nodes"] - before["nodes"]) <= 20, (before, after)  # ticker rows may vary
    assert after["heap_mb"] - before["heap_mb"] < HEAP_SLACK_MB, (before, after)
