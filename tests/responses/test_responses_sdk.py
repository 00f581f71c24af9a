"""The official ``openai`` SDK's Responses API against faregate's ``/v1/responses``, served by each
fake protocol: OpenAI passed through (``responses_api: true``), OpenAI chat-only, Anthropic and
Gemini translated. Text, streaming, a tool round trip, ``previous_response_id``, retrieve, delete."""

from __future__ import annotations

import json

import openai
import pytest
from responses_support import MODELS, client

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
IDS = [m[0] for m in MODELS]


def _upstream(upstreams, protocol: str, path: str | None) -> dict:
    """The last request the fake saw, checked to be on the path its wire uses."""
    req = upstreams[protocol].last_request()
    if path is not None:
        assert req["path"] == path
    return req["body"]


@pytest.mark.parametrize(("model", "protocol", "path"), MODELS, ids=IDS)
def test_create_text(srv, upstreams, model, protocol, path):
    upstreams[protocol].script({"text": f"Hello via {model}", "usage": {"input_tokens": 21, "output_tokens": 7}})
    r = client(srv).responses.create(model=model, input="Say hi", instructions="You are terse.")
    assert r.object == "response" and r.status == "completed" and r.id.startswith("resp_")
    assert r.output_text == f"Hello via {model}"
    assert [i.type for i in r.output] == ["message"] and r.output[0].role == "assistant"
    assert r.usage.input_tokens == 21 and r.usage.output_tokens == 7 and r.usage.total_tokens == 28
    assert r.instructions == "You are terse." and r.model == model
    body = _upstream(upstreams, protocol, path)
    if model == "fake-openai-responses":  # the Responses body itself, faregate keeping the state
        assert body["input"] == [{"type": "message", "role": "user", "content": "Say hi"}]
        assert body["instructions"] == "You are terse." and body["store"] is False and body["model"] == "gpt-4o-mini"
    else:
        text = json.dumps(body)
        assert "You are terse." in text and "Say hi" in text and '"input"' not in text


@pytest.mark.parametrize(("model", "protocol", "path"), MODELS, ids=IDS)
def test_stream_event_sequence(srv, upstreams, model, protocol, path):
    text = "one two three four five"
    upstreams[protocol].script({"text": text, "chunks": 4, "usage": {"input_tokens": 30, "output_tokens": 5}})
    with client(srv).responses.stream(model=model, input="Count") as s:
        events = list(s)
        final = s.get_final_response()
    kinds = [e.type for e in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == text and len(deltas) > 1
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert final.output_text == text and final.status == "completed"
    assert final.usage.input_tokens == 30 and final.usage.output_tokens == 5
    assert upstreams[protocol].last_request()["body"] is not None
    if path:
        assert upstreams[protocol].last_request()["path"] == path


@pytest.mark.parametrize(("model", "protocol", "path"), MODELS, ids=IDS)
def test_tool_round_trip(srv, upstreams, model, protocol, path):
    fake = upstreams[protocol]
    fake.script({"tool_call": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}, {"text": "Sunny, 22C."})
    c = client(srv)
    first = c.responses.create(model=model, input="Weather in Paris?", tools=[WEATHER], tool_choice="auto")
    (call,) = [i for i in first.output if i.type == "function_call"]
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"} and call.call_id
    tools_sent = json.dumps(_upstream(upstreams, protocol, path))
    assert "get_weather" in tools_sent and "city" in tools_sent
    second = c.responses.create(
        model=model,
        tools=[WEATHER],
        input=[
            {"role": "user", "content": "Weather in Paris?"},
            *[i.model_dump(exclude_none=True) for i in first.output],
            {"type": "function_call_output", "call_id": call.call_id, "output": "22C and sunny"},
        ],
    )
    assert second.output_text == "Sunny, 22C."
    upstream = json.dumps(fake.last_request()["body"])
    assert "22C and sunny" in upstream and "Paris" in upstream
    assert call.call_id in upstream or protocol == "gemini"  # Gemini pairs a result with its call by name


@pytest.mark.parametrize(("model", "protocol", "path"), MODELS, ids=IDS)
def test_streamed_tool_call(srv, upstreams, model, protocol, path):
    upstreams[protocol].script({"tool_call": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}})
    with client(srv).responses.stream(model=model, input="Weather in Oslo?", tools=[WEATHER]) as s:
        events = list(s)
        final = s.get_final_response()
    kinds = [e.type for e in events]
    assert "response.function_call_arguments.delta" in kinds and "response.function_call_arguments.done" in kinds
    args = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert json.loads(args) == {"city": "Oslo"}
    (call,) = [i for i in final.output if i.type == "function_call"]
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Oslo"}


