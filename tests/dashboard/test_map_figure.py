"""The overview map figure: a plain dict with only what the first paint needs."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from dashboard.components import map_figure as mf

SQ = [[[112.0, 32.0], [112.1, 32.0], [112.1, 32.1], [112.0, 32.1], [112.0, 32.0]]]


def _units(n: int, level: str = "district") -> list[dict[str, Any]]:
    return [{"code": f"42060{i}", "name": f"区{i}", "level": level, "lon": 112.05,
             "lat": 32.05} for i in range(n)]


def _fc(units: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": u["code"], "properties": {},
         "geometry": {"type": "Polygon", "coordinates": SQ}} for u in units]}


def _fig(units: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    values = {u["code"]: float(i) for i, u in enumerate(units)}
    values[units[0]["code"]] = None  # e.g. an on-time rate without closed cases
    return mf.map_figure("420600", units, values, [112.0, 32.0, 112.1, 32.1], metric="count",
                         theme="wall", lang="zh", fc=_fc(units), **kw)


def test_city_level_map_is_one_choropleth_with_labels_pending() -> None:
    units = _units(9)
    fig = _fig(units)
    go.Figure(fig)  # every property valid for plotly
    assert [t["type"] for t in fig["data"]] == ["choroplethmap"]
    values = fig["data"][mf.VALUES]
    assert values["locations"] == [u["code"] for u in units]
    # a unit without a value keeps its polygon and border, in the grid colour
    assert values["z"][0] == mf.NO_DATA == values["zmin"]
    assert values["zmax"] == 8
    labels = fig["layout"]["meta"]["labels"]
    assert labels["name"] == mf.LABELS and labels["text"] == [u["name"] for u in units]
    assert labels["below"] == ""  # above the polygons when appended
    # the template keeps the trace defaults of the map's own trace types only
    assert set(fig["layout"]["template"]["data"]) <= {"choroplethmap", "scattermap"}
    assert fig["layout"]["template"]["layout"]["hoverlabel"]


def test_heat_and_camera_traces_keep_their_indices() -> None:
    grids = _units(4, "grid")
    heat = [{"lon": 112.05, "lat": 32.05, "n": 3}]
    cams = [{"lon": 112.05, "lat": 32.05, "status": "online"}]
    at_grids = _fig(grids, heat=[])
    assert [t["type"] for t in at_grids["data"]] == ["choroplethmap", "densitymap"]
    # no case yet: the points are patched in later, so the (empty) layer is not hidden
    assert at_grids["data"][mf.HEAT]["lon"] == [] and "visible" not in at_grids["data"][mf.HEAT]
    assert _fig(grids, heat=heat)["data"][mf.HEAT]["z"] == [2.0]
    with_cams = _fig(_units(3), cameras=cams, show_cameras=True)
    go.Figure(with_cams)
    assert [t["type"] for t in with_cams["data"]] == ["choroplethmap", "densitymap",
                                                      "scattermap"]
    assert with_cams["data"][mf.CAMERAS]["marker"]["color"] == ["#22c55e"]
    many = _fig(_units(mf.MAX_LABELS + 1))
    assert "meta" not in many["layout"]


def test_no_data_colour_sits_below_the_scale() -> None:
    scale = mf.colorscale("wall")
    stops = [s[0] for s in scale]
    assert stops[0] == 0 and stops[-1] == 1 and stops == sorted(stops)
    assert scale[0][1] == scale[1][1] == mf.colors("wall")["grid"]
    # 0 maps above the step for any plausible top of the scale
    assert stops[1] < -mf.NO_DATA / (1e7 - mf.NO_DATA)
    assert mf.z_list(_units(2), {"420600": 3}) == [3, mf.NO_DATA]
