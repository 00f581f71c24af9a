"""Anthropic Messages adapter: request translation, whole replies, streams, errors.

Payload fixtures are in tests/fixtures/anthropic (sources in tests/fixtures/SOURCES.md)."""

from __future__ import annotations

import orjson
import pytest
from adapter_payloads import CONVERSATION, PNG_B64, TIME_TOOL, WEATHER_TOOL, load, request, run_stream, target

from faregate.adapters.anthropic import AnthropicAdapter
from faregate.adapters.anthropic_json_mode import JSON_TOOL, JSON_TOOL_DESCRIPTION
from faregate.adapters.anthropic_request import DEFAULT_MAX_TOKENS
from faregate.core.errors import InvalidRequest, UpstreamError
from faregate.core.types import Finish, StreamStart, TextDelta, ToolCallDelta, UsageEvent, collect
from faregate.core.usage import Usage

A = AnthropicAdapter()


def body_of(req, **kw) -> dict:
    up = A.build_request(req, target("anthropic", **kw), stream=False)
    return orjson.loads(up.body)


# --- request translation ---------------------------------------------------------------------


def test_url_headers_and_defaults():
    up = A.build_request(
        request(), target("anthropic", base_url="http://127.0.0.1:9102/", model="claude-x"), stream=True
    )
    assert up.method == "POST" and up.url == "http://127.0.0.1:9102/v1/messages"
    assert up.headers["x-api-key"] == "sk-test-key"
    assert up.headers["anthropic-version"] == "2023-06-01"
    assert up.headers["content-type"] == "application/json"
    assert "authorization" not in up.headers
    body = orjson.loads(up.body)
    assert body == {
        "model": "claude-x",
        "max_tokens": DEFAULT_MAX_TOKENS,
        "messages": [{"role": "user", "content": "Hello"}],
        "stream": True,
    }


def test_default_base_url_and_v1_suffix():
    assert A.build_request(request(), target("anthropic"), stream=False).url == "https://api.anthropic.com/v1/messages"
    up = A.build_request(request(), target("anthropic", base_url="https://proxy.example/v1"), stream=False)
    assert up.url == "https://proxy.example/v1/messages"
    assert "stream" not in orjson.loads(up.body)


def test_full_conversation_translation():
    body = body_of(request(messages=CONVERSATION, tools=[WEATHER_TOOL, TIME_TOOL]))
    assert body["system"] == "You are a weather bot.\n\nAnswer in one sentence."
    msgs = body["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user"]
    assert msgs[0]["content"] == [
        {"type": "text", "text": "What is in this picture, and what's the weather there?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/golden-gate.jpg"}},
    ]
    assert msgs[1]["content"] == [
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "call_a", "name": "get_weather", "input": {"location": "San Francisco, CA"}},
        {"type": "tool_use", "id": "call_b", "name": "get_time", "input": {"timezone": "America/Los_Angeles"}},
    ]
    # Both tool results and the two following user messages merge into one user turn, results first.
    assert msgs[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "call_a", "content": '{"temperature": 18, "unit": "celsius"}'},
        {"type": "tool_result", "tool_use_id": "call_b", "content": "10:42"},
        {"type": "text", "text": "Thanks!"},
        {"type": "text", "text": "And tomorrow?"},
    ]
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "Get the current weather in a given location",
            "input_schema": WEATHER_TOOL["function"]["parameters"],
        },
        {
            "name": "get_time",
            "description": "Get the current time in a timezone",
            "input_schema": TIME_TOOL["function"]["parameters"],
        },
    ]
    assert "tool_choice" not in body


def test_system_messages_anywhere_are_hoisted_in_order():
    body = body_of(
        request(
            messages=[
                {"role": "system", "content": "one"},
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"},
                {"role": "developer", "content": "two"},
                {"role": "user", "content": "again"},
            ]
        )
    )
    assert body["system"] == "one\n\ntwo"
    assert body["messages"] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "again"},
    ]


def test_assistant_tool_call_without_text_and_empty_arguments():
    body = body_of(
        request(
            messages=[
                {"role": "user", "content": "where am I?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "toolu_1", "type": "function", "function": {"name": "get_location", "arguments": ""}}
                    ],
                },
                {"role": "tool", "tool_call_id": "toolu_1", "content": ""},
            ],
            tools=[WEATHER_TOOL],
        )
    )
    assert body["messages"][1] == {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_location", "input": {}}],
    }
    assert body["messages"][2] == {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1"}]}


def test_tool_result_with_content_parts():
    body = body_of(
        request(
            messages=[
                {"role": "user", "content": "chart?"},
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "chart", "arguments": "{}"}}],
                },
                {"role": "tool", "tool_call_id": "t1", "content": [{"type": "text", "text": "done"}]},
            ]
        )
    )
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "done"}]}
    ]


