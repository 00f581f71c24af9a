"""Hedging and tolerant parsing are counted in ``/metrics`` as well as the request log:
``faregate_hedges_total{outcome}`` and ``faregate_stream_events_skipped_total{provider}``,
scraped from a real faregate server and parsed with Prometheus' own parser."""

from __future__ import annotations

import aiohttp
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from .conftest import model_config
from .test_hedging import MSG, _config


async def scrape(url: str) -> dict[tuple[str, tuple], float]:
    async with aiohttp.ClientSession() as s, s.get(url + "/metrics") as r:
        assert r.status == 200
        text = await r.text()
    return {
        (smp.name, tuple(sorted(smp.labels.items()))): smp.value
        for fam in text_string_to_metric_families(text)
        for smp in fam.samples
    }


def hedges(ss: dict, outcome: str) -> float:
    return ss.get(("faregate_hedges_total", (("outcome", outcome),)), 0.0)


async def test_hedges_are_counted_by_outcome(fakes, serve):
    openai_fake, anthropic_fake = fakes
    srv = await serve(_config(anthropic_fake.base, f"{openai_fake.base}/v1"), real_sleep=True)
    client = srv.client()
    await anthropic_fake.script({"ttft_ms": 50})  # prompt: no hedge
    await client.chat.completions.create(model="primary", messages=MSG)
    ss = await scrape(srv.url)
    assert hedges(ss, "hedge") == hedges(ss, "first") == hedges(ss, "failed") == 0
    await anthropic_fake.script({"ttft_ms": 2000})  # silent: the hedge answers
    s = await client.chat.completions.create(model="primary", messages=MSG, stream=True)
    assert "".join([c.choices[0].delta.content or "" async for c in s if c.choices])
    assert (await srv.last_context()).hedge_winner == "hedge"
    await anthropic_fake.script({"ttft_ms": 600})  # slow, hedged, but sooner than the hedge
    await openai_fake.script({"ttft_ms": 2500})
    s = await client.chat.completions.create(model="primary", messages=MSG, stream=True)
    assert "".join([c.choices[0].delta.content or "" async for c in s if c.choices])
    assert (await srv.last_context()).hedge_winner == "first"
    await anthropic_fake.script(*[{"status": 500, "delay_ms": 600}] * 4)  # hedged, and both calls fail
    await openai_fake.script(*[{"status": 500, "delay_ms": 600}] * 4)
    with pytest.raises(openai.APIStatusError):
        await client.chat.completions.create(model="primary", messages=MSG)
    ctx = await srv.last_context()
    assert ctx.hedged and ctx.hedge_winner is None
    ss = await scrape(srv.url)
    assert (hedges(ss, "hedge"), hedges(ss, "first"), hedges(ss, "failed")) == (1, 1, 1)


async def test_skipped_malformed_events_are_counted_by_provider(fakes, serve):
    openai_fake, anthropic_fake = fakes
    srv = await serve(model_config(f"{openai_fake.base}/v1", anthropic_fake.base), real_sleep=True)
    client = srv.client()
    for _ in range(2):
        await openai_fake.script({"text": "a good answer in parts", "chunks": 4, "malformed_sse": True})
        s = await client.chat.completions.create(model="primary", messages=MSG, stream=True)
        assert "".join([c.choices[0].delta.content or "" async for c in s if c.choices]) == "a good answer in parts"
        assert (await srv.last_context()).malformed_skipped == 1
    ss = await scrape(srv.url)
    assert ss.get(("faregate_stream_events_skipped_total", (("provider", "openai"),))) == 2
    assert not any(
        name == "faregate_stream_events_skipped_total" and lbl != (("provider", "openai"),) for name, lbl in ss
    )
