"""Grid view: the grid's cases in a virtualized, sortable table, its KPIs and a small map."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

import dash
import dash_ag_grid as dag
from dash import ALL, Input, Output, State, callback, ctx, dcc, html
from dash.exceptions import PreventUpdate

from dashboard import data, ids
from dashboard.components import map_figure as mf
from dashboard.components import panels
from dashboard.i18n import t
from dashboard.state import UNIT_CODE, ViewState, parse_state

log = logging.getLogger("cityscreen.dashboard")

dash.register_page(__name__, path_template="/grid/<code>", name="grid", title="网格")

GRID_THEMES = {
    "wall": "themeQuartz.withParams({backgroundColor: '#0d1b33', foregroundColor: '#d8e6ff',"
            " headerBackgroundColor: '#102446', accentColor: '#35c3ff',"
            " oddRowBackgroundColor: '#0f1f3b', fontFamily: 'inherit'})",
    "desk": "themeQuartz.withParams({fontFamily: 'inherit'})",
}
STATUS_KEYS = ("reported", "accepted", "dispatched", "resolved", "verified", "closed")


def column_defs(lang: str) -> list[dict[str, Any]]:
    """Columns of the case table."""
    return [
        {"field": "id", "headerName": "ID", "width": 90},
        {"field": "reported_at", "headerName": t("reported_at", lang), "sort": "desc"},
        {"field": "category_name", "headerName": t("category", lang)},
        {"field": "status_label", "headerName": t("status", lang), "width": 100},
        {"field": "priority", "headerName": t("priority", lang), "width": 90},
        {"field": "deadline_at", "headerName": t("deadline", lang)},
        {"field": "overdue_label", "headerName": t("overdue", lang), "width": 100,
         "cellClassRules": {"cell-overdue": "params.data.overdue"}},
        {"field": "dept", "headerName": t("dept", lang)},
        {"field": "address", "headerName": t("address", lang), "flex": 1},
    ]


def row_data(cases: list[dict[str, Any]], lang: str) -> list[dict[str, Any]]:
    """Table rows with translated status and overdue labels (``rid``: AG Grid wants string ids)."""
    return [{**c, "rid": str(c["id"]), "status_label": t(f"st_{c['status']}", lang),
             "overdue_label": t("is_overdue", lang) if c["overdue"] else ""} for c in cases]


def layout(code: str | None = None, **params: Any) -> html.Div:
    """The grid ``code`` under the window and filters of the URL (cached per data_version)."""
    state = parse_state(params)
    if code is not None and not UNIT_CODE.match(code):  # not a code: not found, not a 500
        return render_missing(None, state, None)
    return data.cached_view("grid", (code, state), lambda version: render(code, state, version),
                            lambda message: render_missing(code, state, message))


def render_missing(code: str | None, state: ViewState, message: str | None) -> html.Div:
    """The grid view when the grid is unknown or the database is unreachable."""
    lang, theme = state.lang, state.theme
    stores = [dcc.Store(id=ids.GRID_STATE, data={**asdict(state), "grid": code})]
    return html.Div([*stores, dcc.Store(id=ids.GRID_VERSION, data=None),
                     html.H2(message or t("not_found", lang), className="unavailable"),
                     dag.AgGrid(id=ids.GRID_TABLE, rowData=[], columnDefs=[]),
                     dcc.Graph(id=ids.GRID_MAP, style={"display": "none"}),
                     html.Div(panels.kpi_tiles({}, lang, ids.GRID_KPI_VALUE,
                                               ids.GRID_KPI_DELTA), hidden=True)],
                    id=ids.ROOT, className=f"screen theme-{theme} is-unavailable")


def render(code: str | None, state: ViewState, version: Any) -> html.Div:
    """Build the grid view from the database at ``version``."""
    lang, theme = state.lang, state.theme
    stores = [dcc.Store(id=ids.GRID_STATE, data={**asdict(state), "grid": code})]
    m = data.grid_model(code, state, version=version) if code else None
    if not m or m.get("unit") is None:
        return render_missing(code, state, None)
    unit = m["unit"]
    fig = mf.small_map(m["outline"], theme=theme, points=m["heat"], cameras=m["cameras"],
                       heat=True, zoom_px=700).to_plotly_json()
    return html.Div([
        *stores,
        dcc.Store(id=ids.GRID_VERSION, data=m["version"]),
        html.Header([
            html.H1(t("title", lang), className="title"),
            panels.breadcrumb(m["crumbs"], state),
            html.Div(f"{t('grid_cases', lang)} · {unit['code']}", className="muted"),
        ], className="topbar"),
        panels.kpi_tiles(m["tiles"], lang, ids.GRID_KPI_VALUE, ids.GRID_KPI_DELTA),
        html.Main([
            html.Section(dag.AgGrid(
                id=ids.GRID_TABLE, rowData=row_data(m["cases"], lang),
                columnDefs=column_defs(lang),
                defaultColDef={"sortable": True, "resizable": True, "filter": True},
                dashGridOptions={"rowSelection": {"mode": "singleRow", "checkboxes": False},
                                 "animateRows": False, "theme": {"function": GRID_THEMES[theme]}},
                getRowId="params.data.rid",
                # widths from the content: they follow the font size (bigger on a 4K wall)
                columnSize="autoSize",
                style={"height": "100%", "width": "100%"},
            ), className="col col-table"),
            html.Section(dcc.Graph(id=ids.GRID_MAP, figure=fig,
                                   config={"displayModeBar": False, "scrollZoom": True},
                                   className="map-graph"), className="col col-map"),
        ], className="body body-grid"),
    ], id=ids.ROOT, className=f"screen theme-{theme}")


@callback(
    Output(ids.URL, "href", allow_duplicate=True),
    Input(ids.GRID_TABLE, "cellClicked"),
    State(ids.GRID_STATE, "data"),
    prevent_initial_call=True,
)
def open_case(cell: dict | None, page_state: dict | None) -> str:
    """Clicking a case opens its detail."""
    if not cell or cell.get("rowId") is None:
        raise PreventUpdate
    lang = (page_state or {}).get("lang", "zh")
    theme = (page_state or {}).get("theme", "wall")
    return f"/case/{int(cell['rowId'])}?lang={lang}&theme={theme}"


@callback(
    Output(ids.GRID_TABLE, "rowData"),
    Output({"type": ids.GRID_KPI_VALUE, "key": ALL}, "children"),
    Output({"type": ids.GRID_KPI_DELTA, "key": ALL}, "children"),
    Output(ids.GRID_VERSION, "data"),
    Input(ids.VERSION, "data"),
    State(ids.GRID_STATE, "data"),
    State(ids.GRID_VERSION, "data"),
    prevent_initial_call=True,
)
def refresh_grid(version: dict | None, page_state: dict | None, page_version: int | None
                 ) -> tuple:
    """New data: new table rows and tile numbers (the table keeps its sort: rows have ids)."""
    if not version or not page_state or page_version is None or version["v"] == page_version:
        raise PreventUpdate
    code = page_state.pop("grid", None)
    state = ViewState(**page_state)
    try:
        m = data.grid_model(code, state)
    except data.DB_ERRORS as exc:
        log.warning("grid refresh failed, keeping the last data: %s", exc)
        raise PreventUpdate from None
    tiles = m["tiles"]
    return (row_data(m["cases"], state.lang),
            [panels.fmt_value(o["id"]["key"], tiles.get(o["id"]["key"]))
             for o in ctx.outputs_list[1]],
            [panels.fmt_delta(tiles.get("events_delta"), state.lang)
             for _ in ctx.outputs_list[2]],
            m["version"])
