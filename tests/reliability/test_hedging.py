"""Hedged first bytes: the delay (p95 history, the request's ceiling, the bounds), the timer
only when it can fire, one extra call at most, the loser cancelled and billed, route overrides."""

from __future__ import annotations

import time

import pytest

from faregate.config import FailoverConfig
from faregate.pipeline.hedging import TtftHistory, hedge_delay_s

from .conftest import KEY, MASTER

MSG = [{"role": "user", "content": "hello"}]
FAST = {"connect": 0.5, "ttfb": 3.0, "idle": 0.5, "total": 10}


def test_hedge_delay_rules():
    fo = FailoverConfig(hedge_p95_factor=2.0, hedge_min_s=0.25, hedge_default_s=5.0)
    assert hedge_delay_s(fo, None, None) == 5.0  # neither history nor a ceiling
    assert hedge_delay_s(fo, 0.4, None) == pytest.approx(0.8)  # p95 x factor
    assert hedge_delay_s(fo, 0.4, 0.5) == 0.5  # the ceiling, sooner
    assert hedge_delay_s(fo, 3.0, 2.0) == 2.0
    assert hedge_delay_s(fo, 0.01, None) == 0.25  # bounded below
    h = TtftHistory()
    for i in range(100):
        h.observe("d", True, i / 100)
    assert h.p95("d", True, 10) == pytest.approx(0.94)
    assert h.p95("d", False, 10) is None and h.p95("x", True, 10) is None
    h.observe("y", True, 1.0)
    assert h.p95("y", True, 10) is None  # too few samples


def _config(primary_url: str, backup_url: str, primary_provider: str = "anthropic", **extra) -> dict:
    return {
        "models": [
            {
                "name": "primary",
                "provider": primary_provider,
                "base_url": primary_url,
                "api_key": "sk-p",
                "prices": {"input": 1.0, "output": 2.0},
                "timeouts": FAST,
                "fallbacks": ["backup"],
                "failover": {"hedge_default_s": 0.3, "hedge_min_s": 0.1},
                **extra,
            },
            {
                "name": "backup",
                "provider": "openai",
                "base_url": backup_url,
                "api_key": "sk-b",
                "prices": {"input": 3.0, "output": 15.0},
                "timeouts": FAST,
            },
        ],
        "keys": [{"key": KEY}],
        "master_key": MASTER,
        "learning": {"enabled": False},
    }


async def test_the_lost_hedge_is_cancelled_and_its_reported_usage_billed(fakes, serve):
    openai_fake, anthropic_fake = fakes
    srv = await serve(_config(anthropic_fake.base, f"{openai_fake.base}/v1"), real_sleep=True)
    # The primary (Anthropic wire) sends message_start with its input tokens, then nothing for 2 s.
    await anthropic_fake.script({"ttft_ms": 2000, "usage": {"input_tokens": 40, "output_tokens": 3}})
    await openai_fake.script({"text": "hedge wins", "usage": {"input_tokens": 10, "output_tokens": 2}})
    t0 = time.monotonic()
    s = await srv.client().chat.completions.create(model="primary", messages=MSG, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in s if c.choices])
    assert text == "hedge wins" and time.monotonic() - t0 < 1.2
    ctx = await srv.last_context()
    lost = [a for a in ctx.attempts if a.status == "hedge_lost"]
    assert ctx.hedged and ctx.hedge_winner == "hedge" and len(lost) == 1
    assert lost[0].usage is not None and lost[0].usage.input_tokens == 40
    assert lost[0].cost_usd >= 40 * 1.0 / 1e6  # what message_start reported, at the primary's prices
    assert ctx.cost_usd == pytest.approx(lost[0].cost_usd + (10 * 3.0 + 2 * 15.0) / 1e6)
    reqs = await anthropic_fake.requests()
    assert len(reqs) == 1 and len(ctx.attempts) == 2  # one extra call, no more
    dep = srv.deployment("primary")
    assert dep.in_flight == 0 and dep.breaker.consecutive_failures == 0  # a lost hedge is neutral
    assert not ctx.client_disconnected


async def test_a_prompt_first_call_is_not_hedged(fakes, serve):
    openai_fake, anthropic_fake = fakes
    srv = await serve(_config(anthropic_fake.base, f"{openai_fake.base}/v1"), real_sleep=True)
    await anthropic_fake.script({"ttft_ms": 50})
    r = await srv.client().chat.completions.create(model="primary", messages=MSG)
    assert r.choices[0].message.content
    assert await openai_fake.requests() == []
    assert not (await srv.last_context()).hedged


async def test_no_hedge_timer_without_a_second_candidate_or_past_the_first_byte_timeout(fakes, serve):
    openai_fake, anthropic_fake = fakes
    cfg = _config(anthropic_fake.base, f"{openai_fake.base}/v1")
    cfg["models"][0]["fallbacks"] = []  # nothing to hedge to
    srv = await serve(cfg, real_sleep=True)
    await anthropic_fake.script({"ttft_ms": 600})
    r = await srv.client().chat.completions.create(model="primary", messages=MSG, stream=False)
    assert r.choices[0].message.content and not (await srv.last_context()).hedged
    # A hedge delay longer than the stream's first-byte timeout: never scheduled.
    cfg = _config(anthropic_fake.base, f"{openai_fake.base}/v1", failover={"hedge_default_s": 5.0})
    srv = await serve(cfg, real_sleep=True)
    await anthropic_fake.script({"ttft_ms": 600})
    s = await srv.client().chat.completions.create(model="primary", messages=MSG, stream=True)
    assert "".join([c.choices[0].delta.content or "" async for c in s if c.choices])
    assert not (await srv.last_context()).hedged and await openai_fake.requests() == []


@pytest.mark.parametrize("hedge", [True, False], ids=["route-hedges", "route-does-not"])
async def test_a_route_overrides_the_models_failover(hedge, fakes, serve):
    openai_fake, anthropic_fake = fakes
    cfg = _config(anthropic_fake.base, f"{openai_fake.base}/v1", failover={"hedge": not hedge})
    route_fo = {"hedge": hedge, "hedge_default_s": 0.3, "hedge_min_s": 0.1}
    cfg["routes"] = [{"name": "careful", "candidates": ["primary"], "failover": route_fo}]
    srv = await serve(cfg, real_sleep=True)
    await anthropic_fake.script({"ttft_ms": 700})
    await srv.client().chat.completions.create(model="careful", messages=MSG)
    ctx = await srv.last_context()
    assert ctx.route == "careful" and ctx.candidates[0] == "primary", ctx.candidates
    assert len(ctx.candidates) > 1  # the primary's fallback comes with it: something to hedge to
    assert ctx.hedged is hedge


async def test_a_cold_non_streaming_call_allows_for_its_generation_time(fakes, serve):
    """No history, max_tokens 100 at 200 tokens/s: the hedge waits 0.3 + 0.5 s, so a whole
    answer after 0.6 s is not raced."""
    openai_fake, anthropic_fake = fakes
    cfg = _config(anthropic_fake.base, f"{openai_fake.base}/v1", latency={"tokens_per_s": 200})
    srv = await serve(cfg, real_sleep=True)
    await anthropic_fake.script({"ttft_ms": 600})
    await srv.client().chat.completions.create(model="primary", messages=MSG, max_tokens=100)
    assert not (await srv.last_context()).hedged and await openai_fake.requests() == []
