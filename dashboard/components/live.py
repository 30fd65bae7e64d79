"""The live loop shared by every page: poll ``data_version``, show the stale-data banner.

Pages listen to the ``VERSION`` store and patch their values when it moves. The store
changes only when the version does (or when the database comes back), so a quiet
system costs one tiny query per tick and sends nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from dash import Input, Output, State, callback, clientside_callback, dcc, html, no_update

from cityscreen.settings import get_settings
from dashboard import data, ids
from dashboard.cache import query_cache
from dashboard.i18n import t

log = logging.getLogger("cityscreen.dashboard")


def shell_pieces(interval_ms: int) -> list[Any]:
    """Interval, stores and banner that live in the app shell."""
    return [
        dcc.Interval(id=ids.TICK, interval=interval_ms),
        dcc.Interval(id=ids.CLOCK_TICK, interval=1000),
        dcc.Store(id=ids.VERSION, data=None),
        dcc.Store(id=ids.STALE_SINCE, data=None),
        html.Div(id=ids.BANNER, className="banner", role="status"),
    ]


def poll_version() -> int:
    """The published ``data_version`` (``dashboard.cache``: with Redis, every few seconds)."""

    def fetch() -> int:
        with data.Reader(version="poll", cache=data.QueryCache(None, "none")) as r:
            return int(r.fetch_version()["version"])

    return query_cache().published_version(fetch)


@callback(
    Output(ids.VERSION, "data"),
    Output(ids.BANNER, "children"),
    Output(ids.BANNER, "className"),
    Output(ids.STALE_SINCE, "data"),
    Input(ids.TICK, "n_intervals"),
    State(ids.VERSION, "data"),
    State(ids.STALE_SINCE, "data"),
    prevent_initial_call=True,
)
def poll(_n: int, current: dict | None, stale_since: str | None) -> tuple:
    """Read the version; on failure keep everything and show since when data is delayed."""
    try:
        version = poll_version()
    except data.DB_ERRORS as exc:
        since = stale_since or datetime.now(get_settings().tz).strftime("%H:%M")
        if stale_since is None:
            log.warning("database unreachable, showing last data: %s", exc)
        return no_update, t("delayed_since", "zh", t=since), "banner banner-on", since
    recovered = stale_since is not None
    if current and current.get("v") == version and not recovered:
        return no_update, no_update, no_update, no_update
    # After an outage emit a fresh value even if the version did not move: a refresh that
    # failed during the outage gets its second chance.
    bump = (current or {}).get("r", 0) + (1 if recovered else 0)
    return {"v": version, "r": bump}, "", "banner", None


# A page whose first render failed (database down) reloads once data is back.
clientside_callback(
    """function(v, cls) {
        if (v && cls && cls.indexOf('is-unavailable') >= 0) { window.location.reload(); }
        return window.dash_clientside.no_update;
    }""",
    Output(ids.ROOT, "title"),
    Input(ids.VERSION, "data"),
    State(ids.ROOT, "className"),
    prevent_initial_call=True,
)
