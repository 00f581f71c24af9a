"""The database layer's key index stays bounded: past ``cache.index_max_keys`` the oldest keys
are forgotten, and an entry whose key was forgotten is a miss (asked upstream again), never a
wrong answer; the newest keys still read the database."""

from __future__ import annotations

import time

from faregate.cache.key_index import KeyIndex

from .test_cache_e2e import ask, cache_config, calls, http_json_auth

WRITER_S = 1.5  # the database layer writes every 0.5 s


def test_the_index_keeps_the_newest_keys_up_to_its_cap():
    idx = KeyIndex(3)
    for i in range(10):
        idx[f"k{i}"] = float(i)
    assert dict(idx) == {"k7": 7.0, "k8": 8.0, "k9": 9.0}
    idx["k8"] = 80.0  # a rewrite of a known key takes no new place
    idx.update([("k10", 10.0)])
    assert dict(idx) == {"k8": 80.0, "k9": 9.0, "k10": 10.0}
    del idx["k9"]  # purged
    idx.update({"k11": 11.0, "k12": 12.0})
    assert len(idx) <= 3 and idx.get("k12") == 12.0 and "k11" in idx


def test_a_forgotten_key_is_a_miss_and_a_known_one_reads_the_database(start_server, upstreams, tmp_path):
    db = f"sqlite:///{tmp_path / 'bounded.db'}"
    cfg = cache_config(upstreams, layers=["memory://", "database"]) | {"database_url": db}
    # A memory layer too small to hold an answer: every repeat must come from the database.
    cfg["cache"] |= {"index_max_keys": 2, "memory_max_bytes": 1}
    upstreams["openai"].script({"text": "stored"})
    srv = start_server(cfg)
    for q in ("first question", "second question", "third question"):
        ask(srv, q)
    assert calls(upstreams) == 3
    time.sleep(WRITER_S)  # the database writes run in the background
    _, h = ask(srv, "third question")  # still indexed: read from the database
    assert h["x-faregate-cache"] == "hit" and h["x-faregate-cache-layer"] == "database"
    _, h = ask(srv, "first question")  # forgotten by the index: a miss, asked upstream again
    assert h["x-faregate-cache"] == "miss"
    assert calls(upstreams) == 4
    layers = {la["layer"]: la for la in http_json_auth("GET", srv.url + "/v1/cache/stats")["layers"]}
    assert layers["database"]["hits"] == 1 and layers["database"]["misses"] == 0
