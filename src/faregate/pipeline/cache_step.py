"""The cache step: answer from the response cache, or call on and fill it.

Placed after auth, the allow-list, limits and model resolution, before routing: a hit skips
routing and the upstream entirely (so it costs $0, feeds no learner, and still counts one
request against rate limits, which ran before). Order on each request:

1. per-request directives (``faregate.cache`` / ``x-faregate-cache`` / ``Cache-Control``);
2. is it cacheable (cache on for the route, no ``sampled`` temperature unless allowed);
3. exact lookup: memory without awaiting, then the slower layers that may hold the key;
4. semantic lookup, when asked for and the request's shape allows it;
5. a miss joins the in-flight table: the first identical request calls on, the others follow it;
6. the leader's complete, successful answer is stored (memory now, the rest in the background).

Each request's ``ctx.cache_outcome`` says what the step did, for the metrics, the trace and the
access log: ``hit``, ``semantic_hit``, ``coalesced`` (served from an identical request's call),
``miss`` (called upstream, stored if complete), ``bypass`` (not cacheable: sampled, or the
route's cache is off); None when the cache is off.

A miss is the common case and what every cacheable request pays, so its path does no more
than: one key digest, one dict lookup in memory, the in-flight table, and the store.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Mapping
from typing import NamedTuple

from ..cache.coalesce import Flight, LeaderFailed
from ..cache.directives import NONE, Directives, parse
from ..cache.entry import CachedAnswer
from ..cache.keys import CacheKey, make_key, params_hash, scope_of
from ..cache.policy import Policy, is_sampled, policy_for, semantic_prompt
from ..cache.service import CacheService, Found
from ..config import CacheConfig, RouteCacheConfig
from ..core.errors import UpstreamError
from ..core.types import ChatResponse, Event, Finish, collect
from ..core.usage import Usage
from .context import Reply, RequestContext
from .step import Next, Step

HEADER = "x-faregate-cache"
OUTCOME = {"exact": "hit", "semantic": "semantic_hit"}


class _Plan(NamedTuple):  # a tuple: made on every cacheable request
    key: CacheKey
    policy: Policy
    directives: Directives
    semantic_group: str | None  # set when this request may read or feed the semantic index
    semantic_text: str = ""
    threshold: float = 0.0
    t0: float = 0.0  # when the lookup began (the trace's ``cache.lookup`` span)


class CacheStep(Step):
    def __init__(
        self, config: CacheConfig, service: CacheService | None, routes: Mapping[str, RouteCacheConfig | None]
    ) -> None:
        self.cfg, self.svc = config, service
        self._policies = {name: policy_for(config, rc) for name, rc in routes.items()}
        self._default = policy_for(config, None)

    def handle(self, ctx: RequestContext, call_next: Next) -> Awaitable[Reply]:
        ctx.request.prompt_caching = self.cfg.provider_prompt_caching  # read by the Anthropic adapter
        routing = ctx.request.routing
        raw = routing.pop("cache", None) if routing else None
        directives = parse(raw) if raw is not None else NONE
        if self.svc is None or not self.cfg.enabled:
            return call_next(ctx)
        plan = self._plan(ctx, directives)
        if plan is None:
            ctx.response_headers[HEADER] = ctx.cache_outcome = "bypass"
            return call_next(ctx)
        if directives.no_cache:
            return self._miss(ctx, call_next, plan)
        ans = self.svc.get_fast(plan.key.key)
        if ans is not None:
            return _ready(self._hit(ctx, plan, Found(ans, "memory"), "exact"))
        if plan.semantic_group is None and not self.svc.may_be_slow_hit(plan.key.key):
            return self._miss(ctx, call_next, plan)  # the common miss: nothing else to look up
        return self._lookup_then_call(ctx, call_next, plan)

    def _plan(self, ctx: RequestContext, d: Directives) -> _Plan | None:
        t0 = time.perf_counter()
        req = ctx.request
        policy = self._policies.get(req.model, self._default)
        if not policy.enabled or (d.no_store and d.no_cache):
            return None
        if is_sampled(req) and not (self.cfg.cache_sampled or d.sampled):
            return None
        p = ctx.principal
        key = make_key(req, scope_of(policy.scope, p.key_id if p else None, p.team if p else None))
        threshold = d.semantic if d.semantic is not None else (policy.threshold if policy.semantic else 0.0)
        sem = semantic_prompt(req, self.cfg.semantic_max_messages) if threshold > 0 else None
        if sem is None:
            return _Plan(key, policy, d, None, t0=t0)
        return _Plan(key, policy, d, f"{params_hash(req, key.scope_hash)}.{sem[0]}", sem[1], threshold, t0)

    async def _lookup_then_call(self, ctx: RequestContext, call_next: Next, plan: _Plan) -> Reply:
        svc = self.svc
        assert svc is not None
        found = await svc.get_slow(plan.key.key) if svc.may_be_slow_hit(plan.key.key) else None
        if found is not None:
            return self._hit(ctx, plan, found, "exact")
        if plan.semantic_group is not None:
            found = await self._semantic(plan)
            if found is not None:
                return self._hit(ctx, plan, found, "semantic")
        return await self._miss(ctx, call_next, plan)

    async def _miss(self, ctx: RequestContext, call_next: Next, plan: _Plan) -> Reply:
        """Call on (or follow an identical call in flight) and store a complete answer."""
        svc = self.svc
        assert svc is not None
        p = ctx.principal
        svc.count("miss", model=ctx.request.model, key_id=p.key_id if p else None)
        ctx.response_headers[HEADER] = ctx.cache_outcome = "miss"
        ctx.record_span("cache.lookup", plan.t0, outcome="miss")
        flight = None
        if self.cfg.coalesce and not plan.directives.no_cache:
            flight, lead = svc.flights.join(plan.key.key)
            if not lead:
                return await self._follow(ctx, call_next, plan, flight)
        try:
            reply = await call_next(ctx)
        except BaseException:
            self._land(plan, flight, ok=False)
            raise
        return self._after(ctx, plan, flight, reply)

    async def _semantic(self, plan: _Plan) -> Found | None:
        svc = self.svc
        assert svc is not None and plan.semantic_group is not None
        hit = svc.semantic_index().nearest(plan.semantic_group, plan.semantic_text, plan.threshold)
        if hit is None:
            return None
        ans = svc.get_fast(hit.key)
        if ans is not None:
            return Found(ans, "memory", hit.similarity)
        found = await svc.get_slow(hit.key)
        if found is not None:
            found.similarity = hit.similarity
        return found

    # -- hits ------------------------------------------------------------------------------

    def _hit(self, ctx: RequestContext, plan: _Plan, found: Found, kind: str) -> Reply:
        ans = found.answer
        p = ctx.principal
        if self.svc is not None:
            self.svc.count(kind, model=ctx.request.model, key_id=p.key_id if p else None, saved_usd=ans.cost_usd)
        h = ctx.response_headers
        h[HEADER] = "semantic-hit" if kind == "semantic" else "hit"
        h["x-faregate-cache-age"] = str(max(0, int(time.time() - ans.created_at)))
        h["x-faregate-cache-filled-by"] = ans.request_id
        h["x-faregate-cache-layer"] = found.layer
        if found.similarity is not None:
            h["x-faregate-cache-similarity"] = f"{found.similarity:.4f}"
        self._account(ctx, ans, kind)
        ctx.record_span("cache.lookup", plan.t0, outcome=OUTCOME[kind], layer=found.layer)
        if ctx.request.stream:
            return Reply(events=_replay(ans.events()))
        return Reply(response=ans.response(ctx.request_id))

    def _account(self, ctx: RequestContext, ans: CachedAnswer, kind: str) -> None:
        ctx.cache_hit, ctx.cache_kind, ctx.cache_saved_usd = True, kind, ans.cost_usd
        ctx.cache_outcome = OUTCOME[kind]
        ctx.answered_model, ctx.answered_by = ans.model, "cache"
        ctx.response_text = ans.content
        ctx.ttft_ms = ctx.elapsed_ms()
        if self.cfg.hits_count_in_budgets:
            ctx.usage, ctx.cost_usd = ans.usage, ans.cost_usd
        else:
            ctx.usage, ctx.cost_usd = Usage(), 0.0

    # -- misses ----------------------------------------------------------------------------

    async def _call(self, ctx: RequestContext, call_next: Next, plan: _Plan) -> Reply:
        """A follower whose leader failed: call on alone (not coalesced again)."""
        reply = await call_next(ctx)
        return self._after(ctx, plan, None, reply)

    def _after(self, ctx: RequestContext, plan: _Plan, flight: Flight | None, reply: Reply) -> Reply:
        if flight is not None:  # the executor named the answering model before it returned
            flight.model = ctx.answered_model or (reply.response.model if reply.response is not None else "")
        if reply.response is not None:
            ok = ctx.status == 200 and ctx.error_class is None
            if ok:
                self._store(ctx, plan, reply.response)
            if flight is not None and flight.followers:
                for ev in CachedAnswer.of(reply.response, model="", cost_usd=0, request_id="", prompt="").events():
                    flight.publish(ev)
            self._land(plan, flight, ok=ok)
            return reply
        assert reply.events is not None
        reply.events = self._recording(ctx, plan, reply.events, flight)
        return reply

    async def _recording(
        self, ctx: RequestContext, plan: _Plan, events: AsyncIterator[Event], flight: Flight | None
    ) -> AsyncIterator[Event]:
        seen: list[Event] = []
        ok = False
        try:
            async for ev in events:
                seen.append(ev)
                if flight is not None:
                    flight.publish(ev)
                yield ev
            ok = any(isinstance(e, Finish) for e in seen) and not ctx.failed_after_first_byte
        finally:
            if ok:
                resp = collect(seen, default_id=ctx.request_id, model=ctx.answered_model or ctx.request.model)
                self._store(ctx, plan, resp)
            self._land(plan, flight, ok=ok)
            await events.aclose()  # type: ignore[attr-defined]

    def _land(self, plan: _Plan, flight: Flight | None, *, ok: bool) -> None:
        if flight is not None and self.svc is not None:
            self.svc.flights.land(plan.key.key, flight, ok=ok)

    def _store(self, ctx: RequestContext, plan: _Plan, resp: ChatResponse) -> None:
        if plan.directives.no_store or self.svc is None:
            return
        group, text = self._semantic_of(ctx, plan) if plan.policy.semantic or plan.semantic_group else (None, "")
        ans = CachedAnswer.of(
            resp,
            model=ctx.answered_model or resp.model or ctx.request.model,
            cost_usd=ctx.cost_usd,
            request_id=ctx.request_id,
            prompt=text,
        )
        if group is not None:
            # The entry records its group and semantic lifetime, so the index can be rebuilt
            # from the persistent layers after a restart.
            ttl = min(plan.directives.ttl_s or plan.policy.semantic_ttl_s, plan.policy.semantic_ttl_s)
            ans.group, ans.semantic_until = group, ans.created_at + ttl
        self.svc.put(plan.key.key, ans, plan.directives.ttl_s or plan.policy.ttl_s)
        if group is not None:
            self.svc.semantic_index().add(group, plan.key.key, text, ans.semantic_until - ans.created_at)

    def _semantic_of(self, ctx: RequestContext, plan: _Plan) -> tuple[str | None, str]:
        if plan.semantic_group is not None:
            return plan.semantic_group, plan.semantic_text
        sem = semantic_prompt(ctx.request, self.cfg.semantic_max_messages)
        return (f"{params_hash(ctx.request, plan.key.scope_hash)}.{sem[0]}", sem[1]) if sem else (None, "")

    # -- followers -------------------------------------------------------------------------

    async def _follow(self, ctx: RequestContext, call_next: Next, plan: _Plan, flight: Flight) -> Reply:
        """Served from the leader's call; when the leader fails first, call on alone."""
        if not ctx.request.stream:
            try:
                events = await flight.wait_done()
            except LeaderFailed:
                return await self._call(ctx, call_next, plan)
            resp = collect(list(events), default_id=ctx.request_id, model=flight.model or ctx.request.model)
            return self._coalesced(ctx, resp, Reply(response=resp), flight.model)
        it = flight.follow()
        try:
            first = await it.__anext__()
        except LeaderFailed:
            return await self._call(ctx, call_next, plan)
        except StopAsyncIteration:
            return await self._call(ctx, call_next, plan)
        return self._coalesced(ctx, None, Reply(events=_followed(first, it)), flight.model)

    def _coalesced(self, ctx: RequestContext, resp: ChatResponse | None, reply: Reply, model: str) -> Reply:
        """A follower's reply, answered by the model that answered its leader (as a hit says)."""
        ctx.cache_hit, ctx.cache_kind, ctx.cache_outcome = True, "coalesced", "coalesced"
        ctx.answered_by = "cache"
        ctx.usage, ctx.cost_usd = Usage(), 0.0
        ctx.response_headers[HEADER] = "hit"
        ctx.response_headers["x-faregate-cache-coalesced"] = "1"
        ctx.answered_model = model or (resp.model if resp is not None else None)
        if resp is not None:
            ctx.response_text = resp.content
        return reply


async def _ready(reply: Reply) -> Reply:
    return reply


async def _replay(events: list[Event]) -> AsyncIterator[Event]:
    for ev in events:
        yield ev


async def _followed(first: Event, rest: AsyncIterator[Event]) -> AsyncIterator[Event]:
    yield first
    try:
        async for ev in rest:
            yield ev
    except LeaderFailed:
        raise UpstreamError(
            "The answer this request shared with an identical one in flight was cut off; retry the request."
        ) from None
