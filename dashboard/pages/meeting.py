"""领导会商 (meeting mode): rank the child units of the URL's unit, show where hotspots emerge.

URL: ``/meeting?unit=<code>&window=7d|30d|24h|today&theme=desk|wall&lang=en``. The window
defaults to 7 days (环比 = the previous 7 days, 同比 = the same 7 days a year ago). Values
come from ``dashboard.analysis`` (``rank_children``, ``emerging_hotspots``,
``hotspot_geojson``, ``meeting_export``) through ``data.Reader``: the read-only pool and the
query cache keyed by ``data_version``. Clicking a ranking row or a hotspot drills into the
overview (``/?unit=<code>``, a grid opens ``/grid/<code>``). Exports: map PNG, ranking CSV,
XLSX and the one-page HTML report, served with ``dcc.send_bytes``.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

import dash
import plotly.graph_objects as go
from dash import ALL, Input, Output, State, callback, ctx, dcc, html
from dash.exceptions import PreventUpdate

from cityscreen.settings import get_settings
from dashboard import data, ids, kpi, queries
from dashboard.analysis import export, hotspots, meeting, ranking
from dashboard.components import basemap
from dashboard.components.map_figure import geometry_url, view_of
from dashboard.components.theme import colors, map_style
from dashboard.i18n import t
from dashboard.state import ViewState, parse_state, window_bounds

dash.register_page(__name__, path="/meeting", name="meeting", title="领导会商")

WINDOWS = ("7d", "30d", "24h", "today")
DEFAULT_WINDOW = "7d"
HOTSPOT_LIST = 10
TILES = (("received", "received"), ("closure_rate", "closure_rate"),
         ("on_time_rate", "on_time_rate"), ("overdue_open", "m_overdue_open"),
         ("satisfaction", "satisfaction"), ("hotspots", "hotspots"))
EXPORTS = {"png": ("map.png", "export_png"), "csv": ("ranking.csv", "export_csv"),
           "xlsx": ("ranking.xlsx", "export_xlsx"), "html": ("report.html", "export_html")}


def meeting_state(params: dict[str, Any]) -> ViewState:
    """The URL state, with the meeting's own default window (7 days) and whitelist."""
    state = parse_state(params)
    if state.window == "custom":   # start/end already validated by parse_state
        return ViewState(unit=state.unit, window="custom", start=state.start, end=state.end,
                         theme=state.theme, lang=state.lang)
    raw = params.get("window")
    window = raw if raw in WINDOWS else DEFAULT_WINDOW
    return ViewState(unit=state.unit, window=window, theme=state.theme, lang=state.lang)


def meeting_query(state: ViewState, **changes: Any) -> str:
    """Query string of a meeting view (the window always written: the default differs)."""
    window = changes.pop("window", state.window)
    if window != "custom":
        changes.update(start=None, end=None)
    q = state.to_query(window="today", **changes).lstrip("?")
    return "?" + "&".join(p for p in (q, f"window={window}") if p)


def drill_href(state: ViewState, code: str) -> str:
    """Where clicking ``code`` leads: the overview of that unit, or the grid view."""
    base = ViewState(theme=state.theme, lang=state.lang,
                     window=state.window if state.window in WINDOWS else "today")
    if len(code) == 15:
        return f"/grid/{code}" + base.to_query()
    return "/" + base.to_query(unit=code)


# ------------------------------------------------------------------ data


def _emerging(conn: Any, start: datetime, end: datetime, unit: str) -> dict[str, Any]:
    return hotspots.emerging_hotspots(conn, start, end, unit=unit)


def _tile_values(conn: Any, code: str | None, start: datetime, end: datetime) -> dict[str, Any]:
    return kpi.unit_kpis(conn, code, start, end)


