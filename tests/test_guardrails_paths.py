"""Guardrails on the paths that bypass the chat translation: a Responses-API upstream passed
through as it is (its input items going up, its own output items and events coming back), and
the request log with ``log_bodies`` (what the upstream saw, and the answer as guarded)."""

from __future__ import annotations

import copy
import json

import openai
import pytest

from faregate.testing.wire import split_args
from guardrail_calls import answer, log_rows
from helpers import fake_config

EMAIL = "ada.lovelace@example.com"
OTHER = "bob.babbage@example.org"
CARD = "4111 1111 1111 1111"
MASK, CLEAN, RESTORE, BLOCK = "fg-path-mask", "fg-path-clean", "fg-path-restore", "fg-path-block"
STRICT = "fg-path-strict"
PASS = "fake-openai-responses"  # the fake OpenAI with responses_api: true: passed through
WEATHER = {"type": "function", "name": "send_mail", "parameters": {"type": "object", "properties": {}}}
GUARDS = [
    {"name": "pii-mask", "type": "pii"},
    {"name": "answers-clean", "type": "pii", "stages": ["response"]},
    {"name": "pii-restore", "type": "pii", "restore": True, "stages": ["request", "response"]},
    {"name": "no-cards", "type": "pii", "action": "block", "kinds": ["card"]},
    {"name": "answers-strict", "type": "pii", "stages": ["response"], "action": "block", "kinds": ["email"]},
]
KEYS = [
    {"key": MASK, "guardrails": ["pii-mask"]},
    {"key": CLEAN, "guardrails": ["answers-clean"]},
    {"key": RESTORE, "guardrails": ["pii-restore"]},
    {"key": BLOCK, "guardrails": ["no-cards", "pii-mask"]},
    {"key": STRICT, "guardrails": ["answers-strict"]},
]


def _config(upstreams, **extra) -> dict:
    cfg = fake_config({"openai": upstreams["openai"]}, guardrails=GUARDS, **extra)
    passthrough = copy.deepcopy(cfg["models"][0])
    passthrough.update(name=PASS, responses_api=True)
    cfg["models"].append(passthrough)
    cfg["keys"] = KEYS
    return cfg


@pytest.fixture
def srv(start_server, upstreams):
    return start_server(_config(upstreams))


def _client(srv, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.base_url, api_key=key, max_retries=0, timeout=15)


def test_passthrough_input_items_and_instructions_are_masked(srv, upstreams) -> None:
    _client(srv, MASK).responses.create(
        model=PASS,
        instructions=f"The user is {EMAIL}.",
        tools=[WEATHER],  # type: ignore[list-item]
        input=[
            {"role": "user", "content": f"mail {EMAIL}"},
            {"type": "function_call", "call_id": "call_1", "name": "send_mail", "arguments": json.dumps({"to": EMAIL})},
            {"type": "function_call_output", "call_id": "call_1", "output": f"sent to {EMAIL}"},
        ],
    )
    req = upstreams["openai"].last_request()
    assert req["path"] == "/v1/responses"
    body = req["body"]
    assert EMAIL not in json.dumps(body)
    assert body["instructions"] == "The user is [EMAIL_1]."
    call = next(i for i in body["input"] if i.get("type") == "function_call")
    assert json.loads(call["arguments"]) == {"to": "[EMAIL_1]"}
    assert next(i for i in body["input"] if i.get("type") == "function_call_output")["output"] == "sent to [EMAIL_1]"


def _events(srv, key: str, text: str) -> tuple[list, dict]:
    with _client(srv, key).responses.stream(model=PASS, input=text, tools=[WEATHER]) as s:  # type: ignore[list-item]
        events = list(s)
    completed = next(e for e in events if e.type == "response.completed")
    return events, completed.response.model_dump(warnings=False)


@pytest.mark.parametrize("stream", [False, True])
def test_passthrough_output_text_is_guarded(srv, upstreams, stream) -> None:
    upstreams["openai"].script({"text": f"Write to {EMAIL} now.", "chunks": 6})
    if stream:
        events, final = _events(srv, CLEAN, "who?")
        text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
        everything = json.dumps([e.model_dump(warnings=False) for e in events])
    else:
        r = _client(srv, CLEAN).responses.create(model=PASS, input="who?")
        text, final, everything = r.output_text, r.model_dump(), r.model_dump_json()
    assert text == "Write to [EMAIL_REDACTED] now."
    assert final["output"][0]["content"][0]["text"] == "Write to [EMAIL_REDACTED] now."
    assert EMAIL not in everything


