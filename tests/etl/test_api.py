"""The HTTP ingest endpoint against the session PostGIS: 200/400/401/403/413 and endpoint-off."""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import pytest
from flask import Flask

from cityscreen.settings import load_settings
from etl.api import create_blueprint

TOKEN = "s3cret-token-for-tests"
MAX_BYTES = 8192


def _app(token: str | None = TOKEN, max_bytes: int = MAX_BYTES) -> Flask:
    env = {"CITYSCREEN_INGEST_MAX_BYTES": str(max_bytes)}
    if token is not None:
        env["INGEST_TOKEN"] = token
    app = Flask("ingest-test")
    app.register_blueprint(create_blueprint(load_settings(env)))
    return app


@pytest.fixture
def client(city: Any) -> Any:
    return _app().test_client()


def _auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _incident(city: Any, event_id: str, category: str = "0101", **extra: Any) -> dict[str, Any]:
    grid = city.grid[3]
    lon, lat = city.points[grid]
    return {"event_id": event_id, "reported_at": "2026-11-20T09:30:00+08:00",
            "category": category, "lon": lon, "lat": lat, **extra}


def _event_rows(conn: Any, source: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    with conn.cursor() as cur:
        cur.execute("SELECT source_id, status, grid_code, geom IS NULL FROM event"
                    " WHERE source = %s AND source_id = ANY(%s)", (source, ids))
        return {r[0]: {"status": r[1], "grid_code": r[2], "no_geom": r[3]}
                for r in cur.fetchall()}


def test_json_array_of_incidents_loads_and_answers_200(client: Any, city: Any, conn: Any) -> None:
    ids = [f"API-{uuid.uuid4().hex[:10]}" for _ in range(2)]
    resp = client.post("/api/v1/events?feed=incidents", headers=_auth(),
                       json=[_incident(city, i) for i in ids])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["feed"] == "incidents"
    assert (body["rows_in"], body["loaded"], body["rejected"]) == (2, 2, 0)
    assert isinstance(body["batch_id"], int)
    rows = _event_rows(conn, "grid_worker", ids)
    assert set(rows) == set(ids)
    assert all(r["grid_code"] == city.grid[3] for r in rows.values())


def test_json_lines_hotline_with_address_only_ticket(client: Any, city: Any, conn: Any) -> None:
    tid = f"XYAPI{uuid.uuid4().hex[:10]}"
    line = json.dumps({"ticket_id": tid, "received_at": "2026-11-21T10:00:00+08:00",
                       "intake": "phone", "category": "0101", "address": "樊城区人民路12号",
                       "status": "accepted",
                       "updates": [{"status": "accepted", "at": "2026-11-21T10:05:00+08:00"}]},
                      ensure_ascii=False)
    resp = client.post("/api/v1/events?feed=hotline", headers=_auth(),
                       data=(line + "\n\n").encode("utf-8"),
                       content_type="application/x-ndjson")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["loaded"] == 1
    row = _event_rows(conn, "hotline_12345", [tid])[tid]
    assert row["no_geom"] and row["status"] == "accepted"


def test_rejected_rows_answer_400_with_errors_and_valid_rows_still_load(
        client: Any, city: Any, conn: Any) -> None:
    good = f"API-{uuid.uuid4().hex[:10]}"
    bad_cat = f"API-{uuid.uuid4().hex[:10]}"
    lines = [json.dumps(_incident(city, good)), "",
             json.dumps(_incident(city, bad_cat, category="9999")),
             '{"event_id": "broken", ']
    resp = client.post("/api/v1/events?feed=incidents", headers=_auth(),
                       data="\n".join(lines), content_type="application/x-ndjson")
    assert resp.status_code == 400
    body = resp.get_json()
    assert (body["rows_in"], body["loaded"], body["rejected"]) == (3, 1, 2)
    errors = {e["line"]: e["reason"] for e in body["errors"]}
    assert set(errors) == {3, 4}  # line numbers of the body, blank lines counted
    assert "9999" in errors[3] or "category" in errors[3]
    assert "JSON" in errors[4]
    assert set(_event_rows(conn, "grid_worker", [good, bad_cat])) == {good}


def test_missing_token_is_401_and_loads_nothing(client: Any, city: Any, conn: Any) -> None:
    eid = f"API-{uuid.uuid4().hex[:10]}"
    resp = client.post("/api/v1/events?feed=incidents", json=[_incident(city, eid)])
    assert resp.status_code == 401
    assert "Bearer" in resp.headers["WWW-Authenticate"]
    resp = client.post("/api/v1/events?feed=incidents", json=[_incident(city, eid)],
                       headers={"Authorization": f"Basic {TOKEN}"})
    assert resp.status_code == 401
    assert _event_rows(conn, "grid_worker", [eid]) == {}


def test_wrong_token_is_403_and_loads_nothing(client: Any, city: Any, conn: Any) -> None:
    eid = f"API-{uuid.uuid4().hex[:10]}"
    for wrong in (TOKEN + "x", TOKEN[:-1], "令牌"):
        resp = client.post("/api/v1/events?feed=incidents", json=[_incident(city, eid)],
                           headers=_auth(wrong))
        assert resp.status_code == 403, wrong
    resp = client.post("/api/v1/cameras", json=[], headers=_auth("nope"))
    assert resp.status_code == 403
    assert _event_rows(conn, "grid_worker", [eid]) == {}


def test_body_over_the_limit_is_413(client: Any, city: Any, conn: Any) -> None:
    eid = f"API-{uuid.uuid4().hex[:10]}"
    rows = [_incident(city, f"{eid}-{i}", description="x" * 200) for i in range(60)]
    data = json.dumps(rows).encode()
    assert len(data) > MAX_BYTES
    resp = client.post("/api/v1/events?feed=incidents", headers=_auth(), data=data,
                       content_type="application/json")
    assert resp.status_code == 413
    assert _event_rows(conn, "grid_worker", [f"{eid}-0"]) == {}


def test_chunked_body_over_the_limit_is_413(client: Any) -> None:
    # No Content-Length (chunked upload): the limit is enforced while reading.
    resp = client.post("/api/v1/events?feed=incidents",
                       headers={**_auth(), "Transfer-Encoding": "chunked"},
                       input_stream=io.BytesIO(b"x" * (MAX_BYTES * 3)),
                       environ_overrides={"wsgi.input_terminated": True})
    assert resp.status_code == 413


def test_endpoint_is_off_without_a_configured_token(city: Any, conn: Any) -> None:
    client = _app(token=None).test_client()
    eid = f"API-{uuid.uuid4().hex[:10]}"
    for headers in ({}, _auth(), {"Authorization": "Bearer "}):
        resp = client.post("/api/v1/events?feed=incidents", json=[_incident(city, eid)],
                           headers=headers)
        assert resp.status_code == 503
        assert "INGEST_TOKEN" in resp.get_json()["error"]
    assert client.post("/api/v1/cameras", json=[]).status_code == 503
    assert _event_rows(conn, "grid_worker", [eid]) == {}


def test_unknown_feed_and_empty_body_are_400(client: Any) -> None:
    resp = client.post("/api/v1/events?feed=cctv", headers=_auth(), json=[])
    assert resp.status_code == 400
    assert "feed" in resp.get_json()["error"]
    resp = client.post("/api/v1/events?feed=incidents", headers=_auth(), data=b"  \n")
    assert resp.status_code == 400
    resp = client.post("/api/v1/events?feed=incidents", headers=_auth(), data=b"[{\"a\": ")
    assert resp.status_code == 400


def test_get_is_not_allowed(client: Any) -> None:
    assert client.get("/api/v1/events?feed=incidents", headers=_auth()).status_code == 405


def test_cameras_then_heartbeat_and_status_update(client: Any, city: Any, conn: Any) -> None:
    cam = f"CAMAPI{uuid.uuid4().hex[:8]}"
    lon, lat = city.points[city.grid[5]]
    resp = client.post("/api/v1/cameras", headers=_auth(), json=[
        {"camera_id": cam, "name": "测试路口", "lon": lon, "lat": lat, "status": "online"}])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    resp = client.post("/api/v1/cameras", headers=_auth(), json=[
        {"camera_id": cam, "status": "offline", "at": "2026-11-25T08:00:00+08:00"}])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    with conn.cursor() as cur:
        cur.execute("SELECT status, grid_code FROM camera WHERE source_id = %s", (cam,))
        assert cur.fetchone() == ("offline", city.grid[5])

    eid = f"API-{uuid.uuid4().hex[:10]}"
    assert client.post("/api/v1/events?feed=incidents", headers=_auth(),
                       json=[_incident(city, eid)]).status_code == 200
    resp = client.post("/api/v1/events?feed=updates", headers=_auth(), json=[
        {"source": "grid_worker", "source_id": eid, "status": "dispatched",
         "at": "2026-11-20T09:40:00+08:00", "dept": "樊城区城管局"}])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["updated"] == 1
    assert _event_rows(conn, "grid_worker", [eid])[eid]["status"] == "dispatched"
