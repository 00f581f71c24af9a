"""Guardrails on the answer: new PII/regex matches redacted or blocked, moderation and webhook
verdicts, then masked request values restored; whole answers and streams alike, in the text
and in tool-call arguments (kept valid JSON), and in a Responses-API upstream's own output
items (passed through to the client as they came, so they are guarded as they are).

Runs outside the cache, so cache hits are guarded too. A stream goes through bounded windows
with hold-back per stage (``guardrail_stream``): a value split across chunks or argument pieces
is seen whole before release, remote checks see ``window_chars`` at a time, and a block
mid-stream ends the stream with the front's in-band error. The answer the request log keeps
(``ctx.response_text``) is the guarded one before restoring: masked values stay masked there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from typing import Any

import aiohttp

from ..core.types import ChatResponse, Event, TextDelta
from ..guardrails import json_text, pii, walk
from ..guardrails.engine import Decision, Guardrail, GuardrailBlocked, merge
from ..guardrails.masking import MAX_PLACEHOLDER_LEN, Vault, placeholders, restore
from ..guardrails.remote import verdict
from ..guardrails.window import StreamWindow
from .context import Reply, RequestContext
from .guardrail_stream import checked, windowed

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
        resp = reply.response
        if resp is not None and (resp.content or resp.tool_calls or resp.output_items):
            try:
                resp = self._guard_whole(resp)
                await self._remote_check("\n".join([resp.content or "", *(tc.arguments for tc in resp.tool_calls)]))
            finally:
                self._record()
            self._ctx.response_text = resp.content
            reply.response = _restored(resp, self._vault) if self._vault else resp
        elif resp is not None:
            self._record()
        if reply.events is not None:
            reply.events = self._stream(reply.events)
        return reply

    def _guard_whole(self, resp: ChatResponse) -> ChatResponse:
        return map_answer(resp, self._local_pass, self._local_pass_json)

    def _note(self, g: Guardrail, step: Callable[..., tuple[str, Decision]], *args: Any) -> str:
        """Run one guard's output step, recording its decision (a block too, before raising)."""
        try:
            text, d = step(*args)
        except GuardrailBlocked as e:
            self._decisions[g.name] = e.decision
            raise
        self._decisions[g.name] = merge(self._decisions.get(g.name), d)
        return text

    def _local_pass(self, text: str) -> str:
        for g in self._local:
            text = self._note(g, g.inspect_output, text, g.find(text))
        return text

    def _local_pass_json(self, raw: str) -> str:
        if not json_text.is_json(raw):  # arguments that are not JSON are guarded as text
            return self._local_pass(raw)
        for g in self._local:
            raw = self._note(g, g.inspect_output_json, raw, json_text.find(raw, g.find))
        return raw

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
            text = StreamWindow(g.find, self._text_transform(g), hold=pii.MAX_VALUE_LEN)
            src = windowed(src, text, self._json_window(g))
        if self._remote:
            src = checked(src, min(g.spec.window_chars for g in self._remote), self._remote_check)
        shown: list[str] = []
        src = _tap(src, shown)
        if self._vault:
            vault = self._vault
            text = StreamWindow(placeholders, lambda t, _m: restore(t, vault), hold=MAX_PLACEHOLDER_LEN)
            src = windowed(src, text, lambda: _restore_window(vault))
        try:
            async for ev in src:
                self._ctx.stream_ready = 0  # the windows hold events: write each as it comes out
                yield ev
        finally:
            self._record()
            if shown or self._ctx.response_text is not None:
                self._ctx.response_text = "".join(shown)

    def _text_transform(self, g: Guardrail) -> Callable[[str, list[pii.Match]], str]:
        return lambda text, matches: self._note(g, g.inspect_output, text, matches)

    def _json_window(self, g: Guardrail) -> Callable[[], json_text.JsonWindow]:
        def transform(raw: str, found: list[json_text.Found]) -> str:
            return self._note(g, g.inspect_output_json, raw, found)

        return lambda: json_text.JsonWindow(g.find, transform, hold=pii.MAX_VALUE_LEN)


def _restore_window(vault: Vault) -> json_text.JsonWindow:
    return json_text.JsonWindow(placeholders, lambda t, _f: json_text.restore(t, vault), hold=MAX_PLACEHOLDER_LEN)


def _restored(resp: ChatResponse, vault: Vault) -> ChatResponse:
    """The answer with the request's masked values put back, in its text, arguments and items."""
    return map_answer(resp, lambda t: restore(t, vault), lambda r: json_text.restore(r, vault))


def map_answer(resp: ChatResponse, text: walk.TextFn, args: walk.TextFn) -> ChatResponse:
    """``resp`` with ``text`` applied to its content and items' text and ``args`` to every
    tool call's JSON arguments (the places an answer carries text)."""
    items = resp.output_items
    return replace(
        resp,
        content=text(resp.content) if resp.content else resp.content,
        tool_calls=[replace(tc, arguments=args(tc.arguments)) for tc in resp.tool_calls],
        output_items=None if items is None else [walk.map_item(i, text, args) for i in items],
    )


async def _tap(events: AsyncIterator[Event], shown: list[str]) -> AsyncIterator[Event]:
    """The events unchanged; their text collected (the answer as the log keeps it)."""
    async for ev in events:
        if isinstance(ev, TextDelta):
            shown.append(ev.text)
        yield ev
