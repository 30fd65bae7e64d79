"""Security headers for the server: a Content-Security-Policy Dash and MapLibre work under.

What the dashboard needs, and why each source is allowed:

- ``script-src 'self'`` plus the hashes of Dash's own inline scripts (the renderer bootstrap
  and clientside callbacks, from ``app.csp_hashes()``): no ``'unsafe-inline'``, no
  ``'unsafe-eval'`` — an injected ``<script>`` or ``onerror=`` handler cannot run.
- ``worker-src blob:`` (and ``child-src blob:`` for older browsers): MapLibre starts its
  tile workers from a blob URL.
- ``img-src 'self' data: blob:``: MapLibre sprites/canvases and Plotly's inline images.
- ``style-src 'self' 'unsafe-inline'``: React, Plotly and MapLibre set element styles and
  insert ``<style>`` tags at run time; styles cannot execute script.
- ``connect-src 'self'``: callbacks, geometry and version polls. A configured tile server
  or glyph host goes in ``extra_connect`` (also ``img-src``).
- ``frame-ancestors 'self'`` (+ ``X-Frame-Options: SAMEORIGIN``): no clickjacking; the
  city portal may still frame it from the same origin behind the SSO proxy.

Plus ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin`` and a
``Permissions-Policy`` that turns off device APIs the screen never uses.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from flask import Flask, Response

log = logging.getLogger("cityscreen.security")

STATIC_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def content_security_policy(script_hashes: Iterable[str] = (),
                            extra_connect: Iterable[str] = ()) -> str:
    """The CSP header value for the dashboard (``script_hashes`` from ``app.csp_hashes()``)."""
    extra = " ".join(extra_connect)
    directives = {
        "default-src": "'self'",
        "script-src": " ".join(["'self'", *script_hashes]),
        "style-src": "'self' 'unsafe-inline'",
        "img-src": f"'self' data: blob: {extra}".strip(),
        "font-src": "'self' data:",
        "connect-src": f"'self' {extra}".strip(),
        "worker-src": "'self' blob:",
        "child-src": "'self' blob:",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'self'",
    }
    return "; ".join(f"{k} {v}" for k, v in directives.items())


def apply_security_headers(app_or_server: Any, extra_connect: Iterable[str] = ()) -> Flask:
    """Add the security headers to every response of a Dash app's (or a Flask) server.

    Given the Dash app, its inline-script hashes go into ``script-src``; they are computed
    on the first response, after every page and clientside callback is registered.
    Returns the Flask server.
    """
    dash_app = app_or_server if hasattr(app_or_server, "csp_hashes") else None
    server: Flask = app_or_server.server if dash_app is not None else app_or_server
    extra = tuple(extra_connect)
    policy: dict[str, str] = {}

    def current_policy() -> str:
        if "csp" not in policy:
            hashes = dash_app.csp_hashes() if dash_app is not None else []
            policy["csp"] = content_security_policy(hashes, extra)
            log.info("content security policy with %d inline-script hashes", len(hashes))
        return policy["csp"]

    @server.after_request
    def _security_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", current_policy())
        for name, value in STATIC_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    return server
