"""The hand-written validators and the hand-described schemas of the spec agree: on each
sample, the schema accepts exactly when the validator does. (Where a pydantic model validates,
its own JSON Schema is the spec's, so only hand-written validation needs this.)"""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest

from faregate.core.errors import GatewayError
from faregate.server import admin_input, admin_routes
from faregate.server.openapi import build_spec
from faregate.storage import feedback
from faregate.wire.anthropic_front import parse_messages_request
from faregate.wire.openai_front import parse_chat_request

SPEC = build_spec(128_000)
M = [{"role": "user", "content": "hi"}]


def _valid(component: str, body: Any) -> bool:
    root = {"$ref": f"#/components/schemas/{component}", "components": SPEC["components"]}
    return jsonschema_rs.validator_for(root).is_valid(body)


def _accepts(parse, body: Any) -> bool:
    try:
        parse(body)
    except GatewayError as err:
        assert err.status == 400
        return False
    return True


CHAT = [
    {"model": "m", "messages": M},
    {"model": "m", "messages": M, "stream": None, "temperature": 2, "top_p": 0.5, "n": 1, "logprobs": False},
    {"model": "m", "messages": M, "max_tokens": 5.0},
    {"model": "m", "messages": M, "max_tokens": 5.5},
    {"model": "m", "messages": M, "max_tokens": 0},
    {"model": "m", "messages": M, "temperature": 2.01},
    {"model": "m", "messages": M, "temperature": True},
    {"model": "m", "messages": M, "n": 2},
    {"model": "m", "messages": M, "logprobs": True},
    {"model": "m", "messages": M, "top_logprobs": 3},
    {"model": "m", "messages": M, "audio": {"voice": "x"}},
    {"model": "m", "messages": M, "modalities": ["text", "audio"]},
    {"model": "m", "messages": M, "best_of": 2},
    {"model": "", "messages": M},
    {"messages": M},
    {"model": "m", "messages": []},
    {"model": "m", "messages": "hi"},
    {"model": "m", "messages": [{"role": "robot", "content": "x"}]},
    {"model": "m", "messages": [{"role": {"a": 1}, "content": "x"}]},
    {"model": "m", "messages": [{"role": "user"}]},
    {"model": "m", "messages": [{"role": "user", "content": None}]},
    {"model": "m", "messages": [{"role": "user", "content": 5}]},
    {"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]},
    {"model": "m", "messages": [{"role": "user", "content": [{"type": "text"}]}]},
    {"model": "m", "messages": [{"role": "user", "content": [{"type": "video"}]}]},
    {"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": ""}}]}]},
    {
        "model": "m",
        "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/a.png"}}]}],
    },
    {"model": "m", "messages": [{"role": "tool", "content": "x"}]},
    {"model": "m", "messages": [{"role": "tool", "content": "x", "tool_call_id": "c1"}]},
    {
        "model": "m",
        "messages": [{"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{}"}}]}],
    },
    {
        "model": "m",
        "messages": [{"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": {}}}]}],
    },
    {"model": "m", "messages": M, "stream": "yes"},
    {"model": "m", "messages": M, "stop": ["a", "b", "c", "d"]},
    {"model": "m", "messages": M, "stop": ["a", "b", "c", "d", "e"]},
    {"model": "m", "messages": M, "tools": [{"type": "function", "function": {"name": "f"}}]},
    {"model": "m", "messages": M, "tools": [{"type": "function", "function": {"name": ""}}]},
    {"model": "m", "messages": M, "tools": [{"type": "function", "function": {"name": "f", "parameters": []}}]},
    {"model": "m", "messages": M, "tool_choice": "auto"},
    {"model": "m", "messages": M, "tool_choice": "sometimes"},
    {"model": "m", "messages": M, "tool_choice": {"type": "function", "function": {"name": "f"}}},
    {"model": "m", "messages": M, "tool_choice": {"function": []}},
    {"model": "m", "messages": M, "response_format": {"type": "json_object"}},
    {"model": "m", "messages": M, "response_format": {"type": "yaml"}},
    {
        "model": "m",
        "messages": M,
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
    },
    {"model": "m", "messages": M, "response_format": {"type": "json_schema"}},
    {"model": "m", "messages": M, "metadata": {"a": "b"}},
    {"model": "m", "messages": M, "metadata": {"a": 1}},
    {"model": "m", "messages": M, "metadata": {str(i): "v" for i in range(17)}},
    {"model": "m", "messages": M, "seed": 1.5},
    {"model": "m", "messages": M, "user": 5},
    {"model": "m", "messages": M, "faregate": {"min_quality": 0.9, "task": "chat"}},
]


@pytest.mark.parametrize("body", CHAT, ids=range(len(CHAT)))
def test_chat_schema_agrees_with_the_chat_validator(body):
    assert _valid("ChatCompletionRequest", body) == _accepts(parse_chat_request, body), body


