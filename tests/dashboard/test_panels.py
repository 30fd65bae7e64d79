"""Panel figures: an empty window says so instead of drawing bare axes; the plain-dict charts
are what the graph objects they replace gave."""

from __future__ import annotations

import json
from typing import Any

import plotly.graph_objects as go
import pytest
from plotly.io.json import to_json_plotly

from dashboard.components import map_figure as mf
from dashboard.components import panels
from dashboard.components.theme import colors
from dashboard.i18n import t


def _annotations(fig: dict[str, Any]) -> list[str]:
    return [a["text"] for a in fig["layout"].get("annotations", [])]


def test_category_chart_without_cases_says_no_data() -> None:
    fig = panels.category_chart({"categories": []}, "wall", "zh")
    assert _annotations(fig) == ["暂无数据"]
    assert fig["layout"]["xaxis"]["visible"] is False
    assert fig["layout"]["yaxis"]["visible"] is False
    assert _annotations(panels.category_chart({"categories": []}, "desk", "en")) == ["No data"]


def test_category_chart_with_cases_draws_bars_only() -> None:
    tr = {"categories": [{"name": "市容环境", "name_en": "City appearance", "n": 12},
                         {"name": "街面秩序", "name_en": "Street order", "n": 5}]}
    fig = panels.category_chart(tr, "wall", "zh")
    assert _annotations(fig) == []
    assert fig["data"][0]["x"] == [5, 12] and fig["data"][0]["y"] == ["街面秩序", "市容环境"]


def test_choropleth_scale_top_is_the_largest_value_at_least_one() -> None:
    assert mf.z_max([0, 0, None]) == 1.0  # no case yet: 0…1, not Plotly's -0.5…0.5
    assert mf.z_max([3, None, 17.5]) == 17.5


# ---- the graph-object versions the plain dicts replaced (the reference)

def _go_layout(fig: go.Figure, theme: str, title: str) -> go.Figure:
    c = colors(theme)
    fig.update_layout(
        title={"text": title, "font": {"size": 14}, "x": 0.01, "y": 0.97},
        margin={"l": 36, "r": 8, "t": 30, "b": 24}, paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)", font={"color": c["text"], "family": c["font"], "size": 11},
        legend={"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom",
                "font": {"size": 10}},
        xaxis={"gridcolor": c["grid"]}, yaxis={"gridcolor": c["grid"], "rangemode": "tozero"},
        uirevision="chart",
    )
    return fig


def _go_trend_24h(tr: dict[str, Any], theme: str, lang: str) -> go.Figure:
    c = colors(theme)
    fig = go.Figure([
        go.Scatter(x=tr["hours"], y=tr["today"], name=t("today", lang), mode="lines",
                   line={"color": c["series"][0], "width": 2.5}, fill="tozeroy"),
        go.Scatter(x=tr["hours"], y=tr["yesterday"], name=t("yesterday", lang), mode="lines",
                   line={"color": c["series"][1], "width": 1.5, "dash": "dot"}),
        go.Scatter(x=tr["hours"], y=tr["last_week"], name=t("last_week", lang), mode="lines",
                   line={"color": c["series"][2], "width": 1.5, "dash": "dash"}),
    ])
    fig.update_xaxes(type="category", nticks=8)
    return _go_layout(fig, theme, t("trend_24h", lang))


def _go_trend_30d(tr: dict[str, Any], theme: str, lang: str) -> go.Figure:
    c = colors(theme)
    fig = go.Figure([go.Bar(x=tr["days"], y=tr["daily"], marker={"color": c["series"][0]},
                            name=t("trend_30d", lang))])
    fig.update_xaxes(type="category", nticks=8)
    return _go_layout(fig, theme, t("trend_30d", lang))


def _go_category_chart(tr: dict[str, Any], theme: str, lang: str) -> go.Figure:
    c = colors(theme)
    cats = list(reversed(tr["categories"]))
    names = [x["name_en"] if lang == "en" else x["name"] for x in cats]
    fig = go.Figure([go.Bar(x=[x["n"] for x in cats], y=names, orientation="h",
                            marker={"color": c["accent"]})])
    fig.update_layout(margin={"l": 90})
    if not cats:
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
        fig.add_annotation(text=t("no_data", lang), showarrow=False, xref="paper",
                           yref="paper", x=0.5, y=0.5,
                           font={"size": 16, "color": colors(theme)["muted"]})
    return _go_layout(fig, theme, t("by_category", lang))


TRENDS = {
    "hours": [f"{h:02d}:00" for h in range(24)], "today": [3 * h for h in range(24)],
    "yesterday": [0] * 24, "last_week": list(range(24, 0, -1)),
    "days": [f"11-{d:02d}" for d in range(1, 31)], "daily": [d * 7 for d in range(30)],
    "categories": [{"name": "市容环境", "name_en": "City appearance", "n": 12},
                   {"name": "街面秩序", "name_en": "Street order", "n": 5}],
}


def _wire(fig: Any) -> Any:
    """What the browser receives; of the template's trace defaults, those of the figure's own
    trace types (the only ones plotly.js applies to it)."""
    out = json.loads(to_json_plotly(fig))
    kinds = {tr["type"] for tr in out["data"]}
    template = out["layout"]["template"]
    template["data"] = {k: v for k, v in template["data"].items() if k in kinds}
    return out


@pytest.mark.parametrize("theme", ["wall", "desk"])
@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("cats", ["some", "none"])
def test_plain_charts_equal_the_graph_objects_they_replace(theme: str, lang: str,
                                                           cats: str) -> None:
    tr = {**TRENDS, "categories": TRENDS["categories"] if cats == "some" else []}
    for new, old in ((panels.trend_24h, _go_trend_24h), (panels.trend_30d, _go_trend_30d),
                     (panels.category_chart, _go_category_chart)):
        assert _wire(new(tr, theme, lang)) == _wire(old(tr, theme, lang)), new.__name__
