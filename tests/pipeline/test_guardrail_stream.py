"""The stream windows of the answer guardrails over canonical events: text and each tool call's
argument pieces windowed separately, nothing reordered, every call's arguments whole and valid
JSON, and a remote check seeing argument text."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from faregate.core.types import Event, Finish, TextDelta, ToolCallDelta, collect
from faregate.guardrails import json_text, pii
from faregate.guardrails.masking import redact
from faregate.guardrails.window import StreamWindow
from faregate.pipeline.guardrail_stream import checked, windowed

EMAIL = "ada.lovelace@example.com"


async def _gen(events: list[Event]) -> AsyncIterator[Event]:
    for ev in events:
        yield ev


def _windows():
    text = StreamWindow(pii.find, redact, hold=pii.MAX_VALUE_LEN)
    return text, lambda: json_text.JsonWindow(pii.find, json_text.redact, hold=pii.MAX_VALUE_LEN)


def _pieces(s: str, n: int) -> list[str]:
    return [s[i : i + n] for i in range(0, len(s), n)]


async def test_text_and_two_tool_calls_come_out_whole_in_order_and_redacted() -> None:
    a0, a1 = json.dumps({"to": EMAIL}), json.dumps({"cc": [EMAIL, "x"], "n": 4111111111111111})
    events: list[Event] = [TextDelta("Mailing "), TextDelta(EMAIL[:9]), TextDelta(EMAIL[9:])]
    events += [ToolCallDelta(0, "call_0", "send")] + [ToolCallDelta(0, arguments=p) for p in _pieces(a0, 5)]
    events += [ToolCallDelta(1, "call_1", "copy")] + [ToolCallDelta(1, arguments=p) for p in _pieces(a1, 3)]
    events.append(Finish("tool_calls"))
    text, calls = _windows()
    out = [ev async for ev in windowed(_gen(events), text, calls)]
    resp = collect(out, default_id="r", model="m")
    assert resp.content == "Mailing [EMAIL_REDACTED]"
    assert [(c.id, c.name) for c in resp.tool_calls] == [("call_0", "send"), ("call_1", "copy")]
    assert json.loads(resp.tool_calls[0].arguments) == {"to": "[EMAIL_REDACTED]"}
    assert json.loads(resp.tool_calls[1].arguments) == {"cc": ["[EMAIL_REDACTED]", "x"], "n": "[CARD_REDACTED]"}
    # every call's pieces are contiguous: call 0 is done before call 1 starts, Finish comes last
    order = [ev.index for ev in out if isinstance(ev, ToolCallDelta)]
    assert order == sorted(order) and isinstance(out[-1], Finish)
    # a call's id and name are not held back: the first delta of each call carries them
    firsts = [ev for ev in out if isinstance(ev, ToolCallDelta) and ev.id]
    assert [ev.id for ev in firsts] == ["call_0", "call_1"]


async def test_interleaved_calls_never_release_half_a_value() -> None:
    a = json.dumps({"to": EMAIL})
    events: list[Event] = [ToolCallDelta(0, "c0", "f"), ToolCallDelta(1, "c1", "g")]
    for p0, p1 in zip(_pieces(a, 4), _pieces(a, 4), strict=False):
        events += [ToolCallDelta(0, arguments=p0), ToolCallDelta(1, arguments=p1)]
    text, calls = _windows()
    out = [ev async for ev in windowed(_gen(events), text, calls)]
    resp = collect(out, default_id="r", model="m")
    for call in resp.tool_calls:  # cut at every switch, but never inside the value: still redacted
        assert json.loads(call.arguments) == {"to": "[EMAIL_REDACTED]"}


async def test_a_remote_check_sees_argument_text() -> None:
    seen: list[str] = []

    async def check(text: str) -> None:
        seen.append(text)

    events: list[Event] = [
        ToolCallDelta(0, "c", "f"),
        ToolCallDelta(0, arguments='{"q": "bad'),
        ToolCallDelta(0, arguments='word"}'),
    ]
    out = [ev async for ev in checked(_gen(events), 400, check)]
    assert out == events and seen == ['{"q": "badword"}']
