"""OpenAI chat completions adapter (the reference implementation): request pass-through, whole
replies, streams, errors. Payload fixtures are in tests/fixtures/openai (sources in SOURCES.md)."""

from __future__ import annotations

import orjson
import pytest
from adapter_payloads import CONVERSATION, TIME_TOOL, WEATHER_TOOL, load, request, run_stream, target

from faregate.adapters.openai import OpenAIAdapter
from faregate.core.errors import UpstreamError
from faregate.core.types import Finish, StreamStart, TextDelta, ToolCallDelta, UsageEvent, collect
from faregate.core.usage import Usage

O = OpenAIAdapter()


def test_request_keeps_the_openai_shape():
    fmt = {"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object"}, "strict": True}}
    req = request(
        messages=CONVERSATION,
        tools=[WEATHER_TOOL, TIME_TOOL],
        tool_choice="required",
        parallel_tool_calls=False,
        response_format=fmt,
        temperature=0.5,
        top_p=0.9,
        max_tokens=64,
        stop=["END"],
        seed=3,
        user="u1",
        metadata={"k": "v"},
        extra={"n": 1, "logprobs": True},
    )
    up = O.build_request(req, target("openai", base_url="http://127.0.0.1:9101/v1/", model="gpt-4o-mini"), stream=False)
    assert up.url == "http://127.0.0.1:9101/v1/chat/completions"
    assert up.headers["authorization"] == "Bearer sk-test-key"
    body = orjson.loads(up.body)
    assert body["model"] == "gpt-4o-mini"
    assert body["messages"] == CONVERSATION  # system, developer, images, tool calls and results pass as they are
    assert body["tools"] == [WEATHER_TOOL, TIME_TOOL]
    assert (body["tool_choice"], body["parallel_tool_calls"]) == ("required", False)
    assert body["response_format"] == fmt
    assert {
        k: body[k] for k in ("temperature", "top_p", "max_tokens", "stop", "seed", "user", "metadata", "n", "logprobs")
    } == {
        "temperature": 0.5,
        "top_p": 0.9,
        "max_tokens": 64,
        "stop": ["END"],
        "seed": 3,
        "user": "u1",
        "metadata": {"k": "v"},
        "n": 1,
        "logprobs": True,
    }
    assert "stream" not in body


def test_defaults_and_streaming_always_asks_for_usage():
    up = O.build_request(request(), target("openai", api_key=None), stream=True)
    assert up.url == "https://api.openai.com/v1/chat/completions"
    assert "authorization" not in up.headers
    body = orjson.loads(up.body)
    assert body == {
        "model": "upstream-model",
        "messages": [{"role": "user", "content": "Hello"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_parse_text():
    resp = O.parse_response(load("openai", "chat_completion_text.json"), model="m")
    assert resp.id == "chatcmpl-BcO1gPfCFAf86O5CyQ9CTeEyoc8KG" and resp.created == 1748488520
    assert resp.content == "Why don't skeletons fight each other? They don't have the guts."
    assert resp.finish_reason == "stop" and resp.tool_calls == []
    assert resp.usage == Usage(23, 14, 0)


def test_parse_tool_call():
    resp = O.parse_response(load("openai", "chat_completion_tool_call.json"), model="m")
    assert resp.content is None and resp.finish_reason == "tool_calls"
    [call] = resp.tool_calls
    assert (call.id, call.name, call.arguments) == (
        "call_qOfTGgDrItLORNfC6VwUbyLL",
        "get_weather",
        '{"location":"Shanghai"}',
    )
    assert resp.usage == Usage(91, 14, 0)


def test_parse_cached_usage():
    resp = O.parse_response(load("openai", "chat_completion_cached.json"), model="m")
    assert resp.finish_reason == "length"
    assert resp.usage == Usage(input_tokens=2006, output_tokens=300, cached_input_tokens=1920)


def test_malformed_reply_raises_transient():
    with pytest.raises(UpstreamError) as info:
        O.parse_response(b'{"object": "list"}', model="m")
    assert info.value.kind == "transient"


def test_stream_text_with_usage():
    events = run_stream(O.stream_parser(), load("openai", "stream_text.sse"))
    assert events == [
        StreamStart("chatcmpl-123", "gpt-4o-mini"),
        TextDelta("Hello"),
        TextDelta(" there!"),
        Finish("stop"),
        UsageEvent(Usage(1200, 3, 1024)),
    ]


def test_stream_parallel_tool_calls():
    events = run_stream(O.stream_parser(), load("openai", "stream_tool_calls.sse"))
    opens = [e for e in events if isinstance(e, ToolCallDelta) and e.id]
    assert [(e.index, e.id, e.name) for e in opens] == [
        (0, "call_PieqNSej6kM9hgYbcQdbZSaC", "get_weather"),
        (1, "call_Xy7lJ3Gd2pQk8Vn0aB4cR1sT", "get_time"),
    ]
    resp = collect(events, default_id="x", model="m")
    assert [orjson.loads(c.arguments) for c in resp.tool_calls] == [{"location": "Paris"}, {"timezone": "Europe/Paris"}]
    assert resp.finish_reason == "tool_calls"
    assert resp.usage == Usage(81, 45, 0)


@pytest.mark.parametrize("name", ["stream_text.sse", "stream_tool_calls.sse"])
def test_stream_fed_one_byte_at_a_time_gives_the_same_events(name):
    data = load("openai", name)
    assert run_stream(O.stream_parser(), data, step=1) == run_stream(O.stream_parser(), data)


def test_in_band_error_raises():
    parser = O.stream_parser()
    data = load("openai", "stream_error.sse")
    head, _, tail = data.partition(b'data: {"error"')
    assert TextDelta("Hel") in parser.feed(head)
    with pytest.raises(UpstreamError) as info:
        parser.feed(b'data: {"error"' + tail)
    assert info.value.kind == "transient" and "The server had an error" in info.value.message


def test_cut_stream_raises_on_close():
    data = load("openai", "stream_tool_calls.sse")
    cut = data[: data.index(b'"finish_reason":"tool_calls"')]
    cut = cut[: cut.rindex(b"data: ")]
    parser = O.stream_parser()
    parser.feed(cut)
    with pytest.raises(UpstreamError) as info:
        parser.close()
    assert info.value.kind == "transient"


def test_finished_stream_without_done_is_accepted():
    data = load("openai", "stream_text.sse").replace(b"data: [DONE]\n\n", b"")
    events = run_stream(O.stream_parser(), data)
    assert Finish("stop") in events


def test_error_bodies():
    assert O.error_message(401, load("openai", "error_invalid_key.json")).startswith("Incorrect API key provided")
    err = O.classify_error(400, load("openai", "error_context_length.json"), retry_after_s=None, deployment="o#0")
    assert err.kind == "context_length" and err.status == 400
    err = O.classify_error(401, load("openai", "error_invalid_key.json"), retry_after_s=None, deployment="o#0")
    assert err.kind == "credential"
    assert O.error_message(502, b"<html>Bad Gateway</html>") == "<html>Bad Gateway</html>"


def test_registry_serves_all_three_wire_formats():
    from faregate.adapters.anthropic import AnthropicAdapter
    from faregate.adapters.gemini import GeminiAdapter
    from faregate.adapters.registry import adapter_for

    assert isinstance(adapter_for("openai"), OpenAIAdapter)
    assert isinstance(adapter_for("anthropic"), AnthropicAdapter)
    assert isinstance(adapter_for("gemini"), GeminiAdapter)
    assert {adapter_for(p).protocol for p in ("openai", "anthropic", "gemini")} == {"openai", "anthropic", "gemini"}
