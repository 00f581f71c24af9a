"""The Responses translations on recorded payloads (``docs_payloads``): requests into chat,
upstream Responses answers and streams into canonical events, and faregate's own output
validated by the official SDK's pydantic models of the Responses API."""

from __future__ import annotations

import orjson
import pytest
from docs_payloads import CALL_STREAM, TEXT_RESPONSE, TEXT_STREAM, TOOL_ROUND_TRIP_INPUT, WEATHER_TOOL
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from faregate.adapters.base import Target
from faregate.adapters.openai import OpenAIAdapter
from faregate.core.errors import InvalidRequest
from faregate.core.types import ChatResponse, Finish, TextDelta, ToolCall, ToolCallDelta, UsageEvent, collect
from faregate.core.usage import Usage
from faregate.storage.responses_store import as_history
from faregate.wire.codec import ReplyFacts
from faregate.wire.responses_codec import ResponsesCodec
from faregate.wire.responses_front import build_call, check_body

EVENTS = TypeAdapter(ResponseStreamEvent)
FACTS = ReplyFacts(request_id="req_0001abcd", model="fake-model", cost_usd=0.0012)


def call_of(body: dict, history: list | None = None):
    return build_call(check_body(body), history or [])


def sse(events: list[dict]) -> bytes:
    return b"".join(b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n" for e in events)


def test_the_docs_tool_round_trip_becomes_chat_messages():
    call = call_of({"model": "m", "input": TOOL_ROUND_TRIP_INPUT, "tools": [WEATHER_TOOL], "instructions": "Be brief."})
    req = call.request
    assert req.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is the weather like in Paris today?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_12345xyz",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"location":"Paris, France"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_12345xyz", "content": "14"},
    ]
    (tool,) = req.tools
    assert tool["function"]["name"] == "get_weather" and tool["function"]["strict"] is True
    assert tool["function"]["parameters"] == WEATHER_TOOL["parameters"]
    assert req.responses["input"] == TOOL_ROUND_TRIP_INPUT  # kept as sent for a passthrough upstream


def test_parts_formats_and_limits_translate():
    body = {
        "model": "m",
        "input": [
            {"role": "developer", "content": [{"type": "input_text", "text": "Rules."}]},
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What is this?"},
                    {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "low"},
                ],
            },
        ],
        "text": {"format": {"type": "json_schema", "name": "r", "schema": {"type": "object"}, "strict": True}},
        "max_output_tokens": 64,
        "tool_choice": {"type": "function", "name": "get_weather"},
        "tools": [WEATHER_TOOL],
        "temperature": 0.2,
    }
    req = call_of(body).request
    assert req.messages[0] == {"role": "system", "content": "Rules."}
    assert req.messages[1]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "https://example.com/a.png", "detail": "low"},
    }
    assert req.response_format == {
        "type": "json_schema",
        "json_schema": {"name": "r", "schema": {"type": "object"}, "strict": True},
    }
    assert req.max_tokens == 64 and req.temperature == 0.2
    assert req.tool_choice == {"type": "function", "function": {"name": "get_weather"}}


def test_built_in_tools_are_listed_as_native_only_and_bypass_the_cache():
    call = call_of({"model": "m", "input": "news?", "tools": [{"type": "web_search"}, WEATHER_TOOL]})
    assert call.native_only == ["tool web_search"]
    assert [t["function"]["name"] for t in call.request.tools] == ["get_weather"]
    assert "no-store" in call.request.routing["cache"]
    assert call_of({"model": "m", "input": "x", "tool_choice": {"type": "file_search"}}).native_only


@pytest.mark.parametrize(
    "body",
    [
        {"model": "m", "input": [{"role": "system", "content": "only rules"}]},
        {"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]},
        {"model": "m", "input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": {}}]},
        {"model": "m", "input": "x", "tools": [{"type": "function"}]},
        {"model": "m", "input": "x", "text": {"format": {"type": "xml"}}},
        {"model": "m", "input": "x", "temperature": 3},
        {"model": "m", "input": "x", "metadata": {"a": 1}},
    ],
)
def test_what_cannot_translate_is_a_400(body):
    with pytest.raises(InvalidRequest) as exc:
        call_of(body)
    assert exc.value.status == 400 and exc.value.param


def test_history_comes_first_and_without_item_ids():
    history = as_history(
        [{"type": "message", "role": "user", "content": "My name is Ada."}],
        [*TEXT_RESPONSE["output"], {"type": "reasoning", "id": "rs_1", "summary": []}],
    )
    assert all("id" not in item for item in history) and [i["type"] for i in history] == ["message", "message"]
    req = call_of({"model": "m", "input": "And my name?"}, history).request
    assert [m["role"] for m in req.messages] == ["user", "assistant", "user"]
    assert req.messages[1]["content"].startswith("In a peaceful grove")