@pytest.mark.parametrize("stream", [False, True])
def test_passthrough_function_call_arguments_are_guarded(srv, upstreams, stream) -> None:
    args = json.dumps({"to": EMAIL})
    assert args.index(EMAIL) < len(split_args(args)[0]) < args.index(EMAIL) + len(EMAIL)  # split inside it
    upstreams["openai"].script({"tool_call": {"name": "send_mail", "arguments": args}})
    if stream:
        events, final = _events(srv, CLEAN, "mail someone")
        streamed = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
        assert json.loads(streamed) == {"to": "[EMAIL_REDACTED]"}
        everything = json.dumps([e.model_dump(warnings=False) for e in events])
    else:
        r = _client(srv, CLEAN).responses.create(model=PASS, input="mail someone", tools=[WEATHER])  # type: ignore[list-item]
        final, everything = r.model_dump(), r.model_dump_json()
    (call,) = [i for i in final["output"] if i["type"] == "function_call"]
    assert json.loads(call["arguments"]) == {"to": "[EMAIL_REDACTED]"}
    assert EMAIL not in everything


def test_passthrough_request_block_sends_nothing(srv, upstreams) -> None:
    with pytest.raises(openai.BadRequestError) as e:
        _client(srv, BLOCK).responses.create(
            model=PASS,
            tools=[WEATHER],  # type: ignore[list-item]
            input=[{"type": "function_call_output", "call_id": "call_1", "output": f"paid with {CARD}"}],
        )
    assert "no-cards" in json.dumps(e.value.body) and "4111" not in json.dumps(e.value.body)
    assert upstreams["openai"].requests() == []


@pytest.mark.parametrize("what", ["text", "tool_call"])
@pytest.mark.parametrize("stream", [False, True])
def test_passthrough_answer_block(srv, upstreams, what, stream) -> None:
    args = json.dumps({"to": EMAIL})
    upstreams["openai"].script(
        {"text": f"Write to {EMAIL}."} if what == "text" else {"tool_call": {"name": "send_mail", "arguments": args}}
    )
    c = _client(srv, STRICT)
    if not stream:
        with pytest.raises(openai.BadRequestError) as e:
            c.responses.create(model=PASS, input="who?", tools=[WEATHER])  # type: ignore[list-item]
        assert "answers-strict" in json.dumps(e.value.body) and EMAIL not in json.dumps(e.value.body)
        return
    seen = []
    for ev in c.responses.create(model=PASS, input="who?", tools=[WEATHER], stream=True):  # type: ignore[list-item]
        seen.append(ev.model_dump(warnings=False))
    kinds = [e["type"] for e in seen]
    assert "response.failed" in kinds and "response.completed" not in kinds
    assert EMAIL not in json.dumps(seen)


@pytest.mark.parametrize("stream", [False, True])
def test_passthrough_answer_is_restored(srv, upstreams, stream) -> None:
    upstreams["openai"].script({"text": "Sent to [EMAIL_1], done.", "chunks": 9})
    if stream:
        events, final = _events(srv, RESTORE, f"mail {EMAIL}")
        text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    else:
        r = _client(srv, RESTORE).responses.create(model=PASS, input=f"mail {EMAIL}")
        text, final = r.output_text, r.model_dump()
    assert text == final["output"][0]["content"][0]["text"] == f"Sent to {EMAIL}, done."
    assert EMAIL not in json.dumps(upstreams["openai"].last_request()["body"])


@pytest.mark.parametrize("front", ["chat", "responses"])
@pytest.mark.parametrize("stream", [False, True])
def test_log_bodies_keep_what_the_upstream_saw_and_the_guarded_answer(
    start_server, upstreams, tmp_path, front, stream
) -> None:
    db = tmp_path / "bodies.db"
    srv = start_server(_config(upstreams, database_url=f"sqlite:///{db}", server={"log_bodies": True}))
    # the answer repeats the masked value and adds a new one: the client gets its own value back
    # and the new one redacted
    upstreams["openai"].script({"text": f"Sent to [EMAIL_1], cc {OTHER}.", "chunks": 7})
    got = answer(front, srv.url, RESTORE, f"please mail {EMAIL} today", stream)
    assert got == f"Sent to {EMAIL}, cc [EMAIL_REDACTED]."
    ((status, prompt, logged),) = log_rows(db, "status, prompt, answer", 1)
    assert status == 200
    assert "please mail [EMAIL_1] today" in prompt and EMAIL not in prompt
    # the answer as the client got it, except that a masked value stays masked in the log
    assert logged == "Sent to [EMAIL_1], cc [EMAIL_REDACTED]."


def test_log_bodies_of_a_blocked_request_hold_no_value(start_server, upstreams, tmp_path) -> None:
    db = tmp_path / "blocked.db"
    srv = start_server(_config(upstreams, database_url=f"sqlite:///{db}", server={"log_bodies": True}))
    with pytest.raises(openai.BadRequestError):
        _client(srv, BLOCK).chat.completions.create(
            model="fake-openai", messages=[{"role": "user", "content": f"card {CARD}, mail {EMAIL}"}]
        )
    ((status, prompt, _answer),) = log_rows(db, "status, prompt, answer", 1)
    assert status == 400 and "4111" not in prompt and EMAIL not in prompt
    assert prompt == "card [CARD_REDACTED], mail [EMAIL_REDACTED]"
