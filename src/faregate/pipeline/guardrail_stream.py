"""A stream's events through guardrail windows: text deltas through one window, each tool call's
argument pieces through a JSON window of their own.

A text run ends at any other event (its window is flushed first, so nothing is reordered). When
another call's pieces or text come, a call's window *settles*: it releases what it holds up to
the last point outside every string and number, which is all of it once its JSON is complete
(providers stream calls one after another), and never half a value (were an upstream to
interleave calls, the unfinished value waits for its call to resume). Any other event (usage,
finish) and the stream's end flush every window. A call's first piece (its id and name) is never
held back; only its arguments are.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

from ..core.types import Event, TextDelta, ToolCallDelta
from ..guardrails.json_text import JsonWindow


class Window(Protocol):
    """``StreamWindow`` or ``JsonWindow``: text in, transformed text out, the rest at ``flush``."""

    def feed(self, chunk: str) -> str: ...

    def flush(self) -> str: ...


async def windowed(
    events: AsyncIterator[Event], text: Window, call_window: Callable[[], JsonWindow]
) -> AsyncIterator[Event]:
    """``events`` with text through ``text`` and every tool call's arguments through its own
    ``call_window()``."""
    calls: dict[int, JsonWindow] = {}
    current: int | None = None

    def settle() -> Event | None:
        rest = calls[current].settle() if current is not None else ""
        return ToolCallDelta(current, arguments=rest) if rest and current is not None else None

    async for ev in events:
        if isinstance(ev, TextDelta):
            if (held := settle()) is not None:
                yield held
            current = None
            if out := text.feed(ev.text):
                yield TextDelta(out)
            continue
        if rest := text.flush():
            yield TextDelta(rest)
        if isinstance(ev, ToolCallDelta):
            if current != ev.index and (held := settle()) is not None:
                yield held
            current = ev.index
            window = calls.setdefault(ev.index, call_window())
            out = window.feed(ev.arguments) if ev.arguments else ""
            if out or ev.id or ev.name:
                yield ToolCallDelta(ev.index, ev.id, ev.name, out)
            continue
        for held in _flush_calls(calls):
            yield held
        current = None
        yield ev
    if rest := text.flush():
        yield TextDelta(rest)
    for held in _flush_calls(calls):
        yield held


def _flush_calls(calls: dict[int, JsonWindow]) -> list[Event]:
    """Whatever every call's window still holds, in call order."""
    return [ToolCallDelta(i, arguments=rest) for i, w in sorted(calls.items()) if (rest := w.flush())]


Check = Callable[[str], Awaitable[None]]
_OVERLAP = 64  # characters of the previous window a remote check sees again


async def checked(events: AsyncIterator[Event], size: int, check: Check) -> AsyncIterator[Event]:
    """Content (text and argument pieces) held until ``size`` characters are in, ``check``ed with
    the end of the previous window (a word on the edge is seen whole), then released in order."""
    held: list[Event] = []
    buf, seen = "", ""
    async for ev in events:
        if isinstance(ev, (TextDelta, ToolCallDelta)):
            held.append(ev)
            buf += ev.text if isinstance(ev, TextDelta) else ev.arguments
            if len(buf) < size:
                continue
        if held:
            if buf:
                await check(seen[-_OVERLAP:] + buf)
                seen, buf = buf, ""
            for h in held:
                yield h
            held = []
        if not isinstance(ev, (TextDelta, ToolCallDelta)):
            yield ev
    if held:
        if buf:
            await check(seen[-_OVERLAP:] + buf)
        for h in held:
            yield h
