"""Query cache keyed by ``(query, params, data_version)``: Redis when configured, else in-process.

Under live ingest every batch moves ``data_version``, so every screen's next refresh misses
at once. Two things keep that from becoming one recomputation per screen:

- **single flight**: the first request that misses a key claims it (an atomic set-if-absent
  lock with an expiry); the others wait for its value instead of running the same queries;
- **a published version**: with a shared (Redis) cache, the version screens are told about
  is read from the database at most once per ``CITYSCREEN_VERSION_PUBLISH_MS`` by all workers
  together, so the screens move to a new version together instead of one version per batch.

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
LOCK_MS = 30_000  # a claim outlives a worker that died while computing by at most this
WAIT_S = 10.0  # how long others wait for the claimant before computing themselves
POLL_S = 0.02  # how often a waiter looks for the value
# shared caches: the published data version moves at most this often (0: with every batch)
PUBLISHED_KEY = "v:published"


class QueryCache:
    """get-or-compute over a flask-caching backend, with a breaker for a dead backend."""

    def __init__(self, cache: Cache | None, kind: str, publish_ms: int = 0) -> None:
        self.cache = cache
        self.kind = kind
        self.publish_ms = publish_ms  # 0: the published version is the database's, always
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

    def _add(self, key: str, value: Any, timeout_ms: int) -> bool:
        """Set ``key`` only if it is absent, atomically with its expiry; True if we set it."""
        assert self.cache is not None
        backend = self.cache.cache
        client = getattr(backend, "_write_client", None)
        if client is None:  # in-process backends: add() is atomic under their own lock
            return bool(self.cache.add(key, value, timeout=max(1, -(-timeout_ms // 1000))))
        # cachelib's Redis add() is SETNX then EXPIRE: a worker dying in between would leave
        # a key that never expires. One SET NX PX cannot.
        name = backend._get_prefix() + key
        return bool(client.set(name, backend.serializer.dumps(value), nx=True, px=timeout_ms))

    def get_or_compute(self, name: str, params: Any, version: Any, compute: Callable[[], T]) -> T:
        """Return the cached result of ``name(params)`` at ``version``, computing it on a miss.

        Of concurrent misses (any worker) one computes; the others wait for its value.
        """
        if version is None or not self._usable():
            return compute()
        key = self.key(name, params, version)
        assert self.cache is not None
        try:
            hit = self.cache.get(key)
            if hit is not None:
                return hit
            leader = self._add("lock:" + key, 1, LOCK_MS)
        except Exception as exc:  # any backend failure: bypass, never fail the request
            self._trip(exc)
            return compute()
        if not leader:
            hit = self._wait_for(key)
            if hit is not None:
                return hit
        try:
            value = compute()
        except BaseException:
            if leader:
                self._release(key)
            raise
        self._store(key, value)  # before the claim goes: a waiter that sees no claim finds it
        if leader:
            self._release(key)
        return value

    def _wait_for(self, key: str) -> Any:
        """The value another request is computing, or None when it gave up or took too long."""
        assert self.cache is not None
        deadline = time.monotonic() + WAIT_S
        try:
            while time.monotonic() < deadline:
                time.sleep(POLL_S)
                hit = self.cache.get(key)
                if hit is not None:
                    return hit
                if not self.cache.has("lock:" + key):  # done (value just stored) or failed
                    return self.cache.get(key)
        except Exception as exc:
            self._trip(exc)
        return None

    def _store(self, key: str, value: Any) -> None:
        assert self.cache is not None
        try:
            self.cache.set(key, value, timeout=TIMEOUT_S)
        except Exception as exc:
            self._trip(exc)

    def _release(self, key: str) -> None:
        """Drop our claim (after storing the value, or when the computation failed)."""
        assert self.cache is not None
        try:
            self.cache.delete("lock:" + key)
        except Exception as exc:
            self._trip(exc)

    def published_version(self, fetch: Callable[[], int]) -> int:
        """The data version screens are told about (``fetch`` reads the database's).

        With a shared cache it is read at most once per ``publish_ms`` by all workers
        together: each new batch does not send every screen off to recompute at once.
        A new batch is published within ``publish_ms``; without a shared cache (or with
        Redis down) every call reads the database.
        """
        if not self.publish_ms or not self._usable():
            return fetch()
        assert self.cache is not None
        try:
            hit = self.cache.get(PUBLISHED_KEY)
        except Exception as exc:
            self._trip(exc)
            return fetch()
        if hit is not None:
            return int(hit)
        value = fetch()
        try:
            if not self._add(PUBLISHED_KEY, value, self.publish_ms):
                hit = self.cache.get(PUBLISHED_KEY)  # another worker published first: agree
                return int(hit) if hit is not None else value
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
    """Attach the query cache to the Flask server (Redis if ``settings.redis_url``).

    Only the Redis cache (shared by the workers) publishes versions at most every
    ``CITYSCREEN_VERSION_PUBLISH_MS``; an in-process cache publishes each version as it comes.
    """
    if config is None:
        if settings.redis_url:
            config = {"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": settings.redis_url,
                      "CACHE_KEY_PREFIX": key_prefix(db.reader_url(settings)),
                      "CACHE_OPTIONS": {"socket_timeout": 0.5, "socket_connect_timeout": 0.5}}
        else:
            config = {"CACHE_TYPE": "SimpleCache", "CACHE_THRESHOLD": 2000}
    cache = Cache(server, config=config)
    kind = config["CACHE_TYPE"]
    qc = QueryCache(cache, kind, settings.version_publish_ms if kind == "RedisCache" else 0)
    server.extensions[EXTENSION] = qc
    return qc


def query_cache() -> QueryCache:
    """The cache of the current Flask app, or no cache outside a request (tests, CLI)."""
    if flask.has_app_context():
        return flask.current_app.extensions.get(EXTENSION, NULL_CACHE)
    return NULL_CACHE
