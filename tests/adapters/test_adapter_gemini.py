"""Gemini adapter: request translation, whole replies, streams, errors.

Payload fixtures are in tests/fixtures/gemini (sources in tests/fixtures/SOURCES.md)."""

from __future__ import annotations

import orjson
import pytest
from adapter_payloads import CONVERSATION, PNG_B64, TIME_TOOL, WEATHER_TOOL, load, request, run_stream, target

from faregate.adapters.gemini import GeminiAdapter
from faregate.adapters.gemini_request import PLACEHOLDER_THOUGHT_SIGNATURE
from faregate.adapters.gemini_schema import gemini_schema
from faregate.core.errors import InvalidRequest, UpstreamError
from faregate.core.types import Finish, StreamStart, TextDelta, ToolCallDelta, UsageEvent, collect
from faregate.core.usage import Usage

G = GeminiAdapter()


def body_of(req, **kw) -> dict:
    return orjson.loads(G.build_request(req, target("gemini", **kw), stream=False).body)


# --- request translation ---------------------------------------------------------------------


def test_urls_and_headers():
    t = target("gemini", base_url="http://127.0.0.1:9103", model="gemini-2.5-flash")
    up = G.build_request(request(), t, stream=False)
    assert up.url == "http://127.0.0.1:9103/v1beta/models/gemini-2.5-flash:generateContent"
    assert up.headers["x-goog-api-key"] == "sk-test-key"
    assert up.headers["content-type"] == "application/json"
    assert "key=" not in up.url and "authorization" not in up.headers
    up = G.build_request(request(), t, stream=True)
    assert up.url == "http://127.0.0.1:9103/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    assert orjson.loads(up.body) == {"contents": [{"role": "user", "parts": [{"text": "Hello"}]}]}


def test_default_base_url_and_models_prefix():
    up = G.build_request(request(), target("gemini", model="models/gemini-2.0-flash"), stream=False)
    assert up.url == "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent"
    up = G.build_request(request(), target("gemini", base_url="https://gw.example/v1beta/", model="g"), stream=False)
    assert up.url == "https://gw.example/v1beta/models/g:generateContent"


