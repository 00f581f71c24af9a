"""Guardrails in tool calls, end to end with the official SDKs: the arguments of earlier tool
calls and the tool results are masked (or blocked) before the upstream sees them, the model's own
tool-call arguments are redacted, blocked or restored, whole or streamed in pieces, and always
arrive as valid JSON."""

from __future__ import annotations

import json

import anthropic
import openai
import pytest

from faregate.testing.wire import split_args
from guardrail_tool_calls import send_turn, tool_answer, tool_answer_or_error
from helpers import fake_config

EMAIL = "ada.lovelace@example.com"
CARD = "4111 1111 1111 1111"
MASK, BLOCK, CLEAN, STRICT, RESTORE = "fg-tool-mask", "fg-tool-block", "fg-tool-clean", "fg-tool-strict", "fg-tool-rest"
FRONT_STREAM = [(f, s) for f in ("chat", "messages") for s in (False, True)]


@pytest.fixture
def srv(start_server, upstreams):
    cfg = fake_config(
        {p: upstreams[p] for p in ("openai", "anthropic")},
        guardrails=[
            {"name": "pii-mask", "type": "pii"},
            {"name": "no-cards", "type": "pii", "action": "block", "kinds": ["card"]},
            {"name": "answers-clean", "type": "pii", "stages": ["response"]},
            {"name": "answers-strict", "type": "pii", "stages": ["response"], "action": "block", "kinds": ["email"]},
            {"name": "pii-restore", "type": "pii", "restore": True},
        ],
    )
    cfg["keys"] = [
        {"key": MASK, "guardrails": ["pii-mask"]},
        {"key": BLOCK, "guardrails": ["no-cards"]},
        {"key": CLEAN, "guardrails": ["answers-clean"]},
        {"key": STRICT, "guardrails": ["answers-strict"]},
        {"key": RESTORE, "guardrails": ["pii-restore"]},
    ]
    return start_server(cfg)


def _fake(upstreams, front: str):
    return upstreams["anthropic" if front == "messages" else "openai"]


def _sent_tool_parts(front: str, body: dict) -> tuple[dict, str]:
    """(the earlier call's arguments, the tool result) as the upstream received them."""
    msgs = body["messages"]
    if front == "messages":
        use = next(b for m in msgs if m["role"] == "assistant" for b in m["content"] if b["type"] == "tool_use")
        blocks = [b for m in msgs if m["role"] == "user" and isinstance(m["content"], list) for b in m["content"]]
        res = next(b for b in blocks if b.get("type") == "tool_result")
        content = res["content"]
        return use["input"], content if isinstance(content, str) else "".join(p["text"] for p in content)
    call = next(m for m in msgs if m.get("tool_calls"))["tool_calls"][0]
    return json.loads(call["function"]["arguments"]), next(m for m in msgs if m["role"] == "tool")["content"]


@pytest.mark.parametrize(("front", "stream"), FRONT_STREAM)
def test_tool_arguments_and_results_never_reach_the_upstream_in_clear(srv, upstreams, front, stream) -> None:
    send_turn(front, srv.url, MASK, {"to": EMAIL, "n": 2}, f"mail sent to {EMAIL}", stream)
    body = _fake(upstreams, front).last_request()["body"]
    assert EMAIL not in json.dumps(body)
    args, result = _sent_tool_parts(front, body)
    assert args == {"to": "[EMAIL_1]", "n": 2}  # still JSON, masked inside the string value
    assert result == "mail sent to [EMAIL_1]"  # the same value, the same placeholder


@pytest.mark.parametrize(("front", "stream"), FRONT_STREAM)
def test_a_card_in_tool_arguments_is_blocked_before_the_upstream(srv, upstreams, front, stream) -> None:
    fake = _fake(upstreams, front)
    before = len(fake.requests())
    err = anthropic.BadRequestError if front == "messages" else openai.BadRequestError
    with pytest.raises(err) as e:
        send_turn(front, srv.url, BLOCK, {"card": CARD}, "paid", stream)
    assert (
        e.value.status_code == 400 and "no-cards" in json.dumps(e.value.body) and "4111" not in json.dumps(e.value.body)
    )
    assert len(fake.requests()) == before


def _args_with_split_value(value: str) -> str:
    """Arguments the fake streams in two pieces, cut inside ``value``."""
    args = json.dumps({"to": value})
    first = split_args(args)[0]
    assert args.index(value) < len(first) < args.index(value) + len(value)
    return args


@pytest.mark.parametrize(("front", "stream"), FRONT_STREAM)
def test_answer_tool_arguments_are_redacted_even_split_across_pieces(srv, upstreams, front, stream) -> None:
    _fake(upstreams, front).script({"tool_call": {"name": "send_mail", "arguments": _args_with_split_value(EMAIL)}})
    args, pieces = tool_answer(front, srv.url, CLEAN, "mail someone", stream)
    assert json.loads(args) == {"to": "[EMAIL_REDACTED]"}
    assert EMAIL not in "".join(pieces) and "lovelace" not in "".join(pieces)


@pytest.mark.parametrize(("front", "stream"), FRONT_STREAM)
def test_answer_tool_arguments_are_blocked(srv, upstreams, front, stream) -> None:
    _fake(upstreams, front).script({"tool_call": {"name": "send_mail", "arguments": _args_with_split_value(EMAIL)}})
    err = tool_answer_or_error(front, srv.url, STRICT, "mail someone", stream)
    assert err is not None and "answers-strict" in str(err) and EMAIL not in str(err)


@pytest.mark.parametrize(("front", "stream"), FRONT_STREAM)
def test_masked_values_are_restored_inside_answer_tool_arguments(srv, upstreams, front, stream) -> None:
    fake = _fake(upstreams, front)
    fake.script({"tool_call": {"name": "send_mail", "arguments": _args_with_split_value("[EMAIL_1]")}})
    args, _pieces = tool_answer(front, srv.url, RESTORE, f"mail {EMAIL} please", stream)
    assert json.loads(args) == {"to": EMAIL}
    assert EMAIL not in json.dumps(fake.last_request()["body"])
