"""The page container of the app shell, with the requested page already in it.

Dash's pages put an empty ``page_container`` in the layout; the browser then mounts it, its
``dcc.Location`` reports the URL, and a routing callback (one more round trip, the server
rendering the page inside it) fills it in. The layout request itself comes from the page, so
its ``Referer`` names the URL being opened: the layout can carry that page already, and its
``Location`` the same pathname and search the browser has, so mounting it changes nothing and
no routing callback fires. Without a usable ``Referer`` the container is Dash's own (empty,
routed by the callback as before). Later navigation is Dash's routing callback unchanged.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import dash
import flask
from dash import _pages, dcc, html
from dash.dash import _ID_CONTENT, _ID_DUMMY, _ID_LOCATION, _ID_STORE


def page_container(app: dash.Dash) -> Any:
    """The page container for the current request: the page of the ``Referer`` when the
    request is the browser's layout request, else Dash's empty one."""
    opened = _opened_url()
    if opened is None:
        return dash.page_container
    pathname, search = opened
    page, path_variables = _pages._path_to_page(app.strip_relative_path(pathname))
    if not page:
        return dash.page_container
    variables = path_variables or {}
    layout, title = page["layout"], page["title"]
    if callable(layout):
        layout = layout(**{**variables, **_pages._parse_query_string(search)})
    if callable(title):
        title = title(**variables)
    return html.Div([
        dcc.Location(id=_ID_LOCATION, refresh="callback-nav", pathname=pathname, search=search),
        html.Div(layout, id=_ID_CONTENT, disable_n_clicks=True),
        dcc.Store(id=_ID_STORE, data={"title": title}),
        html.Div(id=_ID_DUMMY, disable_n_clicks=True),
    ])


def _opened_url() -> tuple[str, str] | None:
    """(pathname, search) of the page that asked for the layout, if it is one of ours."""
    if not flask.has_request_context():
        return None
    req = flask.request
    if not req.path.endswith("/_dash-layout") or not req.referrer:
        return None
    parts = urlsplit(req.referrer)
    if parts.netloc != req.host or parts.scheme not in ("http", "https"):
        return None
    return parts.path or "/", f"?{parts.query}" if parts.query else ""