@pytest.mark.parametrize(("model", "protocol", "path"), MODELS, ids=IDS)
def test_previous_response_id_continues_the_conversation(srv, upstreams, model, protocol, path):
    fake = upstreams[protocol]
    fake.script({"text": "Nice to meet you, Ada."}, {"text": "Your name is Ada."})
    c = client(srv)
    first = c.responses.create(model=model, input="My name is Ada.", instructions="Only for turn one")
    second = c.responses.create(model=model, previous_response_id=first.id, input="What is my name?")
    assert second.output_text == "Your name is Ada." and second.previous_response_id == first.id
    upstream = json.dumps(fake.last_request()["body"])
    # Both turns went upstream, with the first answer between them; the old instructions did not.
    assert upstream.index("My name is Ada.") < upstream.index("Nice to meet you, Ada.") < upstream.index("my name?")
    assert "Only for turn one" not in upstream


def test_streamed_response_is_readable_by_the_very_next_request(srv, upstreams):
    upstreams["anthropic"].script({"text": "Stored while streaming", "chunks": 3}, {"text": "ok"})
    c = client(srv)
    with c.responses.stream(model="fake-anthropic", input="Remember this") as s:
        rid = s.get_final_response().id
    again = c.responses.create(model="fake-anthropic", previous_response_id=rid, input="And now?")
    assert again.output_text == "ok"
    assert "Stored while streaming" in json.dumps(upstreams["anthropic"].last_request()["body"])
    assert c.responses.retrieve(rid).output_text == "Stored while streaming"


def test_retrieve_and_delete(srv, upstreams):
    upstreams["gemini"].script({"text": "keep me"})
    c = client(srv)
    r = c.responses.create(model="fake-gemini", input="hello", metadata={"topic": "test"})
    got = c.responses.retrieve(r.id)
    assert got.id == r.id and got.output_text == "keep me" and got.metadata == {"topic": "test"}
    c.responses.delete(r.id)
    with pytest.raises(openai.NotFoundError):
        c.responses.retrieve(r.id)
    with pytest.raises(openai.NotFoundError):
        c.responses.delete(r.id)
    with pytest.raises(openai.NotFoundError):
        c.responses.create(model="fake-gemini", previous_response_id=r.id, input="more")


def test_store_false_is_not_kept(srv, upstreams):
    c = client(srv)
    r = c.responses.create(model="fake-openai", input="forget me", store=False)
    assert r.store is False
    with pytest.raises(openai.NotFoundError):
        c.responses.retrieve(r.id)


def test_unknown_previous_response_id_is_a_404_naming_the_parameter(srv, upstreams):
    with pytest.raises(openai.NotFoundError) as exc:
        client(srv).responses.create(model="fake-openai", previous_response_id="resp_nope", input="hi")
    assert exc.value.body["param"] == "previous_response_id"
    assert upstreams["openai"].requests() == []  # nothing went upstream


def test_text_format_json_schema_reaches_each_wire(srv, upstreams):
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    fmt = {"format": {"type": "json_schema", "name": "reply", "schema": schema, "strict": True}}
    c = client(srv)
    for model, protocol, _path in MODELS:
        upstreams[protocol].script({"text": '{"answer": "42"}'})
        r = c.responses.create(model=model, input="Answer in JSON", text=fmt, max_output_tokens=50)
        assert json.loads(r.output_text) == {"answer": "42"}, model
        body = upstreams[protocol].last_request()["body"]
        if model == "fake-openai-responses":
            assert body["text"] == fmt and body["max_output_tokens"] == 50
        elif protocol == "openai":
            assert body["response_format"]["json_schema"]["schema"] == schema and body["max_tokens"] == 50
        elif protocol == "anthropic":
            assert body["max_tokens"] == 50 and "answer" in json.dumps(body["tools"])
        else:
            assert body["generationConfig"]["maxOutputTokens"] == 50
            assert body["generationConfig"]["responseMimeType"] == "application/json"
