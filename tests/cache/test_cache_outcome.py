"""``ctx.cache_outcome`` per case, which the metrics (``faregate_cache_total``,
``faregate_requests_total``'s ``cache`` label), the trace and the access log read: the cache
step run in process on a real cache service, with a terminal step standing in for routing and
the upstream (it counts its calls)."""

from __future__ import annotations

import asyncio

from faregate.cache.service import CacheService
from faregate.config import CacheConfig
from faregate.core.types import ChatRequest, ChatResponse
from faregate.core.usage import Usage
from faregate.pipeline.cache_step import CacheStep
from faregate.pipeline.context import Principal, Reply, RequestContext


class Upstream:
    def __init__(self) -> None:
        self.calls = 0
        self.gate: asyncio.Event | None = None

    async def __call__(self, ctx: RequestContext) -> Reply:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        ctx.cost_usd = 1e-5
        return Reply(response=ChatResponse(id="x", model="m", content=f"answer {self.calls}", usage=Usage(9, 3)))


def ctx(text: str, **kw) -> RequestContext:
    req = ChatRequest(model="m", messages=[{"role": "user", "content": text}], **{"temperature": 0, **kw})
    return RequestContext(request=req, principal=Principal(key_id="k1", team="red"))


async def run(step: CacheStep, up: Upstream, c: RequestContext) -> str | None:
    await step.handle(c, up)
    assert c.response_headers.get("x-faregate-cache") in (None, "hit", "semantic-hit", "miss", "bypass")
    return c.cache_outcome


async def test_outcome_of_each_case():
    cfg = CacheConfig(enabled=True, semantic=True, semantic_threshold=0.8)
    svc = CacheService.build(cfg, None)
    await svc.start()
    step, up = CacheStep(cfg, svc, {}), Upstream()
    try:
        assert await run(step, up, ctx("How do I reset my password for the portal?")) == "miss"
        assert await run(step, up, ctx("How do I reset my password for the portal?")) == "hit"
        assert await run(step, up, ctx("How do I reset my password for the portal please?")) == "semantic_hit"
        assert await run(step, up, ctx("Write me a poem", temperature=0.9)) == "bypass"
        no_cache = ctx("How do I reset my password for the portal?", routing={"cache": "no-cache"})
        assert await run(step, up, no_cache) == "miss"  # not read: called upstream
        assert up.calls == 3
        # Identical requests in flight together: one leads (a miss), the others follow it.
        up.gate = asyncio.Event()
        same = [ctx("Tell me about caching") for _ in range(3)]
        pending = [asyncio.ensure_future(step.handle(c, up)) for c in same]
        await asyncio.sleep(0.05)
        up.gate.set()
        await asyncio.gather(*pending)
        assert sorted(c.cache_outcome or "" for c in same) == ["coalesced", "coalesced", "miss"]
        assert up.calls == 4
    finally:
        await svc.close()


async def test_no_outcome_when_the_cache_is_off():
    cfg = CacheConfig(enabled=False)
    step, up = CacheStep(cfg, None, {}), Upstream()
    c = ctx("Hello")
    await step.handle(c, up)
    assert c.cache_outcome is None and up.calls == 1
