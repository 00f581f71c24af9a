"""Executor unit tests: the attempt loop's decisions, against a tiny scripted upstream on loopback.

(The full fault matrix with the fake providers and the openai SDK is in ``tests/reliability``.)
"""

from __future__ import annotations

import asyncio
import random

import orjson
import pytest
from aiohttp import web

from faregate.config import GatewayConfig
from faregate.core.errors import InvalidRequest, UpstreamError
from faregate.core.types import ChatRequest, TextDelta
from faregate.endpoints.balancer import Balancer
from faregate.endpoints.deployments import DeploymentRegistry
from faregate.endpoints.http import HttpPool
from faregate.pipeline.context import RequestContext
from faregate.pipeline.executor import Executor
from faregate.pipeline.retry_policy import BACKOFF_CAP_S


class Upstream:
    """An OpenAI-wire upstream answering a script of (status, headers, body-or-stream) per request."""

    def __init__(self) -> None:
        self.script: list[dict] = []
        self.calls = 0
        self.closed_early = 0
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.handle)
        self.runner = web.AppRunner(app, handler_cancellation=True)

    async def start(self) -> str:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.calls += 1
        body = await request.json()
        b = self.script.pop(0) if self.script else {}
        status = b.get("status", 200)
        headers = b.get("headers", {})
        if status >= 400:
            return web.json_response(
                {"error": {"message": b.get("message", f"status {status}")}}, status=status, headers=headers
            )
        usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        if not body.get("stream"):
            return web.json_response(
                {
                    "id": "x",
                    "object": "chat.completion",
                    "created": 1,
                    "model": "m",
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
                    ],
                    "usage": usage,
                }
            )
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        try:
            for i, piece in enumerate(b.get("chunks", ["hel", "lo"])):
                if b.get("stall_after") == i:
                    await asyncio.sleep(3600)
                chunk = {
                    "id": "x",
                    "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
                }
                await resp.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
            end = {
                "id": "x",
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            }
            await resp.write(b"data: " + orjson.dumps(end) + b"\n\n")
            await resp.write(b"data: " + orjson.dumps({"id": "x", "choices": [], "usage": usage}) + b"\n\n")
            await resp.write(b"data: [DONE]\n\n")
        except asyncio.CancelledError:
            self.closed_early += 1
            raise
        return resp


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, s: float) -> None:
        self.calls.append(s)


def config(url: str, **model) -> GatewayConfig:
    base = {
        "name": "m",
        "provider": "openai",
        "base_url": url,
        "prices": {"input": 1, "output": 2},
        "max_attempts": 3,
        "timeouts": {"connect": 1, "ttfb": 1, "idle": 0.3, "total": 10},
    }
    other = {"name": "big", "provider": "openai", "base_url": url}
    return GatewayConfig.model_validate({"models": [{**base, **model}, other]})


@pytest.fixture
async def upstream():
    u = Upstream()
    u.url = await u.start()
    yield u
    await u.runner.cleanup()


@pytest.fixture
async def make():
    pools = []

    async def _make(cfg: GatewayConfig, **kw):
        pool = HttpPool()
        await pool.start()
        pools.append(pool)
        sleeps = Sleeps()
        ex = Executor(
            cfg.models, DeploymentRegistry(cfg.models), pool, retry=cfg.retry, sleep=sleeps, rng=random.Random(1), **kw
        )
        return ex, sleeps

    yield _make
    for p in pools:
        await p.close()


def ctx_for(*models: str, stream: bool = False) -> RequestContext:
    ctx = RequestContext(
        request=ChatRequest(model=models[0], messages=[{"role": "user", "content": "x"}], stream=stream)
    )
    ctx.candidates = list(models)
    return ctx