@pytest.mark.parametrize(
    "choice, parallel, expected",
    [
        ("auto", None, {"type": "auto"}),
        ("none", None, {"type": "none"}),
        ("required", None, {"type": "any"}),
        ({"type": "function", "function": {"name": "get_weather"}}, None, {"type": "tool", "name": "get_weather"}),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("none", False, {"type": "none"}),
    ],
)
def test_tool_choice(choice, parallel, expected):
    body = body_of(request(tools=[WEATHER_TOOL], tool_choice=choice, parallel_tool_calls=parallel))
    assert body["tool_choice"] == expected


def test_sampling_parameters():
    body = body_of(
        request(
            max_tokens=256,
            temperature=0.2,
            top_p=0.9,
            stop=["END", "  "],
            user="user-42",
            seed=7,
            metadata={"trace": "x"},
            extra={"presence_penalty": 1},
        )
    )
    assert body["max_tokens"] == 256
    assert body["temperature"] == 0.2
    assert "top_p" not in body  # recent Claude models reject temperature and top_p together
    assert body["stop_sequences"] == ["END"]
    assert body["metadata"] == {"user_id": "user-42"}
    assert not {"seed", "presence_penalty", "user", "stop"} & body.keys()


def test_temperature_clamped_and_top_p_alone():
    assert body_of(request(temperature=1.7))["temperature"] == 1.0
    assert body_of(request(top_p=0.5))["top_p"] == 0.5


def test_json_object_mode_forces_the_reserved_json_tool():
    body = body_of(
        request(
            messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "List three colors."}],
            response_format={"type": "json_object"},
        )
    )
    assert body["system"] == "Be brief."
    assert body["tools"] == [
        {"name": JSON_TOOL, "description": JSON_TOOL_DESCRIPTION, "input_schema": {"type": "object"}}
    ]
    assert body["tool_choice"] == {"type": "tool", "name": JSON_TOOL}
    assert "response_format" not in body


def test_json_schema_mode_uses_the_schema_as_tool_input():
    schema = {
        "type": "object",
        "properties": {"colors": {"type": "array", "items": {"type": "string"}}},
        "required": ["colors"],
        "additionalProperties": False,
    }
    body = body_of(
        request(
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "palette", "schema": schema, "strict": True},
            }
        )
    )
    assert body["tools"][0]["input_schema"] == schema
    assert body["tool_choice"] == {"type": "tool", "name": JSON_TOOL}
    assert "system" not in body


def test_json_schema_with_client_tools_falls_back_to_a_system_instruction():
    schema = {"type": "object", "properties": {"colors": {"type": "array", "items": {"type": "string"}}}}
    body = body_of(
        request(
            tools=[WEATHER_TOOL],
            tool_choice="auto",
            response_format={"type": "json_schema", "json_schema": {"name": "palette", "schema": schema}},
        )
    )
    assert [t["name"] for t in body["tools"]] == ["get_weather"]
    assert body["tool_choice"] == {"type": "auto"}
    assert "conforms to the JSON Schema" in body["system"] and "'palette'" in body["system"]
    assert orjson.dumps(schema).decode() in body["system"]
    body = body_of(request(tools=[WEATHER_TOOL], response_format={"type": "json_object"}))
    assert "single valid JSON object" in body["system"]


def test_json_schema_with_a_non_object_root_falls_back_to_a_system_instruction():
    schema = {"type": "array", "items": {"type": "string"}}
    body = body_of(request(response_format={"type": "json_schema", "json_schema": {"name": "l", "schema": schema}}))
    assert "tools" not in body and "conforms to the JSON Schema" in body["system"]


def test_json_tool_reply_is_plain_text():
    resp = A.parse_response(load("anthropic", "message_json_tool.json"), model="claude")
    assert resp.tool_calls == [] and resp.finish_reason == "stop"
    assert orjson.loads(resp.content) == {
        "elements": [{"location": "San Francisco", "temperature": 58, "condition": "sunny"}]
    }
    assert resp.usage == Usage(849, 47)


def test_json_tool_stream_is_text():
    data = load("anthropic", "stream_json_tool.sse")
    events = run_stream(A.stream_parser(), data)
    assert not any(isinstance(e, ToolCallDelta) for e in events)
    resp = collect(events, default_id="x", model="m")
    assert orjson.loads(resp.content)["elements"][0]["temperature"] == 58
    assert events[-2:] == [Finish("stop"), UsageEvent(Usage(849, 47))]
    assert run_stream(A.stream_parser(), data, step=1) == events


def test_jpg_media_type_is_normalised():
    body = body_of(
        request(
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": f"data:image/jpg;base64,{PNG_B64}"}}],
                }
            ]
        )
    )
    assert body["messages"][0]["content"][0]["source"]["media_type"] == "image/jpeg"