def test_full_conversation_translation():
    body = body_of(request(messages=CONVERSATION, tools=[WEATHER_TOOL, TIME_TOOL]))
    assert body["systemInstruction"] == {"parts": [{"text": "You are a weather bot.\n\nAnswer in one sentence."}]}
    contents = body["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[0]["parts"] == [
        {"text": "What is in this picture, and what's the weather there?"},
        {"inlineData": {"mimeType": "image/png", "data": PNG_B64}},
        {"fileData": {"fileUri": "https://example.com/golden-gate.jpg", "mimeType": "image/jpeg"}},
    ]
    assert contents[1]["parts"] == [
        {"text": "Let me check."},
        {
            "functionCall": {"name": "get_weather", "args": {"location": "San Francisco, CA"}},
            "thoughtSignature": PLACEHOLDER_THOUGHT_SIGNATURE,
        },
        {"functionCall": {"name": "get_time", "args": {"timezone": "America/Los_Angeles"}}},
    ]
    # Tool results are named after the calls they answer and share one user turn with what follows.
    assert contents[2]["parts"] == [
        {"functionResponse": {"name": "get_weather", "response": {"temperature": 18, "unit": "celsius"}}},
        {"functionResponse": {"name": "get_time", "response": {"output": "10:42"}}},
        {"text": "Thanks!"},
        {"text": "And tomorrow?"},
    ]
    decls = body["tools"][0]["functionDeclarations"]
    assert decls[0] == {
        "name": "get_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "OBJECT",
            "properties": {
                "location": {"type": "STRING", "description": "The city and state, e.g. San Francisco, CA"},
                "unit": {"type": "STRING", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
        },
    }
    assert decls[1]["name"] == "get_time"
    assert "toolConfig" not in body and "generationConfig" not in body


def test_tool_result_name_comes_from_the_latest_matching_call():
    msgs = [
        {"role": "user", "content": "a"},
        {
            "role": "assistant",
            "tool_calls": [{"id": "call_0", "type": "function", "function": {"name": "first", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "call_0", "content": "[1, 2]"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "b"},
        {
            "role": "assistant",
            "tool_calls": [{"id": "call_0", "type": "function", "function": {"name": "second", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "call_0", "content": "plain text"},
    ]
    contents = body_of(request(messages=msgs))["contents"]
    responses = [p["functionResponse"] for c in contents for p in c["parts"] if "functionResponse" in p]
    assert responses == [
        {"name": "first", "response": {"output": [1, 2]}},
        {"name": "second", "response": {"output": "plain text"}},
    ]


def test_tool_without_parameters_and_tool_without_properties():
    tools = [
        {"type": "function", "function": {"name": "now"}},
        {"type": "function", "function": {"name": "ping", "parameters": {"type": "object", "properties": {}}}},
    ]
    decls = body_of(request(tools=tools))["tools"][0]["functionDeclarations"]
    assert decls == [{"name": "now"}, {"name": "ping"}]


@pytest.mark.parametrize(
    "choice, expected",
    [
        ("auto", {"mode": "AUTO"}),
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
        ),
    ],
)
def test_tool_choice(choice, expected):
    body = body_of(request(tools=[WEATHER_TOOL], tool_choice=choice, parallel_tool_calls=False))
    assert body["toolConfig"] == {"functionCallingConfig": expected}


def test_generation_config():
    body = body_of(
        request(temperature=0.3, top_p=0.8, max_tokens=100, stop=["END"], seed=42, user="u", metadata={"a": "b"})
    )
    assert body["generationConfig"] == {
        "temperature": 0.3,
        "topP": 0.8,
        "maxOutputTokens": 100,
        "stopSequences": ["END"],
        "seed": 42,
    }
    assert not {"user", "metadata"} & body.keys()


def test_json_object_mode():
    body = body_of(request(response_format={"type": "json_object"}))
    assert body["generationConfig"] == {"responseMimeType": "application/json"}


def test_json_schema_mode_rewrites_the_schema():
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "tags", "owner"],
        "properties": {
            "name": {"type": "string", "format": "email", "minLength": 1},
            "when": {"type": "string", "format": "date-time"},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
            "score": {"type": ["number", "null"]},
            "kind": {"const": "widget"},
            "level": {"enum": [1, 2, 3], "type": "integer"},
            "owner": {"$ref": "#/$defs/Person"},
            "backup": {"anyOf": [{"$ref": "#/$defs/Person"}, {"type": "null"}]},
        },
        "$defs": {
            "Person": {
                "type": "object",
                "properties": {"id": {"type": "integer", "format": "int64"}},
                "required": ["id"],
                "additionalProperties": False,
            }
        },
    }
    body = body_of(
        request(
            response_format={"type": "json_schema", "json_schema": {"name": "widget", "strict": True, "schema": schema}}
        )
    )
    gen = body["generationConfig"]
    assert gen["responseMimeType"] == "application/json"
    person = {"type": "OBJECT", "properties": {"id": {"type": "INTEGER", "format": "int64"}}, "required": ["id"]}
    assert gen["responseSchema"] == {
        "type": "OBJECT",
        "required": ["name", "tags", "owner"],
        "propertyOrdering": ["name", "when", "tags", "score", "kind", "level", "owner", "backup"],
        "properties": {
            "name": {"type": "STRING", "minLength": 1},
            "when": {"type": "STRING", "format": "date-time"},
            "tags": {"type": "ARRAY", "items": {"type": "STRING"}, "maxItems": 3},
            "score": {"type": "NUMBER", "nullable": True},
            "kind": {"enum": ["widget"], "type": "STRING"},
            "level": {"type": "INTEGER"},
            "owner": person,
            "backup": {"nullable": True, **person},
        },
    }


def test_gemini_schema_is_safe_on_recursive_refs():
    schema = {
        "type": "object",
        "properties": {"child": {"$ref": "#/$defs/Node"}},
        "$defs": {"Node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/Node"}}}},
    }
    out = gemini_schema(schema)  # must terminate
    assert out["type"] == "OBJECT"


def test_bad_data_url_is_a_client_error():
    with pytest.raises(InvalidRequest, match="base64"):
        body_of(
            request(
                messages=[
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "data:image/png;utf8,<svg/>"}}],
                    }
                ]
            )
        )


# --- whole replies ---------------------------------------------------------------------------


def test_parse_text_with_thoughts_usage():
    resp = G.parse_response(load("gemini", "generate_text.json"), model="gemini")
    assert resp.id == "4-4GafrNGoq52roPk_XSuAY"
    assert resp.content.startswith("I apologize for that!")
    assert resp.finish_reason == "stop" and resp.tool_calls == []
    assert resp.usage == Usage(12, 87 + 156, 0)


def test_parse_function_call():
    resp = G.parse_response(load("gemini", "generate_function_call.json"), model="gemini")
    assert resp.finish_reason == "tool_calls"
    assert resp.content is None
    [call] = resp.tool_calls
    assert (call.id, call.name, orjson.loads(call.arguments)) == ("call_0", "getWeather", {"location": "Tokyo"})
    assert resp.usage == Usage(83, 14 + 104)


def test_parse_parallel_calls_and_cached_tokens():
    resp = G.parse_response(load("gemini", "generate_parallel_calls.json"), model="gemini")
    assert resp.content == "Let's get the party started."
    assert [(c.id, c.name, orjson.loads(c.arguments)) for c in resp.tool_calls] == [
        ("call_0", "power_disco_ball", {"power": True}),
        ("call_1", "start_music", {"energetic": True, "loud": True}),
        ("call_2", "dim_lights", {"brightness": 0.5}),
    ]
    assert resp.finish_reason == "tool_calls"
    assert resp.usage == Usage(input_tokens=2100, output_tokens=40, cached_input_tokens=2048)


def test_parse_max_tokens_and_blocked_prompt():
    assert G.parse_response(load("gemini", "generate_max_tokens.json"), model="g").finish_reason == "length"
    blocked = G.parse_response(load("gemini", "generate_blocked.json"), model="g")
    assert blocked.finish_reason == "content_filter" and blocked.content == ""
    assert blocked.usage.input_tokens == 9