def test_full_jitter_backoff_bounds():
    ex = Executor([], None, None, rng=random.Random(7))
    for n in range(12):
        cap = min(BACKOFF_CAP_S, 0.1 * 2**n)
        draws = [ex.policy.backoff(n, None) for _ in range(200)]
        assert all(0 <= d <= cap for d in draws)
        assert max(draws) > cap * 0.8  # the whole range is used: full jitter
    assert ex.policy.backoff(0, 2.5) == 2.5  # Retry-After is a floor


async def test_transient_retries_with_backoff_then_succeeds(upstream, make):
    ex, sleeps = await make(config(upstream.url))
    upstream.script = [{"status": 500}, {"status": 503}]
    ctx = ctx_for("m")
    reply = await ex(ctx)
    assert reply.response.content == "hi"
    assert [a.status for a in ctx.attempts] == ["transient", "transient", "ok"]
    assert len(sleeps.calls) == 2 and sleeps.calls[0] <= 0.1 and sleeps.calls[1] <= 0.2
    dep = ex.registry.deployments("m")[0]
    assert dep.in_flight == 0 and dep.failures == 2 and dep.successes == 1


async def test_other_deployment_tried_at_once_before_backing_off(upstream, make):
    cfg = config(
        upstream.url,
        deployments=[{"name": "a", "priority": 0}, {"name": "b", "priority": 1}],
        strategy="priority",
        failover={"quick_retry": False},  # the quick retry of the same deployment has its own test
    )
    ex, sleeps = await make(cfg)
    upstream.script = [{"status": 502}, {"status": 502}]
    ctx = ctx_for("m")
    await ex(ctx)
    assert [(a.deployment, a.status) for a in ctx.attempts] == [("a", "transient"), ("b", "transient"), ("a", "ok")]
    assert len(sleeps.calls) == 1  # only before calling a deployment that already failed


async def test_retry_after_honoured_as_floor_and_cools_the_deployment(upstream, make):
    ex, sleeps = await make(config(upstream.url))
    upstream.script = [{"status": 503, "headers": {"retry-after": "2"}}]
    ctx = ctx_for("m")
    await ex(ctx)
    assert sleeps.calls == [2.0]
    assert ex.registry.deployments("m")[0].cooling()


async def test_transient_with_a_fallback_fails_over_at_once(upstream, make):
    ex, sleeps = await make(config(upstream.url, fallbacks=["big"], failover={"quick_retry": False}))
    upstream.script = [{"status": 500}]
    ctx = ctx_for("m", "big")
    await ex(ctx)
    assert sleeps.calls == [] and [a.status for a in ctx.attempts] == ["transient", "ok"]
    assert ctx.answered_model == "big"


async def test_a_one_off_500_is_retried_once_quickly_on_the_same_deployment(upstream, make):
    ex, sleeps = await make(config(upstream.url, fallbacks=["big"]))
    upstream.script = [{"status": 500}]
    ctx = ctx_for("m", "big")
    await ex(ctx)
    assert [(a.model, a.status) for a in ctx.attempts] == [("m", "transient"), ("m", "ok")]
    assert len(sleeps.calls) == 1 and 0 <= sleeps.calls[0] <= 0.25  # jittered, at most 250 ms
    # Only once: a second 500 goes to the fallback.
    upstream.script = [{"status": 500}, {"status": 500}]
    ctx = ctx_for("m", "big")
    await ex(ctx)
    assert [(a.model, a.status) for a in ctx.attempts] == [("m", "transient"), ("m", "transient"), ("big", "ok")]


async def test_a_short_retry_after_is_waited_out_on_the_same_deployment(upstream, make):
    ex, sleeps = await make(config(upstream.url, fallbacks=["big"]))
    upstream.script = [{"status": 429, "headers": {"retry-after": "2"}}]
    ctx = ctx_for("m", "big")
    await ex(ctx)
    assert [(a.model, a.status) for a in ctx.attempts] == [("m", "credential"), ("m", "ok")]
    assert sleeps.calls == [2.0]
    # A long one (over retry_after_wait_max_s) falls back at once, as before.
    upstream.script = [{"status": 429, "headers": {"retry-after": "5"}}]
    ctx = ctx_for("m", "big")
    ex.registry.deployments("m")[0].cooldown_until = 0.0
    await ex(ctx)
    assert [(a.model, a.status) for a in ctx.attempts] == [("m", "credential"), ("big", "ok")]
    assert sleeps.calls == [2.0]


