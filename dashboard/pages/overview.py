"""一张屏 city overview: KPI tiles, the map of the child units, trends, ranking, ticker.

The whole view comes from the URL (``?unit=…&window=…``); drilling down is navigation.
Live refreshes send values only, as ``dash.Patch``es, when ``data_version`` moves.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

import dash
from dash import (
    ALL,
    ClientsideFunction,
    Input,
    Output,
    Patch,
    State,
    callback,
    clientside_callback,
    ctx,
    dcc,
    html,
)
from dash.exceptions import PreventUpdate

from cityscreen.settings import get_settings
from dashboard import data, ids
from dashboard.components import map_figure as mf
from dashboard.components import panels
from dashboard.components.controls import controls, state_from_controls
from dashboard.i18n import t
from dashboard.state import ViewState, parse_state

log = logging.getLogger("cityscreen.dashboard")

dash.register_page(__name__, path="/", name="overview", title="城市运行一张屏")

GRAPH_CONFIG = {"displayModeBar": False, "scrollZoom": True, "responsive": True}
# What a chart shows until its figure is drawn into it: nothing (cheap to plot).
PENDING_CHART = {"data": [], "layout": {
    "xaxis": {"visible": False}, "yaxis": {"visible": False},
    "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
    "margin": {"l": 0, "r": 0, "t": 0, "b": 0}}}


def as_dict(fig: Any) -> dict[str, Any]:
    """A figure as plain data: cheap to cache and to serialise again (a dict already is)."""
    return fig if isinstance(fig, dict) else fig.to_plotly_json()


def drill_href(state: ViewState, code: str) -> str:
    """Where clicking child ``code`` leads: the next overview level, or the grid view."""
    if len(code) == 15:
        return f"/grid/{code}" + state.to_query(unit=None)
    return "/" + state.to_query(unit=code)


def unavailable(state: ViewState, message: str) -> html.Div:
    """What a view shows when its first render cannot reach the database."""
    return html.Div([
        dcc.Store(id=ids.PAGE_STATE, data=asdict(state)),
        dcc.Store(id=ids.PAGE_VERSION, data=None),
        html.Div([html.H2(t("db_down", state.lang)), html.Pre(message, className="muted")],
                 className="unavailable"),
    ], id=ids.ROOT, className=f"screen theme-{state.theme} is-unavailable")


def clock() -> html.Div:
    """The header clock: CITYSCREEN_TZ time (not the browser's zone), ticked client-side."""
    tz = get_settings().tz
    return html.Div(data.now_local().strftime("%Y-%m-%d %H:%M:%S"), id=ids.CLOCK,
                    className="clock", title=tz.key)


def layout(**params: Any) -> html.Div:
    """The overview of the state in the URL, with its initial figure (no Patch race).

    The rendered view is cached like a query, keyed by (state, minute, data_version):
    a drill-down somebody else just made costs one version lookup.
    """
    state = parse_state(params)
    return data.cached_view("overview", state, lambda version: render(state, version),
                            lambda message: unavailable(state, message))


def render(state: ViewState, version: Any) -> html.Div:
    """Build the overview of ``state`` from the database at ``version``."""
    m = data.overview_model(state, version=version)
    if m["unit"] is None:
        return unavailable(state, "no admin units loaded: cityscreen demo generate")
    lang, theme, unit = state.lang, state.theme, m["unit"]
    fig = mf.map_figure(unit["code"], m["units"], m["values"], m["bbox"], metric=state.metric,
                        theme=theme, lang=lang, heat=m["heat"], cameras=m["cameras"],
                        show_cameras=state.cams, fc=m["fc"])
    tr = m["trends"]
    graph = {"config": {**GRAPH_CONFIG, "scrollZoom": False}, "className": "chart"}
    return html.Div([
        dcc.Store(id=ids.PAGE_STATE, data=asdict(state)),
        dcc.Store(id=ids.PAGE_VERSION, data=m["version"]),
        html.Header([
            html.H1(t("title", lang), className="title"),
            panels.breadcrumb(m["crumbs"], state),
            controls(state, m["majors"]),
            clock(),
        ], className="topbar"),
        panels.kpi_tiles(m["tiles"], lang),
        html.Main([
            # The map comes first in the DOM so it is mounted (and plotted) before the trend
            # charts; the CSS grid still places it in the middle column.
            # Not wrapped in dcc.Loading: that resets uirevision (the user's zoom) on refresh.
            html.Section(dcc.Graph(id=ids.MAP, figure=as_dict(fig), config=GRAPH_CONFIG,
                                   className="map-graph"), className="col col-map"),
            # The charts' figures wait in a store and are drawn once the map has drawn
            # (assets/cityscreen.js showCharts): plotting them first held the main thread
            # while the map waited for its style and sources.
            html.Section([
                dcc.Store(id=ids.CHARTS, data={
                    "t24": panels.trend_24h(tr, theme, lang),
                    "t30": panels.trend_30d(tr, theme, lang),
                    "cat": panels.category_chart(tr, theme, lang)}),
                dcc.Graph(id=ids.TREND_24H, figure=PENDING_CHART, **graph),
                dcc.Graph(id=ids.TREND_30D, figure=PENDING_CHART, **graph),
                dcc.Graph(id=ids.CATEGORY_CHART, figure=PENDING_CHART, **graph),
            ], className="col col-left"),
            html.Section([
                html.H3(t("ranking", lang), className="panel-title"),
                html.Div(panels.ranking(m["ranking"], mf.metric_label(state.metric, lang),
                                        lang), id=ids.RANKING, className="ranking"),
                html.H3(t("ticker", lang), className="panel-title"),
                html.Div(panels.ticker(m["ticker"], lang), id=ids.TICKER, className="ticker"),
            ], className="col col-right"),
        ], className="body body-overview"),
    ], id=ids.ROOT, className=f"screen theme-{theme}")


@callback(
    Output(ids.URL, "href", allow_duplicate=True),
    Input(ids.MAP, "clickData"),
    Input({"type": ids.RANK_ROW, "code": ALL}, "n_clicks"),
    Input(ids.WINDOW, "value"),
    Input(ids.DATE_RANGE, "start_date"),
    Input(ids.DATE_RANGE, "end_date"),
    Input(ids.CHANNEL, "value"),
    Input(ids.MAJOR, "value"),
    Input(ids.STATUS, "value"),
    Input(ids.METRIC, "value"),
    Input(ids.CAMERAS, "value"),
    Input(ids.THEME, "value"),
    Input(ids.LANG, "value"),
    State(ids.PAGE_STATE, "data"),
    prevent_initial_call=True,
)
def navigate(click: dict | None, _rank: list, window: str, start: str | None, end: str | None,
             channel: str | None, major: str | None, status: str | None, metric: str,
             cams: list[str], theme: str, lang: str, page_state: dict | None) -> str:
    """Every interaction is a new URL: drill-downs and filter changes alike (so Back works)."""
    state = ViewState(**page_state) if page_state else ViewState()
    trig = ctx.triggered_id
    if trig == ids.MAP:
        point = (click or {}).get("points", [{}])[0]
        code = point.get("location") or point.get("customdata")
        if not code:
            raise PreventUpdate
        return drill_href(state, str(code))
    if isinstance(trig, dict) and trig.get("type") == ids.RANK_ROW:
        if not any(ctx.triggered[i]["value"] for i in range(len(ctx.triggered))):
            raise PreventUpdate
        return drill_href(state, trig["code"])
    changes = state_from_controls(state, window, (start, end), channel, major, status, metric,
                                  cams, theme, lang, data.now_local().date())
    new = "/" + state.to_query(**changes)
    if new == "/" + state.to_query():
        raise PreventUpdate
    return new


def map_patch(vals: dict[str, Any], state: ViewState) -> Patch:
    """Values-only update of the map: z and hover text, heat points, camera colours."""
    units = vals["units"]
    fig = Patch()
    z = mf.z_list(units, vals["values"])
    fig["data"][mf.VALUES]["z"] = z
    fig["data"][mf.VALUES]["zmax"] = mf.z_max(z)
    fig["data"][mf.VALUES]["text"] = mf.hover_texts(units, vals["values"])
    if vals["heat"]:
        hx, hy = mf.heat_xy(vals["heat"])
        fig["data"][mf.HEAT]["lon"] = hx
        fig["data"][mf.HEAT]["lat"] = hy
        fig["data"][mf.HEAT]["z"] = mf.heat_z(vals["heat"])
    if state.cams and "cameras" in vals:
        cx, cy, cc = mf.camera_xy(vals["cameras"])
        fig["data"][mf.CAMERAS]["lon"] = cx
        fig["data"][mf.CAMERAS]["lat"] = cy
        fig["data"][mf.CAMERAS]["marker"]["color"] = cc
    return fig


@callback(
    Output(ids.MAP, "figure"),
    Output({"type": ids.KPI_VALUE, "key": ALL}, "children"),
    Output({"type": ids.KPI_DELTA, "key": ALL}, "children"),
    Output(ids.CHARTS, "data"),
    Output(ids.RANKING, "children"),
    Output(ids.TICKER, "children"),
    Output(ids.PAGE_VERSION, "data"),
    Input(ids.VERSION, "data"),
    State(ids.PAGE_STATE, "data"),
    State(ids.PAGE_VERSION, "data"),
    prevent_initial_call=True,  # the initial figure is in the layout (STACK.md: Patch race)
)
def refresh(version: dict | None, page_state: dict | None, page_version: int | None) -> tuple:
    """New data: patch the map's values, the tiles, the trend lines (in the charts' store),
    ranking and ticker."""
    if not version or page_state is None or page_version is None:
        raise PreventUpdate
    if version.get("v") == page_version:
        raise PreventUpdate
    state = ViewState(**page_state)
    try:
        vals = data.refresh_values(state, version["v"])
    except data.DB_ERRORS as exc:
        log.warning("refresh failed, keeping the last data: %s", exc)
        raise PreventUpdate from None
    if not vals:
        raise PreventUpdate
    fig = map_patch(vals, state)
    tiles = vals["tiles"]
    kpi_out = [panels.fmt_value(o["id"]["key"], tiles.get(o["id"]["key"]))
               for o in ctx.outputs_list[1]]
    delta_out = [panels.fmt_delta(tiles.get("events_delta"), state.lang)
                 for _ in ctx.outputs_list[2]]
    tr = vals["trends"]
    charts = Patch()
    for i, key in enumerate(("today", "yesterday", "last_week")):
        charts["t24"]["data"][i]["y"] = tr[key]
    charts["t24"]["data"][0]["x"] = tr["hours"]
    charts["t30"]["data"][0]["y"] = tr["daily"]
    charts["t30"]["data"][0]["x"] = tr["days"]
    charts["cat"] = panels.category_chart(tr, state.theme, state.lang)
    return (fig, kpi_out, delta_out, charts,
            panels.ranking(vals["ranking"], mf.metric_label(state.metric, state.lang),
                           state.lang),
            panels.ticker(vals["ticker"], state.lang), version["v"])


# The unit labels come after the polygons' first paint (map_figure: they start without text);
# assets/cityscreen.js waits for the map to draw, then patches the names in.
clientside_callback(
    ClientsideFunction("cityscreen", "showLabels"),
    Output(ids.MAP, "figure", allow_duplicate=True),
    Input(ids.MAP, "figure"),
    prevent_initial_call="initial_duplicate",
)


# The trend charts are drawn from their store once the map has drawn (and again from the
# store whenever a refresh patches it).
clientside_callback(
    ClientsideFunction("cityscreen", "showCharts"),
    Output(ids.TREND_24H, "figure"),
    Output(ids.TREND_30D, "figure"),
    Output(ids.CATEGORY_CHART, "figure"),
    Input(ids.CHARTS, "data"),
)


# The zone is the server's CITYSCREEN_TZ (the clock's title), so a wall whose browser runs
# in UTC still shows the same time as the data.
clientside_callback(
    """function(n, tz) {
        let f;
        try {
            f = new Intl.DateTimeFormat('en-GB', {timeZone: tz || undefined, hourCycle: 'h23',
                year: 'numeric', month: '2-digit', day: '2-digit',
                hour: '2-digit', minute: '2-digit', second: '2-digit'});
        } catch (e) {
            f = new Intl.DateTimeFormat('en-GB', {hourCycle: 'h23', year: 'numeric',
                month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
                second: '2-digit'});
        }
        const p = {};
        for (const x of f.formatToParts(new Date())) { p[x.type] = x.value; }
        return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
    }""",
    Output(ids.CLOCK, "children"),
    Input(ids.CLOCK_TICK, "n_intervals"),
    State(ids.CLOCK, "title"),
)
