"""Upstream failures reach the client as 502/503/504 in OpenAI's envelope, with the provider's
message passed on but never a credential, whatever the provider echoes back."""

from __future__ import annotations

import json

import openai
import pytest

from helpers import GATEWAY_KEY, PROTOCOLS, UPSTREAM_KEYS, fake_config

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def strict_server(start_server, upstreams):
    """Fresh gateway (fresh breakers and cooldowns) with short timeouts and one attempt."""
    cfg = fake_config(upstreams)
    for m in cfg["models"]:
        m["timeouts"] = {"connect": 1, "ttfb": 0.3, "idle": 0.3, "total": 3}
    return start_server(cfg)


def client(srv) -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.base_url, api_key=GATEWAY_KEY, max_retries=0, timeout=10)


def leaks(text: str) -> list[str]:
    return [k for k in (*UPSTREAM_KEYS.values(), GATEWAY_KEY, "0123456789abcdef") if k in text]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_provider_error_is_502_with_its_message_and_no_credentials(strict_server, upstreams, protocol):
    key = UPSTREAM_KEYS[protocol]
    # What a real provider (or a proxy in front of it) may send back: the key in full, masked,
    # as a bearer header, and as a query parameter.
    echo = (
        f"Upstream exploded. Incorrect API key provided: {key}. Received headers: "
        f"Authorization: Bearer {key}; x-api-key: {key}; url=/v1/x?key={key}; "
        f"also sk-live-0123456789abcdef"
    )
    upstreams[protocol].script({"status": 500, "error_message": echo})
    with client(strict_server) as c, pytest.raises(openai.APIStatusError) as exc:
        c.chat.completions.create(model=f"fake-{protocol}", messages=MESSAGES)
    err = exc.value
    assert err.status_code == 502
    body = err.response.text
    assert not leaks(body), body
    assert not leaks(json.dumps(dict(err.response.headers)))
    e = json.loads(body)["error"]
    assert e["type"] == "upstream_error" and "Upstream exploded" in e["message"] and "500" in e["message"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_in_band_stream_error_never_echoes_credentials(strict_server, upstreams, protocol):
    key = UPSTREAM_KEYS[protocol]
    upstreams[protocol].script({"text": "some words here", "chunks": 4, "error_event_after_200": 4, "chunk_gap_ms": 50})
    async with openai.AsyncOpenAI(base_url=strict_server.base_url, api_key=GATEWAY_KEY, max_retries=0) as c:
        stream = await c.chat.completions.create(model=f"fake-{protocol}", messages=MESSAGES, stream=True)
        got = []
        with pytest.raises(openai.APIError) as exc:
            async for chunk in stream:
                got.append(chunk)
    assert got, "the first chunk reached the client before the error"
    assert key not in str(exc.value) and "in-band error" in str(exc.value)


def test_timeout_is_504(strict_server, upstreams):
    upstreams["openai"].script({"delay_ms": 1500})
    with client(strict_server) as c, pytest.raises(openai.APIStatusError) as exc:
        c.chat.completions.create(model="fake-openai", messages=MESSAGES)
    assert exc.value.status_code == 504
    assert json.loads(exc.value.response.text)["error"]["code"] == "upstream_timeout"


def test_rejected_credential_then_cooling_down_is_503(strict_server, upstreams):
    key = UPSTREAM_KEYS["anthropic"]
    upstreams["anthropic"].script({"status": 401, "error_message": f"invalid x-api-key: {key}"})
    with client(strict_server) as c:
        with pytest.raises(openai.APIStatusError) as first:
            c.chat.completions.create(model="fake-anthropic", messages=MESSAGES)
        assert first.value.status_code == 502 and key not in first.value.response.text
        assert "invalid x-api-key" in first.value.response.text
        with pytest.raises(openai.APIStatusError) as second:  # the deployment is cooling down now
            c.chat.completions.create(model="fake-anthropic", messages=MESSAGES)
    assert second.value.status_code == 503
    assert json.loads(second.value.response.text)["error"]["code"] == "upstream_unavailable"
    assert len(upstreams["anthropic"].requests()) == 1  # the second never went upstream


@pytest.mark.parametrize(
    "message",
    [
        "Incorrect API key provided: sk-proj-abcdEFGH1234****wxyz. Find your key at ...",
        "Incorrect API key provided: sk-ant-api03-AbCdEf0123456789",
        "echo of headers: {'authorization': 'Bearer opaque-token-value-99'}",
        'x-goog-api-key: "AIzaSyA1234567890abcdefGHIJ"',
        "GET /v1beta/models/m:generateContent?key=opaque-token-value-99 failed",
        "token=opaque-token-value-99&x=1",
    ],
)
def test_redact_removes_key_shaped_strings(message):
    from faregate.core.redact import redact

    out = redact(message)
    assert "[redacted]" in out
    assert not any(s in out for s in ("abcdEFGH1234", "AbCdEf0123456789", "opaque-token-value-99", "AIzaSyA1234567890"))


def test_redact_keeps_ordinary_provider_messages():
    from faregate.core.redact import redact

    for m in (
        "API key not valid. Please pass a valid API key.",
        "invalid x-api-key",
        "The model `gpt-9` does not exist",
        "messages.0.content: Input should be a valid list",
        "Rate limit reached for requests",
        "max_tokens: 100000 > 8192, which is the maximum",
    ):
        assert redact(m) == m
    assert (
        redact("configured secret xyz-SECRET-1 echoed", frozenset({"xyz-SECRET-1"}))
        == "configured secret [redacted] echoed"
    )
