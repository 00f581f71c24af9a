"""The response cache end to end: the official openai and anthropic SDKs against faregate,
answered by fake providers on loopback (which count the upstream calls)."""

from __future__ import annotations

import asyncio
import time

import anthropic
import openai
import pytest

from helpers import GATEWAY_KEY, fake_config, http_json

OTHER_KEY = "fg-other-team-key"
MASTER = "fg-master-test"


def cache_config(upstreams, **cache) -> dict:
    cfg = fake_config(
        upstreams,
        keys=[],
        master_key=MASTER,
        cache={"enabled": True, **cache},
    )
    cfg["keys"] = [{"key": GATEWAY_KEY, "team": "red"}, {"key": OTHER_KEY, "team": "blue"}]
    return cfg


def oa(srv, key: str = GATEWAY_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.base_url, api_key=key, max_retries=0, timeout=10)


def ask(srv, text: str, *, key: str = GATEWAY_KEY, headers: dict | None = None, **kw):
    """A chat completion; returns (the parsed completion, the response headers)."""
    raw = oa(srv, key).chat.completions.with_raw_response.create(
        model=kw.pop("model", "fake-openai"),
        messages=[{"role": "user", "content": text}],
        max_tokens=50,
        temperature=kw.pop("temperature", 0),
        extra_headers=headers or {},
        **kw,
    )
    return raw.parse(), raw.headers


def stream_text(srv, text: str, **kw) -> tuple[str, int, dict]:
    """A streamed completion: (the text, how many content chunks, the headers)."""
    with oa(srv).chat.completions.with_streaming_response.create(
        model="fake-openai",
        messages=[{"role": "user", "content": text}],
        max_tokens=50,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
        **kw,
    ) as resp:
        pieces = [c.choices[0].delta.content for c in resp.parse() if c.choices and c.choices[0].delta.content]
        return "".join(pieces), len(pieces), dict(resp.headers)


@pytest.fixture
def srv(start_server, upstreams):
    return start_server(cache_config(upstreams))


def calls(upstreams, protocol: str = "openai") -> int:
    return len(upstreams[protocol].requests())


def test_repeat_is_a_hit_and_the_upstream_is_called_once(srv, upstreams):
    upstreams["openai"].script({"text": "Paris is the capital.", "usage": {"input_tokens": 20, "output_tokens": 6}})
    first, h1 = ask(srv, "Capital of France?")
    second, h2 = ask(srv, "Capital of France?")
    assert h1["x-faregate-cache"] == "miss" and h2["x-faregate-cache"] == "hit"
    assert second.choices[0].message.content == first.choices[0].message.content == "Paris is the capital."
    assert second.usage.prompt_tokens == 20  # the replayed answer's usage
    assert float(h2["x-faregate-cost-usd"]) == 0 < float(h1["x-faregate-cost-usd"])
    assert h2["x-faregate-cache-filled-by"] == h1["x-request-id"]
    assert int(h2["x-faregate-cache-age"]) >= 0
    assert calls(upstreams) == 1


def test_streamed_and_non_streamed_hits(srv, upstreams):
    long = "A fairly long cached answer that must come back in several chunks when replayed."
    upstreams["openai"].script({"text": long, "chunks": 4})
    text, _n, h = stream_text(srv, "Tell me something")
    assert text == long and h["x-faregate-cache"] == "miss"
    again, n_chunks, h2 = stream_text(srv, "Tell me something")
    assert again == long and h2["x-faregate-cache"] == "hit" and n_chunks >= 3
    plain, h3 = ask(srv, "Tell me something")  # the streamed answer serves a non-streamed request
    assert plain.choices[0].message.content == long and h3["x-faregate-cache"] == "hit"
    assert calls(upstreams) == 1


