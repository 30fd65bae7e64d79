"""Screenshots of the meeting page after MapLibre ``idle``: ``python -m
tests.dashboard.meeting_shots BASE_URL OUT_DIR [WALL_QUERY]`` (the app must be running on
BASE_URL; WALL_QUERY e.g. ``?theme=wall&unit=420682`` to show a district's hotspots)."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.dashboard.browser import browser, choropleth_locations, wait_map_idle


def main(base: str, out_dir: str, wall_query: str = "?theme=wall") -> None:
    """``meeting-desk.png`` (light, the city) and ``hotspots-wall.png`` (dark), 1920×1080."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with browser() as b:
        page = b.new_page(viewport={"width": 1920, "height": 1080})
        page.set_default_timeout(120_000)
        for name, query in (("meeting-desk", "?theme=desk"), ("hotspots-wall", wall_query)):
            page.goto(f"{base}/meeting{query}")
            page.wait_for_selector("#meeting-map .js-plotly-plot")
            idle = wait_map_idle(page, "meeting-map")
            page.wait_for_timeout(500)
            page.screenshot(path=str(out / f"{name}.png"))
            print(name, "idle", idle, "units", len(choropleth_locations(page, "meeting-map", 0)),
                  "hotspots", len(choropleth_locations(page, "meeting-map", 1)))


if __name__ == "__main__":
    main(*sys.argv[1:4])
