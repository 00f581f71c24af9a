"""Unbounded work from a small request is refused fast with a 400 that says what is too large,
and the event loop stays free for everyone else meanwhile."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import orjson
import pytest
from inputs_support import AUTH, HELLO, anthropic_error, deep_body_bytes, fanout_schema, fanout_tools, openai_error

from faregate.adapters.gemini_schema import gemini_schema
from faregate.core.bounds import InputBounds, TooLarge, check_schema, check_structure, inlined_size
from helpers import fake_config


async def _post(url: str, data: bytes, path: str = "/v1/chat/completions") -> tuple[int, dict, float]:
    t0 = time.perf_counter()
    async with aiohttp.ClientSession() as s:
        async with s.post(url + path, data=data, headers={**AUTH, "content-type": "application/json"}) as r:
            return r.status, orjson.loads(await r.read()), time.perf_counter() - t0


async def _health_worst(url: str, stop: asyncio.Event) -> float:
    worst = 0.0
    async with aiohttp.ClientSession() as s:
        while not stop.is_set():
            t0 = time.perf_counter()
            async with s.get(url + "/health") as r:
                assert r.status == 200
            worst = max(worst, time.perf_counter() - t0)
            await asyncio.sleep(0.01)
    return worst


@pytest.mark.parametrize("model", ["fake-gemini", "fake-openai", "fake-anthropic"])
async def test_a_2kb_fanout_schema_is_refused_fast_and_health_keeps_answering(start_server, upstreams, model):
    srv = start_server(fake_config(upstreams))
    body = orjson.dumps({"model": model, "messages": HELLO, "tools": fanout_tools(30)})
    assert len(body) < 4096  # a small request: 2**30 nodes once inlined
    stop = asyncio.Event()
    watcher = asyncio.ensure_future(_health_worst(srv.url, stop))
    await asyncio.sleep(0.05)
    results = await asyncio.gather(*(_post(srv.url, body) for _ in range(5)))
    stop.set()
    worst = await watcher
    for status, payload, elapsed in results:
        assert status == 400, payload
        err = openai_error(payload)
        assert err["param"] == "tools[0].function.parameters" and err["code"] == "request_too_complex"
        assert "$refs are inlined" in err["message"] and "bounds.max_schema_nodes" in err["message"]
        assert elapsed < 2.0, f"refusal took {elapsed:.2f} s"
    print(f"\n{model}: refused in {max(r[2] for r in results) * 1000:.0f} ms, worst /health {worst * 1000:.0f} ms")
    assert worst < 0.5, f"/health waited {worst * 1000:.0f} ms while the schemas were refused"
    assert upstreams[model.removeprefix("fake-")].requests() == []  # never sent upstream


async def test_the_gemini_rewrite_has_its_own_cap_when_the_front_cap_is_raised(start_server, upstreams):
    """Defence in depth: with bounds.max_schema_nodes raised, Gemini's rewrite still stops at its cap."""
    srv = start_server(fake_config(upstreams, bounds={"max_schema_nodes": 10**9}))
    body = orjson.dumps({"model": "fake-gemini", "messages": HELLO, "tools": fanout_tools(25)})  # 2**26 nodes
    status, payload, elapsed = await _post(srv.url, body)
    assert status == 400 and openai_error(payload)["code"] == "request_too_complex", payload
    assert "for Gemini" in payload["error"]["message"] and elapsed < 2.0
    assert upstreams["gemini"].requests() == []


def test_gemini_rewrite_alone_is_bounded_in_time(monkeypatch):
    # Bounded work, counted (a wall-clock bound flaked on a loaded machine): the rewrite of a
    # schema whose inlined size is 2**40 nodes stops after its budget of output nodes.
    from faregate.adapters import gemini_schema as gs

    spent = []
    real = gs._Budget.spend
    monkeypatch.setattr(gs._Budget, "spend", lambda self: (spent.append(1), real(self))[1])
    with pytest.raises(TooLarge):
        gemini_schema(fanout_schema(40))
    assert len(spent) == gs.MAX_OUTPUT_NODES + 1
    # a schema with shared refs that stays small still converts, refs inlined
    small = gemini_schema(fanout_schema(4))
    assert small["properties"]["x"]["properties"]["a"]["properties"]["b"]["type"] == "OBJECT"


def test_inlined_size_is_linear_in_the_text_and_exact_below_the_cap():
    t0 = time.perf_counter()
    assert inlined_size(fanout_schema(60), 20_000) == 20_001
    assert time.perf_counter() - t0 < 0.05
    # root + x + L0..L3 expanded: 2 + (2**4 - 1) + 2**4 ... counted exactly for a small case
    assert inlined_size({"type": "object", "properties": {"a": {"type": "string"}}}, 100) == 2
    chain = {"$defs": {f"D{i}": {"$ref": f"#/$defs/D{i + 1}"} for i in range(100)}, "$ref": "#/$defs/D0"}
    with pytest.raises(TooLarge):  # a chain of refs deeper than any rewrite should follow
        check_schema(chain, "tools[0]")


@pytest.mark.parametrize("field", ["tools", "logit_bias"])
@pytest.mark.parametrize("depth", [70, 255, 300, 1000])
async def test_deep_json_inside_a_field_is_a_400_naming_it(faregate_server, field, depth):
    status, payload, _ = await _post(faregate_server.url, deep_body_bytes(field, depth))
    assert status == 400, payload
    err = openai_error(payload)
    assert err["param"] == field and err["code"] == "request_too_complex"
    assert "nested more than 64 levels" in err["message"]


async def test_deep_json_on_v1_messages_is_an_anthropic_400(faregate_server):
    inner = "[" * 300 + "]" * 300
    raw = (
        '{"model":"fake-anthropic","max_tokens":5,"messages":[{"role":"user","content":"hi"}],'
        f'"tools":[{{"name":"f","input_schema":{{"type":"object","default":{inner}}}}}]}}'
    ).encode()
    status, payload, _ = await _post(faregate_server.url, raw, "/v1/messages")
    assert status == 400
    assert "nested more than" in anthropic_error(payload)["message"]


async def test_too_many_json_values_is_refused(faregate_server):
    body = orjson.dumps({"model": "fake-openai", "messages": HELLO, "logit_bias": {str(i): 1 for i in range(250_000)}})
    status, payload, _ = await _post(faregate_server.url, body)
    assert status == 400 and "bounds.max_json_nodes" in openai_error(payload)["message"]


async def test_too_many_images_is_refused(faregate_server):
    parts = [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}] * 65
    body = orjson.dumps({"model": "fake-openai", "messages": [{"role": "user", "content": parts}]})
    status, payload, _ = await _post(faregate_server.url, body)
    assert status == 400 and "bounds.max_image_parts" in openai_error(payload)["message"]


def test_structure_walk_stops_at_the_cap():
    big = {"a": list(range(3_000_000))}
    t0 = time.perf_counter()
    with pytest.raises(TooLarge):
        check_structure(big, InputBounds(max_json_nodes=1000))
    assert time.perf_counter() - t0 < 0.05


async def test_bounds_are_configurable(start_server, upstreams):
    srv = start_server(fake_config(upstreams, bounds={"max_json_depth": 4}))
    body = orjson.dumps(
        {"model": "fake-openai", "messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]}
    )
    status, payload, _ = await _post(srv.url, body)
    assert status == 400 and "4 levels" in openai_error(payload)["message"]
