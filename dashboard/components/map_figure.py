"""The map: children choropleth of one metric with borders, heat layer, cameras and labels.

The overview map is a plain figure dict (no graph objects: building and validating them cost
more than the page's queries on a warm drill-down). Each trace is MapLibre sources and layers
the map must load before it is ``loaded()`` (a scattermap trace is four sources, hidden or
not), so the first figure holds only what the view shows; trace order is fixed because live
refreshes patch values by index:
0 the metric choropleth (every child, its border, a no-data colour for units without a value),
1 heat (present at the levels whose children are grids, and whenever cameras are shown, so
the cameras keep index 2), 2 cameras (present when switched on: the switch is a new URL).
The unit labels are not in the first figure: laying out CJK glyphs (drawn locally by
MapLibre) would hold back the polygons' first paint. Their trace waits in
``layout.meta.labels`` and the page appends it once the map has drawn
(``assets/cityscreen.js``, ``showLabels``); refreshes never touch it.
The first level's geometry is embedded in the initial figure (no second round trip before the
polygons can be drawn); live refreshes never resend it. Without it, ``geojson`` is the URL the
browser fetches once per level. Every coordinate is shifted into the tiles' system
(``basemap``) for display.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

from dashboard.components import basemap
from dashboard.components.theme import colors, map_style
from dashboard.i18n import t

VALUES, HEAT, CAMERAS = range(3)
LABELS = "labels"  # the labels trace's name (appended by the page: its index varies)
MAX_LABELS = 80
# z of a unit without a value (per 10k without population, on-time rate without closed
# cases): below every real value (all >= 0) and below the scale's hairline step, so it is drawn
# in the grid colour, border included, under a fixed zmin (refreshes patch only z and zmax).
NO_DATA = -1e-3
_STEP = 1e-12  # < -NO_DATA / (zmax - NO_DATA) for any zmax below 1e8
# transparent where there is nothing, hot where cases pile up (no dark "holes" in the blobs)
HEAT_SCALE = [[0, "rgba(255,237,160,0)"], [0.2, "rgba(254,217,118,0.55)"],
              [0.5, "rgba(253,141,60,0.8)"], [0.8, "rgba(240,59,32,0.9)"], [1, "rgb(189,0,38)"]]
CAMERA_COLORS = {"online": "#22c55e", "offline": "#9ca3af", "fault": "#ef4444"}


def geometry_url(code: str) -> str:
    """Where the browser fetches the children of ``code`` as GeoJSON."""
    return f"/api/v1/geometry/{code}.geojson"


def view_of(bbox: list[float | None] | None, width_px: int = 1100, height_px: int = 760
            ) -> tuple[dict[str, float], float]:
    """Centre and zoom that fit ``bbox`` (lon/lat) into a map of the given size.

    Sizes are pixels of the 1920×1080 design, as is every size in the figures: on a larger
    screen the browser scales the figure before its first draw (``assets/cityscreen.js``:
    zoom + log2(innerHeight / 1080), fonts and widths x that factor)."""
    if not bbox or any(v is None for v in bbox):
        return {"lon": 112.14, "lat": 32.04}, 8.0
    x0, y0, x1, y1 = (float(v) for v in bbox)  # type: ignore[arg-type]
    lon_span = max(x1 - x0, 1e-4)
    lat_rad = math.radians((y0 + y1) / 2)
    lat_span = max((y1 - y0) / max(math.cos(lat_rad), 0.2), 1e-4)
    zoom = min(math.log2(360 * width_px / (512 * lon_span)),
               math.log2(360 * height_px / (512 * lat_span)))
    return {"lon": (x0 + x1) / 2, "lat": (y0 + y1) / 2}, round(max(zoom - 0.15, 1), 2)


def metric_label(metric: str, lang: str) -> str:
    """Legend title of a metric."""
    return t({"count": "m_count", "per10k": "m_per10k", "overdue": "m_overdue",
              "ontime": "m_ontime"}.get(metric, "m_count"), lang)


def z_list(units: list[dict[str, Any]], values: dict[str, float | None]) -> list[float]:
    """Metric values in the order of ``units`` (what a Patch sends), ``NO_DATA`` where a
    unit has none."""
    out = []
    for u in units:
        v = values.get(u["code"])
        out.append(NO_DATA if v is None else v)
    return out


def colorscale(theme: str) -> list[list[Any]]:
    """The metric's colour scale with the grid colour below a hairline step at its bottom:
    ``NO_DATA`` gets the grid colour, 0 and up the theme's scale."""
    c = colors(theme)
    stops = [[_STEP + (1 - _STEP) * f, col] for f, col in c["scale"]]
    stops[-1][0] = 1
    return [[0, c["grid"]], [_STEP, c["grid"]], *stops]


