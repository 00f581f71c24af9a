"""Reliability beyond the matrix: 400s are not retried, a client that leaves stops the upstream,
partial usage is billed, breakers recover (by traffic and by active probes), the health route."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import openai
import pytest

from faregate.config import load_config

from .conftest import KEY, MASTER, model_config

MSG = [{"role": "user", "content": "hello"}]


async def wait_for(pred, timeout: float = 2.0) -> None:
    t_end = time.monotonic() + timeout
    while True:
        res = pred()
        if asyncio.iscoroutine(res):
            res = await res
        if res:
            return
        if time.monotonic() > t_end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_400_is_not_retried_nor_failed_over(stream, fakes, serve):
    primary, backup = fakes
    srv = await serve(model_config(f"{primary.base}/v1", backup.base))
    await primary.script({"status": 400}, {"status": 400})
    client = srv.client()
    with pytest.raises(openai.BadRequestError) as ei:
        await client.chat.completions.create(model="primary", messages=MSG, stream=stream)
    err = ei.value
    assert err.status_code == 400 and err.response.headers["x-faregate-attempts"] == "1"
    assert "upstream returned 400" in err.message  # with the provider's own message after it
    assert err.body["code"] == "upstream_rejected"
    assert len(await primary.requests()) == 1 and await backup.requests() == []
    assert srv.breaker("primary") == "closed" and srv.deployment("primary").breaker.consecutive_failures == 0


async def test_client_leaving_a_stream_stops_the_upstream(fakes, serve):
    primary, _ = fakes
    srv = await serve(model_config(f"{primary.base}/v1"))
    await primary.script({"text": "x" * 400, "chunks": 40, "chunk_gap_ms": 100})
    client = srv.client()
    stream = await client.chat.completions.create(model="primary", messages=MSG, stream=True)
    got = 0
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            got += 1
            if got == 2:
                break
    t_left = time.monotonic()
    await stream.close()

    async def upstream_saw_it():
        reqs = await primary.requests()
        return reqs and reqs[0]["disconnected"]

    await wait_for(upstream_saw_it, timeout=1.5)
    assert time.monotonic() - t_left < 1.0  # at once, not after the 4 s the answer would take
    ctx = await srv.last_context()
    assert ctx.client_disconnected and ctx.attempts[-1].status == "cancelled"
    dep = srv.deployment("primary")
    assert dep.in_flight == 0 and dep.breaker.consecutive_failures == 0 and dep.failures == 0


async def test_client_leaving_while_waiting_stops_the_upstream(fakes, serve):
    primary, _ = fakes
    cfg = model_config(f"{primary.base}/v1")
    cfg["models"][0]["timeouts"] = {"ttfb": 10, "total": 20}
    srv = await serve(cfg)
    await primary.script({"delay_ms": 5000})
    client = srv.client(timeout=0.3)
    with pytest.raises(openai.APITimeoutError):
        await client.chat.completions.create(model="primary", messages=MSG)

    async def upstream_saw_it():
        reqs = await primary.requests()
        return reqs and reqs[0]["disconnected"]

    await wait_for(upstream_saw_it, timeout=1.5)
    ctx = await srv.last_context()
    assert ctx.client_disconnected and ctx.status == 499
    dep = srv.deployment("primary")
    await wait_for(lambda: dep.in_flight == 0)
    assert dep.breaker.consecutive_failures == 0


async def test_tokens_of_a_failed_partial_attempt_are_billed(fakes, serve):
    """An Anthropic stream reports its input tokens in message_start; when it then fails (before
    its first content here), those tokens count in the request's usage and cost."""
    primary, backup = fakes  # the Anthropic fake is the primary here, the OpenAI one the fallback
    cfg = {
        "models": [
            {
                "name": "claude",
                "provider": "anthropic",
                "base_url": backup.base,
                "api_key": "k",
                "prices": {"input": 3.0, "output": 15.0},
                "max_attempts": 1,
                "fallbacks": ["gpt"],
            },
            {
                "name": "gpt",
                "provider": "openai",
                "base_url": f"{primary.base}/v1",
                "api_key": "k",
                "prices": {"input": 1.0, "output": 2.0},
            },
        ],
        "keys": [{"key": KEY}],
        "learning": {"enabled": False},
    }
    srv = await serve(cfg)
    await backup.script({"error_event_after_200": True, "usage": {"input_tokens": 40, "output_tokens": 1}})
    await primary.script({"text": "fallback text", "usage": {"input_tokens": 10, "output_tokens": 4}})
    client = srv.client()
    stream = await client.chat.completions.create(
        model="claude", messages=MSG, stream=True, stream_options={"include_usage": True}
    )
    text, usage = "", None
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
        if chunk.usage:
            usage = chunk.usage
    assert text == "fallback text"
    ctx = await srv.last_context()
    assert [a.status for a in ctx.attempts] == ["transient", "ok"]
    assert ctx.attempts[0].usage.input_tokens == 40
    assert ctx.usage.input_tokens == 50 and ctx.usage.output_tokens >= 4
    assert ctx.cost_usd == pytest.approx(ctx.attempts[0].cost_usd + (10 * 1 + 4 * 2) / 1e6)
    assert ctx.attempts[0].cost_usd >= 40 * 3 / 1e6
    assert usage is not None and usage.prompt_tokens == 50  # the client sees all it consumed


