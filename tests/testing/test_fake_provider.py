"""The fake providers speak each protocol faithfully enough for the official SDKs, and every
scripted behaviour does what it says."""

import http.client
import json
import time
import urllib.request

import anthropic
import openai
import pytest
from google import genai
from google.genai import types

from faregate.testing import run_in_thread


@pytest.fixture(scope="module")
def fakes():
    fs = {p: run_in_thread(p) for p in ("openai", "anthropic", "gemini")}
    yield fs
    for f in fs.values():
        f.stop()


@pytest.fixture(autouse=True)
def _reset(fakes):
    for f in fakes.values():
        f.provider.reset()


def script(fake, *behaviours):
    req = urllib.request.Request(
        fake.provider.origin + "/_fake/script", data=json.dumps(list(behaviours)).encode(), method="POST"
    )
    urllib.request.urlopen(req).read()


def logged(fake):
    return json.loads(urllib.request.urlopen(fake.provider.origin + "/_fake/requests").read())["requests"]


def test_openai_sdk_parses_plain_stream_tools_and_errors(fakes):
    f = fakes["openai"]
    c = openai.OpenAI(base_url=f.base_url, api_key="k", max_retries=0)
    script(f, {"text": "hello world", "usage": {"input_tokens": 7, "output_tokens": 2}})
    r = c.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content == "hello world" and r.usage.prompt_tokens == 7
    script(f, {"text": "abcdef", "chunks": 3})
    chunks = list(
        c.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True, stream_options={"include_usage": True}
        )
    )
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == "abcdef"
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    script(f, {"tool_call": {"name": "get_weather", "arguments": {"city": "Paris"}}})
    r = c.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    tc = r.choices[0].message.tool_calls[0]
    assert tc.function.name == "get_weather" and json.loads(tc.function.arguments) == {"city": "Paris"}
    assert r.choices[0].finish_reason == "tool_calls"
    script(f, {"status": 429, "retry_after_s": 3})
    with pytest.raises(openai.RateLimitError) as e:
        c.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert e.value.response.headers["retry-after"] == "3"
    body = logged(f)[0]["body"]
    assert body["messages"] == [{"role": "user", "content": "hi"}] and body["model"] == "m"


def test_anthropic_sdk_parses_plain_stream_tools_and_errors(fakes):
    f = fakes["anthropic"]
    c = anthropic.Anthropic(base_url=f.base_url, api_key="k", max_retries=0)
    script(f, {"text": "bonjour", "usage": {"input_tokens": 5, "output_tokens": 3}})
    m = c.messages.create(model="claude", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert m.content[0].text == "bonjour" and m.usage.input_tokens == 5 and m.stop_reason == "end_turn"
    script(f, {"text": "streamed text", "chunks": 4})
    with c.messages.stream(model="claude", max_tokens=10, messages=[{"role": "user", "content": "hi"}]) as s:
        assert "".join(s.text_stream) == "streamed text"
    script(f, {"tool_call": {"name": "lookup", "arguments": '{"q": "x"}'}})
    m = c.messages.create(model="claude", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert m.content[0].type == "tool_use" and m.content[0].input == {"q": "x"} and m.stop_reason == "tool_use"
    script(f, {"status": 529})
    with pytest.raises(anthropic.APIStatusError) as e:
        c.messages.create(model="claude", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert e.value.status_code == 529
    assert logged(f)[0]["headers"].get("anthropic-version")


def test_genai_sdk_parses_plain_stream_and_function_calls(fakes):
    f = fakes["gemini"]
    c = genai.Client(api_key="k", http_options=types.HttpOptions(base_url=f.base_url))
    script(f, {"text": "hola", "usage": {"input_tokens": 4, "output_tokens": 1}})
    r = c.models.generate_content(model="gemini-x", contents="hi")
    assert r.text == "hola" and r.usage_metadata.prompt_token_count == 4
    script(f, {"text": "uno dos tres", "chunks": 3})
    assert (
        "".join(ch.text or "" for ch in c.models.generate_content_stream(model="gemini-x", contents="hi"))
        == "uno dos tres"
    )
    script(f, {"tool_call": {"name": "f", "arguments": {"a": 1}}})
    r = c.models.generate_content(model="gemini-x", contents="hi")
    assert r.function_calls[0].name == "f" and r.function_calls[0].args == {"a": 1}
    assert logged(f)[0]["path"].endswith("gemini-x:generateContent")


def post(fake, body, timeout=5.0):
    """(status, headers, body bytes or the exception that ended the read)."""
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=timeout)
    conn.request("POST", "/v1/chat/completions", body=json.dumps(body), headers={"content-type": "application/json"})
    r = conn.getresponse()
    try:
        data = r.read()
    except (TimeoutError, http.client.IncompleteRead, ConnectionError) as exc:
        data = exc
    conn.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}


def test_scripted_faults(fakes):
    f = fakes["openai"]
    script(
        f,
        {"malformed_json": True},
        {"content_type": "text/html"},
        {"error_event_after_200": True},
        {"malformed_sse": True},
        {"delay_ms": 300},
        {"status": 503, "retry_after_s": 2},
    )
    assert post(f, {**BODY, "stream": False})[2].startswith(b'{"id": "broken"')
    assert post(f, {**BODY, "stream": False})[1]["content-type"].startswith("text/html")
    status, _, data = post(f, BODY)
    assert status == 200 and b'"error"' in data and b"[DONE]" not in data
    assert b'data: {"broken"' in post(f, BODY)[2]
    t = time.perf_counter()
    post(f, {**BODY, "stream": False})
    assert time.perf_counter() - t >= 0.29
    status, headers, data = post(f, BODY)
    assert status == 503 and headers["retry-after"] == "2" and b"fake openai error 503" in data
    script(f, {"cut_after_chunks": 2, "text": "abcdef", "chunks": 3})
    status, _, data = post(f, BODY)
    assert isinstance(data, Exception) or b"[DONE]" not in data, "a cut stream never ends cleanly"


def test_stall_keeps_the_connection_open_and_logs_the_disconnect(fakes):
    f = fakes["openai"]
    script(f, {"stall_after_chunks": 1, "text": "abcdef", "chunks": 3})
    status, _, data = post(f, BODY, timeout=0.5)
    assert status == 200 and isinstance(data, Exception), "the stall never finishes the body"
    deadline = time.time() + 3
    while time.time() < deadline and not logged(f)[-1]["disconnected"]:
        time.sleep(0.05)
    assert logged(f)[-1]["disconnected"] is True


def test_reset_clears_script_and_log(fakes):
    f = fakes["anthropic"]
    script(f, {"status": 500})
    urllib.request.urlopen(urllib.request.Request(f.provider.origin + "/_fake/reset", data=b"{}", method="POST"))
    assert logged(f) == [] and not f.provider.queue
