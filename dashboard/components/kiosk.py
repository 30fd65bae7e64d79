"""Kiosk mode for the wall: ``?kiosk=1&rotate=60&playlist=…`` on any page.

``kiosk=1`` puts the class ``kiosk`` on the app shell (CSS hides every control) and, with
``rotate=N`` (seconds, 2–3600; default 60), rotates through a playlist of views without
reloading the page: a ``dcc.Interval`` in the shell advances an index into a playlist held
in a ``dcc.Store``, and the next view is applied client-side through ``dcc.Location``
(``refresh="callback-nav"``: Dash pages swaps the page, the shell and its stores stay).
Nothing accumulates per rotation: the store holds the playlist once, the index is derived
from the current URL.

``playlist`` is a comma-separated list of entries (default ``city,districts,meeting``):
``city`` the city overview; ``districts`` the overview of each district; ``meeting`` the
meeting page of the city; a unit code (``420606``) that unit's overview; ``meeting:<code>``
the meeting page of that unit. Every URL of the playlist keeps ``kiosk``, ``rotate``,
``playlist``, ``theme`` and ``lang``, so a reload mid-rotation carries on where it was.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import parse_qs, urlencode

from dash import Input, Output, State, callback, clientside_callback, dcc

from dashboard import data, ids, queries
from dashboard.state import UNIT_CODE

log = logging.getLogger("cityscreen.dashboard")

DEFAULT_ROTATE_S = 60
DEFAULT_PLAYLIST = "city,districts,meeting"
ENTRY = re.compile(r"^(city|districts|meeting|meeting:[0-9]{6,15}|[0-9]{6,15})$")
KEEP = ("theme", "lang")


def shell_pieces() -> list[Any]:
    """The kiosk's interval (off until ``?kiosk=1&rotate=N``) and playlist store."""
    return [dcc.Interval(id=ids.KIOSK_TICK, interval=DEFAULT_ROTATE_S * 1000, disabled=True),
            dcc.Store(id=ids.KIOSK_PLAYLIST, data=None)]


def parse_kiosk(search: str | None) -> dict[str, Any] | None:
    """``{"rotate": seconds or None, "playlist": [entries], "keep": {...}}``, None if not kiosk."""
    q = {k: v[0] for k, v in parse_qs((search or "").lstrip("?")).items() if v}
    if q.get("kiosk") not in ("1", "true", "on"):
        return None
    try:
        rotate: int | None = min(max(int(q.get("rotate", "")), 2), 3600)
    except ValueError:
        rotate = None
    entries = [e.strip() for e in q.get("playlist", DEFAULT_PLAYLIST).split(",")]
    entries = [e for e in entries if ENTRY.match(e)] or DEFAULT_PLAYLIST.split(",")
    keep = {k: q[k] for k in KEEP if k in q and re.match(r"^[a-z]{2,4}$", q[k])}
    return {"rotate": rotate, "playlist": entries, "keep": keep,
            "raw_playlist": ",".join(entries)}


def expand(entries: list[str], districts: list[str]) -> list[tuple[str, str | None]]:
    """Playlist entries as (path, unit) pairs: ``districts`` becomes one view per district."""
    out: list[tuple[str, str | None]] = []
    for e in entries:
        if e == "city":
            out.append(("/", None))
        elif e == "districts":
            out.extend(("/", d) for d in districts)
        elif e == "meeting":
            out.append(("/meeting", None))
        elif e.startswith("meeting:"):
            out.append(("/meeting", e.split(":", 1)[1]))
        elif UNIT_CODE.match(e):
            out.append(("/", e))
    return out


def view_url(path: str, unit: str | None, k: dict[str, Any]) -> str:
    """One playlist view's URL (path + query), kiosk parameters kept."""
    params: dict[str, Any] = {}
    if unit:
        params["unit"] = unit
    params.update(k["keep"])
    params["kiosk"] = "1"
    if k["rotate"]:
        params["rotate"] = str(k["rotate"])
    if k["raw_playlist"] != DEFAULT_PLAYLIST:
        params["playlist"] = k["raw_playlist"]
    return path + "?" + urlencode(params)


def district_codes() -> list[str]:
    """The city's child units (districts), from the cached geometry query."""
    with data.Reader() as r:
        city = r.run("root_unit", queries.root_unit)
        if city is None:
            return []
        geom = r.run("children_geometry", queries.children_geometry, city["code"])
        return [u["code"] for u in geom["units"]]


def build_playlist(search: str | None) -> dict[str, Any] | None:
    """The kiosk config of a URL: shell class, interval and the playlist's URLs."""
    k = parse_kiosk(search)
    if k is None:
        return None
    entries = k["playlist"]
    districts: list[str] = []
    if "districts" in entries:
        try:
            districts = district_codes()
        except data.DB_ERRORS as exc:   # rotate over what needs no database
            log.warning("kiosk playlist without districts: %s", exc)
    urls = [view_url(p, u, k) for p, u in expand(entries, districts)]
    return {"rotate": k["rotate"], "urls": urls}


@callback(
    Output(ids.KIOSK_PLAYLIST, "data"),
    Output(ids.KIOSK_TICK, "interval"),
    Output(ids.KIOSK_TICK, "disabled"),
    Output(ids.SHELL, "className"),
    Input(ids.URL, "search"),
    State(ids.KIOSK_PLAYLIST, "data"),
)
def start_kiosk(search: str | None, current: dict | None) -> tuple:
    """Turn kiosk mode on from the first URL; rotations keep it (every URL has kiosk=1)."""
    if current is not None and parse_kiosk(search) is not None:
        # already running: a rotation step, keep the playlist and the interval's phase
        return current, current["rotate"] * 1000 if current["rotate"] else 60_000, \
            not current["rotate"], "shell kiosk"
    plan = build_playlist(search)
    if plan is None:
        return None, DEFAULT_ROTATE_S * 1000, True, "shell"
    rotate = plan["rotate"]
    return plan, (rotate or DEFAULT_ROTATE_S) * 1000, not rotate, "shell kiosk"


# The step itself runs in the browser: the next URL after the current one (matched by
# path + query), applied through dcc.Location without a reload.
clientside_callback(
    """function(n, plan) {
        if (!n || !plan || !plan.urls || !plan.urls.length) {
            return window.dash_clientside.no_update;
        }
        const here = window.location.pathname + window.location.search;
        const i = plan.urls.indexOf(here);
        return plan.urls[(i + 1) % plan.urls.length];
    }""",
    Output(ids.URL, "href", allow_duplicate=True),
    Input(ids.KIOSK_TICK, "n_intervals"),
    State(ids.KIOSK_PLAYLIST, "data"),
    prevent_initial_call=True,
)