def z_max(z: list[float | None]) -> float:
    """Top of the colour scale: the largest value, at least 1 (a window with no case yet,
    e.g. 'today' just after midnight, would otherwise get a meaningless -0.5…0.5 bar)."""
    return max([1.0, *(v for v in z if v is not None)])


@functools.cache
def _template(kinds: frozenset[str]) -> dict[str, Any]:
    """The default Plotly template as a go.Figure embeds it, so the plain dict draws as the
    graph objects did; its trace defaults cut to the trace types ``kinds`` (plotly.js applies
    ``template.data.<type>`` to that type only: the rest was ~4 KB of every map). Built once
    per set of types, shared: never mutate."""
    full = pio.templates[pio.templates.default].to_plotly_json()
    return {"data": {k: v for k, v in full["data"].items() if k in kinds},
            "layout": full["layout"]}


def hover_texts(units: list[dict[str, Any]], values: dict[str, float | None]) -> list[str]:
    """Hover text per unit: name and value."""
    out = []
    for u in units:
        v = values.get(u["code"])
        out.append(f"{u['name']}<br>{'—' if v is None else f'{v:g}'}")
    return out


def heat_xy(points: list[dict[str, Any]]) -> tuple[list[Any], list[Any]]:
    """Longitudes and latitudes of the heat points (display coordinates)."""
    return basemap.shift_xy([p["lon"] for p in points], [p["lat"] for p in points])


def heat_z(points: list[dict[str, Any]]) -> list[float]:
    """Weights of the heat points: log of cases per cell, so one hot cell does not wash out
    the rest of the layer."""
    return [round(math.log2(1 + int(p.get("n", 1))), 2) for p in points]


def camera_xy(cams: list[dict[str, Any]]) -> tuple[list[Any], list[Any], list[str]]:
    """Camera positions (display coordinates) and marker colours by status."""
    lon, lat = basemap.shift_xy([c["lon"] for c in cams], [c["lat"] for c in cams])
    return lon, lat, [CAMERA_COLORS.get(c["status"], "#9ca3af") for c in cams]


