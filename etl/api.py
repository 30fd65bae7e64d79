"""Live ingest over HTTP: a Flask blueprint the app server mounts (`cityscreen/wsgi.py`).

    POST /api/v1/events?feed=incidents|hotline|updates|alerts   (JSON array or JSON Lines)
    POST /api/v1/cameras                                          (cameras and heartbeats)

Each request is one batch through ``etl.pipeline.load_records``, committed when it ran:
200 with the batch summary when every row loaded; 400 with the summary and per-row errors
when some rows were rejected (the valid ones are loaded all the same). The token is
``Authorization: Bearer <INGEST_TOKEN>``, compared in constant time (401 missing,
403 wrong). Without ``INGEST_TOKEN`` the endpoint is off (503) — never open. Bodies above
``CITYSCREEN_INGEST_MAX_BYTES`` get 413 before any of them is read into memory. The summary
also carries the ``data_version`` the batch committed at: screens at that version or a
later one show it.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

import psycopg2
from flask import Blueprint, Response, request

from cityscreen import db
from cityscreen.settings import Settings, get_settings

log = logging.getLogger("cityscreen.etl.api")

EVENT_FEEDS = ("incidents", "hotline", "updates", "alerts")
MAX_ERRORS = 1000  # per-row errors listed in one answer (all are in etl_reject)
# Read inside the batch's transaction, after the pipeline bumped it: this batch's version.
BATCH_VERSION = "SELECT version FROM data_version"


def _answer(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body, ensure_ascii=False, default=str), status=status,
                    mimetype="application/json", headers=headers)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return _answer(status, {"error": message}, headers)


def check_token(header: str | None, token: str | None) -> Response | None:
    """None when the ``Authorization`` header carries the token, else the error answer."""
    if not token:
        return _error(503, "ingest is off: INGEST_TOKEN is not configured on this server")
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return _error(401, "missing bearer token (Authorization: Bearer <INGEST_TOKEN>)",
                      {"WWW-Authenticate": 'Bearer realm="cityscreen-ingest"'})
    if not hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8")):
        return _error(403, "wrong ingest token")
    return None


def read_body(max_bytes: int) -> bytes | Response:
    """The request body, or a 413 answer when it is larger than ``max_bytes``."""
    length = request.content_length
    if length is not None and length > max_bytes:
        return _error(413, f"body of {length} bytes exceeds the limit of {max_bytes} bytes")
    # Without a Content-Length (chunked upload) read at most one byte past the limit.
    data = request.stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        return _error(413, f"body exceeds the limit of {max_bytes} bytes")
    return data


def parse_body(data: bytes) -> list[Any]:
    """A JSON array → its elements; anything else → its non-blank lines (JSON Lines).

    Lines are parsed by the pipeline, so a malformed line becomes a per-row error
    instead of failing the whole request. Raises ValueError for an unusable body.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"body is not UTF-8 (byte {exc.start})") from None
    stripped = text.strip()
    if not stripped:
        raise ValueError("empty body: send a JSON array or JSON Lines")
    if stripped.startswith("["):
        try:
            items = json.loads(stripped)
        except ValueError as exc:
            raise ValueError(f"malformed JSON array: {exc}") from None
        if not isinstance(items, list):
            raise ValueError("expected a JSON array of objects")
        return items
    return text.splitlines()  # blank lines are skipped but counted: errors cite body lines


def batch_version(conn: Any) -> int | None:
    """``data_version`` as this transaction sees it (after its bump: the batch's own)."""
    with conn.cursor() as cur:
        cur.execute(BATCH_VERSION)
        row = cur.fetchone()
    return int(row[0]) if row else None


def ingest(feed: str, settings: Settings) -> Response:
    """Authorise, read, load one batch and answer with its summary."""
    denied = check_token(request.headers.get("Authorization"), settings.ingest_token)
    if denied is not None:
        return denied
    body = read_body(settings.ingest_max_bytes)
    if isinstance(body, Response):
        return body
    try:
        records = parse_body(body)
    except ValueError as exc:
        return _error(400, str(exc))
    crs = request.args.get("crs", "wgs84")
    strict = request.args.get("strict", "").lower() in ("1", "true", "yes")
    from etl import pipeline
    from etl.batch import batch_rejects

    try:
        with db.transaction() as conn:
            summary = pipeline.load_records(conn, feed, records, source_name="api", crs=crs,
                                            strict=strict)
            errors = (batch_rejects(conn, summary.batch_id, MAX_ERRORS)
                      if summary.rejected and summary.batch_id is not None else [])
            version = batch_version(conn)
    except pipeline.LoadError as exc:
        return _error(400, str(exc))
    except db.DatabaseError as exc:
        log.warning("ingest %s: database unavailable: %s", feed, exc)
        return _error(503, f"database unavailable: {exc}")
    except psycopg2.Error as exc:  # never echo SQL error text to the client
        log.error("ingest %s: batch failed in the database: %s", feed, exc.pgcode or type(exc))
        return _error(500, "the batch failed in the database; nothing from it was loaded")
    out = {**summary.as_json(), "data_version": version}
    log.info("ingest %s batch %s: %d in, %d loaded, %d updated, %d rejected", feed,
             out["batch_id"], summary.rows_in, summary.loaded, summary.updated, summary.rejected)
    if summary.rejected:
        out["errors"] = [{"line": e["line_no"], "reason": e["reason"]} for e in errors]
        return _answer(400, out)
    return _answer(200, out)


def create_blueprint(settings: Settings | None = None) -> Blueprint:
    """The ingest blueprint; token and size limit from ``settings`` (default: the process's)."""
    bp = Blueprint("ingest", __name__)

    def current() -> Settings:
        return settings or get_settings()

    @bp.post("/api/v1/events")
    def post_events() -> Response:
        feed = request.args.get("feed", "")
        if feed not in EVENT_FEEDS:
            denied = check_token(request.headers.get("Authorization"), current().ingest_token)
            if denied is not None:
                return denied
            return _error(400, f"query parameter feed must be one of {', '.join(EVENT_FEEDS)}"
                               f" (got {feed!r})")
        return ingest(feed, current())

    @bp.post("/api/v1/cameras")
    def post_cameras() -> Response:
        return ingest("cameras", current())

    return bp


def ingest_blueprint() -> Blueprint:
    """The ingest blueprint configured from the environment (for `cityscreen/wsgi.py`)."""
    return create_blueprint()