def test_the_docs_response_object_reads_back_as_a_canonical_answer():
    resp = OpenAIAdapter().parse_response(orjson.dumps(TEXT_RESPONSE), model="m")
    assert resp.content == TEXT_RESPONSE["output"][0]["content"][0]["text"]
    assert (resp.usage.input_tokens, resp.usage.output_tokens) == (36, 87) and resp.finish_reason == "stop"
    assert resp.output_items == TEXT_RESPONSE["output"]  # shown to the client as the upstream sent them


@pytest.mark.parametrize("split", [1, 7, 10_000])
def test_the_docs_streams_read_back_as_canonical_events(split):
    for events, check in ((TEXT_STREAM, "text"), (CALL_STREAM, "call")):
        raw, parser, out = sse(events), OpenAIAdapter().stream_parser(), []
        for i in range(0, len(raw), split):
            out += parser.feed(raw[i : i + split])
        out += parser.close()
        resp = collect(out, default_id="x", model="m")
        if check == "text":
            assert resp.content == "Hi there! How can I assist you today?"
            assert (resp.usage.input_tokens, resp.usage.output_tokens) == (37, 11) and resp.finish_reason == "stop"
        else:
            (tc,) = resp.tool_calls
            assert (tc.id, tc.name, tc.arguments) == ("call_1234xyz", "get_weather", '{"location":"Paris, France"}')
            assert resp.finish_reason == "tool_calls"


def test_a_responses_stream_cut_before_completed_fails():
    parser = OpenAIAdapter().stream_parser()
    parser.feed(sse(TEXT_STREAM[:-1]))
    with pytest.raises(Exception, match="closed the stream"):
        parser.close()


def test_the_passthrough_request_keeps_state_local():
    call = call_of(
        {"model": "m", "input": "hi", "previous_response_id": "resp_x", "tools": [{"type": "web_search"}]}, []
    )
    target = Target("d#0", "m", "openai", "gpt-4.1", "https://up.example/v1", api_key="sk-up", responses_api=True)
    up = OpenAIAdapter().build_request(call.request, target, stream=True)
    body = orjson.loads(up.body)
    assert up.url == "https://up.example/v1/responses" and up.headers["authorization"] == "Bearer sk-up"
    assert body["model"] == "gpt-4.1" and body["store"] is False and body["stream"] is True
    assert "previous_response_id" not in body and body["tools"] == [{"type": "web_search"}]
    chat = OpenAIAdapter().build_request(
        call.request, Target("d#0", "m", "openai", "x", "https://up.example/v1"), stream=False
    )
    assert chat.url.endswith("/chat/completions") and "messages" in orjson.loads(chat.body)


def _answer(**kw) -> ChatResponse:
    return ChatResponse(
        id="up-1",
        model="m",
        content=kw.get("content"),
        tool_calls=kw.get("calls", []),
        finish_reason=kw.get("finish", "stop"),
        usage=Usage(120, 30, 20),
    )


@pytest.mark.parametrize(
    "answer",
    [
        _answer(content="Hello there."),
        _answer(calls=[ToolCall("call_1", "get_weather", '{"location":"Paris"}')], finish="tool_calls"),
        _answer(content="cut", finish="length"),
    ],
)
def test_rendered_responses_validate_as_the_sdk_models(answer):
    codec = ResponsesCodec.for_call(call_of({"model": "m", "input": "hi", "tools": [WEATHER_TOOL], "store": False}))
    obj = Response.model_validate(orjson.loads(codec.encode_reply(answer, FACTS)))
    assert obj.id == "resp_0001abcd" and obj.store is False and obj.tools[0].name == "get_weather"
    assert obj.usage.input_tokens == 120 and obj.usage.input_tokens_details.cached_tokens == 20
    if answer.tool_calls:
        assert obj.output[0].type == "function_call" and obj.output[0].call_id == "call_1"
    else:
        assert obj.output_text == answer.content
    assert obj.status == ("incomplete" if answer.finish_reason == "length" else "completed")


def test_rendered_stream_events_validate_as_the_sdk_models():
    enc = ResponsesCodec.for_call(call_of({"model": "m", "input": "hi"})).stream_encoder(FACTS)
    raw = b"".join(
        enc.render(ev)
        for ev in (
            TextDelta("Let me "),
            TextDelta("check."),
            ToolCallDelta(0, "call_9", "get_weather", '{"loc'),
            ToolCallDelta(0, arguments='ation":"Oslo"}'),
            Finish("tool_calls"),
            UsageEvent(Usage(10, 5)),
        )
    ) + enc.end(0.001)
    events = [
        EVENTS.validate_python(orjson.loads(line[6:]))
        for line in raw.decode().splitlines()
        if line.startswith("data: ")
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    final = events[-1]
    assert final.type == "response.completed" and final.response.output_text == "Let me check."
    assert [i.type for i in final.response.output] == ["message", "function_call"]
    assert final.response.output[1].arguments == '{"location":"Oslo"}' and final.response.usage.total_tokens == 15
