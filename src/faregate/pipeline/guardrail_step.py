"""Run the key's guardrails on the request before the cache and routing see it.

Placed before the cache step so the cache key is over what the upstream would see, and in the
chain (not in a front) so chat, messages, responses, embeddings and legacy completions all get
it. A request whose key has no guardrails costs one attribute check and a tail call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import replace
from typing import Any

from ..config.guardrails import GuardrailSpec
from ..core.errors import InternalError
from ..core.types import Event, TextDelta
from ..guardrails.engine import Guardrail, GuardrailBlocked, guard_messages
from ..guardrails.masking import MAX_PLACEHOLDER_LEN, Vault, placeholders, restore
from ..guardrails.window import StreamWindow
from .context import Reply, RequestContext
from .step import Next, Step


class GuardrailStep(Step):
    """Mask or block the request text with the guardrails the key names (see ``docs/guardrails.md``);
    with ``restore: true``, put the masked values back into the answer, streamed or not."""

    def __init__(self, specs: Sequence[GuardrailSpec]) -> None:
        self._guards = {s.name: Guardrail(s) for s in specs}

    def handle(self, ctx: RequestContext, call_next: Next) -> Awaitable[Reply]:
        p = ctx.principal
        if p is None or not p.guardrails:
            return call_next(ctx)
        if not self._guards:
            raise InternalError("this key names guardrails but none is configured; ask an admin.")
        missing = [n for n in p.guardrails if n not in self._guards]
        if missing:  # a database key naming a guardrail the config dropped: fail closed
            raise InternalError(f"guardrail(s) {missing} named by this key are not configured; ask an admin.")
        guards = [self._guards[n] for n in p.guardrails]
        vault = Vault()
        req = ctx.request
        try:
            messages, decisions = guard_messages(guards, req.messages, vault)
            responses = req.responses
            if responses is not None and "input" in responses:
                responses = {**responses, "input": _guard_input(guards, responses["input"], vault)}
        except GuardrailBlocked as e:  # counted and logged like any decision, then the 400
            d = e.decision
            ctx.guardrail_decisions = [(d.guardrail, d.action, d.stage, ",".join(d.kinds))]
            raise
        ctx.request = replace(req, messages=messages, responses=responses)
        ctx.guardrail_decisions = [(d.guardrail, d.action, d.stage, ",".join(d.kinds)) for d in decisions]
        if not vault or not any(g.spec.restore for g in guards):
            return call_next(ctx)
        return _restoring(ctx, call_next, vault)


async def _restoring(ctx: RequestContext, call_next: Next, vault: Vault) -> Reply:
    """The answer with masked values put back (after the cache: hits are restored too)."""
    reply = await call_next(ctx)
    if reply.response is not None and reply.response.content:
        reply.response = replace(reply.response, content=restore(reply.response.content, vault))
    if reply.events is not None:
        reply.events = _restore_stream(reply.events, vault)
    return reply


async def _restore_stream(events: AsyncIterator[Event], vault: Vault) -> AsyncIterator[Event]:
    """Text deltas through a window with hold-back, so a placeholder split across chunks is restored."""
    window = StreamWindow(placeholders, lambda text, _m: restore(text, vault), hold=MAX_PLACEHOLDER_LEN)
    async for ev in events:
        if isinstance(ev, TextDelta):
            out = window.feed(ev.text)
            if out:
                yield TextDelta(out)
            continue
        rest = window.flush()  # anything else (tool calls, usage, finish) ends the text run
        if rest:
            yield TextDelta(rest)
        yield ev
    rest = window.flush()
    if rest:
        yield TextDelta(rest)


def _guard_input(guards: Sequence[Guardrail], value: Any, vault: Vault) -> Any:
    """The Responses API ``input``: a string or a list of items with string or part content."""
    if isinstance(value, str):
        return guard_messages(guards, [{"content": value}], vault)[0][0]["content"]
    if isinstance(value, list):
        return [guard_messages(guards, [item], vault)[0][0] if isinstance(item, dict) else item for item in value]
    return value
