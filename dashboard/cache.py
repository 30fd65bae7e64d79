"""Query cache keyed by ``(query, params, data_version)``: Redis when configured, else in-process.

A cache that fails (Redis down) is bypassed for a while: the screen keeps answering
straight from the database instead of erroring.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import flask
from flask_caching import Cache

from cityscreen import db
from cityscreen.settings import Settings

log = logging.getLogger("cityscreen.dashboard")

T = TypeVar("T")
EXTENSION = "cityscreen_query_cache"
RETRY_AFTER_S = 30.0
TIMEOUT_S = 3600


class QueryCache:
    """get-or-compute over a flask-caching backend, with a breaker for a dead backend."""

    def __init__(self, cache: Cache | None, kind: str) -> None:
        self.cache = cache
        self.kind = kind
        self._down_until = 0.0  # process-local breaker state, not user data

    @staticmethod
    def key(name: str, params: Any, version: Any) -> str:
        """Cache key of one query result."""
        digest = hashlib.sha1(repr(params).encode("utf-8")).hexdigest()[:16]
        return f"q:{name}:{version}:{digest}"

    def _usable(self) -> bool:
        return self.cache is not None and time.monotonic() >= self._down_until

    def _trip(self, exc: Exception) -> None:
        log.warning("query cache %s unavailable (%s); answering uncached for %ds",
                    self.kind, exc, RETRY_AFTER_S)
        self._down_until = time.monotonic() + RETRY_AFTER_S

    def get_or_compute(self, name: str, params: Any, version: Any, compute: Callable[[], T]) -> T:
        """Return the cached result of ``name(params)`` at ``version``, computing it on a miss."""
        if version is None or not self._usable():
            return compute()
        key = self.key(name, params, version)
        assert self.cache is not None
        try:
            hit = self.cache.get(key)
        except Exception as exc:  # any backend failure: bypass, never fail the request
            self._trip(exc)
            return compute()
        if hit is not None:
            return hit
        value = compute()
        try:
            self.cache.set(key, value, timeout=TIMEOUT_S)
        except Exception as exc:
            self._trip(exc)
        return value


NULL_CACHE = QueryCache(None, "none")


def key_prefix(database_url: str) -> str:
    """A Redis key prefix per database, so deployments sharing one Redis never mix answers."""
    digest = hashlib.sha1(db.describe(database_url).encode()).hexdigest()[:10]
    return f"cityscreen:{digest}:"


def init_cache(server: flask.Flask, settings: Settings, config: dict[str, Any] | None = None
               ) -> QueryCache:
    """Attach the query cache to the Flask server (Redis if ``settings.redis_url``)."""
    if config is None:
        if settings.redis_url:
            config = {"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": settings.redis_url,
                      "CACHE_KEY_PREFIX": key_prefix(db.reader_url(settings)),
                      "CACHE_OPTIONS": {"socket_timeout": 0.5, "socket_connect_timeout": 0.5}}
        else:
            config = {"CACHE_TYPE": "SimpleCache", "CACHE_THRESHOLD": 2000}
    cache = Cache(server, config=config)
    qc = QueryCache(cache, config["CACHE_TYPE"])
    server.extensions[EXTENSION] = qc
    return qc


def query_cache() -> QueryCache:
    """The cache of the current Flask app, or no cache outside a request (tests, CLI)."""
    if flask.has_app_context():
        return flask.current_app.extensions.get(EXTENSION, NULL_CACHE)
    return NULL_CACHE
