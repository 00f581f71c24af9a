"""Tolerant stream parsing: one malformed event is skipped and counted; a second in the same
stream, or a malformed event that would have ended it, fails the stream as before."""

from __future__ import annotations

import pytest

from faregate.adapters.registry import provider_spec
from faregate.core.errors import UpstreamError
from faregate.core.types import Finish, TextDelta


def parser(protocol: str, tolerate: int = 1):
    p = provider_spec(protocol).load().stream_parser()
    p.configure(tolerate=tolerate, max_line_bytes=1 << 20)
    return p


OPENAI_TEXT = b'data: {"id":"x","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
OPENAI_END = b'data: {"id":"x","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
BAD = b'data: {"broken": \n\n'


def texts(events) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def test_openai_one_malformed_event_is_skipped_and_counted():
    p = parser("openai")
    events = p.feed(OPENAI_TEXT + BAD + OPENAI_TEXT + OPENAI_END) + p.close()
    assert texts(events) == "hihi" and any(isinstance(e, Finish) for e in events) and p.skipped == 1


def test_openai_a_second_malformed_event_fails():
    p = parser("openai")
    with pytest.raises(UpstreamError, match="malformed"):
        p.feed(OPENAI_TEXT + BAD + OPENAI_TEXT + BAD)


def test_openai_a_malformed_last_event_fails():
    p = parser("openai")
    p.feed(OPENAI_TEXT + BAD + b"data: [DONE]\n\n")  # the finish chunk was the garbled one
    with pytest.raises(UpstreamError, match="finish_reason"):
        p.close()


def test_strict_by_default():
    p = provider_spec("openai").load().stream_parser()
    with pytest.raises(UpstreamError, match="malformed"):
        p.feed(BAD)


def test_anthropic_terminal_events_are_never_skipped():
    p = parser("anthropic")
    p.feed(b"event: content_block_delta\ndata: {broken\n\n")
    assert p.skipped == 1
    p = parser("anthropic")
    with pytest.raises(UpstreamError, match="message_stop"):
        p.feed(b"event: message_stop\ndata: {broken\n\n")


def test_gemini_one_malformed_event_is_skipped():
    p = parser("gemini")
    good = b'data: {"candidates":[{"content":{"parts":[{"text":"hi"}]},"finishReason":"STOP"}]}\n\n'
    events = p.feed(BAD + good) + p.close()
    assert texts(events) == "hi" and p.skipped == 1