def test_bad_data_url_and_bad_arguments_are_client_errors():
    with pytest.raises(InvalidRequest, match="base64"):
        body_of(
            request(
                messages=[
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "data:image/png,notbase64"}}],
                    }
                ]
            )
        )
    with pytest.raises(InvalidRequest, match="arguments"):
        body_of(
            request(
                messages=[
                    {"role": "user", "content": "x"},
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {"id": "t", "type": "function", "function": {"name": "f", "arguments": "{not json"}}
                        ],
                    },
                ]
            )
        )


# --- whole replies ---------------------------------------------------------------------------


def test_parse_text_message():
    resp = A.parse_response(load("anthropic", "message_text.json"), model="claude")
    assert resp.id == "msg_013Zva2CMHLNnXjNJJKqJ2EF"
    assert resp.content == "Hi! My name is Claude." and resp.tool_calls == []
    assert resp.finish_reason == "stop"
    assert resp.usage == Usage(2095, 503, 0, 0)


def test_parse_cache_creation_usage_and_max_tokens():
    resp = A.parse_response(load("anthropic", "message_cached.json"), model="claude")
    assert resp.finish_reason == "length"
    assert resp.usage == Usage(
        input_tokens=21 + 188086, output_tokens=393, cached_input_tokens=0, cache_creation_tokens=188086
    )


def test_parse_tool_use_message():
    resp = A.parse_response(load("anthropic", "message_tool_use.json"), model="claude")
    assert resp.finish_reason == "tool_calls"
    assert resp.content == "I'll check the weather for you."
    [call] = resp.tool_calls
    assert (call.id, call.name) == ("toolu_01A09q90qw90lq917835lq9", "get_weather")
    assert orjson.loads(call.arguments) == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    assert resp.usage == Usage(472 + 1200, 89, 1200, 0)


def test_parse_parallel_tool_use_skips_thinking():
    resp = A.parse_response(load("anthropic", "message_parallel_tools.json"), model="claude")
    assert resp.content is None
    assert [(c.id, c.name, orjson.loads(c.arguments)) for c in resp.tool_calls] == [
        ("toolu_01A09q90qw90lq917835lq9", "get_weather", {"location": "San Francisco, CA"}),
        ("toolu_01B2c3d4e5f6g7h8i9j0k1l2", "get_time", {"timezone": "America/Los_Angeles"}),
    ]
    assert resp.usage == Usage(1150, 120, 1000, 100)


@pytest.mark.parametrize(
    "reason, expected",
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
    ],
)
def test_stop_reason_mapping(reason, expected):
    data = orjson.loads(load("anthropic", "message_text.json"))
    data["stop_reason"] = reason
    assert A.parse_response(orjson.dumps(data), model="m").finish_reason == expected


def test_malformed_reply_raises_transient():
    for body in (b"not json", b"[1, 2]", b'{"id": "x"}'):
        with pytest.raises(UpstreamError) as info:
            A.parse_response(body, model="m")
        assert info.value.kind == "transient"


# --- streams ---------------------------------------------------------------------------------


def test_stream_text():
    events = run_stream(A.stream_parser(), load("anthropic", "stream_text.sse"))
    assert events == [
        StreamStart("msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY", "claude-sonnet-4-5-20250929"),
        TextDelta("Hello"),
        TextDelta("!"),
        Finish("stop"),
        UsageEvent(Usage(25, 15)),
    ]


def test_stream_tool_use():
    events = run_stream(A.stream_parser(), load("anthropic", "stream_tool_use.sse"))
    resp = collect(events, default_id="x", model="m")
    assert resp.id == "msg_014p7gG3wDgGV9EUtLvnow3U"
    assert resp.content == "Okay, let's check the weather for San Francisco, CA:"
    [call] = resp.tool_calls
    assert (call.id, call.name) == ("toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather")
    assert orjson.loads(call.arguments) == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    assert resp.finish_reason == "tool_calls"
    assert resp.usage == Usage(472, 89)
    first_tool_event = next(e for e in events if isinstance(e, ToolCallDelta))
    assert first_tool_event == ToolCallDelta(0, "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather", "")
    assert isinstance(events[-1], UsageEvent) and isinstance(events[-2], Finish)


def test_stream_parallel_tools_are_indexed_among_tool_use_blocks():
    events = run_stream(A.stream_parser(), load("anthropic", "stream_parallel_tools.sse"))
    opens = [e for e in events if isinstance(e, ToolCallDelta) and e.id]
    assert [(e.index, e.id, e.name) for e in opens] == [
        (0, "toolu_01A09q90qw90lq917835lq9", "get_weather"),
        (1, "toolu_01B2c3d4e5f6g7h8i9j0k1l2", "get_time"),
        (2, "toolu_01NoArgs000000000000000", "get_location"),
    ]
    resp = collect(events, default_id="x", model="m")
    assert resp.content == "Checking both."  # the server-side web_search block is not a client tool call
    assert [orjson.loads(c.arguments) for c in resp.tool_calls] == [
        {"location": "San Francisco, CA"},
        {"timezone": "America/Los_Angeles"},
        {},
    ]
    assert resp.finish_reason == "tool_calls"
    assert resp.usage == Usage(
        input_tokens=1150, output_tokens=120, cached_input_tokens=1000, cache_creation_tokens=100
    )
    assert sum(isinstance(e, UsageEvent) for e in events) == 1


