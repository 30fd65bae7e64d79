"""Tiles, trend charts, ranking, ticker, breadcrumb: the panels around the map."""

from __future__ import annotations

from functools import cache
from typing import Any

import plotly.io as pio
from dash import dcc, html

from dashboard import ids
from dashboard.components.theme import colors
from dashboard.i18n import t
from dashboard.state import ViewState

TILE_KEYS = ("events_today", "open", "overdue", "on_time_rate", "satisfaction",
             "hotline_today", "cameras_online")
RATE_KEYS = {"on_time_rate", "satisfaction", "cameras_online"}


def fmt_value(key: str, value: Any) -> str:
    """A tile number as shown: counts with separators, rates as percentages, — when unknown."""
    if value is None:
        return "—"
    if key in RATE_KEYS:
        return f"{100 * float(value):.1f}%"
    return f"{int(value):,}"


def fmt_delta(delta: int | None, lang: str) -> str:
    """The 'vs same time yesterday' line."""
    if delta is None:
        return ""
    sign = "+" if delta > 0 else ("−" if delta < 0 else "±")
    return f"{t('vs_yesterday', lang)} {sign}{abs(delta):,}"


def kpi_tiles(values: dict[str, Any], lang: str, value_type: str = ids.KPI_VALUE,
              delta_type: str = ids.KPI_DELTA) -> html.Div:
    """The KPI tile row; numbers have pattern ids so a refresh sends just the numbers."""
    tiles = []
    for key in TILE_KEYS:
        extra = []
        if key == "events_today":
            extra = [html.Div(fmt_delta(values.get("events_delta"), lang),
                              id={"type": delta_type, "key": key}, className="kpi-delta")]
        cls = "kpi-tile" + (" kpi-alert" if key == "overdue" and values.get(key) else "")
        tiles.append(html.Div([
            html.Div(t(key, lang), className="kpi-label"),
            html.Div(fmt_value(key, values.get(key)), id={"type": value_type, "key": key},
                     className="kpi-value"),
            *extra,
        ], className=cls))
    return html.Div(tiles, className="kpi-row")


# The charts are plain figure dicts, as ``go.Figure(...).to_plotly_json()`` gave them: building
# and validating graph objects (their update_layout deep-copies the template) cost ~15 ms a
# chart, three per drill-down. tests/dashboard/test_panels.py holds them equal to that.
# Their pixel sizes (fonts, margins, line widths) are the 1920×1080 design's; a taller
# screen's browser scales them before the first draw (assets/cityscreen.js; the test is
# tests/dashboard/test_wall_scale.py).
Figure = dict[str, Any]


@cache
def _template(kind: str) -> dict[str, Any]:
    """The default Plotly template as a figure embeds it, its trace defaults cut to the one
    trace type the chart draws (plotly.js applies ``data.<type>`` to traces of that type
    only; the other ~25 types were 2/3 of each chart's bytes). Built once, shared: never
    mutate."""
    full = pio.templates[pio.templates.default].to_plotly_json()
    data = {k: v for k, v in full.get("data", {}).items() if k == kind}
    return {**full, "data": data}


def _chart(traces: list[dict[str, Any]], theme: str, title: str, *,
           xaxis: dict[str, Any] | None = None, yaxis: dict[str, Any] | None = None,
           annotations: list[dict[str, Any]] | None = None) -> Figure:
    c = colors(theme)
    kinds = {tr["type"] for tr in traces}
    assert len(kinds) == 1, kinds  # one template per chart: a single trace type
    layout: dict[str, Any] = {
        "template": _template(kinds.pop()),
        "title": {"text": title, "font": {"size": 14}, "x": 0.01, "y": 0.97},
        "margin": {"l": 36, "r": 8, "t": 30, "b": 24}, "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"color": c["text"], "family": c["font"], "size": 11},
        "legend": {"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right",
                   "yanchor": "bottom", "font": {"size": 10}},
        "xaxis": {**(xaxis or {}), "gridcolor": c["grid"]},
        "yaxis": {**(yaxis or {}), "gridcolor": c["grid"], "rangemode": "tozero"},
        "uirevision": "chart",
    }
    if annotations:
        layout["annotations"] = annotations
    return {"data": traces, "layout": layout}


