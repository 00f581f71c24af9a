"""The front-codec protocol, per front: parse -> encode round trip, a stream that ends properly,
errors in the front's own envelope; and the one handler serving both fronts over HTTP."""

from __future__ import annotations

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from faregate.config import GatewayConfig
from faregate.core.errors import InvalidRequest, RateLimited, UpstreamError
from faregate.core.types import ChatRequest, ChatResponse, Finish, TextDelta, ToolCall, ToolCallDelta, UsageEvent
from faregate.core.usage import Usage
from faregate.pipeline.gateway import Gateway
from faregate.server.app import create_app
from faregate.wire.anthropic_front import AnthropicCodec
from faregate.wire.codec import FrontCodec, ReplyFacts
from faregate.wire.openai_front import OpenAIChatCodec

CODECS: list[FrontCodec] = [OpenAIChatCodec(), AnthropicCodec()]
FACTS = ReplyFacts(request_id="req-1", model="m-answered", cost_usd=0.000125, include_usage=True)
RESPONSE = ChatResponse(
    id="up-1",
    model="upstream-model",
    content="Hello there",
    tool_calls=[ToolCall(id="call_1", name="get_weather", arguments='{"city": "Oslo"}')],
    finish_reason="tool_calls",
    usage=Usage(input_tokens=12, output_tokens=5),
    created=1700000000,
)
EVENTS = [TextDelta("Hel"), TextDelta("lo"), ToolCallDelta(0, "call_1", "f", '{"a"'), Finish("stop")]


def sse_events(raw: bytes) -> list[bytes]:
    return [chunk for chunk in raw.split(b"\n\n") if chunk]


def test_every_codec_has_the_protocol_methods():
    for codec in CODECS:
        for name in ("parse_request", "encode_reply", "stream_encoder", "encode_error"):
            assert callable(getattr(codec, name)), (type(codec).__name__, name)
        enc = codec.stream_encoder(FACTS)
        for name in ("render", "end", "error"):
            assert callable(getattr(enc, name)), (type(enc).__name__, name)


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: type(c).__name__)
def test_bad_bodies_are_invalid_requests(codec):
    for raw in (b"", b"{not json", b"[1, 2]", b'{"model": ""}'):
        with pytest.raises(InvalidRequest) as exc:
            codec.parse_request(raw)
        assert exc.value.status == 400


# -- OpenAI chat completions ---------------------------------------------------------------


def test_openai_round_trip():
    codec = OpenAIChatCodec()
    req = codec.parse_request(
        orjson.dumps(
            {
                "model": "auto",
                "messages": [{"role": "user", "content": "hi"}],
                "stream": True,
                "stream_options": {"include_usage": True},
                "faregate": {"min_quality": 0.5},
            }
        )
    )
    assert isinstance(req, ChatRequest)
    assert (req.model, req.stream, req.include_usage, req.routing) == ("auto", True, True, {"min_quality": 0.5})
    assert req.messages == [{"role": "user", "content": "hi"}]
    body = orjson.loads(codec.encode_reply(RESPONSE, FACTS))
    assert body["id"] == "req-1" and body["object"] == "chat.completion" and body["model"] == "m-answered"
    choice = body["choices"][0]
    assert choice["message"]["content"] == "Hello there" and choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city": "Oslo"}'}
    assert body["usage"]["prompt_tokens"] == 12 and body["usage"]["completion_tokens"] == 5
    assert body["usage"]["cost_usd"] == 0.000125