async def test_retry_before_fallback_retries_in_place_first(upstream, make):
    ex, sleeps = await make(config(upstream.url, fallbacks=["big"], retry_before_fallback=True))
    upstream.script = [{"status": 500}, {"status": 500}]
    ctx = ctx_for("m", "big")
    await ex(ctx)
    assert len(sleeps.calls) == 2 and [a.model for a in ctx.attempts] == ["m", "m", "m"]


async def test_retry_after_with_a_fallback_fails_over_instead_of_waiting(upstream, make):
    ex, sleeps = await make(config(upstream.url, fallbacks=["big"], retry_before_fallback=True))
    upstream.script = [{"status": 503, "headers": {"retry-after": "5"}}]
    ctx = ctx_for("m", "big")
    await ex(ctx)
    assert sleeps.calls == [] and ctx.answered_model == "big" and ctx.fallback_used


async def test_retry_after_beyond_the_deadline_is_not_waited(upstream, make):
    ex, sleeps = await make(config(upstream.url))
    upstream.script = [{"status": 503, "headers": {"retry-after": "30"}}]
    ctx = ctx_for("m")
    with pytest.raises(UpstreamError) as ei:
        await ex(ctx)
    assert sleeps.calls == [] and len(ctx.attempts) == 1
    assert ei.value.status == 502 and ctx.status == 502


async def test_rate_limit_cools_down_and_moves_on(upstream, make):
    ex, sleeps = await make(config(upstream.url, fallbacks=["big"]))
    upstream.script = [{"status": 429, "headers": {"retry-after": "7"}}]
    ctx = ctx_for("m", "big")
    await ex(ctx)
    dep = ex.registry.deployments("m")[0]
    assert 6 < dep.cooldown_until - asyncio.get_running_loop().time() <= 7.1 or dep.cooling()
    assert sleeps.calls == [] and ctx.answered_model == "big"
    # The next request skips the cooling deployment without calling it.
    calls = upstream.calls
    ctx2 = ctx_for("m", "big")
    await ex(ctx2)
    assert upstream.calls == calls + 1 and ctx2.answered_model == "big" and len(ctx2.attempts) == 1


async def test_rate_limit_without_fallback_is_a_429_with_retry_after(upstream, make):
    ex, _ = await make(config(upstream.url))
    # (a Retry-After over retry_after_wait_max_s: a shorter one is waited out, tested above)
    upstream.script = [{"status": 429, "headers": {"retry-after": "5"}}]
    with pytest.raises(UpstreamError) as ei:
        await ex(ctx_for("m"))
    assert ei.value.status == 429 and ei.value.headers["retry-after"] == "5"
    # While it cools down, a request gets a 503 saying so, with the wait.
    with pytest.raises(UpstreamError) as ei:
        await ex(ctx_for("m"))
    assert ei.value.status == 503 and int(ei.value.headers["retry-after"]) in (4, 5)


async def test_exponential_cooldown_without_retry_after(upstream, make):
    ex, _ = await make(config(upstream.url, fallbacks=["big"]))
    dep = ex.registry.deployments("m")[0]
    for expected in (1.0, 2.0, 4.0):
        dep.cooldown_until = 0.0
        upstream.script = [{"status": 401}]
        await ex(ctx_for("m", "big"))
        assert dep.cooldown_s == expected


async def test_client_error_not_retried_and_passed_on(upstream, make):
    ex, sleeps = await make(config(upstream.url, fallbacks=["big"]))
    upstream.script = [{"status": 400, "message": "messages[0].content: bad value"}]
    ctx = ctx_for("m", "big")
    with pytest.raises(UpstreamError) as ei:
        await ex(ctx)
    assert ei.value.status == 400 and "messages[0].content: bad value" in ei.value.message
    assert upstream.calls == 1 and sleeps.calls == []
    br = ex.registry.deployments("m")[0].breaker
    assert br.consecutive_failures == 0


