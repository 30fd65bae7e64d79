"""The base map under the overlays: offline by default, a configured tile service otherwise.

``CITYSCREEN_TILE_URL`` (an XYZ raster template) puts tiles under every dashboard map;
``CITYSCREEN_TILE_CRS`` says which coordinate system they are drawn in. Most Chinese providers
draw in GCJ-02 (AMap, Tencent) or BD-09 (Baidu), hundreds of metres off WGS-84, so every
overlay coordinate (polygons, label points, heat, cameras, the camera centre) is shifted into
that system for display only. Data stays WGS-84 everywhere else: queries, cache, and clicks
(which carry unit codes, not coordinates).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cityscreen.settings import get_settings
from geo.coords import convert

DIGITS = 6  # ~0.1 m: far below the offset, and short in JSON


def tile_crs() -> str:
    """The coordinate system of the display (wgs84 when no tiles are configured)."""
    s = get_settings()
    return s.tile_crs if s.tile_url else "wgs84"


# An empty layer on top of the base: overlays that must stay under the labels are inserted
# below it (Plotly's trace `below`), the labels above everything. Plotly orders trace layers
# only when they are all added at once; the labels come later (map_figure) and would
# otherwise land under the polygons.
OVERLAYS = "overlays"


def style(background: str) -> dict[str, Any]:
    """A MapLibre style: the background colour, the configured raster tiles if any, and the
    empty ``OVERLAYS`` marker layer."""
    layers: list[dict[str, Any]] = [{"id": "background", "type": "background",
                                     "paint": {"background-color": background}}]
    # Never an empty `sources`: Plotly.react (every Patch of the figure) drops an empty one,
    # finds the style changed and hands MapLibre a style it rejects ("missing required
    # property sources"): the map stopped updating after the first refresh. A raster source
    # with no tiles and no layer costs nothing (no request, no worker message).
    sources: dict[str, Any] = {"none": {"type": "raster", "tiles": [], "tileSize": 256}}
    url = get_settings().tile_url
    if url:
        sources["base"] = {"type": "raster", "tiles": [url], "tileSize": 256, "maxzoom": 18}
        layers.append({"id": "base", "type": "raster", "source": "base"})
    layers.append({"id": OVERLAYS, "type": "background", "paint": {"background-opacity": 0}})
    return {"version": 8, "sources": sources, "layers": layers}


def shift_xy(lon: Sequence[float | None], lat: Sequence[float | None]
             ) -> tuple[list[float | None], list[float | None]]:
    """WGS-84 longitudes/latitudes in the display system (None stays None)."""
    crs = tile_crs()
    if crs == "wgs84" or not len(lon):
        return list(lon), list(lat)
    x = np.array([np.nan if v is None else v for v in lon], dtype=np.float64)
    y = np.array([np.nan if v is None else v for v in lat], dtype=np.float64)
    sx, sy = convert(x, y, "wgs84", crs)
    return _list(sx), _list(sy)


def _list(a: np.ndarray) -> list[float | None]:
    return [None if np.isnan(v) else v for v in np.round(a, DIGITS).tolist()]


def shift_points(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies of ``{"lon", "lat", …}`` rows with display coordinates."""
    if tile_crs() == "wgs84" or not points:
        return points
    xs, ys = shift_xy([p.get("lon") for p in points], [p.get("lat") for p in points])
    return [{**p, "lon": x, "lat": y} for p, x, y in zip(points, xs, ys, strict=True)]


def shift_bbox(bbox: list[float | None] | None) -> list[float | None] | None:
    """A lon/lat extent in display coordinates (its corners shifted)."""
    if tile_crs() == "wgs84" or not bbox or any(v is None for v in bbox):
        return bbox
    xs, ys = shift_xy([bbox[0], bbox[2]], [bbox[1], bbox[3]])
    return [xs[0], ys[0], xs[1], ys[1]]


def shift_fc(fc: dict[str, Any]) -> dict[str, Any]:
    """A GeoJSON FeatureCollection with every vertex in display coordinates (one conversion
    over all vertices at once); the input is not changed."""
    if tile_crs() == "wgs84" or not fc.get("features"):
        return fc
    flat: list[list[float]] = []
    for f in fc["features"]:
        _collect((f.get("geometry") or {}).get("coordinates"), flat)
    if not flat:
        return fc
    xy = np.asarray(flat, dtype=np.float64)
    sx, sy = convert(xy[:, 0], xy[:, 1], "wgs84", tile_crs())
    shifted = iter(np.round(np.column_stack([sx, sy]), DIGITS).tolist())
    features = []
    for f in fc["features"]:
        g = f.get("geometry")
        if g and g.get("coordinates") is not None:
            g = {**g, "coordinates": _rebuild(g["coordinates"], shifted)}
        features.append({**f, "geometry": g})
    return {**fc, "features": features}


def _is_position(c: Any) -> bool:
    return bool(c) and isinstance(c[0], (int, float))


def _collect(c: Any, out: list[list[float]]) -> None:
    if c is None:
        return
    if _is_position(c):
        out.append([c[0], c[1]])
        return
    for part in c:
        _collect(part, out)


def _rebuild(c: Any, shifted: Any) -> Any:
    if _is_position(c):
        return next(shifted)
    return [_rebuild(part, shifted) for part in c]