def test_streamed_hit_replays_tool_calls(srv, upstreams):
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    upstreams["openai"].script({"tool_call": {"name": "get_weather", "arguments": {"city": "Paris, the capital"}}})
    first, _ = ask(srv, "Weather?", tools=tools)
    assert first.choices[0].message.tool_calls[0].function.name == "get_weather"
    with oa(srv).chat.completions.create(
        model="fake-openai",
        messages=[{"role": "user", "content": "Weather?"}],
        max_tokens=50,
        temperature=0,
        tools=tools,
        stream=True,
    ) as stream:
        chunks = list(stream)
    deltas = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert deltas[0].function.name == "get_weather"
    assert (
        "".join(d.function.arguments or "" for d in deltas) == first.choices[0].message.tool_calls[0].function.arguments
    )
    assert chunks[-1].choices[0].finish_reason == "tool_calls" or any(
        c.choices and c.choices[0].finish_reason == "tool_calls" for c in chunks
    )
    assert calls(upstreams) == 1


def test_cross_front_hits_both_ways(srv, upstreams):
    upstreams["openai"].script({"text": "Bonjour."}, {"text": "Hola."})
    ask(srv, "Greet me in French", temperature=openai.NOT_GIVEN)
    ac = anthropic.Anthropic(base_url=srv.url, api_key=GATEWAY_KEY, max_retries=0, timeout=10)
    raw = ac.messages.with_raw_response.create(
        model="fake-openai",
        max_tokens=50,
        messages=[{"role": "user", "content": "Greet me in French"}],
    )
    assert raw.headers["x-faregate-cache"] == "hit" and raw.parse().content[0].text == "Bonjour."
    # The other way round, streamed on /v1/messages.
    ac.messages.create(model="fake-openai", max_tokens=50, messages=[{"role": "user", "content": "Greet in Spanish"}])
    with ac.messages.stream(
        model="fake-openai", max_tokens=50, messages=[{"role": "user", "content": "Greet in Spanish"}]
    ) as s:
        assert s.get_final_text() == "Hola."
    got, h = ask(srv, "Greet in Spanish", temperature=openai.NOT_GIVEN)
    assert h["x-faregate-cache"] == "hit" and got.choices[0].message.content == "Hola."
    assert calls(upstreams) == 2


def test_scope_isolation_exact(srv, upstreams):
    upstreams["openai"].script({"text": "red team secret"}, {"text": "blue team answer"})
    ask(srv, "What is our plan?")
    other, h = ask(srv, "What is our plan?", key=OTHER_KEY)
    assert h["x-faregate-cache"] == "miss" and other.choices[0].message.content == "blue team answer"
    assert calls(upstreams) == 2


def test_scope_isolation_semantic(start_server, upstreams):
    srv = start_server(cache_config(upstreams, semantic=True, semantic_threshold=0.8))
    upstreams["openai"].script({"text": "red answer"}, {"text": "blue answer"})
    ask(srv, "How do I reset my password for the portal?")
    _, same_team = ask(srv, "How do I reset my password for the portal please?")
    assert same_team["x-faregate-cache"] == "semantic-hit"
    assert 0.8 <= float(same_team["x-faregate-cache-similarity"]) < 1
    other, h = ask(srv, "How do I reset my password for the portal please?", key=OTHER_KEY)
    assert h["x-faregate-cache"] == "miss" and other.choices[0].message.content == "blue answer"
    assert calls(upstreams) == 2


def test_semantic_never_crosses_different_numbers_or_tools(start_server, upstreams):
    srv = start_server(cache_config(upstreams))
    upstreams["openai"].script({"text": "order 1234 shipped"}, {"text": "order 1235 pending"}, {"text": "t"})
    ask(srv, "What is the status of order 1234?", headers={"x-faregate-cache": "semantic=0.8"})
    got, h = ask(srv, "What is the status of order 1235?", headers={"x-faregate-cache": "semantic=0.8"})
    assert h["x-faregate-cache"] == "miss" and got.choices[0].message.content == "order 1235 pending"
    _, h2 = ask(srv, "What is the status of the order 1234?", headers={"x-faregate-cache": "semantic=0.8"})
    assert h2["x-faregate-cache"] == "semantic-hit"
    assert calls(upstreams) == 2


