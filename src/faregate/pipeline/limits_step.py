"""The limits step: reserve before the call, reconcile after it, and say so in headers.

For each scope that applies (the key, its team, the requested model) it builds the limits from
config and the key store (``LimitSet``: rpm/rph/rpd, tpm, cost per hour/day, daily and monthly
budgets, concurrency, a token bucket) and makes ONE all-or-nothing reservation: 1 request, the estimated tokens
(prompt characters / 4 + ``max_tokens`` or ``limits.default_max_tokens``) and the estimated cost
at the model's prices. ``on_finish`` replaces the estimate with ``ctx.usage`` / ``ctx.cost_usd``
(refunding the difference). Since every in-flight request holds its reservation, concurrent
requests overshoot a budget only by what one answer costs beyond its estimate.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Sequence
from typing import Any

from ..config import LimitsConfig, LimitSet, ModelConfig
from ..core.embeddings import embed_inputs, input_token_estimate
from ..core.errors import RateLimited
from ..limits.base import USD, Check, Grant, Limit, LimitStore, open_limit_store
from ..routing.estimate import estimate, output_tokens, prompt_tokens
from .context import Reply, RequestContext
from .step import Next, Step

log = logging.getLogger("faregate.limits")

_WINDOWS = (
    ("rpm", 60, "requests", "requests per minute"),
    ("rph", 3600, "requests", "requests per hour"),
    ("rpd", 86400, "requests", "requests per day"),
    ("tpm", 60, "tokens", "tokens per minute"),
    ("cost_usd_hour", 3600, "cost", "cost (USD) per hour"),
    ("cost_usd_day", 86400, "cost", "cost (USD) per day"),
)


def merged(base: LimitSet | dict | None, *over: dict[str, Any] | LimitSet | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in (base, *over):
        if part is None:
            continue
        d = part.model_dump(exclude_none=True) if isinstance(part, LimitSet) else part
        out.update({k: v for k, v in d.items() if v is not None})
    return out


def limits_of(scope: str, label: str, ls: dict[str, Any]) -> list[Limit]:
    """The counters of one scope (``key:<id>``, ``team:<name>``, ``model:<name>``)."""
    out = []
    for field, window, kind, what in _WINDOWS:
        v = ls.get(field)
        if v is None:
            continue
        amount = int(round(v * USD)) if kind == "cost" else int(v)
        out.append(Limit(f"{scope}:{field}", amount, float(window), kind=kind, name=f"{what} of {label}"))
    if ls.get("burst") is not None or ls.get("refill_per_s") is not None:
        b, r = bucket_of(ls)
        out.append(Limit(f"{scope}:bucket", b, refill_per_s=r, name=f"token bucket (burst {b}, {r:g}/s) of {label}"))
    soft = bool(ls.get("budget_soft", False))
    for field, cal in (("budget_usd_day", "day"), ("budget_usd_month", "month")):
        v = ls.get(field)
        if v is not None:
            out.append(
                Limit(
                    f"{scope}:{field}",
                    int(round(v * USD)),
                    calendar=cal,
                    hard=not soft,
                    kind="cost",
                    name=f"{'soft ' if soft else ''}{'daily' if cal == 'day' else 'monthly'} budget (USD) of {label}",
                )
            )
    return out


def bucket_of(ls: dict[str, Any]) -> tuple[int, float]:
    """(burst, refill per second) of a limit set with either: the burst alone refills over a
    minute (``burst: 60`` is ``rpm: 60`` paced smoothly); the rate alone bursts one second of it."""
    burst, rate = ls.get("burst"), ls.get("refill_per_s")
    if rate is None:
        return int(burst or 1), int(burst or 1) / 60.0
    return (int(burst) if burst is not None else max(1, math.ceil(float(rate)))), float(rate)


def fmt_duration(seconds: float) -> str:
    """OpenAI's reset format: ``20ms``, ``1s``, ``6m0s``, ``1h2m3s``."""
    if seconds < 1:
        return f"{max(0, int(seconds * 1000))}ms"
    s = int(math.ceil(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    if h:
        return f"{h}h{m}m{sec}s"
    if m:
        return f"{m}m{sec}s"
    return f"{sec}s"


def _amount(lim: Limit, tokens: int, cost_nano: int) -> int:
    return 1 if lim.kind == "requests" else tokens if lim.kind == "tokens" else cost_nano


def ratelimit_headers(checks: list[Check]) -> dict[str, str]:
    """``x-ratelimit-*-requests`` / ``-tokens`` from the tightest limit of each kind."""
    h: dict[str, str] = {}
    for kind in ("requests", "tokens"):
        cs = [c for c in checks if c.limit.kind == kind and c.limit.hard]
        if not cs:
            continue
        c = min(cs, key=lambda c: (c.remaining, -c.reset_s))
        h[f"x-ratelimit-limit-{kind}"] = str(c.limit.limit)
        h[f"x-ratelimit-remaining-{kind}"] = str(c.remaining)
        h[f"x-ratelimit-reset-{kind}"] = fmt_duration(c.reset_s)
    return h


class LimitsStep(Step):
    """Reserve and reconcile against ``store`` (the gateway's shared limit store; without one, a
    store is opened on ``redis_url``, memory when it is None). ``models``: the snapshot's models,
    for the cost estimate and the dearest candidate of a route."""

    def __init__(
        self,
        limits: LimitsConfig,
        models: Sequence[ModelConfig],
        *,
        store: LimitStore | None = None,
        keys: Any = None,
        stats: Any = None,
        redis_url: str | None = None,
    ) -> None:
        self.cfg = limits
        self.models = list(models)
        self._by_name = {m.name: m for m in self.models}
        # A store handed in is a shared service (the gateway starts and closes it); one opened
        # here belongs to this step.
        self._owns_store = store is None
        self.store = store or open_limit_store(
            redis_url, timeout_s=self.cfg.redis_timeout_ms / 1000, failure_policy=self.cfg.redis_failure_policy
        )
        self.keys = keys
        self.stats = stats if stats is not None else _Stats()
        # (key id, team, model) -> (the key's limits dict, its team's, limits, concurrency scopes):
        # built once per key and model; rebuilt when the key store hands out new limits.
        self._plans: dict[tuple, tuple] = {}

    async def start(self) -> None:
        if self._owns_store:
            await self.store.start()

    async def close(self) -> None:
        if self._owns_store:
            await self.store.close()

    # -- what applies ----------------------------------------------------------------------

    def limits_for(self, ctx: RequestContext) -> tuple[list[Limit], list[tuple[str, int]]]:
        p = ctx.principal
        own, team_own = self.keys.limits_for(p) if p is not None and self.keys is not None else ({}, {})
        key = (p.key_id, p.team, ctx.request.model) if p is not None else (None, None, ctx.request.model)
        hit = self._plans.get(key)
        if hit is not None and hit[0] is own and hit[1] is team_own:
            return hit[2], hit[3]
        limits, conc = self._build_limits(ctx, own, team_own)
        if len(self._plans) > 50_000:
            self._plans.clear()
        self._plans[key] = (own, team_own, limits, conc)
        return limits, conc

    def _build_limits(
        self, ctx: RequestContext, own: dict[str, Any], team_own: dict[str, Any]
    ) -> tuple[list[Limit], list[tuple[str, int]]]:
        p = ctx.principal
        out: list[Limit] = []
        conc: list[tuple[str, int]] = []
        scopes: list[tuple[str, str, dict[str, Any]]] = []
        if p is not None:
            scopes.append((f"key:{p.key_id}", f"key {p.name!r} ({p.key_prefix}...)", merged(self.cfg.keys, own)))
            if p.team:
                scopes.append((f"team:{p.team}", f"team {p.team!r}", merged(self.cfg.teams.get(p.team), team_own)))
        model = ctx.request.model
        if model in self.cfg.models:
            scopes.append((f"model:{model}", f"model {model!r}", merged(self.cfg.models[model])))
        for scope, label, ls in scopes:
            out += limits_of(scope, label, ls)
            if ls.get("max_concurrent") is not None:
                conc.append((f"{scope}:conc", int(ls["max_concurrent"])))
        return out, conc

    def estimate(self, ctx: RequestContext) -> tuple[int, int]:
        """(tokens, cost in nano-USD) this request may use, before it runs."""
        req = ctx.request
        m = self._by_name.get(req.model)
        if req.kind == "embedding":  # no answer tokens; a token-array input counts its length
            tokens_in, tokens_out = input_token_estimate(embed_inputs(req)), 0
        else:
            tokens_in = prompt_tokens(req.prompt_text(), len(req.messages), overhead=3)
            tokens_out = output_tokens(req.max_tokens, default=self.cfg.default_max_tokens)
        # a route: the dearest candidate
        est = estimate([m] if m is not None else self.models, input_tokens=tokens_in, output_tokens=tokens_out)
        return est.total_tokens, int(math.ceil(est.max_cost_usd * USD))

    # -- the step --------------------------------------------------------------------------

    def handle(self, ctx: RequestContext, call_next: Next) -> Awaitable[Reply]:
        limits, conc = self.limits_for(ctx)
        if not limits and not conc:
            return call_next(ctx)
        return self._reserve_then(ctx, call_next, limits, conc)

    async def _reserve_then(
        self, ctx: RequestContext, call_next: Next, limits: list[Limit], conc: list[tuple[str, int]]
    ) -> Reply:
        t_check = time.perf_counter()
        tokens, cost = self.estimate(ctx)
        amounts = [_amount(lim, tokens, cost) for lim in limits]
        grant = await self.store.reserve(limits, amounts)
        ctx.record_span("limits.check", t_check, allowed=grant.ok)
        if not grant.ok:
            self.stats.refused += 1
            ctx.response_headers.update(ratelimit_headers(grant.checks))
            raise self._refusal(grant, amounts[limits.index(grant.refused)] if grant.refused in limits else 0)
        ctx.response_headers.update(ratelimit_headers(grant.checks))
        if grant.degraded:
            ctx.limits_degraded = True
        for c in grant.checks:
            if not c.limit.hard and c.over:
                self.stats.soft_alerts += 1
                ctx.budget_alert = c.limit.name
                ctx.response_headers["x-faregate-budget-warning"] = c.limit.name
                log.warning(
                    "soft budget exceeded: %s (%.6f of %.6f USD)", c.limit.name, c.used / USD, c.limit.limit / USD
                )
        leases: list[tuple[str, str]] = []
        try:
            for scope, n in conc:
                token = await self.store.acquire(scope, n, self.cfg.concurrency_lease_s)
                if token is None:
                    raise RateLimited(
                        f"Too many concurrent requests for {scope.split(':', 1)[0]} "
                        f"(max_concurrent {n}); retry when one finishes.",
                        retry_after_s=1,
                        code="concurrency_limit_exceeded",
                    )
                leases.append((scope, token))
        except BaseException:
            for scope, token in leases:
                await self.store.release(scope, token)
            await self.store.reconcile(grant, [1 if l.kind == "requests" else 0 for l in limits])
            raise

        async def finish(c: RequestContext) -> None:
            for scope, token in leases:
                await self.store.release(scope, token)
            used_tokens = c.usage.total_tokens
            used_cost = int(math.ceil(max(0.0, c.cost_usd) * USD))
            await self.store.reconcile(grant, [_amount(l, used_tokens, used_cost) for l in limits])

        ctx.on_finish.append(finish)
        return await call_next(ctx)

    def _refusal(self, grant: Grant, amount: int) -> RateLimited:
        lim = grant.refused
        assert lim is not None
        used = next((c.used for c in grant.checks if c.limit is lim), 0)

        def show(v: int) -> str:
            return f"{v / USD:.6f} USD" if lim.kind == "cost" else f"{v} {lim.kind}"

        msg = (
            f"Rate limit reached for {lim.name}: limit {show(lim.limit)}, used {show(used)}, "
            f"this request needs {show(amount)}. Retry after {fmt_duration(grant.retry_after_s)}."
        )
        code = "budget_exceeded" if lim.calendar else "rate_limit_exceeded"
        err = RateLimited(msg, retry_after_s=max(grant.retry_after_s, 0.001), code=code)
        err.headers["x-faregate-limit"] = lim.key.split(":", 2)[0] + ":" + lim.key.rsplit(":", 1)[-1]
        return err


class _Stats:
    """Refusal counters of a limits step built without the gateway's shared ``LimitStats``."""

    refused = 0
    soft_alerts = 0
