"""Embeddings go through the same pipeline steps as chat: keys and allow-lists, limits and
budgets, the cache, failover to a fallback, and the request log."""

from __future__ import annotations

import sqlite3

import openai
import pytest

from faregate.testing.fake_fronts import fake_token_count, fake_vector
from helpers import GATEWAY_KEY

from .fronts_config import EMBED_PRICES, fronts_config

OTHER_KEY = "fg-other-key"


def client(srv, key: str = GATEWAY_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.base_url, api_key=key, max_retries=0, timeout=10)


def test_unknown_key_is_refused_before_any_upstream_call(start_server, upstreams):
    srv = start_server(fronts_config(upstreams))
    with pytest.raises(openai.AuthenticationError):
        client(srv, "fg-wrong").embeddings.create(model="fake-embed", input="x")
    assert upstreams["openai"].requests() == []


def test_allow_list_applies(start_server, upstreams):
    cfg = fronts_config(upstreams)
    cfg["keys"] = [{"key": GATEWAY_KEY}, {"key": OTHER_KEY, "models": ["fake-openai"]}]
    srv = start_server(cfg)
    with pytest.raises(openai.PermissionDeniedError):
        client(srv, OTHER_KEY).embeddings.create(model="fake-embed", input="x")
    assert client(srv).embeddings.create(model="fake-embed", input="x").data


def test_rate_limit_and_budget_apply(start_server, upstreams):
    srv = start_server(fronts_config(upstreams, limits={"keys": {"rpm": 2}}))
    for _ in range(2):
        client(srv).embeddings.create(model="fake-embed", input="x")
    with pytest.raises(openai.RateLimitError):
        client(srv).embeddings.create(model="fake-embed", input="x")
    assert len(upstreams["openai"].requests()) == 2
    # A day budget smaller than one request's price: the first goes through (spend is booked
    # after), then the key is over budget.
    upstreams["openai"].script({"usage": {"input_tokens": 1_000_000}})
    srv2 = start_server(fronts_config(upstreams, limits={"keys": {"budget_usd_day": 0.01}}))
    client(srv2).embeddings.create(model="fake-embed", input="a big batch")
    with pytest.raises(openai.RateLimitError) as exc:
        client(srv2).embeddings.create(model="fake-embed", input="again")
    assert "budget" in str(exc.value).lower()


def test_cache_answers_the_same_input_once(start_server, upstreams):
    srv = start_server(fronts_config(upstreams, cache={"enabled": True}))
    c = client(srv)
    first = c.embeddings.with_raw_response.create(model="fake-embed", input=["cache me"], encoding_format="float")
    second = c.embeddings.with_raw_response.create(model="fake-embed", input=["cache me"], encoding_format="float")
    assert first.headers["x-faregate-cache"] == "miss" and second.headers["x-faregate-cache"] == "hit"
    assert second.parse().data[0].embedding == first.parse().data[0].embedding == fake_vector("cache me")
    assert float(second.headers["x-faregate-cost-usd"]) == 0.0
    # Another input, other dimensions or another model is another entry.
    c.embeddings.create(model="fake-embed", input=["cache me"], dimensions=4, encoding_format="float")
    c.embeddings.create(model="fake-embed", input=["cache you"], encoding_format="float")
    assert len(upstreams["openai"].requests()) == 3


def test_cache_entry_of_a_chat_is_not_an_embedding(start_server, upstreams):
    # The same text, as a chat to fake-openai and as a completion, are different cache entries.
    srv = start_server(fronts_config(upstreams, cache={"enabled": True}))
    c = client(srv)
    chat = c.chat.completions.create(model="fake-openai", messages=[{"role": "user", "content": "same"}])
    done = c.completions.create(model="fake-openai", prompt="same")
    assert chat.choices[0].message.content != done.choices[0].text
    assert [r["path"] for r in upstreams["openai"].requests()] == ["/v1/chat/completions", "/v1/completions"]


def test_failover_to_a_fallback_embedding_model(start_server, upstreams):
    cfg = fronts_config(upstreams)
    for m in cfg["models"]:
        if m["name"] == "fake-embed":
            m["fallbacks"] = ["fake-gemini-embed"]
    srv = start_server(cfg)
    upstreams["openai"].script({"status": 503})
    raw = client(srv).embeddings.with_raw_response.create(
        model="fake-embed", input="fail over", encoding_format="float"
    )
    assert raw.headers["x-faregate-fallback"] == "fake-gemini-embed"
    assert raw.parse().data[0].embedding == fake_vector("fail over")  # the same fake vectors on every protocol
    assert raw.headers["x-faregate-attempts"] == "2"


def test_request_log_records_embeddings(start_server, upstreams, tmp_path):
    db = tmp_path / "emb.db"
    srv = start_server(fronts_config(upstreams, database_url=f"sqlite:///{db}"))
    raw = client(srv).embeddings.with_raw_response.create(model="fake-embed", input="log this text please")
    srv.stop()
    row = (
        sqlite3.connect(db)
        .execute(
            "SELECT model, input_tokens, output_tokens, cost_usd, status, extra FROM request_log WHERE id = ?",
            (raw.headers["x-request-id"],),
        )
        .fetchone()
    )
    tokens = fake_token_count("log this text please")
    assert row[:5] == ("fake-embed", tokens, 0, pytest.approx(tokens * EMBED_PRICES["fake-embed"] / 1e6), 200)
    assert '"kind":"embedding"' in row[5].replace(" ", "")


def test_an_open_embedding_deployment_is_probed_with_an_embedding(start_server, upstreams):
    cfg = fronts_config(upstreams)
    for m in cfg["models"]:
        if m["name"] == "fake-embed":
            m["breaker"] = {"failure_threshold": 1, "cooldown_s": 60}
    srv = start_server(cfg)
    upstreams["openai"].script({"status": 503})
    with pytest.raises(openai.InternalServerError):
        client(srv).embeddings.create(model="fake-embed", input="x")
    dep = srv.gateway.registry.deployments("fake-embed")[0]
    assert dep.breaker.state == "open"
    assert srv._loop.run(srv.gateway.executor.probe(dep)) is True
    assert upstreams["openai"].last_request()["path"] == "/v1/embeddings"
    assert dep.breaker.state == "half_open"
