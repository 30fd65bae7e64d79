"""The app factory: the Dash app and its layout shell. Pages and callbacks live elsewhere."""

from __future__ import annotations

import gc
import json
import re
from pathlib import Path
from typing import Any

import dash
import flask
from dash import dcc, html
from dash.development.base_component import Component

from cityscreen.settings import Settings, get_settings
from dashboard import ids
from dashboard.cache import init_cache
from dashboard.components import kiosk, live, shell
from dashboard.routes import bp

HERE = Path(__file__).resolve().parent
ASSETS = HERE.parent / "assets"
# plotly.js with only the traces the pages draw (assets/vendor/README.md): dcc.Graph uses
# window.Plotly when it is there instead of fetching the full 4.8 MB bundle.
PLOTLY_JS = "vendor/plotly-cityscreen-4.1.1.min.js"
# Component libraries whose bundle a page loads only when it renders one of their components
# (assets/lazy_components.js), unless the page opened shows one at once (path prefixes).
LAZY_LIBRARIES = {"dash_ag_grid": ("/grid/",)}
LAZY_ID = "cityscreen-lazy"  # the element naming the left-out bundles


def create_app(settings: Settings | None = None, *, cache_config: dict[str, Any] | None = None,
               interval_ms: int = 5000) -> dash.Dash:
    """Create the Dash app (pages under dashboard/pages, assets from the repo's assets/).

    ``cache_config`` overrides the flask-caching config (default: Redis when ``REDIS_URL``
    is set, in-process otherwise); ``interval_ms`` is how often pages poll ``data_version``.
    """
    settings = settings or get_settings()
    app = dash.Dash(
        # Named after the package, Dash loads pages as `dashboard.pages.X`, the same modules a
        # plain import gives; named after this module they would load twice under two names.
        "dashboard",
        use_pages=True,
        pages_folder=str(HERE / "pages"),
        assets_folder=str(ASSETS),
        assets_path_ignore=["vendor"],  # served, but loaded only where app.py says
        compress=True,
        title="城市运行一张屏",
        update_title=None,
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
    )
    app.index_string = index_string(app)
    _defer_libraries(app)
    # A function: the layout request carries the page being opened (components/shell.py).
    app.layout = lambda: html.Div([
        dcc.Location(id=ids.URL, refresh="callback-nav"),
        *live.shell_pieces(interval_ms),
        *kiosk.shell_pieces(),
        shell.page_container(app),
    ], id=ids.SHELL, className="shell")
    init_cache(app.server, settings, cache_config)
    app.server.register_blueprint(bp)
    # Dash hands the callbacks of `dash.callback` (our pages) to whichever app serves a request
    # first. Claim them now, so every app built in one process (tests build several) gets
    # exactly one set of its own.
    app._setup_server()
    # After Dash's page router (a before_request of its own, registered first) has built the
    # all-pages validation layout on the first request.
    app.server.before_request(lambda: _slim_validation_layout(app))
    freeze_startup_heap()
    app.server.after_request(_freeze_after_warmup)
    return app


def index_string(app: dash.Dash) -> str:
    """Dash's page, with what the first paint waits for requested while the bundles load."""
    prefix = app.config.requests_pathname_prefix
    plotly_js = app.get_asset_url(PLOTLY_JS)
    early = [
        # Layout (with the page in it: components/shell.py) and callbacks, fetched by the
        # renderer once the bundles have run: requested now, the server builds the page
        # while they download. Same mode and credentials as the renderer's fetch, so the
        # browser hands it these responses.
        f'<link rel="preload" href="{prefix}_dash-layout" as="fetch" crossorigin="anonymous">',
        f'<link rel="preload" href="{prefix}_dash-dependencies" as="fetch" '
        'crossorigin="anonymous">',
        f'<link rel="preload" href="{plotly_js}" as="script">',
        # dcc's lazy chunks of the overview (map and charts, topbar controls): otherwise
        # requested only once the page has rendered.
        *(f'<link rel="preload" href="{prefix}_dash-component-suites/dash/dcc/async-{c}.js" '
          'as="script">' for c in ("graph", "dropdown", "datepicker")),
    ]
    # The layout request's Referer must name the page (shell.py); same-origin only.
    head = '<meta name="referrer" content="same-origin">\n        '
    # plotly.js before the renderer starts: a dcc.Graph that mounted first would fetch and
    # run the full bundle itself (the layout, preloaded, can arrive while it downloads).
    return app.index_string.replace("<html>", '<html lang="zh-CN">').replace(
        "{%css%}", head + "\n        ".join(early) + "\n        {%css%}"
    ).replace("{%renderer%}", f'<script src="{plotly_js}"></script>\n            {{%renderer%}}')


