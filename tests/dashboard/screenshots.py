"""Screenshots of the dashboard after the map's MapLibre ``idle``: ``python -m
tests.dashboard.screenshots BASE_URL OUT_DIR`` (the app must be running on BASE_URL and its
database must hold a city; the codes are picked from the ranking of each level)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from tests.dashboard.browser import browser, choropleth_locations, wait_labels, wait_map_idle

GRAPHS = ("map", "grid-map", "case-map")


def shoot(page: Any, url: str, out: Path) -> dict[str, Any]:
    """Open ``url``, wait for the map to draw, save a PNG; return what was drawn."""
    started = time.monotonic()
    page.goto(url)
    page.wait_for_selector(", ".join(f"#{g} .js-plotly-plot" for g in GRAPHS))
    graph = page.evaluate(
        "(ids) => ids.find(i => document.querySelector('#' + i + ' .js-plotly-plot'))",
        list(GRAPHS))
    idle = wait_map_idle(page, graph)
    labels = wait_labels(page, graph)
    seconds = time.monotonic() - started
    page.wait_for_timeout(300)
    page.screenshot(path=str(out))
    locs = choropleth_locations(page, graph, 0)
    return {"file": out.name, "idle": idle, "seconds": round(seconds, 1), "polygons": len(locs),
            "labels": len(labels)}


def top_child(page: Any) -> str:
    """The code of the first unit in the ranking (the busiest child)."""
    return page.evaluate("""() => { const b = document.querySelector('.rank-row');
        return JSON.parse(b.id).code; }""")


def main(base: str, out_dir: str) -> None:
    """Wall (1920×1080, plus one 3840×2160) and desk views at city, district, community, grid."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    with browser() as b:
        page = b.new_page(viewport={"width": 1920, "height": 1080})
        page.set_default_timeout(60_000)
        results.append(shoot(page, base + "/", out / "wall-city.png"))
        district = top_child(page)
        results.append(shoot(page, f"{base}/?unit={district}", out / "wall-district.png"))
        street = top_child(page)
        page.goto(f"{base}/?unit={street}")
        page.wait_for_selector(".rank-row")
        community = top_child(page)
        results.append(shoot(page, f"{base}/?unit={community}&window=7d",
                             out / "wall-community-heat.png"))
        grid = top_child(page)
        results.append(shoot(page, f"{base}/grid/{grid}?window=30d", out / "wall-grid.png"))
        page.wait_for_selector("#grid-cases .ag-row")
        case_id = page.evaluate(
            "() => document.querySelector('#grid-cases .ag-row').getAttribute('row-id')")
        results.append(shoot(page, f"{base}/case/{case_id}", out / "wall-case.png"))
        for name, q in (("desk-city", "/?theme=desk"),
                        ("desk-district", f"/?unit={district}&theme=desk&metric=per10k"),
                        ("desk-grid", f"/grid/{grid}?window=30d&theme=desk"),
                        ("desk-city-en", "/?theme=desk&lang=en&cams=1")):
            results.append(shoot(page, base + q, out / f"{name}.png"))
        page4k = b.new_page(viewport={"width": 3840, "height": 2160})
        page4k.set_default_timeout(60_000)
        results.append(shoot(page4k, base + "/", out / "wall-city-4k.png"))
        scroll = page4k.evaluate("() => [document.documentElement.scrollHeight, innerHeight]")
        results.append({"4k scrollHeight vs viewport": scroll})
    for r in results:
        print(r)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
