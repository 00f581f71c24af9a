"""The translators' output and the fixtures, checked against the official SDKs' own wire models.

google-genai's models forbid unknown fields, so a misspelled Gemini key fails here; the anthropic
SDK's request TypedDicts check block and tool_choice shapes; the fixtures must parse as the SDKs'
response and stream-event types (the documented thinking stream is abridged: no usage, so skipped)."""

from __future__ import annotations

import orjson
import pytest
from adapter_payloads import CONVERSATION, TIME_TOOL, WEATHER_TOOL, load, request

from faregate.adapters.sse import SSEDecoder

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["a"],
    "properties": {"a": {"type": ["string", "null"]}, "b": {"$ref": "#/$defs/B"}},
    "$defs": {"B": {"type": "array", "items": {"type": "integer"}}},
}

REQUESTS = [
    request(
        messages=CONVERSATION,
        tools=[WEATHER_TOOL, TIME_TOOL],
        tool_choice="required",
        parallel_tool_calls=False,
        temperature=0.2,
        max_tokens=5,
        stop=["x"],
        user="u",
        seed=1,
    ),
    request(
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        response_format={"type": "json_schema", "json_schema": {"name": "s", "schema": SCHEMA}},
    ),
    request(response_format={"type": "json_object"}, top_p=0.5, tools=[WEATHER_TOOL], tool_choice="none"),
    request(response_format={"type": "json_schema", "json_schema": {"name": "s", "schema": SCHEMA}}),
]


def _events(data: bytes) -> list[dict]:
    return [orjson.loads(d) for _e, d in SSEDecoder().feed(data + b"\n\n") if d and d != "[DONE]"]


@pytest.mark.parametrize("req", REQUESTS)
def test_gemini_request_matches_google_genai_models(req):
    types = pytest.importorskip("google.genai.types")
    from faregate.adapters.gemini_request import build_body

    body = build_body(req)
    for content in body["contents"]:
        types.Content.model_validate(content)
    if "systemInstruction" in body:
        types.Content.model_validate(body["systemInstruction"])
    for tool in body.get("tools", ()):
        types.Tool.model_validate(tool)
    if "toolConfig" in body:
        types.ToolConfig.model_validate(body["toolConfig"])
    if "generationConfig" in body:
        types.GenerationConfig.model_validate(body["generationConfig"])


def test_google_genai_models_do_reject_unknown_keys():
    types = pytest.importorskip("google.genai.types")
    with pytest.raises(Exception):
        types.Content.model_validate({"role": "user", "parts": [{"txet": "typo"}]})


@pytest.mark.parametrize(
    "name",
    [
        "generate_text.json",
        "generate_function_call.json",
        "generate_parallel_calls.json",
        "generate_max_tokens.json",
        "generate_blocked.json",
    ],
)
def test_gemini_fixtures_are_generate_content_responses(name):
    types = pytest.importorskip("google.genai.types")
    types.GenerateContentResponse.model_validate(orjson.loads(load("gemini", name)))


@pytest.mark.parametrize("name", ["stream_text.sse", "stream_function_call.sse", "stream_parallel_calls.sse"])
def test_gemini_stream_fixtures_are_generate_content_responses(name):
    types = pytest.importorskip("google.genai.types")
    for chunk in _events(load("gemini", name)):
        types.GenerateContentResponse.model_validate(chunk)


@pytest.mark.parametrize("req", REQUESTS)
def test_anthropic_request_matches_sdk_params(req):
    pytest.importorskip("anthropic")
    from anthropic.types.message_create_params import MessageCreateParamsNonStreaming
    from pydantic import TypeAdapter

    from faregate.adapters.anthropic_request import build_body

    TypeAdapter(MessageCreateParamsNonStreaming).validate_python(build_body(req, "claude-x", stream=False))


@pytest.mark.parametrize(
    "name",
    [
        "message_text.json",
        "message_cached.json",
        "message_tool_use.json",
        "message_parallel_tools.json",
        "message_json_tool.json",
    ],
)
def test_anthropic_fixtures_are_messages(name):
    types = pytest.importorskip("anthropic.types")
    types.Message.model_validate(orjson.loads(load("anthropic", name)))


@pytest.mark.parametrize(
    "name", ["stream_text.sse", "stream_tool_use.sse", "stream_parallel_tools.sse", "stream_json_tool.sse"]
)
def test_anthropic_stream_fixtures_are_stream_events(name):
    types = pytest.importorskip("anthropic.types")
    from pydantic import TypeAdapter

    adapter = TypeAdapter(types.RawMessageStreamEvent)
    for event in _events(load("anthropic", name)):
        if event["type"] != "ping":
            adapter.validate_python(event)


def test_openai_fixtures_are_chat_completions():
    chat = pytest.importorskip("openai.types.chat")
    for name in ("chat_completion_text.json", "chat_completion_tool_call.json", "chat_completion_cached.json"):
        chat.ChatCompletion.model_validate(orjson.loads(load("openai", name)))
    for name in ("stream_text.sse", "stream_tool_calls.sse"):
        for chunk in _events(load("openai", name)):
            chat.ChatCompletionChunk.model_validate(chunk)
