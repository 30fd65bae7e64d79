"""Case detail: state, deadline and overdue, the timeline, a small map and cameras within 300 m."""

from __future__ import annotations

import logging
from typing import Any

import dash
from dash import dcc, html

from dashboard import data, ids
from dashboard.components import map_figure as mf
from dashboard.components import panels
from dashboard.i18n import t
from dashboard.state import parse_state

log = logging.getLogger("cityscreen.dashboard")

dash.register_page(__name__, path_template="/case/<case_id>", name="case", title="案件")


def _fmt(ts: Any) -> str:
    return ts.strftime("%Y-%m-%d %H:%M") if ts else "—"


def _kind(kind: str | None, lang: str) -> str:
    return t(f"st_{kind}", lang) if kind else ""


def timeline(rows: list[dict[str, Any]], lang: str) -> html.Table:
    """The case's transitions with times and departments."""
    head = html.Tr([html.Th(t(k, lang)) for k in ("time", "step", "dept", "actor", "note")])
    body = [html.Tr([html.Td(_fmt(r["at"])), html.Td(_kind(r["kind"], lang)),
                     html.Td(r.get("dept") or ""), html.Td(r.get("actor") or ""),
                     html.Td(r.get("note") or "")]) for r in rows]
    return html.Table([html.Thead(head), html.Tbody(body)], id=ids.CASE_TIMELINE,
                      className="table")


def camera_list(rows: list[dict[str, Any]], lang: str) -> html.Table:
    """Cameras within 300 m, nearest first, with status."""
    head = html.Tr([html.Th(t(k, lang)) for k in ("name", "status", "distance_m")])
    body = [html.Tr([html.Td(r.get("name") or r["source_id"]),
                     html.Td(t(r["status"], lang), className=f"cam-{r['status']}"),
                     html.Td(str(r["distance_m"]))]) for r in rows]
    return html.Table([html.Thead(head), html.Tbody(body)], className="table")


def layout(case_id: str | None = None, **params: Any) -> html.Div:
    """One case by its id."""
    state = parse_state(params)
    lang, theme = state.lang, state.theme
    root = {"id": ids.ROOT, "className": f"screen theme-{theme}"}
    try:
        m = data.case_model(int(case_id)) if case_id and case_id.isdigit() else None
    except data.DB_ERRORS as exc:
        log.warning("case render without database: %s", exc)
        return html.Div(html.H2(t("db_down", lang), className="unavailable"), id=ids.ROOT,
                        className=f"screen theme-{theme} is-unavailable")
    if not m or m["case"] is None:
        return html.Div([html.H2(t("not_found", lang), className="unavailable"),
                         dcc.Graph(id=ids.CASE_MAP, style={"display": "none"})], **root)
    c = m["case"]
    point = [{"lon": c["lon"], "lat": c["lat"]}] if c["lon"] is not None else []
    fig = mf.small_map(m["outline"], theme=theme, points=point, cameras=m["cameras"])
    if point:
        fig.update_layout(map={"center": point[0], "zoom": 15.5})
    overdue = t("is_overdue", lang) if c["overdue"] else t("in_time", lang)
    facts = [
        (t("category", lang), c["category_name"]),
        (t("status", lang), t(f"st_{c['status']}", lang)),
        (t("priority", lang), str(c["priority"] or "—")),
        (t("reported_at", lang), _fmt(c["reported_at"])),
        (t("deadline", lang), f"{_fmt(c['deadline_at'])} · {overdue}"),
        (t("dept", lang), c["dept"] or "—"),
        (t("address", lang), c["address"] or "—"),
        (t("description", lang), c["description"] or "—"),
    ]
    return html.Div([
        html.Header([
            html.H1(f"{t('case', lang)} #{c['id']}", className="title"),
            panels.breadcrumb(m["crumbs"], state, link_last=True) if m["crumbs"] else html.Span(),
            dcc.Link(t("back", lang), href=f"/grid/{c['grid_code']}?lang={lang}&theme={theme}"
                     if c["grid_code"] else "/", className="crumb"),
        ], className="topbar"),
        html.Main([
            html.Section([
                html.Dl([x for k, v in facts for x in (html.Dt(k), html.Dd(v))],
                        className="facts" + (" is-overdue" if c["overdue"] else "")),
                html.H3(t("timeline", lang), className="panel-title"),
                timeline(m["timeline"], lang),
            ], className="col col-table"),
            html.Section([
                dcc.Graph(id=ids.CASE_MAP, figure=fig, className="case-map",
                          config={"displayModeBar": False, "scrollZoom": True}),
                html.H3(t("nearby_cameras", lang), className="panel-title"),
                camera_list(m["cameras"], lang),
            ], className="col col-map"),
        ], className="body body-grid"),
    ], **root)