def test_openai_stream_ends_with_usage_and_done():
    enc = OpenAIChatCodec().stream_encoder(FACTS)
    out = b"".join(enc.render(ev) for ev in EVENTS)
    assert enc.render(UsageEvent(Usage(input_tokens=3, output_tokens=2))) == b""  # held for the end
    chunks = [orjson.loads(c.removeprefix(b"data: ")) for c in sse_events(out)]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(c["id"] == "req-1" and c["model"] == "m-answered" for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    end = sse_events(enc.end(0.5))
    assert end[-1] == b"data: [DONE]"
    usage = orjson.loads(end[0].removeprefix(b"data: "))
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 2 and usage["usage"]["cost_usd"] == 0.5


def test_openai_stream_without_usage_ends_with_done_only():
    enc = OpenAIChatCodec().stream_encoder(ReplyFacts(request_id="r", model="m"))
    assert enc.end(0.0) == b"data: [DONE]\n\n"


def test_openai_error_envelopes():
    codec = OpenAIChatCodec()
    status, body, headers = codec.encode_error(InvalidRequest("messages: bad", param="messages"))
    err = orjson.loads(body)["error"]
    assert status == 400 and err["message"] == "messages: bad" and err["param"] == "messages" and headers == {}
    status, body, headers = codec.encode_error(RateLimited("slow down", retry_after_s=2))
    assert status == 429 and headers["retry-after"] == "2" and "error" in orjson.loads(body)
    inband = codec.stream_encoder(FACTS).error(UpstreamError("upstream broke"))
    assert inband.startswith(b"data: ") and inband.endswith(b"\n\n")
    assert orjson.loads(inband.removeprefix(b"data: "))["error"]["message"] == "upstream broke"


# -- Anthropic messages --------------------------------------------------------------------


def test_anthropic_round_trip():
    codec = AnthropicCodec()
    req = codec.parse_request(
        orjson.dumps(
            {
                "model": "auto",
                "max_tokens": 64,
                "system": "Be terse.",
                "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
                "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
                "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
                "stop_sequences": ["END"],
            }
        )
    )
    assert (req.model, req.max_tokens, req.include_usage, req.stop) == ("auto", 64, True, ["END"])
    assert req.messages[0] == {"role": "system", "content": "Be terse."}
    assert req.messages[1] == {"role": "user", "content": [{"type": "text", "text": "hi"}]}
    assert req.tools is not None and req.tools[0]["function"]["name"] == "get_weather"
    assert (req.tool_choice, req.parallel_tool_calls) == ("required", False)
    body = orjson.loads(codec.encode_reply(RESPONSE, FACTS))
    assert body["id"] == "req-1" and body["type"] == "message" and body["model"] == "m-answered"
    assert body["content"][0] == {"type": "text", "text": "Hello there"}
    assert body["content"][1] == {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Oslo"}}
    assert body["stop_reason"] == "tool_use" and body["usage"]["input_tokens"] == 12


def test_anthropic_tool_choice_tool_and_bad_type():
    codec = AnthropicCodec()
    base = {"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}]}
    req = codec.parse_request(orjson.dumps({**base, "tool_choice": {"type": "tool", "name": "f"}}))
    assert req.tool_choice == {"type": "function", "function": {"name": "f"}} and req.parallel_tool_calls is None
    with pytest.raises(InvalidRequest, match="tool_choice.type"):
        codec.parse_request(orjson.dumps({**base, "tool_choice": {"type": "sometimes"}}))
    with pytest.raises(InvalidRequest, match="temperature"):
        codec.parse_request(orjson.dumps({**base, "temperature": 1.5}))


def test_anthropic_stream_ends_with_message_stop():
    enc = AnthropicCodec().stream_encoder(FACTS)
    out = b"".join(enc.render(ev) for ev in [*EVENTS, UsageEvent(Usage(input_tokens=3, output_tokens=2))])
    out += enc.end(0.5)
    names = [e.split(b"\n", 1)[0].removeprefix(b"event: ").decode() for e in sse_events(out)]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert names.count("content_block_start") == names.count("content_block_stop") == 2
    delta = orjson.loads(sse_events(out)[-2].split(b"data: ", 1)[1])
    assert delta["delta"]["stop_reason"] == "end_turn" and delta["usage"]["output_tokens"] == 2


def test_anthropic_empty_stream_still_starts_and_stops():
    out = AnthropicCodec().stream_encoder(FACTS).end(0.0)
    names = [e.split(b"\n", 1)[0] for e in sse_events(out)]
    assert names == [b"event: message_start", b"event: message_delta", b"event: message_stop"]


def test_anthropic_error_envelopes():
    codec = AnthropicCodec()
    status, body, headers = codec.encode_error(InvalidRequest("max_tokens: required", param="max_tokens"))
    assert status == 400 and headers == {}
    assert orjson.loads(body) == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "max_tokens: required"},
    }
    status, body, headers = codec.encode_error(RateLimited("slow down", retry_after_s=2))
    assert status == 429 and headers["retry-after"] == "2"
    assert orjson.loads(body)["error"]["type"] == "rate_limit_error"
    inband = codec.stream_encoder(FACTS).error(UpstreamError("upstream broke"))
    assert inband.startswith(b"event: error\ndata: ")
    assert orjson.loads(inband.split(b"data: ", 1)[1])["type"] == "error"


# -- the one handler, both fronts ------------------------------------------------------------


@pytest.fixture
async def client(tmp_path):
    cfg = GatewayConfig.model_validate(
        {
            "models": [
                {"name": "m", "provider": "openai", "model": "x", "base_url": "http://127.0.0.1:9", "api_key": "k"}
            ],
            "keys": [{"key": "fg-front-key", "name": "a"}],
            "learning": {"enabled": False},
            "database_url": f"sqlite:///{tmp_path / 'log.db'}",
        }
    )
    c = TestClient(TestServer(create_app(Gateway(cfg))))
    await c.start_server()
    try:
        yield c
    finally:
        await c.close()


async def test_each_front_answers_errors_in_its_own_envelope(client):
    good = {"authorization": "Bearer fg-front-key"}
    r = await client.post("/v1/messages", data=b"{}", headers=good)
    body = await r.json()
    assert r.status == 400 and body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    r = await client.post("/v1/chat/completions", data=b"{}", headers=good)
    body = await r.json()
    assert r.status == 400 and "error" in body and "type" not in body
    # Authentication comes before the body: a bad key with a bad body is a 401, in each envelope.
    bad = {"authorization": "Bearer fg-nope"}
    r = await client.post("/v1/messages", data=b"{not json", headers=bad)
    assert r.status == 401 and (await r.json())["error"]["type"] == "authentication_error"
    r = await client.post("/v1/chat/completions", data=b"{not json", headers=bad)
    assert r.status == 401 and "message" in (await r.json())["error"]


RESUMED = ReplyFacts(request_id="req-1", model="m", include_usage=True, resumed_at=lambda: 42)


def test_a_resumed_openai_stream_marks_its_finish_and_usage_chunks_only():
    enc = OpenAIChatCodec().stream_encoder(RESUMED)
    out = b"".join(enc.render(ev) for ev in [TextDelta("a"), UsageEvent(Usage(1, 2)), Finish("stop")]) + enc.end(0.1)
    events = [orjson.loads(e.removeprefix(b"data: ")) for e in sse_events(out) if e != b"data: [DONE]"]
    marked = [e for e in events if "faregate" in e]
    assert [e["faregate"] for e in marked] == [{"resumed": True, "resume_offset": 42}] * 2
    assert marked[0]["choices"][0]["finish_reason"] == "stop" and marked[1]["choices"] == []
    assert out.endswith(b"data: [DONE]\n\n")


def test_a_resumed_anthropic_stream_marks_message_delta():
    enc = AnthropicCodec().stream_encoder(RESUMED)
    out = enc.render(TextDelta("a")) + enc.render(Finish("stop")) + enc.end(0.0)
    datas = [orjson.loads(e.split(b"data: ", 1)[1]) for e in sse_events(out)]
    assert [d["type"] for d in datas if "faregate" in d] == ["message_delta"]
    assert next(d for d in datas if d["type"] == "message_delta")["faregate"] == {"resumed": True, "resume_offset": 42}


def test_a_stream_not_resumed_carries_no_marker():
    for codec in CODECS:
        enc = codec.stream_encoder(FACTS)
        out = enc.render(TextDelta("a")) + enc.render(Finish("stop")) + enc.end(0.0)
        assert b"faregate" not in out
