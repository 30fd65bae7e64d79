"""Kiosk mode: playlist parsing, and a real rotation in headless Chromium without reloads."""

from __future__ import annotations

import itertools
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.dashboard.conftest import Served


@pytest.fixture(scope="module")
def kiosk(dash_city: dict[str, Any]) -> Any:
    """The kiosk component module (its callbacks need an app first)."""
    from dashboard.app import create_app

    create_app(cache_config={"CACHE_TYPE": "NullCache"})
    from dashboard.components import kiosk

    return kiosk


def test_parse_kiosk_validates_and_defaults(kiosk: Any) -> None:
    assert kiosk.parse_kiosk("?unit=420606") is None
    k = kiosk.parse_kiosk("?kiosk=1&rotate=60")
    assert k["rotate"] == 60 and k["playlist"] == ["city", "districts", "meeting"]
    assert kiosk.parse_kiosk("?kiosk=1&rotate=1")["rotate"] == 2           # clamped
    assert kiosk.parse_kiosk("?kiosk=1&rotate=abc")["rotate"] is None      # no rotation
    k = kiosk.parse_kiosk("?kiosk=1&playlist=420606,meeting:420606,x;drop,city&theme=desk")
    assert k["playlist"] == ["420606", "meeting:420606", "city"]
    assert k["keep"] == {"theme": "desk"}


def test_playlist_expands_districts_and_keeps_kiosk_in_every_url(kiosk: Any,
                                                                 dash_city: dict[str, Any]
                                                                 ) -> None:
    city = dash_city["city"]
    plan = kiosk.build_playlist("?kiosk=1&rotate=30&lang=en")
    urls = plan["urls"]
    assert plan["rotate"] == 30
    assert len(urls) == 2 + len(city.district)
    assert urls[0] == "/?lang=en&kiosk=1&rotate=30"
    assert urls[-1].startswith("/meeting?")
    units = [parse_qs(urlsplit(u).query).get("unit", [None])[0] for u in urls[1:-1]]
    assert units == sorted(city.district)
    for u in urls:
        q = parse_qs(urlsplit(u).query)
        assert q["kiosk"] == ["1"] and q["rotate"] == ["30"] and q["lang"] == ["en"]


@pytest.mark.browser
def test_kiosk_rotates_without_reloading_and_hides_controls(page: Any, served: Served,
                                                            kiosk: Any) -> None:
    playlist = kiosk.build_playlist("?kiosk=1&rotate=2")["urls"]
    page.goto(served.base + "/?kiosk=1&rotate=2")
    page.evaluate("() => { window.__kioskMarker = 'still-here'; }")
    page.wait_for_selector(".shell.kiosk")
    page.wait_for_selector("#map .js-plotly-plot")
    assert not page.locator(".controls").first.is_visible()
    seen = [page.evaluate("() => location.pathname + location.search")]
    deadline = time.monotonic() + 60
    while len(seen) < 3 and time.monotonic() < deadline:
        here = page.evaluate("() => location.pathname + location.search")
        if here != seen[-1]:
            seen.append(here)
        page.wait_for_timeout(100)
    assert len(seen) >= 3, f"the view changed {len(seen) - 1} times: {seen}"
    assert page.evaluate("() => window.__kioskMarker") == "still-here"   # no reload
    # each step is the playlist's next view (city, each district, meeting), kiosk=1 kept
    steps = [playlist.index(u) for u in seen]
    assert all(b == (a + 1) % len(playlist) for a, b in itertools.pairwise(steps))
    assert all("kiosk=1" in u for u in seen)
    # the new view really rendered, and the controls stay hidden
    page.wait_for_selector("#page-root")
    assert page.locator(".shell.kiosk").count() == 1
    assert not page.locator(".controls").first.is_visible()