async def test_context_length_goes_to_context_fallback(upstream, make):
    ex, _ = await make(config(upstream.url, context_fallback="big"))
    upstream.script = [{"status": 400, "message": "This model's maximum context length is 8192 tokens"}]
    ctx = ctx_for("m")
    await ex(ctx)
    assert [a.status for a in ctx.attempts] == ["context_length", "ok"] and ctx.answered_model == "big"


async def test_breaker_opens_and_skips_deployment(upstream, make):
    ex, _ = await make(
        config(
            upstream.url,
            fallbacks=["big"],
            max_attempts=2,
            retry_before_fallback=True,
            breaker={"failure_threshold": 2, "cooldown_s": 60},
        )
    )
    upstream.script = [{"status": 500}, {"status": 500}]
    ctx = ctx_for("m", "big")
    await ex(ctx)
    assert ex.registry.deployments("m")[0].breaker.state == "open"
    ctx2 = ctx_for("m", "big")
    await ex(ctx2)
    assert [a.deployment for a in ctx2.attempts] == ["big#0"]


async def test_open_circuit_without_fallback_is_503(upstream, make):
    ex, _ = await make(config(upstream.url, max_attempts=1, breaker={"failure_threshold": 1, "cooldown_s": 60}))
    upstream.script = [{"status": 500}]
    with pytest.raises(UpstreamError):
        await ex(ctx_for("m"))
    with pytest.raises(UpstreamError) as ei:
        await ex(ctx_for("m"))
    assert ei.value.status == 503 and "circuit" in ei.value.message and ei.value.headers["retry-after"]


async def test_in_flight_released_when_the_adapter_refuses(upstream, make, monkeypatch):
    ex, _ = await make(config(upstream.url))
    dep = ex.registry.deployments("m")[0]

    def refuse(*a, **k):
        raise InvalidRequest("nope")

    monkeypatch.setattr(dep.adapter, "build_request", refuse)
    with pytest.raises(InvalidRequest):
        await ex(ctx_for("m"))
    assert dep.in_flight == 0


async def test_stream_counts_attempt_when_opened_and_settles_at_end(upstream, make):
    ex, _ = await make(config(upstream.url))
    upstream.script = [{"status": 500}]
    ctx = ctx_for("m", stream=True)
    reply = await ex(ctx)
    assert len(ctx.attempts) == 2 and ctx.attempts[-1].status == "streaming"
    dep = ex.registry.deployments("m")[0]
    assert dep.in_flight == 1
    text = "".join([ev.text async for ev in reply.events if isinstance(ev, TextDelta)])
    assert text == "hello" and ctx.attempts[-1].status == "ok" and dep.in_flight == 0
    assert ctx.usage.input_tokens == 10 and ctx.cost_usd == pytest.approx((10 * 1 + 5 * 2) / 1e6)


async def test_stream_closed_before_iteration_closes_upstream(upstream, make):
    ex, _ = await make(config(upstream.url))
    upstream.script = [{"stall_after": 1}]
    ctx = ctx_for("m", stream=True)
    reply = await ex(ctx)
    await reply.events.aclose()
    dep = ex.registry.deployments("m")[0]
    assert dep.in_flight == 0 and ctx.client_disconnected and ctx.attempts[-1].status == "cancelled"
    for _ in range(100):
        if upstream.closed_early:
            break
        await asyncio.sleep(0.01)
    assert upstream.closed_early == 1
    assert dep.breaker.consecutive_failures == 0


