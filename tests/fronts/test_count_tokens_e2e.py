"""``POST /v1/messages/count_tokens`` with the official ``anthropic`` SDK: the provider's count
for Anthropic and Gemini models (the fakes implement the endpoints), faregate's estimate for the others,
marked by ``x-faregate-token-count-source``. The Gemini fake implements ``:countTokens`` too."""

from __future__ import annotations

import anthropic
import pytest

from faregate.testing.fake_fronts import anthropic_count_text, fake_token_count, gemini_count_text
from faregate.wire.anthropic_front import parse_messages_request
from faregate.wire.token_count import estimate_input_tokens
from helpers import GATEWAY_KEY, UPSTREAM_KEYS

from .fronts_config import fronts_config

MESSAGES = [{"role": "user", "content": "How many tokens is this sentence, please?"}]
SYSTEM = "You are a careful counter."
TOOLS = [{"name": "lookup", "description": "Look a word up", "input_schema": {"type": "object", "properties": {}}}]


@pytest.fixture
def srv(start_server, upstreams):
    return start_server(fronts_config(upstreams))


def client(srv, key: str = GATEWAY_KEY) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=srv.url, api_key=key, max_retries=0, timeout=10)


def test_anthropic_model_is_counted_by_the_provider(srv, upstreams):
    raw = client(srv).messages.with_raw_response.count_tokens(
        model="fake-anthropic", messages=MESSAGES, system=SYSTEM, tools=TOOLS
    )
    assert raw.headers["x-faregate-token-count-source"] == "provider"
    rec = upstreams["anthropic"].last_request()
    assert rec["path"] == "/v1/messages/count_tokens"
    assert rec["headers"]["x-api-key"] == UPSTREAM_KEYS["anthropic"] and rec["headers"]["anthropic-version"]
    body = rec["body"]
    assert body["model"] == "claude-sonnet-4-5" and "max_tokens" not in body and "stream" not in body
    assert body["tools"][0]["name"] == "lookup" and SYSTEM in str(body["system"])
    assert raw.parse().input_tokens == fake_token_count(anthropic_count_text(body))  # the fake's count, returned as is
    assert raw.parse().input_tokens != _estimate("fake-anthropic")


def _estimate(model: str) -> int:
    req = parse_messages_request(
        {"model": model, "max_tokens": 1, "messages": MESSAGES, "system": SYSTEM, "tools": TOOLS}
    )
    return estimate_input_tokens(req)


def test_gemini_model_is_counted_by_count_tokens(srv, upstreams):
    raw = client(srv).messages.with_raw_response.count_tokens(
        model="fake-gemini", messages=MESSAGES, system=SYSTEM, tools=TOOLS
    )
    assert raw.headers["x-faregate-token-count-source"] == "provider"
    rec = upstreams["gemini"].last_request()
    assert rec["path"] == "/v1beta/models/gemini-2.5-flash:countTokens"
    assert rec["headers"]["x-goog-api-key"] == UPSTREAM_KEYS["gemini"]
    gen = rec["body"]["generateContentRequest"]
    assert gen["model"] == "models/gemini-2.5-flash" and SYSTEM in str(gen["systemInstruction"])
    assert gen["tools"][0]["functionDeclarations"][0]["name"] == "lookup"
    assert raw.parse().input_tokens == fake_token_count(gemini_count_text(rec["body"]))


@pytest.mark.parametrize("model", ["fake-openai", "auto"])
def test_other_models_get_the_estimate(srv, upstreams, model):
    raw = client(srv).messages.with_raw_response.count_tokens(
        model=model, messages=MESSAGES, system=SYSTEM, tools=TOOLS
    )
    assert raw.headers["x-faregate-token-count-source"] == "estimate"
    assert raw.parse().input_tokens == _estimate(model)
    assert all(f.requests() == [] for f in upstreams.values())


def test_provider_failure_falls_back_to_the_estimate(srv, upstreams):
    upstreams["anthropic"].script({"status": 529})
    raw = client(srv).messages.with_raw_response.count_tokens(
        model="fake-anthropic", messages=MESSAGES, system=SYSTEM, tools=TOOLS
    )
    assert raw.headers["x-faregate-token-count-source"] == "estimate"
    assert "529" in raw.headers["x-faregate-token-count-fallback"]
    assert raw.parse().input_tokens == _estimate("fake-anthropic")


def test_keys_and_models_are_checked(srv, upstreams):
    with pytest.raises(anthropic.AuthenticationError):
        client(srv, "fg-wrong").messages.count_tokens(model="fake-anthropic", messages=MESSAGES)
    with pytest.raises(anthropic.NotFoundError):
        client(srv).messages.count_tokens(model="no-such-model", messages=MESSAGES)
    with pytest.raises(anthropic.BadRequestError):
        client(srv).messages.count_tokens(model="fake-anthropic", messages=[{"role": "robot", "content": "x"}])
    assert upstreams["anthropic"].requests() == []