def trend_24h(tr: dict[str, Any], theme: str, lang: str) -> Figure:
    """Last 24 h by hour, with yesterday and last week as reference lines."""
    c = colors(theme)
    x = tr["hours"]
    return _chart([
        {"type": "scatter", "x": x, "y": tr["today"], "name": t("today", lang),
         "mode": "lines", "line": {"color": c["series"][0], "width": 2.5}, "fill": "tozeroy"},
        {"type": "scatter", "x": x, "y": tr["yesterday"], "name": t("yesterday", lang),
         "mode": "lines", "line": {"color": c["series"][1], "width": 1.5, "dash": "dot"}},
        {"type": "scatter", "x": x, "y": tr["last_week"], "name": t("last_week", lang),
         "mode": "lines", "line": {"color": c["series"][2], "width": 1.5, "dash": "dash"}},
    ], theme, t("trend_24h", lang), xaxis={"type": "category", "nticks": 8})


def trend_30d(tr: dict[str, Any], theme: str, lang: str) -> Figure:
    """Daily cases over 30 days."""
    c = colors(theme)
    return _chart([{"type": "bar", "x": tr["days"], "y": tr["daily"],
                    "marker": {"color": c["series"][0]}, "name": t("trend_30d", lang)}],
                  theme, t("trend_30d", lang), xaxis={"type": "category", "nticks": 8})


def category_chart(tr: dict[str, Any], theme: str, lang: str) -> Figure:
    """Cases per major class in the window (horizontal bars)."""
    c = colors(theme)
    cats = list(reversed(tr["categories"]))
    names = [x["name_en"] if lang == "en" else x["name"] for x in cats]
    bars = [{"type": "bar", "x": [x["n"] for x in cats], "y": names, "orientation": "h",
             "marker": {"color": c["accent"]}}]
    if cats:
        return _chart(bars, theme, t("by_category", lang))
    # e.g. just after midnight with window "today": say so, not bare axes
    return _chart(bars, theme, t("by_category", lang), xaxis={"visible": False},
                  yaxis={"visible": False}, annotations=[{
                      "text": t("no_data", lang), "showarrow": False, "xref": "paper",
                      "yref": "paper", "x": 0.5, "y": 0.5,
                      "font": {"size": 16, "color": c["muted"]}}])


def ranking(rows: list[dict[str, Any]], metric_name: str, lang: str,
            clickable: bool = True) -> list[Any]:
    """Ranking rows of the child units; each row is a button that drills down."""
    if not rows:
        return [html.Div(t("no_data", lang), className="muted")]
    top = max((r["value"] or 0 for r in rows), default=0) or 1
    out: list[Any] = [html.Div([html.Span("#"), html.Span(t("name", lang)),
                                html.Span(metric_name)], className="rank-head")]
    for i, r in enumerate(rows[:40], start=1):
        v = r["value"]
        bar = html.Div(className="rank-bar", style={"width": f"{100 * (v or 0) / top:.0f}%"})
        out.append(html.Button([
            html.Span(str(i), className="rank-no"),
            html.Span(r["name"], className="rank-name"),
            html.Span("—" if v is None else f"{v:g}", className="rank-value"),
            bar,
        ], id={"type": ids.RANK_ROW, "code": r["code"]}, className="rank-row", n_clicks=0,
            disabled=not clickable))
    return out


def ticker(rows: list[dict[str, Any]], lang: str) -> list[Any]:
    """New urgent and newly overdue cases, newest first; each links to its case."""
    if not rows:
        return [html.Div(t("no_data", lang), className="muted")]
    out = []
    for r in rows:
        kind = t("urgent", lang) if r["kind"] == "urgent" else t("newly_overdue", lang)
        at = r["at"].strftime("%H:%M") if r.get("at") else ""
        out.append(dcc.Link([
            html.Span(kind, className=f"tick-kind tick-{r['kind']}"),
            html.Span(at, className="tick-time"),
            html.Span(r.get("category_name") or r.get("category") or "", className="tick-cat"),
            html.Span(r.get("address") or r.get("grid_code") or "", className="tick-where"),
        ], href=f"/case/{r['id']}?lang={lang}", className="tick-row"))
    return out


def breadcrumb(crumbs: list[dict[str, Any]], state: ViewState, *, link_last: bool = False
               ) -> html.Nav:
    """襄阳市 › 樊城区 › …: each ancestor is a link back up (plain links, so Back works)."""
    parts: list[Any] = []
    for i, cr in enumerate(crumbs):
        if i:
            parts.append(html.Span("›", className="crumb-sep"))
        last = i == len(crumbs) - 1
        unit = None if cr["level"] == "city" else cr["code"]
        if last and not link_last:
            parts.append(html.Span(cr["name"], className="crumb crumb-current"))
        else:
            parts.append(dcc.Link(cr["name"], href="/" + state.to_query(unit=unit),
                                  className="crumb", id={"type": "crumb", "code": cr["code"]}))
    return html.Nav(parts, id=ids.BREADCRUMB, className="breadcrumb")