def test_stream_thinking_blocks_are_not_text():
    events = run_stream(A.stream_parser(), load("anthropic", "stream_thinking.sse"))
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["27 * 453 = 12,231"]
    assert events[-2:] == [Finish("stop"), UsageEvent(Usage())]


@pytest.mark.parametrize(
    "name", ["stream_text.sse", "stream_tool_use.sse", "stream_parallel_tools.sse", "stream_thinking.sse"]
)
def test_stream_fed_one_byte_at_a_time_gives_the_same_events(name):
    data = load("anthropic", name)
    assert run_stream(A.stream_parser(), data, step=1) == run_stream(A.stream_parser(), data)


def test_multibyte_text_split_byte_by_byte():
    text = "Grüße, 東京 🌤"
    frame = (
        'event: message_start\ndata: {"type":"message_start","message":{"id":"m","model":"c",'
        '"usage":{"input_tokens":3,"output_tokens":1}}}\n\n'
        'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        f'"delta":{{"type":"text_delta","text":"{text}"}}}}\n\n'
        'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
        '"usage":{"output_tokens":9}}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n'
    ).encode()
    events = run_stream(A.stream_parser(), frame, step=1)
    assert TextDelta(text) in events
    assert events[-1] == UsageEvent(Usage(3, 9))


def test_stream_with_crlf_line_endings():
    data = load("anthropic", "stream_text.sse")
    assert run_stream(A.stream_parser(), data.replace(b"\n", b"\r\n"), step=7) == run_stream(A.stream_parser(), data)


def test_in_band_error_event_raises_with_kind():
    parser = A.stream_parser()
    data = load("anthropic", "stream_error.sse")
    head, _, tail = data.partition(b"event: error")
    events = parser.feed(head)
    assert TextDelta("Hello") in events
    with pytest.raises(UpstreamError) as info:
        parser.feed(b"event: error" + tail)
    err = info.value
    assert err.kind == "transient" and err.provider_status == 529
    assert "overloaded_error" in err.message and "Overloaded" in err.message
    assert err.partial_usage == Usage(25, 1)


@pytest.mark.parametrize(
    "etype, kind",
    [
        ("rate_limit_error", "credential"),
        ("api_error", "transient"),
        ("invalid_request_error", "client"),
        ("authentication_error", "credential"),
    ],
)
def test_error_event_kinds(etype, kind):
    frame = b'event: error\ndata: {"type":"error","error":{"type":"%s","message":"nope"}}\n\n' % etype.encode()
    with pytest.raises(UpstreamError) as info:
        A.stream_parser().feed(frame)
    assert info.value.kind == kind


def test_cut_stream_raises_on_close():
    data = load("anthropic", "stream_tool_use.sse")
    cut = data[: data.index(b"event: message_delta")]
    parser = A.stream_parser()
    events = parser.feed(cut)
    assert any(isinstance(e, ToolCallDelta) for e in events)
    with pytest.raises(UpstreamError) as info:
        parser.close()
    assert info.value.kind == "transient" and "message_stop" in info.value.message


def test_stream_without_message_stop_raises_even_after_finish():
    data = load("anthropic", "stream_text.sse")
    cut = data[: data.index(b"event: message_stop")]
    with pytest.raises(UpstreamError):
        run_stream(A.stream_parser(), cut)


def test_malformed_stream_event_raises():
    with pytest.raises(UpstreamError, match="malformed"):
        A.stream_parser().feed(b"event: message_start\ndata: {not json\n\n")


# --- error bodies ----------------------------------------------------------------------------


def test_error_message_from_bodies():
    assert A.error_message(529, load("anthropic", "error_overloaded.json")) == "Overloaded"
    assert A.error_message(500, b"upstream connect error") == "upstream connect error"
    assert A.error_message(502, b"") == "HTTP 502"


def test_classify_error_uses_the_message():
    err = A.classify_error(
        400, load("anthropic", "error_invalid_request.json"), retry_after_s=None, deployment="anthropic#0"
    )
    assert err.kind == "context_length"
    assert "prompt is too long" in err.message
    assert "sk-test-key" not in err.message
    assert (
        A.classify_error(529, load("anthropic", "error_overloaded.json"), retry_after_s=2.0, deployment="d").kind
        == "transient"
    )
