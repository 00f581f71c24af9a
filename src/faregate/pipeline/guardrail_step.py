"""Run the request's guardrails before the cache and routing see it, and on its answer.

Which guardrails: the key's, then its team's (``teams.NAME.guardrails``), then the route's or
the model's the client named, in that order, each name once. Placed before the cache step so
the cache key is over what the upstream would see and cache hits are guarded on the way out,
and in the chain (not in a front) so chat, messages, responses, embeddings and legacy
completions all get it. With no guardrail configured a request costs one check and a tail call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import replace
from typing import Any

import aiohttp

from ..config import GatewayConfig
from ..core.errors import InternalError
from ..core.types import ChatRequest
from ..endpoints.http import HttpPool
from ..guardrails import walk
from ..guardrails.engine import Decision, Guardrail, GuardrailBlocked, guard_messages, redacted_fns, request_fns
from ..guardrails.masking import Vault
from ..guardrails.remote import verdict
from .context import Reply, RequestContext
from .guardrail_output import OutputGuards
from .step import Next, Step


class GuardrailStep(Step):
    """Mask or block the request text with its guardrails (see ``docs/guardrails.md``), then guard
    the answer: new values redacted or blocked, remote verdicts, masked values restored."""

    def __init__(self, config: GatewayConfig, pool: HttpPool | None = None) -> None:
        self._guards = {s.name: Guardrail(s) for s in config.guardrails}
        self._teams = {t: tuple(c.guardrails) for t, c in config.teams.items() if c.guardrails}
        targets = [*((m.name, m.guardrails) for m in config.models), *((r.name, r.guardrails) for r in config.routes)]
        self._targets = {n: tuple(g) for n, g in targets if g}
        self._pool = pool
        self._own: aiohttp.ClientSession | None = None

    def names(self, ctx: RequestContext) -> list[str]:
        """The guardrail names of this request, in run order, each once."""
        p = ctx.principal
        listed: list[str] = list(p.guardrails) if p is not None else []
        if p is not None and p.team:
            listed += self._teams.get(p.team, ())
        listed += self._targets.get(ctx.route or ctx.requested_model, ())
        return list(dict.fromkeys(listed))

    def handle(self, ctx: RequestContext, call_next: Next) -> Awaitable[Reply]:
        p = ctx.principal
        if not self._guards and (p is None or not p.guardrails):
            return call_next(ctx)  # the hot path: nothing configured, nothing named
        names = self.names(ctx)
        if not names:
            return call_next(ctx)
        missing = [n for n in names if n not in self._guards]
        if missing:  # a database key naming a guardrail the config dropped: fail closed
            raise InternalError(f"guardrail(s) {missing} named by this key are not configured; ask an admin.")
        return self._run(ctx, call_next, [self._guards[n] for n in names])

    def _session(self) -> aiohttp.ClientSession:
        if self._pool is not None and self._pool.session is not None:
            return self._pool.session
        if self._own is None or self._own.closed:  # a runtime built without a started pool (tests)
            self._own = aiohttp.ClientSession()
        return self._own

    async def _run(self, ctx: RequestContext, call_next: Next, guards: Sequence[Guardrail]) -> Reply:
        vault = Vault()
        before = [g for g in guards if "request" in g.spec.stages]
        try:
            decisions = await self._guard_request(ctx, before, vault)
        except GuardrailBlocked as e:  # counted and logged like any decision, then the 400
            d = e.decision
            ctx.guardrail_decisions = [(d.guardrail, d.action, d.stage, ",".join(d.kinds))]
            ctx.request = _withheld(ctx.request, [g for g in guards if not g.spec.remote])
            raise
        ctx.guardrail_decisions = [(d.guardrail, d.action, d.stage, ",".join(d.kinds)) for d in decisions]
        after = [g for g in guards if "response" in g.spec.stages]
        restoring = vault if vault and any(g.spec.restore for g in guards) else None
        reply = await call_next(ctx)
        if not after and restoring is None:
            return reply
        return await OutputGuards(ctx, after, restoring, self._session).apply(reply)

    async def _guard_request(self, ctx: RequestContext, guards: Sequence[Guardrail], vault: Vault) -> list[Decision]:
        local = [g for g in guards if not g.spec.remote]
        req = ctx.request
        messages, decisions = guard_messages(local, req.messages, vault) if local else (req.messages, [])
        responses = req.responses
        if local and responses is not None:
            by_name = {d.guardrail: d for d in decisions}
            responses = _guard_responses(responses, request_fns(local, vault, by_name))
            decisions = list(by_name.values())
        remote = [g for g in guards if g.spec.remote]
        if remote:
            text = "\n".join(dict.fromkeys(walk.texts(messages, responses)))
            for g in remote:
                action, kinds = await verdict(g.spec, self._session(), text, "request")
                d = Decision(g.name, action, "request", kinds, 1 if kinds else 0)
                if action == "block":
                    raise GuardrailBlocked(d)
                decisions.append(d)
        if local:
            ctx.request = replace(req, messages=messages, responses=responses)
        return decisions


def _guard_responses(body: dict[str, Any], fns: tuple[walk.TextFn, walk.TextFn]) -> dict[str, Any]:
    """A Responses-API body (passed through as it is to an upstream that serves that API) with its
    ``instructions`` and ``input`` items (text, function-call arguments, tool outputs) guarded."""
    text, args = fns
    out = dict(body)
    if "input" in body:
        out["input"] = walk.map_input(body["input"], text, args)
    if isinstance(body.get("instructions"), str):
        out["instructions"] = text(body["instructions"])
    return out


def _withheld(req: ChatRequest, guards: Sequence[Guardrail]) -> ChatRequest:
    """A blocked request as the log may keep it: whatever the guards found redacted (it never
    went upstream, and its prompt must not reach the log in clear either)."""
    fns = redacted_fns(guards)
    messages = [walk.map_message(m, *fns) for m in req.messages]
    responses = _guard_responses(req.responses, fns) if req.responses is not None else None
    return replace(req, messages=messages, responses=responses)