def meeting_model(state: ViewState, version: Any = None, now: datetime | None = None
                  ) -> dict[str, Any]:
    """Everything the meeting view shows: unit, ranking, hotspots (with polygons), KPIs."""
    now = now or data.now_local()
    start, end = window_bounds(state, get_settings().tz, now)
    with data.Reader(version) as r:
        unit = data.resolve_unit(r, state.unit)
        if unit is None:
            return {"version": r.version, "unit": None}
        code = unit["code"]
        rank = r.run("meeting.rank_children", ranking.rank_children, code, start, end)
        spots = r.run("meeting.emerging", _emerging, start, end, code)
        layer = r.run("meeting.hotspot_geojson", hotspots.hotspot_geojson, spots)
        geom = r.run("children_geometry", queries.children_geometry, code)
        kpi_code = None if unit["level"] == "city" else code
        tiles = dict(r.run("meeting.unit_kpis", _tile_values, kpi_code, start, end))
        tiles["hotspots"] = spots.get("n_emerging", 0)
        return {"version": r.version, "unit": unit, "crumbs": data.breadcrumb(r, unit),
                "start": start, "end": end, "ranking": rank, "spots": spots,
                "hotspots": hotspots.significant(spots, HOTSPOT_LIST), "layer": layer,
                "units": geom["units"], "bbox": geom["bbox"], "tiles": tiles}


def export_files(state: ViewState, kind: str, now: datetime | None = None
                 ) -> tuple[str, bytes]:
    """(file name, bytes) of one export of the view: png, csv, xlsx or html."""
    name, _ = EXPORTS[kind]
    now = now or data.now_local()
    start, end = window_bounds(state, get_settings().tz, now)
    with data.Reader() as r:
        unit = data.resolve_unit(r, state.unit)
        code = unit["code"] if unit else None
        with_map = kind in ("png", "html")
        if with_map:
            export.keep_browser()   # one Chromium per worker for kaleido, started lazily
        files = meeting.meeting_export(r.conn(), code, start, end, with_map=with_map,
                                       title=f"{unit['name'] if unit else ''}领导会商")
    stamp = f"{(unit or {}).get('code', 'city')}-{start:%Y%m%d}-{end:%Y%m%d}"
    return f"meeting-{stamp}-{name}", files[name]


# ------------------------------------------------------------------ view pieces


def fmt_tile(key: str, value: Any) -> str:
    """A KPI tile number: rates as percentages, counts with separators, — when unknown."""
    if value is None:
        return "—"
    if key.endswith("rate") or key == "satisfaction":
        return f"{100 * float(value):.1f}%"
    return f"{int(value):,}"


def tiles_row(values: dict[str, Any], lang: str) -> html.Div:
    """The KPI summary tiles."""
    return html.Div([html.Div([
        html.Div(t(label, lang), className="kpi-label"),
        html.Div(fmt_tile(key, values.get(key)), className="kpi-value"),
    ], className="kpi-tile" + (" kpi-alert" if key == "hotspots" and values.get(key) else ""))
        for key, label in TILES], className="kpi-row meeting-kpis")


def arrow(change: dict[str, Any] | None, label: str) -> html.Span:
    """A 环比/同比 arrow: green when the change is good news, red when bad."""
    if not change or change.get("arrow") is None:
        return html.Span("", className="trend trend-none")
    better = change.get("better")
    cls = "trend-good" if better else ("trend-flat" if better is None else "trend-bad")
    pct = change.get("pct")
    tip = f"{label} {change['arrow']}" + (f" {abs(pct) * 100:.1f}%" if pct is not None else "")
    return html.Span(change["arrow"], className=f"trend {cls}", title=tip)


def score_change(now: float | None, then: float | None) -> dict[str, Any] | None:
    """The composite score's change as an arrow (higher is better)."""
    if now is None or then is None:
        return None
    return {"then": then, "delta": now - then, "pct": None,
            **ranking.trend(round(now - then, 6), +1)}


def rank_badge(change: int | None) -> html.Span:
    """名次变化: ↑n climbed (green), ↓n fell (red), → unchanged."""
    if change is None:
        return html.Span("—", className="rank-change muted")
    if change == 0:
        return html.Span("→", className="rank-change trend-flat")
    cls = "trend-good" if change > 0 else "trend-bad"
    return html.Span(f"{'↑' if change > 0 else '↓'}{abs(change)}", className=f"rank-change {cls}")


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None) -> str:
    return "—" if x is None else f"{x:,.4g}" if isinstance(x, float) else f"{x:,}"


