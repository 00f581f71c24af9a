"""Traces exported over OTLP/HTTP to a real receiver on loopback, decoded and checked span by span."""

from __future__ import annotations

import openai
import pytest
from tests.helpers import fake_config

from faregate.testing import OtlpReceiver

KEY = "fg-trace-key-0000000000000001"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
UPSTREAM_LOOKALIKE = "sk-live-abcdefghijklmnopqrstuvwxyz123456"


@pytest.fixture
def receiver(server_loop):
    rx = server_loop.run(OtlpReceiver().start())
    yield rx
    server_loop.run(rx.stop())


def _config(upstreams, receiver, **tracing):
    cfg = fake_config({p: upstreams[p] for p in ("openai", "anthropic")}, keys=[])
    cfg["models"][0]["fallbacks"] = ["fake-anthropic"]
    cfg["keys"] = [{"key": KEY, "name": "tracer", "limits": {"rpm": 1000}}]
    cfg["routes"] = [{"name": "cheap", "candidates": ["fake-openai", "fake-anthropic"]}]
    cfg["tracing"] = {"enabled": True, "otlp_endpoint": receiver.endpoint, **tracing}
    return cfg


def _spans(server_loop, srv, receiver, n):
    assert srv.gateway.services.tracing.flush()
    return server_loop.run(receiver.wait_for(n))


def test_one_trace_per_request_with_genai_attributes_and_children(start_server, upstreams, receiver, server_loop):
    srv = start_server(_config(upstreams, receiver))
    client = openai.OpenAI(base_url=srv.base_url, api_key=KEY, max_retries=0, timeout=10)
    upstreams["openai"].script({"status": 500})  # the first attempt fails, the fallback answers
    raw = client.chat.completions.with_raw_response.create(
        model="fake-openai",
        messages=[{"role": "user", "content": "hello " + UPSTREAM_LOOKALIKE}],
        extra_headers={"traceparent": f"00-{TRACE_ID}-{PARENT}-01"},
    )
    request_id = raw.headers["x-request-id"]
    spans = _spans(server_loop, srv, receiver, 4)
    assert {s["trace_id"] for s in spans} == {TRACE_ID}  # the client's trace continues
    root = next(s for s in spans if s["kind"] == "server")
    assert root["name"] == "chat fake-openai" and root["parent_span_id"] == PARENT
    a = root["attributes"]
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.request.model"] == "fake-openai" and a["gen_ai.response.model"] == "fake-anthropic"
    assert a["gen_ai.provider.name"] == "anthropic"
    assert a["gen_ai.usage.input_tokens"] > 0 and a["gen_ai.usage.output_tokens"] > 0
    assert a["gen_ai.response.finish_reasons"] == "stop"
    assert a["faregate.fallback"] is True and a["faregate.attempts"] == 2
    assert a["faregate.request_id"] == request_id and a["faregate.cost_usd"] > 0
    assert "gen_ai.input.messages" not in a  # content only with capture_content
    assert root["resource"]["service.name"] == "faregate"
    children = [s for s in spans if s["parent_span_id"] == root["span_id"]]
    names = [s["name"] for s in sorted(children, key=lambda s: s["start_ns"])]
    assert names == ["limits.check", "chat fake-openai", "chat fake-anthropic"]
    first, second = (s for s in children if s["kind"] == "client")
    assert first["attributes"]["faregate.attempt"] == 1 and first["status"] == 2
    assert first["attributes"]["faregate.deployment"] == "fake-openai#0"
    assert second["attributes"]["faregate.attempt"] == 2 and second["attributes"]["faregate.outcome"] == "ok"
    for s in children:
        assert root["start_ns"] <= s["start_ns"] <= s["end_ns"] <= root["end_ns"]


def test_routing_span_and_content_capture_redacted(start_server, upstreams, receiver, server_loop):
    srv = start_server(_config(upstreams, receiver, capture_content=True))
    client = openai.OpenAI(base_url=srv.base_url, api_key=KEY, max_retries=0, timeout=10)
    client.chat.completions.create(model="cheap", messages=[{"role": "user", "content": "hi " + UPSTREAM_LOOKALIKE}])
    spans = _spans(server_loop, srv, receiver, 4)
    root = next(s for s in spans if s["kind"] == "server")
    assert root["parent_span_id"] is None and root["name"] == "chat cheap"
    a = root["attributes"]
    assert a["faregate.route"] == "cheap" and a["faregate.plan"].startswith("single:")
    assert 0 <= a["faregate.predicted_quality"] <= 1
    assert "hi " in a["gen_ai.input.messages"] and UPSTREAM_LOOKALIKE not in a["gen_ai.input.messages"]
    assert a["gen_ai.output.messages"]
    routing = next(s for s in spans if s["name"] == "routing")
    assert routing["attributes"]["route"] == "cheap" and routing["parent_span_id"] == root["span_id"]


def test_a_cache_lookup_is_a_child_span_with_its_outcome(start_server, upstreams, receiver, server_loop):
    cfg = _config(upstreams, receiver)
    cfg["cache"] = {"enabled": True, "layers": ["memory://"]}
    srv = start_server(cfg)
    client = openai.OpenAI(base_url=srv.base_url, api_key=KEY, max_retries=0, timeout=10)
    for _ in range(2):  # a miss that fills the cache, then a hit
        client.chat.completions.create(model="fake-openai", messages=[{"role": "user", "content": "cache me"}])
    spans = _spans(server_loop, srv, receiver, 7)  # miss: root, limits, lookup, attempt; hit: root, limits, lookup
    roots = sorted((s for s in spans if s["kind"] == "server"), key=lambda s: s["start_ns"])
    lookups = []
    for root in roots:
        found = [s for s in spans if s["name"] == "cache.lookup" and s["parent_span_id"] == root["span_id"]]
        assert len(found) == 1 and root["start_ns"] <= found[0]["start_ns"] <= found[0]["end_ns"] <= root["end_ns"]
        lookups.append(found[0]["attributes"]["outcome"])
    assert lookups == ["miss", "hit"]
    hit_root = roots[1]
    assert not [s for s in spans if s["kind"] == "client" and s["parent_span_id"] == hit_root["span_id"]]


def test_sampling_zero_exports_nothing_and_an_unsampled_parent_wins(start_server, upstreams, receiver, server_loop):
    srv = start_server(_config(upstreams, receiver, sample_ratio=0.0))
    client = openai.OpenAI(base_url=srv.base_url, api_key=KEY, max_retries=0, timeout=10)
    client.chat.completions.create(model="fake-openai", messages=[{"role": "user", "content": "a"}])
    # A sampled parent is followed even at ratio 0 (parent-based sampling).
    client.chat.completions.create(
        model="fake-openai",
        messages=[{"role": "user", "content": "b"}],
        extra_headers={"traceparent": f"00-{TRACE_ID}-{PARENT}-01"},
    )
    spans = _spans(server_loop, srv, receiver, 1)
    assert {s["trace_id"] for s in spans} == {TRACE_ID}
