"""A configured tile service under the maps, and overlays shifted into the tiles' system."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest

from cityscreen.settings import SettingsError, get_settings, load_settings
from dashboard import data
from dashboard.state import ViewState
from geo.coords import convert

TILES = "https://webrd01.is.autonavi.com/appmaptile?style=8&x={x}&y={y}&z={z}"


@pytest.fixture
def gcj_tiles(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The dashboard configured with GCJ-02 raster tiles (AMap-style URL)."""
    monkeypatch.setenv("CITYSCREEN_TILE_URL", TILES)
    monkeypatch.setenv("CITYSCREEN_TILE_CRS", "GCJ-02")
    get_settings.cache_clear()
    try:
        yield
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def metres(lon0: float, lat0: float, lon1: float, lat1: float) -> float:
    """Equirectangular distance, good to a fraction of a percent over a kilometre."""
    k = 6371008.8 * math.pi / 180
    return math.hypot((lon1 - lon0) * k * math.cos(math.radians(lat0)), (lat1 - lat0) * k)


def first_vertex(fc: dict[str, Any]) -> tuple[float, float]:
    """The first vertex of the first feature of a FeatureCollection."""
    c: Any = fc["features"][0]["geometry"]["coordinates"]
    while isinstance(c[0], list):
        c = c[0]
    return c[0], c[1]


def map_of(root: Any) -> dict[str, Any]:
    """The overview map's figure out of a rendered layout."""
    stack = [root]
    while stack:
        node = stack.pop()
        if getattr(node, "id", None) == "map":
            return node.figure
        kids = getattr(node, "children", None)
        stack.extend(kids if isinstance(kids, list) else [kids] if kids is not None else [])
    raise AssertionError("no map in the layout")


def test_tile_settings_are_validated() -> None:
    s = load_settings({"CITYSCREEN_TILE_URL": TILES, "CITYSCREEN_TILE_CRS": "bd-09"})
    assert (s.tile_url, s.tile_crs) == (TILES, "bd09")
    assert load_settings({}).tile_url is None and load_settings({}).tile_crs == "wgs84"
    with pytest.raises(SettingsError, match="CITYSCREEN_TILE_URL"):
        load_settings({"CITYSCREEN_TILE_URL": "https://tiles.example/{z}/{x}.png"})
    with pytest.raises(SettingsError, match="CITYSCREEN_TILE_CRS"):
        load_settings({"CITYSCREEN_TILE_CRS": "utm50"})


def test_offline_base_by_default(dash_city: dict[str, Any], app: Any) -> None:
    from dashboard.pages import overview

    code = dash_city["city"].code
    fig = map_of(overview.render(ViewState(), "v-offline"))
    style = fig["layout"]["map"]["style"]
    # no tile server needed: only a placeholder source without tiles (an empty `sources`
    # does not survive Plotly.react, and MapLibre rejects a style without it)
    assert list(style["sources"]) == ["none"]
    assert style["sources"]["none"]["tiles"] == []
    assert "glyphs" not in style             # labels drawn locally, no remote glyph server
    wgs = data.geometry(code)
    assert first_vertex(fig["data"][0]["geojson"]) == first_vertex(wgs)


def test_gcj02_tiles_shift_every_overlay(dash_city: dict[str, Any], app: Any,
                                         gcj_tiles: None) -> None:
    from dashboard.pages import overview

    city = dash_city["city"]
    for theme in ("wall", "desk"):
        fig = map_of(overview.render(ViewState(theme=theme), f"v-gcj-{theme}"))
        style = fig["layout"]["map"]["style"]
        assert style["sources"]["base"]["tiles"] == [TILES]
        assert [x["id"] for x in style["layers"]] == ["background", "base", "overlays"]
    # polygons: every vertex is the WGS-84 vertex moved by the GCJ-02 offset
    lon, lat = first_vertex(data.geometry(city.code))
    glon, glat = first_vertex(fig["data"][0]["geojson"])
    want = convert(lon, lat, "wgs84", "gcj02")
    assert (glon, glat) == pytest.approx(want, abs=1e-6)
    assert 100 < metres(lon, lat, glon, glat) < 1000  # GCJ-02 moves Hubei by a few hundred m
    # label points (their trace waits in layout.meta until the map has drawn) and the camera
    # centre move by the same offset
    units = data.overview_model(ViewState())["units"]
    labels = fig["layout"]["meta"]["labels"]
    for u, x, y in zip(units, labels["lon"], labels["lat"], strict=True):
        assert (x, y) == pytest.approx(convert(u["lon"], u["lat"], "wgs84", "gcj02"), abs=1e-6)


def test_gcj02_patch_and_geometry_route(dash_city: dict[str, Any], app: Any, overview: Any,
                                        gcj_tiles: None) -> None:
    city = dash_city["city"]
    street = city.street[0]
    state = ViewState(unit=street, window="30d", cams=True)
    vals = data.refresh_values(state, "v-gcj-patch")
    patch = overview.map_patch(vals, state).to_plotly_json()
    cams = vals["cameras"]
    assert cams, "the fixture's cameras lie in the city"
    moved = {op["location"][-1]: op["params"]["value"] for op in patch["operations"]
             if op["location"][:2] == ["data", 2]}
    values = {op["location"][-1]: op["params"]["value"] for op in patch["operations"]
              if op["location"][:2] == ["data", 0]}
    assert values["zmax"] == max([1, *values["z"]])
    assert moved["lon"][0] == pytest.approx(
        convert(cams[0]["lon"], cams[0]["lat"], "wgs84", "gcj02")[0], abs=1e-6)
    client = app.server.test_client()
    served = client.get(f"/api/v1/geometry/{city.code}.geojson").get_json()
    want = convert(*first_vertex(data.geometry(city.code)), "wgs84", "gcj02")
    assert first_vertex(served) == pytest.approx(want, abs=1e-6)
