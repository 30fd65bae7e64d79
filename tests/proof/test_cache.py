"""The query cache under concurrency, against a real Redis: single flight and the published version.

Under live ingest every batch moves ``data_version``; without these, every screen's next
refresh recomputes the same queries at once (the load benchmark's saturation).
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask_caching import Cache

from dashboard.cache import QueryCache
from tests.support import free_port


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A private redis-server on a free loopback port (stopped by its pid after the module)."""
    exe = shutil.which("redis-server")
    assert exe, "redis-server is installed (STACK.md)"
    port = free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        import redis

        client = redis.Redis(port=port)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


def redis_cache(url: str, publish_ms: int = 0) -> QueryCache:
    """A QueryCache over Redis, as ``init_cache`` builds it (its own key prefix per test)."""
    prefix = f"t{time.monotonic_ns()}:"
    cache = Cache(Flask("t"), config={"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": url,
                                      "CACHE_KEY_PREFIX": prefix})
    return QueryCache(cache, "RedisCache", publish_ms)


def run_together(n: int, fn: Any) -> list[Any]:
    """``fn()`` in ``n`` threads started together; their results (or exceptions)."""
    barrier = threading.Barrier(n)
    out: list[Any] = [None] * n

    def one(i: int) -> None:
        barrier.wait()
        try:
            out[i] = fn()
        except Exception as exc:  # collected, asserted by the caller
            out[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return out


def test_concurrent_misses_compute_once_and_all_get_the_value(redis_url: str) -> None:
    qc = redis_cache(redis_url)
    calls: list[int] = []

    def compute() -> dict[str, int]:
        calls.append(1)
        time.sleep(0.3)  # long enough that every thread misses while it runs
        return {"n": 42}

    got = run_together(8, lambda: qc.get_or_compute("q", ("unit", 1), 7, compute))
    assert got == [{"n": 42}] * 8
    assert len(calls) == 1, "one computation for eight concurrent misses"
    # the claim is gone and the value stays
    assert not qc.cache.has("lock:" + qc.key("q", ("unit", 1), 7))
    assert qc.get_or_compute("q", ("unit", 1), 7, compute) == {"n": 42} and len(calls) == 1
    # a new data_version is a new key: computed again
    assert qc.get_or_compute("q", ("unit", 1), 8, compute) == {"n": 42} and len(calls) == 2


def test_a_failed_computation_releases_its_claim(redis_url: str) -> None:
    qc = redis_cache(redis_url)
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        time.sleep(0.2)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        return 5

    got = run_together(4, lambda: qc.get_or_compute("q", (2,), 1, compute))
    errors = [g for g in got if isinstance(g, Exception)]
    assert len(errors) == 1 and "went away" in str(errors[0]), "only the failing request fails"
    assert [g for g in got if not isinstance(g, Exception)] == [5, 5, 5]
    assert not qc.cache.has("lock:" + qc.key("q", (2,), 1))


def test_published_version_is_read_once_per_window_by_everyone(redis_url: str) -> None:
    qc = redis_cache(redis_url, publish_ms=400)
    other_worker = QueryCache(qc.cache, "RedisCache", 400)  # shares the Redis keys
    db_version = [10]
    reads: list[int] = []

    def fetch() -> int:
        reads.append(db_version[0])
        return db_version[0]

    assert qc.published_version(fetch) == 10
    db_version[0] = 11  # a batch commits inside the window
    assert {qc.published_version(fetch) for _ in range(20)} == {10}
    assert other_worker.published_version(fetch) == 10
    assert reads == [10], "one database read for the window, across workers"
    time.sleep(0.5)  # the window ends: the next poll publishes the new version
    assert other_worker.published_version(fetch) == 11
    assert qc.published_version(fetch) == 11
    assert reads == [10, 11]


def test_without_a_window_or_without_redis_every_poll_reads_the_database(redis_url: str) -> None:
    reads: list[int] = []

    def fetch() -> int:
        reads.append(1)
        return len(reads)

    plain = redis_cache(redis_url, publish_ms=0)  # in-process caches publish every version
    assert [plain.published_version(fetch) for _ in range(3)] == [1, 2, 3]
    dead = QueryCache(Cache(Flask("d"), config={
        "CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": "redis://127.0.0.1:1/0",
        "CACHE_OPTIONS": {"socket_connect_timeout": 0.2}}), "RedisCache", 2000)
    assert [dead.published_version(fetch) for _ in range(2)] == [4, 5]
    assert dead.get_or_compute("q", (1,), 1, lambda: "answered") == "answered"
