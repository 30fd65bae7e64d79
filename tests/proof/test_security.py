"""Security proofs against the composed server (``cityscreen.wsgi``) and a real browser.

Ingest auth through the composed server, SQL injection through the URL state, the Dash
callback endpoint and the ingest API (nothing leaks, nothing changes), stored XSS shown as
text in headless Chromium, the CSP that Dash + MapLibre draw under, and no secrets in logs.
The reader role's inability to write is proved in tests/cityscreen/test_database.py.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import inspect
import json
import re
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cityscreen.settings import get_settings
from dashboard.state import ViewState, parse_state
from tests.proof.conftest import (
    DB_PASSWORD,
    TOKEN,
    Served,
    clean_env,
    db_state,
    store_data,
    with_password,
)

SQLI = [
    "' OR '1'='1",
    "420600' OR '1'='1' --",
    "420606'; DROP TABLE event; --",
    "1; UPDATE data_version SET version = 0; --",
    "420600%' UNION SELECT usename, passwd, 1, 1, 1 FROM pg_shadow --",
    "today'; SELECT pg_sleep(3); --",
    "0703\" OR 1=1 --",
    "'); CREATE ROLE pwned SUPERUSER; --",
    "420606\x00",
    "$$; DELETE FROM admin_unit; $$",
    "420606/**/OR/**/1=1",
    "%27%20OR%201%3D1",
]
STATE_KEYS = ("unit", "window", "start", "end", "channel", "major", "status", "metric", "cams",
              "theme", "lang")
# What a response must never show a user: database error text or a traceback.
LEAKS = ("syntax error", "psycopg2", "traceback", "programmingerror", "pg_shadow", "pg_user",
         "at character", "line 1:", "unterminated quoted", "relation \"", "valueerror",
         DB_PASSWORD.lower(), TOKEN.lower())


def _assert_no_leak(text: str) -> None:
    low = text.lower()
    found = [w for w in LEAKS if w in low]
    assert not found, f"response leaks {found}: {text[:300]}"


def _auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ------------------------------------------------------------------ ingest auth


def test_ingest_token_is_compared_in_constant_time() -> None:
    from etl import api

    tree = ast.parse(textwrap.dedent(inspect.getsource(api.check_token)))
    calls = {ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    assert "hmac.compare_digest" in calls
    # ... and the token is never compared with == / != / in (a timing oracle)
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            names = {ast.unparse(x) for x in (node.left, *node.comparators)}
            assert not names & {"token", "given", "given.strip()"}, ast.unparse(node)


def test_composed_server_ingest_auth_size_and_off(wsgi: Any, set_token: Any, city: Any,
                                                  database_url: str) -> None:
    client = wsgi.server.test_client()
    before = db_state(database_url)
    url = "/api/v1/events?feed=incidents"
    body = json.dumps([{"event_id": f"PRF-{uuid.uuid4().hex[:8]}"}])
    r = client.post(url, data=body, content_type="application/json")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.post(url, data=body, headers={"Authorization": f"Basic {TOKEN}"}
                       ).status_code == 401
    assert client.post(url, data=body, headers=_auth(TOKEN + "x")).status_code == 403
    assert client.post(url, data=body, headers=_auth(TOKEN[:-1])).status_code == 403
    assert client.post("/api/v1/cameras", data=body, headers=_auth("nope")).status_code == 403
    big = b"[" + b" " * 70_000 + b"]"
    r = client.post(url, data=big, headers=_auth(), content_type="application/json")
    assert r.status_code == 413
    set_token(None)
    r = client.post(url, data=body, headers=_auth(), content_type="application/json")
    assert r.status_code == 503 and "off" in r.get_json()["error"]
    _assert_no_leak(r.get_data(as_text=True))
    set_token(TOKEN)
    assert db_state(database_url) == before


# ------------------------------------------------------------------ headers


def _inline_scripts(html: str) -> list[str]:
    html = re.sub(r"<!--.*?-->", "", html, flags=re.S)  # IE conditional comments never run
    return re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>(.*?)</script>",
                      html, flags=re.S)


def test_security_headers_on_every_kind_of_response(wsgi: Any, city: Any) -> None:
    client = wsgi.server.test_client()
    responses = {
        "/": client.get("/"),
        "/healthz": client.get("/healthz"),
        "/api/v1/version": client.get("/api/v1/version"),
        "/_dash-layout": client.get("/_dash-layout"),
        "404": client.get("/no/such/thing.js"),
        "ingest 401": client.post("/api/v1/events?feed=incidents", data="[]"),
        "geometry": client.get(f"/api/v1/geometry/{city.code}.geojson"),
    }
    for name, r in responses.items():
        h = r.headers
        assert h.get("X-Content-Type-Options") == "nosniff", name
        assert h.get("X-Frame-Options") == "SAMEORIGIN", name
        assert h.get("Referrer-Policy") == "same-origin", name
        csp = h.get("Content-Security-Policy", "")
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        assert directives["frame-ancestors"] == "'self'", name
        assert directives["object-src"] == "'none'", name
        assert "blob:" in directives["worker-src"], name
        assert "'unsafe-inline'" not in directives["script-src"], name
        assert "'unsafe-eval'" not in directives["script-src"], name
    # every inline script of the index page is allowed by its hash, and nothing else is
    index = responses["/"].get_data(as_text=True)
    csp = responses["/"].headers["Content-Security-Policy"]
    scripts = _inline_scripts(index)
    assert scripts, "the Dash index has inline scripts (the renderer bootstrap)"
    for s in scripts:
        digest = base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp, s[:80]


# ------------------------------------------------------------------ SQL injection


def test_url_state_rejects_every_payload_by_pattern_or_whitelist() -> None:
    default = parse_state({})
    for payload in SQLI:
        for key in STATE_KEYS:
            s = parse_state({key: payload})
            assert s == default, (key, payload, s)
        s = parse_state({"window": "custom", "start": payload, "end": "2026-01-01"})
        assert s == default


def _pages_call(client: Any, pathname: str, search: str) -> Any:
    body = {
        "output": ".._pages_content.children..._pages_store.data..",
        "outputs": [{"id": "_pages_content", "property": "children"},
                    {"id": "_pages_store", "property": "data"}],
        "inputs": [{"id": "_pages_location", "property": "pathname", "value": pathname},
                   {"id": "_pages_location", "property": "search", "value": search}],
        "changedPropIds": ["_pages_location.pathname"],
        "state": [],
    }
    return client.post("/_dash-update-component", json=body)


def test_sql_injection_through_the_url_changes_and_leaks_nothing(
        wsgi: Any, city: Any, database_url: str) -> None:
    from urllib.parse import urlencode

    client = wsgi.server.test_client()
    before = db_state(database_url)
    baseline = _pages_call(client, "/", "")
    assert baseline.status_code == 200
    statuses: dict[int, int] = {}
    for payload in SQLI[::2]:
        # every state key at once (each key alone is covered by the parse_state test above)
        r = _pages_call(client, "/", "?" + urlencode(dict.fromkeys(STATE_KEYS, payload)))
        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
        _assert_no_leak(r.get_data(as_text=True))
        # ignored: the view rendered is the default view
        assert r.status_code == 200, (payload, r.status_code)
        assert store_data(r.get_json(), "page-state") == asdict(ViewState()), payload
        for page in ("/grid/", "/case/"):
            r = _pages_call(client, page + payload, "")
            _assert_no_leak(r.get_data(as_text=True))
            # rejected: an answer (not-found page) or a bare 500 from the pattern check
            assert r.status_code in (200, 204, 500), (page, payload, r.status_code)
    assert db_state(database_url) == before


def test_invalid_drill_down_path_answers_not_found(wsgi: Any, city: Any) -> None:
    client = wsgi.server.test_client()
    for payload in SQLI:
        for page in ("/grid/", "/case/"):
            r = _pages_call(client, page + payload, "")
            assert r.status_code == 200, (page, payload, r.status_code)


def _deps(client: Any) -> list[dict[str, Any]]:
    return client.get("/_dash-dependencies").get_json()


def _refresh_call(dep: dict[str, Any], page_state: Any, version: int) -> dict[str, Any]:
    outputs: list[Any] = []
    for part in dep["output"].strip(".").split("..."):
        obj, prop = part.rsplit(".", 1)
        outputs.append([] if obj.startswith("{") else {"id": obj, "property": prop})
    state_ids = [s["id"] for s in dep["state"]]
    return {
        "output": dep["output"], "outputs": outputs,
        "inputs": [{"id": dep["inputs"][0]["id"], "property": "data",
                    "value": {"v": version, "r": 0}}],
        "changedPropIds": [f"{dep['inputs'][0]['id']}.data"],
        "state": [{"id": state_ids[0], "property": "data", "value": page_state},
                  {"id": state_ids[1], "property": "data", "value": 1}],
    }


def test_sql_injection_through_callback_state_changes_and_leaks_nothing(
        wsgi: Any, city: Any, database_url: str) -> None:
    """The refresh callbacks take the page state from the browser: craft it."""
    client = wsgi.server.test_client()
    deps = [d for d in _deps(client) if d["inputs"][0]["id"] == "data-version"
            and len(d["state"]) == 2]
    assert len(deps) == 2, "overview and grid refresh callbacks"
    before = db_state(database_url)
    version = before["data_version"] + 1000
    good = {"unit": None, "window": "today", "start": None, "end": None, "channel": None,
            "major": None, "status": None, "metric": "count", "cams": False,
            "theme": "wall", "lang": "zh"}
    ok = client.post("/_dash-update-component", json=_refresh_call(deps[0], good, version))
    assert ok.status_code == 200, ok.get_data(as_text=True)[:300]
    codes: dict[int, int] = {}
    for dep in deps:
        for payload in SQLI[:3]:
            for key in ("unit", "channel", "major", "status", "metric", "window", "grid"):
                crafted = {**good, key: payload}
                if dep["state"][0]["id"] == "grid-state":
                    crafted.setdefault("grid", city.grid[0])
                if key == "window":
                    crafted.update(window="custom", start=payload, end=payload)
                r = client.post("/_dash-update-component",
                                json=_refresh_call(dep, crafted, version))
                codes[r.status_code] = codes.get(r.status_code, 0) + 1
                _assert_no_leak(r.get_data(as_text=True))
                # rejected (error answer without detail) or ignored (whitelist): never 2xx data
                # computed from the payload as SQL — the db state below is the proof
                assert r.status_code in (200, 204, 400, 500), r.status_code
        extra = client.post("/_dash-update-component",
                            json=_refresh_call(dep, {**good, "evil": "x'; --"}, version))
        _assert_no_leak(extra.get_data(as_text=True))
    assert db_state(database_url) == before
    print("callback answers to crafted state:", codes)


def test_sql_injection_through_the_ingest_api(wsgi: Any, city: Any, database_url: str,
                                              conn: Any) -> None:
    client = wsgi.server.test_client()
    grid = city.grid[5]
    lon, lat = city.points[grid]
    prefix = f"PRF-SQLI-{uuid.uuid4().hex[:6]}"
    payloads = [p for p in SQLI if "\x00" not in p]  # NUL: see the test below
    rows = []
    for i, payload in enumerate(payloads):
        rows.append({"event_id": f"{prefix}-{i}-{payload}", "reported_at":
                     "2026-11-20T09:30:00+08:00", "category": "0101", "lon": lon, "lat": lat,
                     "description": payload, "dept": payload})
        rows.append({"event_id": f"{prefix}-c{i}", "reported_at": payload, "category": payload,
                     "lon": payload, "lat": lat, "crs": payload, "priority": payload})
    before = db_state(database_url)
    r = client.post("/api/v1/events?feed=incidents", json=rows, headers=_auth())
    assert r.status_code == 400  # some rows rejected, each with a reason
    body = r.get_json()
    assert body["loaded"] == len(payloads) and body["rejected"] == len(payloads)
    assert all(e["reason"] for e in body["errors"])
    reasons = json.dumps(body["errors"], ensure_ascii=False)
    for payload in sorted(payloads, key=len, reverse=True):  # the reason may quote the input
        reasons = reasons.replace(json.dumps(payload, ensure_ascii=False)[1:-1], "")
    _assert_no_leak(reasons)
    for q in ("feed=incidents';DROP TABLE event;--", "feed=incidents&crs=wgs84'--",
              "feed=updates&strict=1' OR 1=1"):
        rr = client.post(f"/api/v1/events?{q}", json=rows[:1], headers=_auth())
        assert rr.status_code == 400, (q, rr.status_code)
        _assert_no_leak(rr.get_data(as_text=True))
    after = db_state(database_url)
    # exactly the valid rows were added, stored literally; nothing else moved
    assert after["event"] == before["event"] + len(payloads)
    assert after["admin_unit"] == before["admin_unit"] and after["roles"] == before["roles"]
    with conn.cursor() as cur:
        cur.execute("SELECT description FROM event WHERE source_id LIKE %s ORDER BY id",
                    (prefix + "-%",))
        assert sorted(r[0] for r in cur.fetchall()) == sorted(payloads)


def test_nul_character_in_ingested_text_is_a_row_reject(wsgi: Any, city: Any) -> None:
    client = wsgi.server.test_client()
    lon, lat = city.points[city.grid[5]]
    tag = uuid.uuid4().hex[:6]
    rows = [{"event_id": f"PRF-NUL-{tag}-{i}", "reported_at": "2026-11-20T09:30:00+08:00",
             "category": "0101", "lon": lon, "lat": lat, "description": d}
            for i, d in enumerate(["ok", "bad\x00text"])]
    r = client.post("/api/v1/events?feed=incidents", json=rows, headers=_auth())
    _assert_no_leak(r.get_data(as_text=True))
    assert r.status_code in (200, 400), r.status_code
    body = r.get_json()
    assert body["rows_in"] == 2 and body["loaded"] + body["rejected"] == 2


# ------------------------------------------------------------------ browser: XSS and CSP

XSS = {
    "description": "<script>window.__xss_script = 1</script>注意<b>粗体</b>",
    "dept": "<img src=x onerror=\"window.__xss_img = 1\">城管局",
    "address": "<img src=x onerror=window.__xss_addr=1>人民路12号",
    "note": "<svg onload=\"window.__xss_svg = 1\">回访</svg>",
}
FLAGS = ("__xss_script", "__xss_img", "__xss_addr", "__xss_svg")
CSP_JS = """window.__csp = [];
document.addEventListener('securitypolicyviolation',
  e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"""


@pytest.fixture(scope="module")
def xss_cases(wsgi: Any, city: Any, database_url: str) -> dict[str, Any]:
    """Cases whose free text is hostile, loaded through the ingest API (the real path)."""
    client = wsgi.server.test_client()
    tz = get_settings().tz
    now = datetime.now(tz) - timedelta(minutes=5)
    grid = city.grid[7]
    lon, lat = city.points[grid]
    tag = uuid.uuid4().hex[:8]
    eid, tid = f"PRF-XSS-{tag}", f"PRFXSS{tag}"
    incident = {"event_id": eid, "reported_at": now.isoformat(), "category": "0101",
                "lon": lon, "lat": lat, "priority": 1, "description": XSS["description"],
                "dept": XSS["dept"], "status": "accepted", "status_at": now.isoformat()}
    ticket = {"ticket_id": tid, "received_at": now.isoformat(), "intake": "phone",
              "category": "0101", "address": XSS["address"], "lon": lon, "lat": lat,
              "dept": XSS["dept"], "status": "accepted",
              "updates": [{"status": "accepted", "at": now.isoformat()}]}
    update = {"source": "grid_worker", "source_id": eid, "status": "dispatched",
              "at": (now + timedelta(minutes=1)).isoformat(), "dept": XSS["dept"],
              "note": XSS["note"]}
    for feed, rec in (("incidents", incident), ("hotline", ticket), ("updates", update)):
        r = client.post(f"/api/v1/events?feed={feed}", json=[rec], headers=_auth())
        assert r.status_code == 200, (feed, r.get_data(as_text=True))
    from cityscreen import db

    rows = db.query("SELECT source_id, id FROM event WHERE source_id IN (%s, %s)", (eid, tid))
    ids = {r["source_id"]: r["id"] for r in rows}
    return {"grid": grid, "incident": ids[eid], "ticket": ids[tid]}


@pytest.fixture(scope="module")
def served(xss_cases: dict[str, Any], database_url: str, tmp_path_factory: Any
           ) -> Iterator[Served]:
    """The composed server in a subprocess, with a password in its DATABASE_URL."""
    log = tmp_path_factory.mktemp("proof") / "served.log"
    app = Served(clean_env(DATABASE_URL=with_password(database_url), INGEST_TOKEN=TOKEN), log)
    try:
        yield app
    finally:
        app.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless Chromium (Debian's) for this module."""
    from tests.dashboard.browser import browser

    with browser() as b:
        yield b


def _visit(chromium: Any, url: str, wait_for: str) -> tuple[Any, Any, list[str]]:
    context = chromium.new_context(viewport={"width": 1600, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.add_init_script(CSP_JS)
    page.goto(url)
    page.wait_for_selector(wait_for)
    return context, page, errors


def test_hostile_event_text_is_shown_as_text_and_csp_holds(
        served: Served, chromium: Any, xss_cases: dict[str, Any], city: Any) -> None:
    from tests.dashboard.browser import rendered_features, wait_map_idle

    views = [
        (f"/case/{xss_cases['incident']}", "#case-timeline",
         ("description", "dept", "note"), "case-map"),
        (f"/case/{xss_cases['ticket']}", "#case-timeline", ("address",), "case-map"),
        (f"/grid/{xss_cases['grid']}?window=24h", ".ag-row", ("dept",), "grid-map"),
        ("/?window=24h", "#map .js-plotly-plot", (), "map"),
    ]
    for path, selector, texts, map_id in views:
        t0 = time.perf_counter()
        context, page, errors = _visit(chromium, served.base + path, selector)
        try:
            drawn = wait_map_idle(page, map_id)
            violations = page.evaluate("() => window.__csp")
            assert violations == [], (path, violations)
            assert drawn, (path, errors)
            if map_id == "map":
                assert rendered_features(page, map_id) > 0, "the overview map drew polygons"
            body = page.inner_text("body")
            for key in texts:
                visible = re.sub(r"\s+", " ", XSS[key]).strip()
                assert visible in re.sub(r"\s+", " ", body), (path, key)
            flags = page.evaluate(f"() => {list(FLAGS)}.filter(f => window[f] !== undefined)")
            assert flags == [], (path, flags)
            injected = page.evaluate("""() => document.querySelectorAll(
                'img[src="x"], svg[onload], [onerror]').length + Array.from(
                document.scripts).filter(x => x.text.includes('__xss')).length""")
            assert injected == 0, path
            violations = page.evaluate("() => window.__csp")
            assert violations == [], (path, violations)
            assert not [e for e in errors if "Content Security Policy" in e], (path, errors)
            print(f"{path}: checked in {time.perf_counter() - t0:.1f} s")
        finally:
            context.close()


# ------------------------------------------------------------------ secrets in logs


def test_no_secrets_in_logs(served: Served, database_url: str, city: Any, tmp_path: Path
                            ) -> None:
    """Server log (after good, bad and failing requests) and CLI output never hold secrets."""
    import urllib.error
    import urllib.request

    def post(token: str, body: bytes) -> int:
        req = urllib.request.Request(served.base + "/api/v1/events?feed=incidents", data=body,
                                     headers={"Authorization": f"Bearer {token}",
                                              "Content-Type": "application/json"})
        try:
            return urllib.request.urlopen(req, timeout=30).status
        except urllib.error.HTTPError as exc:
            return exc.code

    lon, lat = city.points[city.grid[9]]
    good = json.dumps([{"event_id": f"PRF-LOG-{uuid.uuid4().hex[:8]}", "category": "0101",
                        "reported_at": "2026-11-20T09:00:00+08:00", "lon": lon, "lat": lat}])
    assert post(TOKEN, good.encode()) == 200
    assert post(TOKEN, b'[{"event_id": "x"}]') == 400
    assert post(TOKEN + "-wrong", good.encode()) == 403
    # CLI loads: one that works, one against a database that is down (error path)
    src = tmp_path / "incidents.csv"
    src.write_text("event_id,reported_at,category,lon,lat\n"
                   f"PRF-CLI-{uuid.uuid4().hex[:6]},2026-11-20T09:00:00+08:00,0101,{lon},{lat}\n"
                   "bad,nope,0101,1,1\n")
    down = re.sub(r":\d+/", ":1/", with_password(database_url))
    outputs = []
    for url in (with_password(database_url), down):
        env = clean_env(DATABASE_URL=url, INGEST_TOKEN=TOKEN)
        p = subprocess.run([sys.executable, "-m", "cityscreen", "load", "incidents", str(src)],
                           env=env, capture_output=True, text=True, timeout=120, check=False)
        outputs.append(p.stdout + p.stderr)
    assert "cannot connect" in outputs[1] or "database" in outputs[1].lower(), outputs[1]
    served.stop()  # flush the log
    text = served.log.read_text() + "\n".join(outputs)
    assert "ingest" in text.lower() or "POST" in text, "the log captured the requests"
    assert DB_PASSWORD not in text
    assert TOKEN not in text