@pytest.mark.parametrize(
    "reason, expected",
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("OTHER", "stop"),
    ],
)
def test_finish_reason_mapping(reason, expected):
    data = orjson.loads(load("gemini", "generate_text.json"))
    data["candidates"][0]["finishReason"] = reason
    assert G.parse_response(orjson.dumps(data), model="g").finish_reason == expected


def test_error_object_in_a_200_body_raises():
    with pytest.raises(UpstreamError) as info:
        G.parse_response(load("gemini", "error_api_key.json"), model="g")
    assert info.value.kind == "client" and "API key not valid" in info.value.message


def test_malformed_reply_raises_transient():
    for body in (b"<html>", b"[]", b'{"foo": 1}'):
        with pytest.raises(UpstreamError) as info:
            G.parse_response(body, model="g")
        assert info.value.kind == "transient"


# --- streams ---------------------------------------------------------------------------------


def test_stream_text():
    events = run_stream(G.stream_parser(), load("gemini", "stream_text.sse"))
    assert events[0] == StreamStart("IZI2acSKMoWl0-kPmYj2yQc", "gemini-2.5-flash")
    assert [type(e) for e in events[1:]] == [TextDelta, TextDelta, TextDelta, Finish, UsageEvent]
    assert events[-2:] == [Finish("stop"), UsageEvent(Usage(4, 5947 + 2042))]
    assert events[3].text == ", hold functionality, sound, high scores, etc."


def test_stream_function_call():
    events = run_stream(G.stream_parser(), load("gemini", "stream_function_call.sse"))
    assert events[1] == ToolCallDelta(0, "call_0", "getWeather", '{"location":"Tokyo"}')
    assert events[-2:] == [Finish("tool_calls"), UsageEvent(Usage(83, 118))]


def test_stream_parallel_calls_skip_thoughts():
    events = run_stream(G.stream_parser(), load("gemini", "stream_parallel_calls.sse"))
    resp = collect(events, default_id="x", model="m")
    assert resp.id == "parallelCallsStream01"
    assert resp.content == "Let's get the party started. "
    assert [(c.id, c.name) for c in resp.tool_calls] == [
        ("call_0", "power_disco_ball"),
        ("call_1", "start_music"),
        ("call_2", "dim_lights"),
    ]
    assert [e.index for e in events if isinstance(e, ToolCallDelta)] == [0, 1, 2]
    assert resp.finish_reason == "tool_calls"
    assert resp.usage == Usage(input_tokens=2100, output_tokens=52, cached_input_tokens=2048)
    assert sum(isinstance(e, UsageEvent) for e in events) == 1


@pytest.mark.parametrize("name", ["stream_text.sse", "stream_function_call.sse", "stream_parallel_calls.sse"])
def test_stream_fed_one_byte_at_a_time_gives_the_same_events(name):
    data = load("gemini", name)
    assert run_stream(G.stream_parser(), data, step=1) == run_stream(G.stream_parser(), data)


def test_in_band_error_raises():
    parser = G.stream_parser()
    data = load("gemini", "stream_error.sse")
    head, _, tail = data.partition(b'data: {"error"')
    assert any(isinstance(e, TextDelta) for e in parser.feed(head))
    with pytest.raises(UpstreamError) as info:
        parser.feed(b'data: {"error"' + tail)
    err = info.value
    assert err.kind == "transient" and err.provider_status == 503
    assert "The model is overloaded" in err.message and "UNAVAILABLE" in err.message


def test_cut_stream_raises_on_close_with_partial_usage():
    data = load("gemini", "stream_text.sse")
    cut = data[: data.rindex(b"data: ")]
    parser = G.stream_parser()
    assert len([e for e in parser.feed(cut) if isinstance(e, TextDelta)]) == 2
    with pytest.raises(UpstreamError) as info:
        parser.close()
    assert info.value.kind == "transient" and "finishReason" in info.value.message
    assert info.value.partial_usage == Usage(4, 97 + 2042)


def test_last_chunk_without_blank_line_is_flushed_on_close():
    data = load("gemini", "stream_function_call.sse").rstrip(b"\n")
    events = run_stream(G.stream_parser(), data)
    assert isinstance(events[-1], UsageEvent)


def test_malformed_stream_event_raises():
    with pytest.raises(UpstreamError, match="malformed"):
        G.stream_parser().feed(b"data: {oops\n\n")


# --- error bodies ----------------------------------------------------------------------------


def test_error_messages():
    assert (
        G.error_message(400, load("gemini", "error_api_key.json")) == "API key not valid. Please pass a valid API key."
    )
    assert (
        G.error_message(429, load("gemini", "error_rate_limited.json"))
        == "Resource has been exhausted (e.g. check quota)."
    )
    assert G.error_message(503, b"") == "HTTP 503"
    err = G.classify_error(429, load("gemini", "error_rate_limited.json"), retry_after_s=None, deployment="g#0")
    assert err.kind == "credential" and err.status == 429