def test_no_store_and_no_cache(srv, upstreams):
    upstreams["openai"].script({"text": "one"}, {"text": "two"}, {"text": "three"})
    _, h = ask(srv, "Q1", headers={"x-faregate-cache": "no-store"})
    assert h["x-faregate-cache"] == "miss"
    got, h = ask(srv, "Q1")  # nothing was stored
    assert h["x-faregate-cache"] == "miss" and got.choices[0].message.content == "two"
    got, h = ask(srv, "Q1", headers={"cache-control": "no-cache"})  # stored, but not read
    assert h["x-faregate-cache"] == "miss" and got.choices[0].message.content == "three"
    got, h = ask(srv, "Q1")  # the no-cache answer replaced the entry
    assert h["x-faregate-cache"] == "hit" and got.choices[0].message.content == "three"
    assert calls(upstreams) == 3
    with pytest.raises(openai.BadRequestError, match="unknown directive"):
        ask(srv, "Q1", headers={"x-faregate-cache": "forever"})


def test_ttl_expiry(srv, upstreams):
    upstreams["openai"].script({"text": "first"}, {"text": "second"})
    ask(srv, "Short lived", headers={"x-faregate-cache": "ttl=1"})
    _, h = ask(srv, "Short lived")
    assert h["x-faregate-cache"] == "hit"
    time.sleep(1.2)
    got, h = ask(srv, "Short lived")
    assert h["x-faregate-cache"] == "miss" and got.choices[0].message.content == "second"


def test_sampled_requests_bypass_unless_asked(srv, upstreams):
    upstreams["openai"].script({"text": "a"}, {"text": "b"}, {"text": "c"})
    _, h = ask(srv, "Be creative", temperature=0.9)
    assert h["x-faregate-cache"] == "bypass"
    ask(srv, "Be creative", temperature=0.9, headers={"x-faregate-cache": "sampled"})
    _, h = ask(srv, "Be creative", temperature=0.9, headers={"x-faregate-cache": "sampled"})
    assert h["x-faregate-cache"] == "hit"
    assert calls(upstreams) == 2


def test_a_truncated_stream_is_not_cached(srv, upstreams):
    upstreams["openai"].script({"text": "cut short answer here", "chunks": 4, "cut_after_chunks": 1}, {"text": "whole"})
    with pytest.raises(Exception):
        stream_text(srv, "Fragile")
    got, h = ask(srv, "Fragile")
    assert h["x-faregate-cache"] == "miss" and got.choices[0].message.content == "whole"
    assert calls(upstreams) == 2


def test_upstream_errors_are_not_cached(srv, upstreams):
    upstreams["openai"].script({"status": 400, "error_message": "bad"}, {"text": "ok now"})
    with pytest.raises(openai.BadRequestError):
        ask(srv, "Err")
    got, h = ask(srv, "Err")
    assert h["x-faregate-cache"] == "miss" and got.choices[0].message.content == "ok now"


def test_fifty_concurrent_identical_requests_make_one_upstream_call(srv, upstreams):
    upstreams["openai"].script({"text": "shared answer", "delay_ms": 400})

    async def run() -> list:
        client = openai.AsyncOpenAI(base_url=srv.base_url, api_key=GATEWAY_KEY, max_retries=0, timeout=20)

        async def one(i: int):
            kw = {"stream": True} if i % 2 else {}
            r = await client.chat.completions.create(
                model="fake-openai",
                messages=[{"role": "user", "content": "Same question"}],
                max_tokens=50,
                temperature=0,
                **kw,
            )
            if i % 2:
                return "".join([c.choices[0].delta.content or "" async for c in r if c.choices])
            return r.choices[0].message.content

        try:
            return await asyncio.gather(*(one(i) for i in range(50)))
        finally:
            await client.close()

    answers = asyncio.run(run())
    assert answers == ["shared answer"] * 50
    assert calls(upstreams) == 1
    stats = http_json_auth("GET", srv.url + "/v1/cache/stats")
    assert stats["coalesced"] == 49