async def test_breaker_half_opens_after_cooldown_and_closes_on_success(fakes, serve):
    primary, backup = fakes
    cfg = model_config(f"{primary.base}/v1", backup.base)
    cfg["models"][0]["breaker"] = {"failure_threshold": 2, "cooldown_s": 0.3, "success_threshold": 1}
    cfg["models"][0]["retry_before_fallback"] = True
    srv = await serve(cfg)
    await primary.script({"status": 500}, {"status": 500})
    client = srv.client()
    r = await client.chat.completions.with_raw_response.create(model="primary", messages=MSG)
    assert r.headers["x-faregate-model"] == "backup" and srv.breaker("primary") == "open"
    r = await client.chat.completions.with_raw_response.create(model="primary", messages=MSG)
    assert r.headers["x-faregate-model"] == "backup" and r.headers["x-faregate-attempts"] == "1"  # skipped
    await asyncio.sleep(0.35)
    assert srv.breaker("primary") == "half_open"
    r = await client.chat.completions.with_raw_response.create(model="primary", messages=MSG)
    assert r.headers["x-faregate-model"] == "primary" and "x-faregate-fallback" not in r.headers
    assert srv.breaker("primary") == "closed"


async def test_failed_probe_reopens(fakes, serve):
    primary, backup = fakes
    cfg = model_config(f"{primary.base}/v1", backup.base)
    cfg["models"][0]["breaker"] = {"failure_threshold": 1, "cooldown_s": 0.2, "success_threshold": 1}
    cfg["models"][0]["max_attempts"] = 1
    srv = await serve(cfg)
    await primary.script({"status": 503}, {"status": 503})
    client = srv.client()
    await client.chat.completions.create(model="primary", messages=MSG)
    await asyncio.sleep(0.25)
    r = await client.chat.completions.with_raw_response.create(model="primary", messages=MSG)
    assert r.headers["x-faregate-attempts"] == "2" and r.headers["x-faregate-model"] == "backup"
    br = srv.deployment("primary").breaker
    assert br.state == "open" and br.retry_in() > 0.3  # cooldown doubled


async def test_active_probes_close_an_open_circuit_without_traffic(fakes, serve):
    primary, backup = fakes
    cfg = model_config(f"{primary.base}/v1", backup.base)
    cfg["models"][0]["breaker"] = {
        "failure_threshold": 1,
        "cooldown_s": 60,
        "success_threshold": 1,
        "probe_interval_s": 0.05,
    }
    srv = await serve(cfg)
    await primary.script({"status": 500}, {"status": 500})
    client = srv.client()
    await client.chat.completions.create(model="primary", messages=MSG)
    n_before = len(await primary.requests())
    await wait_for(lambda: srv.breaker("primary") == "closed", timeout=3)
    probes = (await primary.requests())[n_before:]
    assert probes and probes[0]["body"]["max_tokens"] == 1
    assert srv.deployment("primary").last_probe["ok"] is True


async def test_probes_are_off_by_default(fakes, serve):
    primary, backup = fakes
    srv = await serve(model_config(f"{primary.base}/v1", backup.base, retry_before_fallback=True))
    assert srv.gw.executor.prober.task is None
    await primary.script({"status": 500}, {"status": 500})
    await srv.client().chat.completions.create(model="primary", messages=MSG)
    await asyncio.sleep(0.2)
    assert len(await primary.requests()) == 2 and srv.breaker("primary") == "open"


async def test_health_route(fakes, serve):
    primary, backup = fakes
    srv = await serve(model_config(f"{primary.base}/v1", backup.base, retry_before_fallback=True))
    await primary.script({"status": 502}, {"status": 502})
    await srv.client().chat.completions.create(model="primary", messages=MSG)
    url = f"{srv.url}/v1/health/deployments"
    async with aiohttp.ClientSession() as s:
        for headers in ({}, {"authorization": f"Bearer {KEY}"}, {"authorization": "Bearer nope"}):
            async with s.get(url, headers=headers) as r:
                assert r.status == 401
                assert (await r.json())["error"]["message"]
        async with s.get(url, headers={"authorization": f"Bearer {MASTER}"}) as r:
            assert r.status == 200
            data = {d["deployment"]: d for d in (await r.json())["data"]}
            text = await r.text()
    p, b = data["primary#0"], data["backup#0"]
    assert p["state"] == "open" and p["breaker"]["times_opened"] == 1 and p["in_flight"] == 0
    assert "502" in p["last_error"] and p["last_error_kind"] == "transient" and p["failures"] == 2
    assert b["state"] == "closed" and b["latency_ms"] > 0 and b["successes"] == 1
    assert "cooldown_s" in p and p["base_url"].startswith("http://127.0.0.1")
    assert "sk-primary-secret" not in text and "sk-ant-backup-secret" not in text


