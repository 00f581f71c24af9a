"""The official ``openai`` SDK (sync and async) talks to faregate, which serves each of the
three protocols from a fake provider: answers, usage, cost, and the exact upstream payload."""

from __future__ import annotations

import json

import openai
import pytest

from helpers import GATEWAY_KEY, PROTOCOLS, UPSTREAM_KEYS, UPSTREAM_MODELS, cost_of

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "description": "Local time in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    },
]
MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hello there"}]


def sync_client(srv, **kw) -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.base_url, api_key=GATEWAY_KEY, max_retries=0, timeout=10, **kw)


def async_client(srv, **kw) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=srv.base_url, api_key=GATEWAY_KEY, max_retries=0, timeout=10, **kw)


def upstream_credential(protocol: str, headers: dict[str, str]) -> str | None:
    if protocol == "openai":
        return headers.get("authorization")
    return headers.get({"anthropic": "x-api-key", "gemini": "x-goog-api-key"}[protocol])


def expected_credential(protocol: str) -> str:
    key = UPSTREAM_KEYS[protocol]
    return f"Bearer {key}" if protocol == "openai" else key


def assert_upstream(protocol: str, rec: dict, *, stream: bool) -> dict:
    """The upstream call: translated model id, the configured credential only, the system prompt
    where the protocol wants it. Returns the upstream body."""
    headers, body = rec["headers"], rec["body"]
    assert upstream_credential(protocol, headers) == expected_credential(protocol)
    flat = json.dumps(headers)
    assert GATEWAY_KEY not in flat and "sk-client" not in flat
    model = UPSTREAM_MODELS[protocol]
    if protocol == "openai":
        assert rec["path"] == "/v1/chat/completions" and body["model"] == model
        assert body["messages"][0] == {"role": "system", "content": "You are terse."}
        assert body.get("stream", False) is stream
    elif protocol == "anthropic":
        assert rec["path"] == "/v1/messages" and body["model"] == model
        assert "You are terse." in json.dumps(body["system"])  # hoisted out of the messages
        assert all(m["role"] in ("user", "assistant") for m in body["messages"])
        assert headers.get("anthropic-version")
        assert body.get("stream", False) is stream
    else:
        action = "streamGenerateContent" if stream else "generateContent"
        assert rec["path"] == f"/v1beta/models/{model}:{action}"
        assert "You are terse." in json.dumps(body["systemInstruction"])
        assert all(c["role"] in ("user", "model") for c in body["contents"])
    return body


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_sync_answer_usage_cost_and_upstream_payload(faregate_server, upstreams, protocol):
    fake = upstreams[protocol]
    fake.script({"text": f"Hi from {protocol}", "usage": {"input_tokens": 1234, "output_tokens": 567}})
    with sync_client(faregate_server) as client:
        raw = client.chat.completions.with_raw_response.create(
            model=f"fake-{protocol}", messages=MESSAGES, temperature=0.5, max_tokens=50
        )
        resp = raw.parse()
    assert resp.choices[0].message.content == f"Hi from {protocol}"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.model == f"fake-{protocol}"
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens) == (1234, 567, 1801)
    cost = cost_of(protocol, 1234, 567)
    assert float(raw.headers["x-faregate-cost-usd"]) == pytest.approx(cost, rel=1e-6)
    assert resp.usage.model_extra["cost_usd"] == pytest.approx(cost, rel=1e-6)
    assert raw.headers["x-faregate-model"] == f"fake-{protocol}"
    body = assert_upstream(protocol, fake.last_request(), stream=False)
    if protocol == "openai":
        assert body["temperature"] == 0.5 and body["max_tokens"] == 50
    elif protocol == "anthropic":
        assert body["temperature"] == 0.5 and body["max_tokens"] == 50
    else:
        assert body["generationConfig"]["temperature"] == 0.5
        assert body["generationConfig"]["maxOutputTokens"] == 50


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_async_stream_with_usage_in_the_last_chunk(faregate_server, upstreams, protocol):
    fake = upstreams[protocol]
    text = "The quick brown fox jumps over the lazy dog."
    fake.script({"text": text, "chunks": 4, "usage": {"input_tokens": 40, "output_tokens": 12}})
    async with async_client(faregate_server) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model=f"fake-{protocol}", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        assert raw.headers["content-type"].startswith("text/event-stream")
        stream = raw.parse()
        chunks = [c async for c in stream]
    deltas = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert "".join(deltas) == text
    assert len(deltas) >= 2, "the answer must arrive in several chunks"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    last = chunks[-1]
    assert last.choices == [] and (last.usage.prompt_tokens, last.usage.completion_tokens) == (40, 12)
    assert last.usage.model_extra["cost_usd"] == pytest.approx(cost_of(protocol, 40, 12), rel=1e-6)
    assert all(c.usage is None for c in chunks[:-1])
    assert_upstream(protocol, fake.last_request(), stream=True)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_stream_without_include_usage_has_no_usage_chunk(faregate_server, upstreams, protocol):
    upstreams[protocol].script({"text": "short answer", "chunks": 2})
    async with async_client(faregate_server) as client:
        stream = await client.chat.completions.create(model=f"fake-{protocol}", messages=MESSAGES, stream=True)
        chunks = [c async for c in stream]
    assert all(c.usage is None for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "short answer"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_tool_call_sync(faregate_server, upstreams, protocol):
    fake = upstreams[protocol]
    fake.script(
        {
            "tool_call": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            "usage": {"input_tokens": 80, "output_tokens": 20},
        }
    )
    with sync_client(faregate_server) as client:
        resp = client.chat.completions.create(
            model=f"fake-{protocol}", messages=MESSAGES, tools=TOOLS, tool_choice="auto", parallel_tool_calls=True
        )
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.function.name == "get_weather" and call.id
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    body = assert_upstream(protocol, fake.last_request(), stream=False)
    if protocol == "openai":
        assert body["tools"] == TOOLS and body["parallel_tool_calls"] is True
    elif protocol == "anthropic":
        assert [t["name"] for t in body["tools"]] == ["get_weather", "get_time"]
        assert body["tools"][0]["input_schema"] == TOOLS[0]["function"]["parameters"]
        assert not body.get("tool_choice", {}).get("disable_parallel_tool_use")
    else:
        decls = body["tools"][0]["functionDeclarations"]
        assert [d["name"] for d in decls] == ["get_weather", "get_time"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_tool_call_streamed_as_deltas(faregate_server, upstreams, protocol):
    fake = upstreams[protocol]
    fake.script(
        {
            "tool_call": {"name": "get_weather", "arguments": '{"city": "Oslo", "unit": "celsius"}'},
            "usage": {"input_tokens": 90, "output_tokens": 25},
        }
    )
    async with async_client(faregate_server) as client:
        stream = await client.chat.completions.create(
            model=f"fake-{protocol}",
            messages=MESSAGES,
            tools=TOOLS,
            stream=True,
            stream_options={"include_usage": True},
            parallel_tool_calls=False,
        )
        chunks = [c async for c in stream]
    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert calls, "no tool-call delta"
    assert calls[0].id and calls[0].function.name == "get_weather" and calls[0].type == "function"
    assert all(tc.index == 0 for tc in calls)
    args = "".join(tc.function.arguments or "" for tc in calls)
    assert json.loads(args) == {"city": "Oslo", "unit": "celsius"}
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["tool_calls"]
    assert chunks[-1].usage.model_extra["cost_usd"] == pytest.approx(cost_of(protocol, 90, 25), rel=1e-6)
    body = assert_upstream(protocol, fake.last_request(), stream=True)
    if protocol == "anthropic":
        assert body["tool_choice"]["disable_parallel_tool_use"] is True
    elif protocol == "openai":
        assert body["parallel_tool_calls"] is False


SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
    "additionalProperties": False,
}


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("mode", ["json_object", "json_schema"])
def test_json_mode(faregate_server, upstreams, protocol, mode):
    fake = upstreams[protocol]
    fake.script({"text": '{"answer": "forty-two"}'})
    fmt = (
        {"type": "json_object"}
        if mode == "json_object"
        else {"type": "json_schema", "json_schema": {"name": "reply", "schema": SCHEMA, "strict": True}}
    )
    with sync_client(faregate_server) as client:
        resp = client.chat.completions.create(model=f"fake-{protocol}", messages=MESSAGES, response_format=fmt)
    assert json.loads(resp.choices[0].message.content) == {"answer": "forty-two"}
    assert resp.choices[0].finish_reason == "stop"
    body = assert_upstream(protocol, fake.last_request(), stream=False)
    if protocol == "openai":
        assert body["response_format"] == fmt
    elif protocol == "anthropic":
        forced = body["tool_choice"]
        assert forced["type"] == "tool"
        (tool,) = [t for t in body["tools"] if t["name"] == forced["name"]]
        assert tool["input_schema"] == (SCHEMA if mode == "json_schema" else {"type": "object"})
    else:
        gc = body["generationConfig"]
        assert gc["responseMimeType"] == "application/json"
        if mode == "json_schema":
            assert (gc.get("responseSchema") or gc.get("responseJsonSchema") or {}).get("required") == ["answer"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_client_credentials_and_urls_never_reach_or_redirect_upstream(faregate_server, upstreams, protocol):
    fake = upstreams[protocol]
    evil = {
        "x-api-key": "sk-client-evil-1",
        "api-key": "sk-client-evil-2",
        "x-goog-api-key": "sk-client-evil-3",
        "anthropic-version": "1999-01-01",
        "x-forwarded-host": "evil.example",
    }
    with sync_client(faregate_server, default_headers=evil) as client:
        resp = client.chat.completions.create(
            model=f"fake-{protocol}", messages=MESSAGES, metadata={"base_url": "http://127.0.0.1:1/v1"}
        )
        assert resp.choices[0].message.content
        # A base-URL-looking top-level field is refused, not followed.
        with pytest.raises(openai.BadRequestError) as exc:
            client.chat.completions.create(
                model=f"fake-{protocol}", messages=MESSAGES, extra_body={"base_url": "http://127.0.0.1:1/v1"}
            )
        assert exc.value.body["param"] == "base_url"
    (rec,) = fake.requests()  # exactly one call, to the configured fake
    assert_upstream(protocol, rec, stream=False)
    flat = json.dumps(rec["headers"])
    assert "evil" not in flat and "1999-01-01" not in flat


def test_models_list(faregate_server):
    with sync_client(faregate_server) as client:
        ids = [m.id for m in client.models.list()]
    assert {"fake-openai", "fake-anthropic", "fake-gemini"} <= set(ids)
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=faregate_server.base_url, api_key="wrong", max_retries=0).models.list()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_embedded_gateway_without_a_server(upstreams, tmp_path, protocol):
    import yaml

    from faregate.core.types import TextDelta, UsageEvent
    from faregate.pipeline.gateway import Gateway
    from helpers import fake_config

    cfg = tmp_path / "faregate.yaml"
    cfg.write_text(yaml.safe_dump(fake_config(upstreams, database_url=f"sqlite:///{tmp_path}/log.db")))
    upstreams[protocol].script(
        {"text": "embedded", "usage": {"input_tokens": 10, "output_tokens": 3}},
        {"text": "streamed here", "chunks": 2, "usage": {"input_tokens": 11, "output_tokens": 4}},
    )
    async with Gateway.from_config(str(cfg)) as gw:
        reply = await gw.chat({"model": f"fake-{protocol}", "messages": MESSAGES}, api_key=GATEWAY_KEY)
        assert reply.content == "embedded" and (reply.usage.input_tokens, reply.usage.output_tokens) == (10, 3)
        events = [
            ev async for ev in gw.stream({"model": f"fake-{protocol}", "messages": MESSAGES}, api_key=GATEWAY_KEY)
        ]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "streamed here"
    usage = [e.usage for e in events if isinstance(e, UsageEvent)]
    assert usage and (usage[-1].input_tokens, usage[-1].output_tokens) == (11, 4)
    assert len(upstreams[protocol].requests()) == 2