def _defer_libraries(app: dash.Dash) -> None:
    """Leave the bundles of ``LAZY_LIBRARIES`` out of pages that do not show their components
    at once: the AG Grid bundle (1.3 MB) was parsed and run before the overview's first paint.
    The page names the bundle instead; a stand-in namespace loads it when a component of it is
    first rendered (client-side navigation to the grid view)."""
    interpolate = app.interpolate_index

    def interpolate_index(**kwargs: Any) -> str:
        # the page's path below the app's URL prefix (``requests_pathname_prefix``)
        path = "/" + (app.strip_relative_path(flask.request.path)
                      if flask.has_request_context() else "")
        lazy: dict[str, str] = {}
        kept = []
        for line in kwargs.get("scripts", "").split("\n"):
            m = re.search(r'<script src="([^"]*/_dash-component-suites/(\w+)/[^"]*)"', line)
            ns = m.group(2) if m else None
            if ns in LAZY_LIBRARIES and not path.startswith(LAZY_LIBRARIES[ns]):
                lazy[ns] = m.group(1)  # type: ignore[union-attr]
            else:
                kept.append(line)
        if lazy:  # data, not an inline script (the CSP allows none but Dash's own)
            kept.insert(0, f'<script type="application/json" id="{LAZY_ID}">'
                           f"{json.dumps(lazy)}</script>")
        kwargs["scripts"] = "\n".join(kept)
        return interpolate(**kwargs)

    app.interpolate_index = interpolate_index  # type: ignore[method-assign]


def _slim_validation_layout(app: dash.Dash) -> None:
    """Replace the validation layout by the components with an id, props stripped to the id.

    Dash embeds the validation layout in every page it serves and the renderer walks it
    before it mounts the page: with pages it is every page's whole layout (the overview's map
    figure and geometry included, ~160 KB). Checking the callbacks needs only each id's
    component type."""
    vl = app.validation_layout
    if vl is None or getattr(app, "_cityscreen_slim", False):
        return
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, Component):
            cid = getattr(node, "id", None)
            if cid is not None:
                found.append({"type": node._type, "namespace": node._namespace,
                              "props": {"id": cid}})
            for name in node._prop_names:
                walk(getattr(node, name, None))
        elif isinstance(node, dict) and {"type", "namespace", "props"} <= node.keys():
            # a cached view holds its components as their JSON dicts (data.plain)
            props = node["props"] or {}
            if props.get("id") is not None:
                found.append({"type": node["type"], "namespace": node["namespace"],
                              "props": {"id": props["id"]}})
            for v in props.values():
                walk(v)
        elif isinstance(node, (list, tuple)):
            for x in node:
                walk(x)

    walk(vl)
    app.validation_layout = html.Div(found)
    app._cityscreen_slim = True  # type: ignore[attr-defined]


WARMUP_REQUESTS = 8


def freeze_startup_heap() -> None:
    """Move the objects of the started app (plotly's validators, dash, pandas: ~180k) out of
    the collector's reach. A full collection then walks only what requests made, not them:
    it had cost ~140 ms inside one request in 20 (bench_dashboard's warm outlier)."""
    gc.collect()
    gc.freeze()


def _freeze_after_warmup(response: Any) -> Any:
    """The first requests build what the pages load lazily (their modules, layouts, figure
    templates: ~30k objects); freeze those too, after each of the first few requests."""
    cfg = flask.current_app.config
    n = cfg.get("CITYSCREEN_WARM_REQUESTS", 0)
    if n < WARMUP_REQUESTS:
        cfg["CITYSCREEN_WARM_REQUESTS"] = n + 1
        gc.freeze()
    return response


def server() -> Any:
    """A Flask server for WSGI hosts that want a factory (``gunicorn 'dashboard.app:server()'``)."""
    return create_app().server