async def test_stall_mid_stream_raises_in_band_and_counts_as_failure(upstream, make):
    ex, _ = await make(config(upstream.url, fallbacks=["big"]))
    upstream.script = [{"stall_after": 1}]
    ctx = ctx_for("m", "big", stream=True)
    reply = await ex(ctx)
    got = []
    with pytest.raises(UpstreamError) as ei:
        async for ev in reply.events:
            got.append(ev)
    assert ei.value.kind == "timeout" and "stalled" in ei.value.message
    assert [e.text for e in got if isinstance(e, TextDelta)] == ["hel"]
    assert ctx.answered_model == "m"  # never switched after the first byte
    dep = ex.registry.deployments("m")[0]
    assert dep.failures == 1 and dep.breaker.consecutive_failures == 1 and dep.in_flight == 0


async def test_deadline_bounds_all_attempts(upstream, make):
    ex, _ = await make(config(upstream.url, timeouts={"connect": 1, "ttfb": 0.2, "idle": 1, "total": 0.5}))
    upstream.script = [{"stall_after": 0}] * 5
    ctx = ctx_for("m", stream=True)
    t0 = asyncio.get_running_loop().time()
    with pytest.raises(UpstreamError) as ei:
        await ex(ctx)
    assert asyncio.get_running_loop().time() - t0 < 1.0
    assert ei.value.status == 504


class TestBalancer:
    def deps(self, n=3, **model):
        cfg = GatewayConfig.model_validate(
            {
                "models": [
                    {
                        "name": "m",
                        "base_url": "http://x/v1",
                        "deployments": [
                            {
                                "name": f"d{i}",
                                "weight": [1, 2, 7][i % 3],
                                "priority": n - i,
                                "prices": {"input": i + 1, "output": 1},
                            }
                            for i in range(n)
                        ],
                        **model,
                    }
                ]
            }
        )
        return DeploymentRegistry(cfg.models).deployments("m")

    def test_weighted_follows_weights(self):
        b = Balancer(random.Random(3))
        deps = self.deps()
        firsts = [b.order("m", "weighted", deps)[0].id for _ in range(5000)]
        share = firsts.count("d2") / 5000
        assert 0.64 < share < 0.76  # weight 7 of 10

    def test_round_robin_rotates(self):
        b = Balancer()
        deps = self.deps()
        assert [b.order("m", "round_robin", deps)[0].id for _ in range(4)] == ["d0", "d1", "d2", "d0"]

    def test_least_busy_latency_cost_priority(self, monkeypatch):
        import faregate.endpoints.balancer as balancer_mod

        monkeypatch.setattr(balancer_mod, "EXPLORE", 0.0)
        b = Balancer()
        deps = self.deps()
        deps[0].in_flight, deps[1].in_flight, deps[2].in_flight = 5, 0, 2
        assert b.order("m", "least_busy", deps)[0].id == "d1"
        deps[0].ttft_ewma_ms, deps[1].ttft_ewma_ms, deps[2].ttft_ewma_ms = 50, 80, 20
        assert [d.id for d in b.order("m", "latency", deps)] == ["d2", "d0", "d1"]
        assert b.order("m", "cost", deps)[0].id == "d0"
        assert [d.id for d in b.order("m", "priority", deps)] == ["d2", "d1", "d0"]

    def test_latency_explores_now_and_then(self):
        b = Balancer(random.Random(5))
        deps = self.deps()
        deps[0].ttft_ewma_ms, deps[1].ttft_ewma_ms, deps[2].ttft_ewma_ms = 50, 80, 20
        firsts = [b.order("m", "latency", deps)[0].id for _ in range(4000)]
        assert 0.03 < 1 - firsts.count("d2") / 4000 < 0.07

    def test_cooling_and_open_circuits_skipped(self):
        from faregate.endpoints.health import DeploymentHealth

        b = Balancer()
        deps = self.deps()
        deps[0].cooldown_until = float("inf")
        for _ in range(5):
            deps[1].breaker.record_failure("x")
        assert [d.id for d in b.order("m", "priority", deps, DeploymentHealth().usable)] == ["d2"]