def map_figure(code: str, units: list[dict[str, Any]], values: dict[str, float | None],
               bbox: list[float | None] | None, *, metric: str, theme: str, lang: str,
               heat: list[dict[str, Any]] | None = None,
               cameras: list[dict[str, Any]] | None = None,
               show_cameras: bool = False, fc: dict[str, Any] | None = None) -> dict[str, Any]:
    """The overview map of the children of ``code`` (their FeatureCollection ``fc`` embedded
    when given, else fetched from ``geometry_url``), as a plain figure dict."""
    c = colors(theme)
    geojson: dict[str, Any] | str = basemap.shift_fc(fc) if fc is not None else geometry_url(code)
    codes = [u["code"] for u in units]
    centre, zoom = view_of(basemap.shift_bbox(bbox))
    z = z_list(units, values)
    below = basemap.OVERLAYS
    data: list[dict[str, Any]] = [{
        "type": "choroplethmap", "geojson": geojson, "featureidkey": "id",
        "locations": codes, "z": z, "zmin": NO_DATA, "zmax": z_max(z),
        "colorscale": colorscale(theme),
        "marker": {"line": {"color": c["border"], "width": 1.2}, "opacity": 0.8},
        "text": hover_texts(units, values), "hoverinfo": "text", "customdata": codes,
        "colorbar": {"title": {"text": metric_label(metric, lang)}, "thickness": 12,
                     "len": 0.5, "x": 0.99, "xanchor": "right",
                     "bgcolor": "rgba(0,0,0,0)", "tickfont": {"color": c["text"]}},
        "name": "values", "below": below,
    }]
    grid_children = bool(units) and units[0].get("level") == "grid"
    if heat or grid_children or show_cameras:
        hx, hy = heat_xy(heat or [])
        data.append({
            "type": "densitymap", "lon": hx, "lat": hy, "z": heat_z(heat or []),
            "radius": 24, "opacity": 0.7, "showscale": False, "colorscale": HEAT_SCALE,
            # visible even while empty: a refresh patches points in, never `visible`
            "hoverinfo": "skip", "name": "heat", "below": below})
    if show_cameras:
        cx, cy, cc = camera_xy(cameras or [])
        data.append({
            "type": "scattermap", "lon": cx, "lat": cy, "mode": "markers",
            "marker": {"size": 7, "color": cc}, "hoverinfo": "skip",
            "name": t("cameras", lang), "below": below})
    layout: dict[str, Any] = {
        "map": {"style": map_style(theme), "center": centre, "zoom": zoom},
        "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
        "paper_bgcolor": "rgba(0,0,0,0)", "font": {"color": c["text"], "family": c["font"]},
        "showlegend": False, "uirevision": code, "clickmode": "event",
    }
    if len(units) <= MAX_LABELS:
        lx, ly = basemap.shift_xy([u["lon"] for u in units], [u["lat"] for u in units])
        # above everything (below=""): appended after the others, in place at once
        layout["meta"] = {"labels": {
            "type": "scattermap", "lon": lx, "lat": ly, "mode": "text",
            "text": [u["name"] for u in units],
            "textfont": {"size": 12 if theme == "desk" else 14, "color": c["text"]},
            "hoverinfo": "skip", "name": LABELS, "below": ""}}
    layout["template"] = _template(frozenset(tr["type"] for tr in [*data, *layout.get(
        "meta", {}).values()]))
    return {"data": data, "layout": layout}


def small_map(outline: dict[str, Any] | None, *, theme: str, points: list[dict[str, Any]],
              cameras: list[dict[str, Any]], heat: bool = False, zoom_px: int = 500
              ) -> go.Figure:
    """A grid or case map: the outline (embedded: it is one polygon), events and cameras."""
    c = colors(theme)
    fc = basemap.shift_fc((outline or {}).get("fc")
                          or {"type": "FeatureCollection", "features": []})
    ids = [f["id"] for f in fc["features"]]
    centre, zoom = view_of(basemap.shift_bbox((outline or {}).get("bbox")), zoom_px, zoom_px)
    px, py = heat_xy(points)
    if points and not ids:
        centre, zoom = {"lon": px[0], "lat": py[0]}, 15
    cx, cy, cc = camera_xy(cameras)
    traces: list[Any] = [
        go.Choroplethmap(geojson=fc, featureidkey="id", locations=ids, z=[0] * len(ids),
                         colorscale=[[0, c["grid"]], [1, c["grid"]]], showscale=False,
                         marker={"line": {"color": c["border"], "width": 2}, "opacity": 0.4},
                         hoverinfo="skip"),
    ]
    if heat:
        traces.append(go.Densitymap(lon=px, lat=py, z=heat_z(points), radius=30, opacity=0.8,
                                    showscale=False,
                                    colorscale=HEAT_SCALE, hoverinfo="skip"))
    else:
        traces.append(go.Scattermap(lon=px, lat=py, mode="markers",
                                    marker={"size": 14, "color": "#e0342b"}, hoverinfo="skip"))
    traces.append(go.Scattermap(lon=cx, lat=cy, mode="markers", marker={"size": 9, "color": cc},
                                text=[x.get("name") or "" for x in cameras], hoverinfo="text"))
    fig = go.Figure(traces)
    fig.update_layout(map={"style": map_style(theme), "center": centre, "zoom": zoom},
                      margin={"l": 0, "r": 0, "t": 0, "b": 0}, showlegend=False,
                      paper_bgcolor="rgba(0,0,0,0)", uirevision="small")
    return fig
