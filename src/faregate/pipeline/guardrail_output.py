"""Guardrails on the answer: new PII/regex matches redacted or blocked, moderation and webhook
verdicts, then masked request values restored; whole answers and streams alike.

Runs outside the cache, so cache hits are guarded too. A stream goes through one bounded
window with hold-back per stage: a value split across chunks is seen whole before release,
remote checks see ``window_chars`` at a time (with an overlap, so a word on a window's edge is
seen whole), and a block mid-stream ends the stream with the front's in-band error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace

import aiohttp

from ..core.types import Event, TextDelta
from ..guardrails import pii
from ..guardrails.engine import Decision, Guardrail, GuardrailBlocked, merge
from ..guardrails.masking import MAX_PLACEHOLDER_LEN, Vault, placeholders, restore
from ..guardrails.remote import verdict
from ..guardrails.window import StreamWindow
from .context import Reply, RequestContext

_OVERLAP = 64  # characters of the previous window a remote check sees again
Session = Callable[[], aiohttp.ClientSession]


class OutputGuards:
    """The answer-side guardrails of one request."""

    def __init__(self, ctx: RequestContext, guards: Sequence[Guardrail], vault: Vault | None, session: Session) -> None:
        self._ctx = ctx
        self._local = [g for g in guards if not g.spec.remote]
        self._remote = [g for g in guards if g.spec.remote]
        self._vault = vault
        self._session = session
        self._decisions: dict[str, Decision] = {}

    async def apply(self, reply: Reply) -> Reply:
        if reply.response is not None and reply.response.content:
            try:
                text = self._local_pass(reply.response.content)
                await self._remote_check(text)
            finally:
                self._record()
            if self._vault:
                text = restore(text, self._vault)
            reply.response = replace(reply.response, content=text)
        elif reply.response is not None:
            self._record()
        if reply.events is not None:
            reply.events = self._stream(reply.events)
        return reply

    def _local_pass(self, text: str) -> str:
        for g in self._local:
            try:
                text, d = g.inspect_output(text, g.find(text))
            except GuardrailBlocked as e:
                self._decisions[g.name] = e.decision
                raise
            self._decisions[g.name] = merge(self._decisions.get(g.name), d)
        return text

    async def _remote_check(self, text: str) -> None:
        for g in self._remote:
            action, kinds = await verdict(g.spec, self._session(), text, "response")
            d = Decision(g.name, action, "response", kinds, 1 if kinds else 0)
            self._decisions[g.name] = merge(self._decisions.get(g.name), d)
            if action == "block":
                raise GuardrailBlocked(d)
        for g in self._remote:  # checked and passed: a pass decision unless something else was recorded
            self._decisions.setdefault(g.name, Decision(g.name, "pass", "response"))

    def _record(self) -> None:
        for g in [*self._local, *self._remote]:
            d = self._decisions.get(g.name) or Decision(g.name, "pass", "response")
            self._ctx.guardrail_decisions.append((d.guardrail, d.action, d.stage, ",".join(d.kinds)))

    async def _stream(self, events: AsyncIterator[Event]) -> AsyncIterator[Event]:
        src = events
        for g in self._local:
            src = _windowed(src, StreamWindow(g.find, self._local_transform(g), hold=pii.MAX_VALUE_LEN))
        if self._remote:
            src = self._checked(src)
        if self._vault:
            vault = self._vault
            src = _windowed(src, StreamWindow(placeholders, lambda t, _m: restore(t, vault), hold=MAX_PLACEHOLDER_LEN))
        try:
            async for ev in src:
                self._ctx.stream_ready = 0  # the windows hold events: write each as it comes out
                yield ev
        finally:
            self._record()

    def _local_transform(self, g: Guardrail) -> Callable[[str, list[pii.Match]], str]:
        def transform(text: str, matches: list[pii.Match]) -> str:
            try:
                out, d = g.inspect_output(text, matches)
            except GuardrailBlocked as e:
                self._decisions[g.name] = e.decision
                raise
            self._decisions[g.name] = merge(self._decisions.get(g.name), d)
            return out

        return transform

    async def _checked(self, events: AsyncIterator[Event]) -> AsyncIterator[Event]:
        """Text held until ``window_chars`` are in, checked by every remote guard, then released."""
        size = min(g.spec.window_chars for g in self._remote)
        buf, seen = "", ""
        async for ev in events:
            if isinstance(ev, TextDelta):
                buf += ev.text
                if len(buf) < size:
                    continue
            if buf:
                await self._remote_check(seen[-_OVERLAP:] + buf)
                seen, buf = buf, ""
                yield TextDelta(seen)
            if not isinstance(ev, TextDelta):
                yield ev
        if buf:
            await self._remote_check(seen[-_OVERLAP:] + buf)
            yield TextDelta(buf)


async def _windowed(events: AsyncIterator[Event], window: StreamWindow) -> AsyncIterator[Event]:
    """Text deltas through ``window``; any other event (tool calls, usage, finish) ends a text run."""
    async for ev in events:
        if isinstance(ev, TextDelta):
            out = window.feed(ev.text)
            if out:
                yield TextDelta(out)
            continue
        rest = window.flush()
        if rest:
            yield TextDelta(rest)
        yield ev
    rest = window.flush()
    if rest:
        yield TextDelta(rest)