ROUTING = [
    {"min_quality": 5},
    {"min_quality": 1},
    {"max_latency_ms": 0},
    {"task": "x" * 65},
    {"colour": 1},
    *({"deadline": d} for d in ("24h", "1d", "90s", "1.5h", "0.25d", 3600, 0.5)),
    *({"deadline": d} for d in ("0h", "0.0m", "24", "h", "1w", "24 h", " 1h", "1h\n", "1e3s", "-1h", 0, -5, True)),
    {"callback_url": "https://hooks.example.com/done?x=1"},
    {"callback_url": "http://127.0.0.1:9109/cb"},
    *({"callback_url": u} for u in ("ftp://x", "hooks.example.com", "https://", "x" * 3000, 5)),
]


@pytest.mark.parametrize("routing", ROUTING)
def test_routing_schema_agrees_with_the_routing_validator(routing):
    from faregate.config import GatewayConfig
    from faregate.routing.constraints import resolve_constraints

    def check(r):
        resolve_constraints(r, None, GatewayConfig(), None)

    assert _valid("Routing", routing) == _accepts(check, routing)


MESSAGES = [
    {"model": "m", "max_tokens": 5, "messages": M},
    {"model": "m", "max_tokens": 5.0, "messages": M},
    {"model": "m", "max_tokens": 0, "messages": M},
    {"model": "m", "messages": M},
    {"model": "m", "max_tokens": 5, "messages": []},
    {"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]},
    {"model": "m", "max_tokens": 5, "messages": M, "temperature": 1.5},
    {"model": "m", "max_tokens": 5, "messages": M, "stream": True},
    {"model": "m", "max_tokens": 5, "messages": M, "stream": "yes"},
    {"model": "m", "max_tokens": 5, "messages": M, "stop_sequences": [1]},
    {"model": "m", "max_tokens": 5, "messages": M, "tool_choice": {"type": "auto"}},
    {"model": "m", "max_tokens": 5, "messages": M, "tool_choice": {"type": {}}},
    {"model": "m", "max_tokens": 5, "messages": M, "tools": [{"name": "f", "input_schema": {"type": "object"}}]},
    {"model": "m", "max_tokens": 5, "messages": M, "tools": [{"input_schema": {}}]},
]


@pytest.mark.parametrize("body", MESSAGES, ids=range(len(MESSAGES)))
def test_messages_schema_agrees_with_the_messages_validator(body):
    assert _valid("MessagesRequest", body) == _accepts(parse_messages_request, body), body


def _key_create(body: dict) -> None:
    extra = set(body) - admin_routes.KEY_CREATE_FIELDS
    if extra:
        raise admin_routes.InvalidRequest("extra")
    name = admin_input.opt_str(body, "name")
    if not name:
        raise admin_routes.InvalidRequest("name is required.")
    admin_input.opt_str(body, "team")
    admin_input.expires_at_field(body)
    admin_input.limits_field(body.get("limits"))


KEYS = [
    {"name": "k"},
    {"name": ""},
    {"name": "k" * 201},
    {},
    {"name": "k", "id": "key_1"},
    {"name": "k", "expires_in_s": -1},
    {"name": "k", "expires_in_s": 60},
    {"name": "k", "expires_at": 0},
    {"name": "k", "limits": {"rpm": 5}},
    {"name": "k", "limits": {"rpm": 5.0}},
    {"name": "k", "limits": {"rpm": 5.5}},
    {"name": "k", "limits": {"rpm": False}},
    {"name": "k", "limits": {"rpm": -1}},
    {"name": "k", "limits": {"rpm": 2**60}},
    {"name": "k", "limits": {"cost_usd_day": 1.5, "budget_soft": True}},
    {"name": "k", "limits": {"nope": 1}},
]


@pytest.mark.parametrize("body", KEYS, ids=range(len(KEYS)))
def test_key_create_schema_agrees_with_the_admin_validator(body):
    assert _valid("KeyCreate", body) == _accepts(_key_create, body), body


FEEDBACK = [
    {"request_id": "r", "score": 0.5},
    {"request_id": "r", "thumbs": "up"},
    {"request_id": "r", "thumbs": "sideways"},
    {"request_id": "r", "score": 1.5},
    {"request_id": "r", "score": 0.5, "thumbs": "up"},
    {"request_id": "", "score": 0.5},
    {"score": 0.5},
    {"request_id": "r", "score": 0.5, "comment": 5},
]


@pytest.mark.parametrize("body", FEEDBACK, ids=range(len(FEEDBACK)))
def test_feedback_schema_agrees_with_the_feedback_validator(body):
    assert _valid("Feedback", body) == _accepts(feedback.parse, body), body