def ranking_table(result: dict[str, Any], lang: str) -> html.Table:
    """The ranking with composite score, 环比/同比 arrows per metric and the rank change."""
    mom, yoy = t("m_mom", lang), t("m_yoy", lang)
    head = html.Tr([html.Th(t(k, lang)) for k in (
        "m_rank", "m_unit", "m_score", "m_received", "m_per10k_short", "on_time_rate",
        "m_overdue_open", "satisfaction", "m_rank_change")])
    legend = html.Tr([html.Th(""), html.Th(""), *[html.Th(f"{mom}/{yoy}", className="muted")
                                                  for _ in range(6)], html.Th("")],
                     className="sub-head")

    def cell(value: str, prev: dict | None, year: dict | None) -> html.Td:
        return html.Td([html.Span(value, className="num"), arrow(prev, mom), arrow(year, yoy)])

    rows = []
    for it in result["items"]:
        m, p, y = it["metrics"], it["previous"], it["year_ago"]
        rows.append(html.Tr([
            html.Td(str(it["rank"] or "—"), className="rank-no"),
            html.Td(it["name"], className="rank-name"),
            cell(_num(it["score"]), score_change(it["score"], it.get("score_previous")),
                 score_change(it["score"], it.get("score_year_ago"))),
            cell(_num(m["received"]), p["received"], y["received"]),
            cell(_num(m["volume_per_10k"]), p["volume_per_10k"], y["volume_per_10k"]),
            cell(_pct(m["on_time_rate"]), p["on_time_rate"], y["on_time_rate"]),
            cell(_num(m["overdue_open"]), p["overdue_open"], y["overdue_open"]),
            cell(_pct(m["satisfaction"]), p["satisfaction"], y["satisfaction"]),
            html.Td(rank_badge(it["rank_change"])),
        ], id={"type": ids.MEETING_ROW, "code": it["code"]}, n_clicks=0,
            className="meeting-row", title=it["code"]))
    if not rows:
        rows = [html.Tr(html.Td(t("no_data", lang), colSpan=9, className="muted"))]
    return html.Table([html.Thead([head, legend]), html.Tbody(rows)],
                      className="table meeting-table")


def hotspot_list(items: list[dict[str, Any]], lang: str) -> list[Any]:
    """The ranked hotspot grids with their "why" (count, baseline, score)."""
    if not items:
        return [html.Div(t("no_hotspots", lang), className="muted")]
    out = []
    for i, r in enumerate(items, 1):
        facts = (f"{t('hot_count', lang)} {r.get('count', 0)} · "
                 f"{t('hot_baseline', lang)} {float(r.get('baseline') or 0):.1f} · "
                 f"{t('hot_score', lang)} {float(r.get('score') or 0):.1f}")
        out.append(html.Button([
            html.Div([html.Span(str(i), className="rank-no"),
                      html.Span(r.get("name") or r["grid_code"], className="spot-name")],
                     className="spot-head"),
            html.Div(facts, className="spot-facts"),
            html.Div(r.get("why") or "", className="spot-why muted"),
        ], id={"type": ids.MEETING_SPOT, "code": r["grid_code"]}, n_clicks=0,
            className="spot-row", title=r["grid_code"]))
    return out


