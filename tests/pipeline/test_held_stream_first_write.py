"""A stream that arrives from the upstream in one read is not parsed whole before the client
gets its first byte: the events up to the first content event go out in the first write, the
rest follow. Read as raw HTTP chunks from a real in-process faregate (each write of the
gateway is one chunk of the chunked encoding, whatever TCP does with them)."""

from __future__ import annotations

import asyncio
import json

import pytest

from faregate.adapters.base import StreamParser
from faregate.core.types import CONTENT_EVENTS
from faregate.pipeline.held_stream import HEAD_EVENTS, _feed_until_content
from helpers import GATEWAY_KEY

WORDS = [f"w{i} " for i in range(20)]


async def _chunks(url: str, body: dict) -> list[bytes]:
    host, port = url.removeprefix("http://").split(":")
    raw = json.dumps(body).encode()
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        (
            f"POST /v1/chat/completions HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {GATEWAY_KEY}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(raw)}\r\nconnection: close\r\n\r\n"
        ).encode()
        + raw
    )
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"transfer-encoding: chunked" in head.lower()
    out = []
    while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
        out.append((await reader.readexactly(size + 2))[:-2])
    writer.close()
    return out


def _text(frames: list[bytes]) -> str:
    text = ""
    for line in b"".join(frames).decode().splitlines():
        if line.startswith("data: {"):
            for choice in json.loads(line[6:]).get("choices", []):
                text += choice.get("delta", {}).get("content") or ""
    return text


@pytest.mark.parametrize("protocol", ["openai", "anthropic", "gemini"])
def test_first_write_holds_only_the_events_up_to_the_first_content(server_loop, faregate_server, upstreams, protocol):
    fake = upstreams[protocol]
    fake.script({"text": "".join(WORDS), "chunks": len(WORDS), "one_write": True})
    body = {"model": f"fake-{protocol}", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    frames = server_loop.run(_chunks(faregate_server.url, body))
    assert _text(frames) == "".join(WORDS)  # nothing lost or reordered
    first = _text(frames[:1])
    assert first  # the first content event is in the first write
    assert len(first) < len("".join(WORDS)) and "".join(WORDS).startswith(first)  # the rest was not waited for


class _Recorder(StreamParser):
    """Records what it is fed; every ``data:`` line with ``c`` in it is a content event."""

    def __init__(self) -> None:
        self.fed: list[bytes] = []

    def feed(self, chunk: bytes):
        from faregate.core.types import StreamStart, TextDelta

        self.fed.append(chunk)
        return [TextDelta("x") if b"c" in ev else StreamStart() for ev in chunk.split(b"\n\n") if ev.strip()]

    def close(self):
        return []


@pytest.mark.parametrize("sep", [b"\n\n", b"\r\n\r\n"])
def test_feed_until_content_stops_after_the_first_content_event(sep):
    chunk = sep.join([b"data: s", b"data: c1", b"data: c2", b"data: c3"]) + sep
    p, held = _Recorder(), []
    rest = _feed_until_content(p, chunk, held)
    assert isinstance(held[-1], CONTENT_EVENTS) and len(held) == 2
    assert b"".join(p.fed) + rest == chunk  # every byte is fed once, in order, or left for later
    assert rest.startswith(b"data: c2")


def test_feed_until_content_without_content_feeds_everything_in_bounded_steps():
    chunk = b"".join(b": keep-alive %d\n\n" % i for i in range(100))
    p, held = _Recorder(), []
    assert _feed_until_content(p, chunk, held) is None
    assert b"".join(p.fed) == chunk and len(p.fed) == HEAD_EVENTS + 1