def test_coalesced_followers_name_the_model_that_answered_the_leader(srv, upstreams):
    """With ``model: "auto"`` a follower says which model answered, as the leader does."""
    for f in upstreams.values():
        f.script({"text": "routed answer", "delay_ms": 400})

    async def run() -> list:
        client = openai.AsyncOpenAI(base_url=srv.base_url, api_key=GATEWAY_KEY, max_retries=0, timeout=20)

        async def one(i: int):
            raw = await client.chat.completions.with_raw_response.create(
                model="auto",
                messages=[{"role": "user", "content": "Same routed question"}],
                max_tokens=50,
                temperature=0,
                **({"stream": True} if i % 2 else {}),
            )
            if i % 2:
                async for _ in raw.parse():
                    pass
            return raw.headers["x-faregate-model"], raw.headers.get("x-faregate-cache-coalesced")

        try:
            return await asyncio.gather(*(one(i) for i in range(6)))
        finally:
            await client.close()

    seen = asyncio.run(run())
    assert sum(1 for _, c in seen if c == "1") == 5, seen
    models = {m for m, _ in seen}
    assert len(models) == 1 and "auto" not in models, seen


def test_a_failed_leader_does_not_fail_its_followers(srv, upstreams):
    upstreams["openai"].script(
        {"status": 500, "delay_ms": 300}, {"text": "retried alone"}, {"text": "retried alone"}, {"text": "x"}
    )

    async def run() -> list:
        client = openai.AsyncOpenAI(base_url=srv.base_url, api_key=GATEWAY_KEY, max_retries=0, timeout=20)

        async def one():
            try:
                r = await client.chat.completions.create(
                    model="fake-openai", messages=[{"role": "user", "content": "Flaky"}], max_tokens=5, temperature=0
                )
                return r.choices[0].message.content
            except openai.APIStatusError as exc:
                return exc.status_code

        try:
            return await asyncio.gather(*(one() for _ in range(3)))
        finally:
            await client.close()

    got = asyncio.run(run())
    assert sorted(map(str, got)) == ["502", "retried alone", "retried alone"]


def http_json_auth(method: str, url: str) -> dict:
    import json
    import urllib.request

    req = urllib.request.Request(url, method=method, headers={"authorization": f"Bearer {MASTER}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


def test_stats_and_delete_need_the_master_key(srv, upstreams):
    upstreams["openai"].script({"text": "one"}, {"text": "two"})
    _, h1 = ask(srv, "Stats please")
    ask(srv, "Stats please")
    stats = http_json_auth("GET", srv.url + "/v1/cache/stats?by=model,key")
    assert stats["hits"] == 1 and stats["misses"] == 1 and stats["hit_rate"] == 0.5
    assert stats["by_model"]["fake-openai"]["hits"] == 1 and stats["saved_usd"] > 0
    assert stats["layers"][0]["layer"] == "memory" and stats["layers"][0]["entries"] == 1
    import urllib.error

    with pytest.raises(urllib.error.HTTPError) as err:
        http_json("GET", srv.url + "/v1/cache/stats")
    assert err.value.code == 401
    out = http_json_auth("DELETE", srv.url + f"/v1/cache?request_id={h1['x-request-id']}")
    assert out["deleted"]["memory"] == 1
    _, h = ask(srv, "Stats please")
    assert h["x-faregate-cache"] == "miss"
    out = http_json_auth("DELETE", srv.url + "/v1/cache?scope=team:red")
    assert out["deleted"]["memory"] == 1