def meeting_figure(m: dict[str, Any], theme: str, lang: str) -> go.Figure:
    """Child units coloured by composite score, flagged hotspot grids over them in red."""
    c = colors(theme)
    code = m["unit"]["code"]
    units = m["units"]
    scores = {it["code"]: it["score"] for it in m["ranking"]["items"]}
    codes = [u["code"] for u in units]
    centre, zoom = view_of(basemap.shift_bbox(m["bbox"]), 680, 700)  # middle column, 1080p
    # low score muted purple, high score teal/blue: no reds, the hotspot layer owns red
    scale = ([[0, "#4a3358"], [0.5, "#2d4f7c"], [1, "#1f8fa8"]] if theme == "wall"
             else [[0, "#e7d6ea"], [0.5, "#c3d4ee"], [1, "#7fb0e0"]])
    traces: list[Any] = [go.Choroplethmap(
        geojson=geometry_url(code), featureidkey="id", locations=codes,
        z=[scores.get(k) for k in codes], zmin=0, zmax=100, colorscale=scale,
        marker={"line": {"color": c["border"], "width": 1.2}, "opacity": 0.75},
        customdata=codes, hoverinfo="text",
        text=[f"{u['name']}<br>{t('m_score', lang)} {_num(scores.get(u['code']))}"
              for u in units],
        colorbar={"title": {"text": t("m_score", lang)}, "thickness": 12, "len": 0.45,
                  "x": 0.99, "xanchor": "right", "tickfont": {"color": c["text"]}},
        name="units")]
    spots = m["layer"]["items"]
    if spots:
        traces.append(go.Choroplethmap(
            geojson=basemap.shift_fc(m["layer"]["fc"]), featureidkey="id",
            locations=[s["grid_code"] for s in spots],
            z=[float(s.get("score") or 0) for s in spots], showscale=False,
            colorscale=export.HOT_COLOURS, marker={"line": {"color": "#ff2d20", "width": 2.5},
                                                   "opacity": 0.9},
            customdata=[s["grid_code"] for s in spots], hoverinfo="text",
            text=[f"{s.get('name') or s['grid_code']}<br>{s.get('why') or ''}" for s in spots],
            name="hotspots"))
        marked = basemap.shift_points([s for s in spots if s.get("lon") is not None])
        traces.append(go.Scattermap(
            lon=[s["lon"] for s in marked], lat=[s["lat"] for s in marked], mode="markers",
            marker={"size": 26, "color": "rgba(255,45,32,0.35)"},
            customdata=[s["grid_code"] for s in marked], hoverinfo="skip", name="rings"))
    if len(units) <= 80:   # unit names, as on the overview
        labelled = basemap.shift_points(units)
        traces.append(go.Scattermap(
            lon=[u["lon"] for u in labelled], lat=[u["lat"] for u in labelled], mode="text",
            text=[u["name"] for u in units], hoverinfo="skip", name="labels",
            textfont={"size": 13 if theme == "desk" else 15, "color": c["text"]}))
    fig = go.Figure(traces)
    fig.update_layout(map={"style": map_style(theme), "center": centre, "zoom": zoom},
                      margin={"l": 0, "r": 0, "t": 0, "b": 0}, paper_bgcolor="rgba(0,0,0,0)",
                      font={"color": c["text"], "family": c["font"]}, showlegend=False,
                      uirevision=code, clickmode="event")
    return fig


def window_picker(state: ViewState) -> dcc.RadioItems:
    """7d / 30d / 24h / today (环比 and 同比 follow the window)."""
    return dcc.RadioItems(id=ids.MEETING_WINDOW, value=state.window, inline=True,
                          options=[{"label": t(f"w_{w}", state.lang), "value": w}
                                   for w in WINDOWS], className="ctl-radio")


def export_buttons(lang: str) -> html.Div:
    """Download buttons (hidden in kiosk mode with the other controls)."""
    return html.Div([
        *[html.Button(t(label, lang), id={"type": ids.MEETING_EXPORT, "file": kind},
                      n_clicks=0, className="export-btn") for kind, (_, label) in EXPORTS.items()],
        dcc.Loading(dcc.Download(id=ids.MEETING_DOWNLOAD), type="dot"),
    ], className="controls meeting-exports")


# ------------------------------------------------------------------ page


def layout(**params: Any) -> html.Div:
    """The meeting view of the URL's unit and window (cached per data_version)."""
    state = meeting_state(params)
    return data.cached_view("meeting", state, lambda version: render(state, version),
                            lambda message: unavailable(state, message))


def unavailable(state: ViewState, message: str) -> html.Div:
    """The view when the database is unreachable (the shell reloads it once data is back)."""
    return html.Div([
        dcc.Store(id=ids.MEETING_STATE, data=asdict(state)),
        html.Div([html.H2(t("db_down", state.lang)), html.Pre(message, className="muted")],
                 className="unavailable"),
    ], id=ids.ROOT, className=f"screen theme-{state.theme} is-unavailable")


