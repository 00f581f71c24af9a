"""The official ``anthropic`` SDK against faregate's ``/v1/messages``, served by each of the three
fake protocols: text, system prompt, streaming with usage, tool use round trip, errors in Anthropic's shape."""

from __future__ import annotations

import json

import anthropic
import pytest

from helpers import GATEWAY_KEY, PROTOCOLS

TOOLS = [
    {
        "name": "get_weather",
        "description": "Weather in a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]


def client(srv, key: str = GATEWAY_KEY) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=srv.url, api_key=key, max_retries=0, timeout=10)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_text_and_system(faregate_server, upstreams, protocol):
    upstreams[protocol].script({"text": f"Hello via {protocol}", "usage": {"input_tokens": 21, "output_tokens": 7}})
    msg = client(faregate_server).messages.create(
        model=f"fake-{protocol}",
        max_tokens=100,
        system="You are terse.",
        messages=[{"role": "user", "content": "Say hi"}],
    )
    assert msg.type == "message" and msg.role == "assistant"
    assert [b.type for b in msg.content] == ["text"] and msg.content[0].text == f"Hello via {protocol}"
    assert msg.usage.input_tokens == 21 and msg.usage.output_tokens == 7
    assert msg.stop_reason == "end_turn"
    body = json.dumps(upstreams[protocol].last_request()["body"])
    assert "You are terse." in body and "Say hi" in body


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_streaming(faregate_server, upstreams, protocol):
    text = "one two three four five"
    upstreams[protocol].script({"text": text, "chunks": 4, "usage": {"input_tokens": 30, "output_tokens": 5}})
    with client(faregate_server).messages.stream(
        model=f"fake-{protocol}", max_tokens=100, messages=[{"role": "user", "content": "Count"}]
    ) as s:
        pieces = list(s.text_stream)
        final = s.get_final_message()
    assert "".join(pieces) == text and len(pieces) > 1
    assert final.content[0].text == text
    assert final.usage.output_tokens == 5
    assert final.usage.input_tokens == 30
    assert upstreams[protocol].last_request()["body"] is not None


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_tool_use_round_trip(faregate_server, upstreams, protocol):
    fake = upstreams[protocol]
    fake.script(
        {"tool_call": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}, {"text": "It is sunny in Paris."}
    )
    c = client(faregate_server)
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    msg = c.messages.create(model=f"fake-{protocol}", max_tokens=100, tools=TOOLS, messages=messages)
    assert msg.stop_reason == "tool_use"
    (use,) = [b for b in msg.content if b.type == "tool_use"]
    assert use.name == "get_weather" and use.input == {"city": "Paris"} and use.id
    messages += [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in msg.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "22C and sunny"}]},
    ]
    msg2 = c.messages.create(model=f"fake-{protocol}", max_tokens=100, tools=TOOLS, messages=messages)
    assert msg2.content[0].text == "It is sunny in Paris."
    upstream = json.dumps(fake.last_request()["body"])
    assert "22C and sunny" in upstream and "get_weather" in upstream  # the result went upstream with its call


def test_errors_in_anthropic_shape(faregate_server, upstreams):
    with pytest.raises(anthropic.NotFoundError) as e:
        client(faregate_server).messages.create(
            model="no-such-model", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert e.value.body["type"] == "error" and e.value.body["error"]["type"] == "not_found_error"
    with pytest.raises(anthropic.AuthenticationError) as e:
        client(faregate_server, key="fg-wrong-key").messages.create(
            model="fake-openai", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert e.value.body["error"]["type"] == "authentication_error"
    assert all(not f.requests() for f in upstreams.values())  # nothing reached a provider
