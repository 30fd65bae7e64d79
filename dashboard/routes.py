"""Plain HTTP routes beside the Dash app: health, version, and per-level geometry."""

from __future__ import annotations

import json

import flask

from dashboard import data
from dashboard.components import basemap
from dashboard.state import UNIT_CODE

bp = flask.Blueprint("cityscreen_dashboard", __name__)


@bp.get("/healthz")
def healthz() -> flask.Response:
    """Database status, data_version and the age of the last batch; 503 when the DB is down."""
    body = data.health()
    return flask.Response(json.dumps(body), status=200 if body["database"] == "ok" else 503,
                          mimetype="application/json")


@bp.get("/api/v1/version")
def version() -> flask.Response:
    """Just the data version (what a poller needs)."""
    body = data.health()
    return flask.jsonify({"data_version": body["data_version"]}), \
        200 if body["database"] == "ok" else 503


@bp.get("/api/v1/geometry/<code>.geojson")
def geometry(code: str) -> flask.Response:
    """Children of ``code`` as GeoJSON: fetched once per level by the browser, then cached."""
    if not UNIT_CODE.match(code):
        flask.abort(404)
    try:
        fc = basemap.shift_fc(data.geometry(code))  # in the tiles' system, like the overlays
    except data.DB_ERRORS:
        flask.abort(503)
    resp = flask.Response(json.dumps(fc, ensure_ascii=False, separators=(",", ":")),
                          mimetype="application/geo+json")
    resp.headers["Cache-Control"] = "public, max-age=600"
    return resp