def render(state: ViewState, version: Any) -> html.Div:
    """Build the meeting view from the database at ``version``."""
    m = meeting_model(state, version=version)
    if m["unit"] is None:
        return unavailable(state, "no admin units loaded: cityscreen demo generate")
    lang, theme = state.lang, state.theme
    period = f"{m['start']:%Y-%m-%d %H:%M} — {m['end']:%Y-%m-%d %H:%M}"
    crumbs = [html.A(cr["name"], href="/meeting" + meeting_query(state, unit=cr["code"]),
                     className="crumb") for cr in m["crumbs"]]
    return html.Div([
        dcc.Store(id=ids.MEETING_STATE, data=asdict(state)),
        dcc.Store(id=ids.MEETING_VERSION, data=m["version"]),
        html.Header([
            html.H1(f"{t('meeting', lang)} · {m['unit']['name']}", className="title"),
            html.Nav(crumbs, className="breadcrumb"),
            html.Div(period, className="muted meeting-period"),
            html.Div([window_picker(state)], className="controls"),
            export_buttons(lang),
            html.A(t("to_overview", lang), href="/" + ViewState(
                unit=state.unit, theme=theme, lang=lang).to_query(),
                className="crumb controls"),
        ], className="topbar"),
        tiles_row(m["tiles"], lang),
        html.Main([
            html.Section([
                html.H3(t("ranking", lang), className="panel-title"),
                html.Div(ranking_table(m["ranking"], lang), id=ids.MEETING_RANKING,
                         className="meeting-ranking"),
            ], className="col col-table"),
            html.Section(dcc.Graph(id=ids.MEETING_MAP,
                                   figure=meeting_figure(m, theme, lang).to_plotly_json(),
                                   config={"displayModeBar": False, "scrollZoom": True},
                                   className="map-graph"), className="col col-map"),
            html.Section([
                html.H3(t("hotspots", lang), className="panel-title"),
                html.Div(hotspot_list(m["hotspots"], lang), id=ids.MEETING_HOTSPOTS,
                         className="spot-list"),
            ], className="col col-right"),
        ], className="body body-meeting"),
    ], id=ids.ROOT, className=f"screen theme-{theme} meeting")


@callback(
    Output(ids.URL, "href", allow_duplicate=True),
    Input({"type": ids.MEETING_ROW, "code": ALL}, "n_clicks"),
    Input({"type": ids.MEETING_SPOT, "code": ALL}, "n_clicks"),
    Input(ids.MEETING_MAP, "clickData"),
    Input(ids.MEETING_WINDOW, "value"),
    State(ids.MEETING_STATE, "data"),
    prevent_initial_call=True,
)
def navigate(_rows: list, _spots: list, click: dict | None, window: str | None,
             page_state: dict | None) -> str:
    """Rows, hotspots and map clicks drill into the overview; the window reloads the view."""
    if not page_state:
        raise PreventUpdate
    state = ViewState(**page_state)
    trig = ctx.triggered_id
    if trig == ids.MEETING_WINDOW:
        if window not in WINDOWS or window == state.window:
            raise PreventUpdate
        return "/meeting" + meeting_query(state, window=window)
    if trig == ids.MEETING_MAP:
        points = (click or {}).get("points") or []
        code = points[0].get("customdata") if points else None
        if isinstance(code, list):
            code = code[0] if code else None
    elif isinstance(trig, dict) and ctx.triggered and ctx.triggered[0]["value"]:
        code = trig["code"]
    else:
        raise PreventUpdate   # a re-rendered list reports n_clicks=0: not a click
    if not code:
        raise PreventUpdate
    return drill_href(state, str(code))


@callback(
    Output(ids.MEETING_DOWNLOAD, "data"),
    Input({"type": ids.MEETING_EXPORT, "file": ALL}, "n_clicks"),
    State(ids.MEETING_STATE, "data"),
    prevent_initial_call=True,
)
def download(_clicks: list, page_state: dict | None) -> dict[str, Any]:
    """Serve one export of the current view (PNG renders through kaleido: a few seconds)."""
    trig = ctx.triggered_id
    if not page_state or not isinstance(trig, dict) or not ctx.triggered[0]["value"]:
        raise PreventUpdate
    name, content = export_files(ViewState(**page_state), trig["file"])
    return dcc.send_bytes(content, name)