async def test_health_route_without_master_key_is_closed(fakes, serve):
    primary, _ = fakes
    cfg = model_config(f"{primary.base}/v1")
    cfg.pop("master_key")
    srv = await serve(cfg)
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{srv.url}/v1/health/deployments", headers={"authorization": "Bearer "}) as r:
            assert r.status == 401 and "master key" in (await r.json())["error"]["message"]


async def test_real_backoff_is_short_and_jittered(fakes, serve):
    primary, _ = fakes
    cfg = model_config(f"{primary.base}/v1")
    cfg["models"][0]["max_attempts"] = 3
    cfg["models"][0]["breaker"] = {"failure_threshold": 5}
    srv = await serve(cfg, real_sleep=True)
    await primary.script({"status": 503}, {"status": 503})
    t0 = time.monotonic()
    r = await srv.client().chat.completions.with_raw_response.create(model="primary", messages=MSG)
    assert r.headers["x-faregate-attempts"] == "3"
    assert time.monotonic() - t0 < 0.1 + 0.2 + 0.3  # full jitter under 100 ms then 200 ms, plus the calls
    assert len(await primary.requests()) == 3


def test_example_config_serves_fake_resilient():
    cfg = load_config(Path(__file__).resolve().parents[2] / "examples" / "fake-providers.yaml", env={})
    m = cfg.model("fake-resilient")
    assert m is not None and m.provider == "openai" and m.fallbacks == ["fake-anthropic"]
    assert cfg.model("fake-anthropic").provider == "anthropic"


async def test_anthropic_front_fails_over_and_errors_in_band(fakes, serve):
    """The same rules through POST /v1/messages, with the official anthropic SDK."""
    import anthropic

    primary, backup = fakes
    cfg = model_config(f"{primary.base}/v1", backup.base)
    cfg["models"][0]["breaker"]["failure_threshold"] = 3  # two 503s below (a quick retry) keep it closed
    srv = await serve(cfg)
    client = anthropic.AsyncAnthropic(base_url=srv.url, api_key=KEY, max_retries=0, timeout=10)
    try:
        await primary.script({"status": 400})
        with pytest.raises(anthropic.BadRequestError) as ei:
            await client.messages.create(model="primary", max_tokens=50, messages=MSG)
        assert ei.value.response.headers["x-faregate-attempts"] == "1"

        await primary.script({"status": 503}, {"status": 503})  # (the first 503 gets a quick retry)
        await backup.script({"text": "from the backup"})
        raw = await client.messages.with_raw_response.create(model="primary", max_tokens=50, messages=MSG)
        msg = await raw.parse()
        assert msg.content[0].text == "from the backup"
        assert raw.headers["x-faregate-fallback"] == "backup" and raw.headers["x-faregate-attempts"] == "3"

        await primary.script({"text": PRIMARY, "chunks": 4, "cut_after_chunks": 2})
        got = []
        with pytest.raises(anthropic.APIError):
            async with client.messages.stream(model="primary", max_tokens=50, messages=MSG) as stream:
                async for text in stream.text_stream:
                    got.append(text)
        assert got and PRIMARY.startswith("".join(got)) and "".join(got) != PRIMARY
        assert len(await backup.requests()) == 1  # no switch after the first byte

    finally:
        await client.close()


PRIMARY = "Four parts of the primary's answer."


async def test_context_length_goes_to_the_context_fallback(fakes, serve):
    primary, backup = fakes
    cfg = model_config(f"{primary.base}/v1", backup.base)
    cfg["models"][0]["fallbacks"] = []
    cfg["models"][0]["context_fallback"] = "backup"
    srv = await serve(cfg)
    await primary.script({"status": 400, "error_message": "This model's maximum context length is 8192 tokens."})
    await backup.script({"text": "long context answer"})
    r = await srv.client().chat.completions.with_raw_response.create(model="primary", messages=MSG)
    assert r.parse().choices[0].message.content == "long context answer"
    assert r.headers["x-faregate-fallback"] == "backup" and r.headers["x-faregate-attempts"] == "2"
    ctx = await srv.last_context()
    assert [a.status for a in ctx.attempts] == ["context_length", "ok"]
    assert srv.deployment("primary").breaker.consecutive_failures == 0  # not the deployment's fault
