"""The slower layers end to end: the request-log database outlives a restart, a miss costs it
no round trip, and a private Redis stopped mid-test degrades the cache without failing or
stalling a request."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest
import redis

from helpers import free_port

from .test_cache_e2e import ask, cache_config, calls, http_json_auth


def test_database_layer_survives_a_restart_and_a_miss_skips_it(start_server, upstreams, tmp_path):
    db = f"sqlite:///{tmp_path / 'shared.db'}"
    cfg = cache_config(upstreams, layers=["memory://", "database"]) | {"database_url": db}
    upstreams["openai"].script({"text": "kept in the database"})
    first = start_server(cfg)
    ask(first, "Long lived question")
    first.stop()  # closing flushes the background writes
    second = start_server(cfg)
    got, h = ask(second, "Long lived question")
    assert h["x-faregate-cache"] == "hit" and h["x-faregate-cache-layer"] == "database"
    assert got.choices[0].message.content == "kept in the database"
    _, h = ask(second, "Long lived question")  # filled back into memory
    assert h["x-faregate-cache-layer"] == "memory"
    ask(second, "A question nobody asked before")
    layers = {la["layer"]: la for la in http_json_auth("GET", second.url + "/v1/cache/stats")["layers"]}
    # One read of the database (the hit); the miss never reached it.
    assert layers["database"]["hits"] == 1 and layers["database"]["misses"] == 0
    assert calls(upstreams) == 2


@pytest.fixture
def private_redis():
    exe = shutil.which("redis-server")
    if exe is None:
        if os.environ.get("FAREGATE_REQUIRE_SERVICES") == "1":
            pytest.fail("redis-server is required (FAREGATE_REQUIRE_SERVICES=1) but not installed")
        pytest.skip("redis-server is not installed")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield port, proc
    if proc.poll() is None:
        proc.terminate()
        proc.wait(5)


def test_redis_stopped_mid_test_degrades_without_failed_requests(start_server, upstreams, private_redis):
    port, proc = private_redis
    cfg = cache_config(upstreams, layers=["memory://", f"redis://127.0.0.1:{port}/0"], redis_timeout_ms=100)
    srv = start_server(cfg)
    upstreams["openai"].script(*[{"text": f"answer {i}"} for i in range(20)])
    ask(srv, "Shared through redis")
    deadline = time.time() + 5
    while not redis.Redis(port=port).keys("fg:cache:*") and time.time() < deadline:
        time.sleep(0.02)  # the Redis write is in the background
    assert redis.Redis(port=port).keys("fg:cache:*")
    http_json_auth("DELETE", srv.url + "/v1/cache?scope=team:red")  # empties memory (and Redis)
    ask(srv, "Shared through redis")  # refill both
    time.sleep(0.2)
    proc.terminate()
    proc.wait(5)
    slowest = 0.0
    for i in range(10):
        t0 = time.perf_counter()
        got, h = ask(srv, f"Question {i} while redis is down")
        slowest = max(slowest, time.perf_counter() - t0)
        assert got.choices[0].message.content.startswith("answer")
        assert h["x-faregate-cache"] == "miss"
    _, h = ask(srv, "Question 3 while redis is down")
    assert h["x-faregate-cache"] == "hit"  # memory still serves
    assert slowest < 1.0
    stats = http_json_auth("GET", srv.url + "/v1/cache/stats")
    redis_layer = next(la for la in stats["layers"] if la["layer"] == "redis")
    assert redis_layer["up"] is False and redis_layer["errors"] >= 1


SIMILAR = ("How do I reset my password for the portal?", "How do I reset my password for the portal please?")


def _semantic_across_a_restart(start_server, upstreams, cfg: dict) -> None:
    upstreams["openai"].script({"text": "Settings, then Security."}, {"text": "not from the cache"})
    first = start_server(cfg)
    ask(first, SIMILAR[0])
    first.stop()  # closing flushes the background writes; the semantic index dies with it
    second = start_server(cfg)
    got, h = ask(second, SIMILAR[1])
    assert h["x-faregate-cache"] == "semantic-hit", h
    assert got.choices[0].message.content == "Settings, then Security."
    assert calls(upstreams) == 1
    stats = http_json_auth("GET", second.url + "/v1/cache/stats")
    assert stats["semantic_entries"] >= 1 and stats["semantic_hits"] == 1


def test_semantic_index_is_rebuilt_from_the_database_after_a_restart(start_server, upstreams, tmp_path):
    db = f"sqlite:///{tmp_path / 'semantic.db'}"
    cfg = cache_config(upstreams, layers=["memory://", "database"], semantic=True, semantic_threshold=0.8)
    _semantic_across_a_restart(start_server, upstreams, cfg | {"database_url": db})


def test_semantic_index_is_rebuilt_from_redis_after_a_restart(start_server, upstreams, private_redis):
    port, _proc = private_redis
    layers = ["memory://", f"redis://127.0.0.1:{port}/0"]
    cfg = cache_config(upstreams, layers=layers, semantic=True, semantic_threshold=0.8, redis_timeout_ms=500)
    _semantic_across_a_restart(start_server, upstreams, cfg)
