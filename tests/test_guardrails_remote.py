"""Guardrails on both sides with the official SDKs against the fakes: the matrix of every type
(pii, regex, moderation, webhook) x every front x streamed or not, on the request and on the
answer; webhook timeouts with ``on_error`` allow and block; the fake's /v1/moderations."""

from __future__ import annotations

import json
import urllib.request

import anthropic
import openai
import pytest

from faregate.testing.webhook_receiver import WebhookReceiver
from guardrail_calls import ANSWER_FRONTS, FRONTS, answer_or_error, call
from helpers import fake_config

KEY = "fg-guard-remote"
BAD = "badword"  # flagged by the fake's moderation and denied by the webhook
SECRET_TEXT = "the launch code is ZEBRA-42"  # what the regex guardrail denies


def Hook(deny: str = BAD, delay_ms: int = 0) -> WebhookReceiver:
    """The webhook receiver of faregate.testing as a guardrail service."""
    return WebhookReceiver(deny=deny, delay_ms=delay_ms, path="/guard")


@pytest.fixture
def hook(server_loop):
    h = server_loop.run(Hook().start())
    yield h
    server_loop.run(h.stop())


def _spec(kind: str, hook_url: str, moderation_url: str, **extra) -> dict:
    name = {"name": f"g-{kind}"}
    if kind == "pii":
        return {**name, "type": "pii", "action": "block", "kinds": ["email"], **extra}
    if kind == "regex":
        return {**name, "type": "regex", "action": "block", "patterns": [r"ZEBRA-\d+"], **extra}
    if kind == "moderation":
        return {**name, "type": "moderation", "url": moderation_url, **extra}
    return {**name, "type": "webhook", "url": hook_url, **extra}


BAD_TEXT = {"pii": "mail ada@example.com now", "regex": SECRET_TEXT, "moderation": f"you {BAD}", "webhook": f"a {BAD}"}
TYPES = list(BAD_TEXT)


def _server(start_server, upstreams, hook, kind: str, stages: list[str], **extra):
    spec = _spec(kind, hook.url, upstreams["openai"].model_base_url, stages=stages, **extra)
    cfg = fake_config({p: upstreams[p] for p in ("openai", "anthropic")}, guardrails=[spec])
    cfg["models"].append(
        {
            "name": "fake-embed",
            "provider": "openai",
            "model": "text-embedding-3-small",
            "mode": "embedding",
            "base_url": upstreams["openai"].model_base_url,
            "api_key": "sk-upstream-embed",
            "prices": {"input": 0.02},
            "max_attempts": 1,
        }
    )
    cfg["keys"] = [{"key": KEY, "guardrails": [spec["name"]]}]
    return start_server(cfg)


@pytest.mark.parametrize("kind", TYPES)
@pytest.mark.parametrize(("front", "stream"), FRONTS)
def test_request_block_matrix(start_server, upstreams, hook, kind, front, stream) -> None:
    srv = _server(start_server, upstreams, hook, kind, ["request"])
    fake = upstreams["anthropic" if front == "messages" else "openai"]
    err = anthropic.BadRequestError if front == "messages" else openai.BadRequestError
    with pytest.raises(err) as e:
        call(front, srv.url, KEY, BAD_TEXT[kind], stream)
    body = json.dumps(e.value.body)
    assert e.value.status_code == 400 and f"g-{kind}" in body
    assert BAD_TEXT[kind] not in body and BAD not in body and "ZEBRA" not in body
    assert fake.requests() == []  # nothing went upstream
    call(front, srv.url, KEY, "a harmless question", stream)  # and a clean request passes
    assert len(fake.requests()) == 1


@pytest.mark.parametrize("kind", TYPES)
@pytest.mark.parametrize(("front", "stream"), ANSWER_FRONTS)
def test_answer_block_matrix(start_server, upstreams, hook, kind, front, stream) -> None:
    srv = _server(start_server, upstreams, hook, kind, ["response"], window_chars=16)
    fake = upstreams["anthropic" if front == "messages" else "openai"]
    fake.script({"text": "Sure. " + BAD_TEXT[kind] + " and more words after it.", "chunks": 7})
    text, error = answer_or_error(front, srv.url, KEY, "a question", stream)
    assert error is not None, f"the answer got through: {text!r}"
    assert f"g-{kind}" in str(error) or stream  # a whole answer's 400 names the guardrail
    assert BAD_TEXT[kind] not in str(error)
    fake.script({"text": "A harmless answer, nothing to flag here at all.", "chunks": 7})
    text, error = answer_or_error(front, srv.url, KEY, "a question", stream)
    assert error is None and text == "A harmless answer, nothing to flag here at all."


@pytest.mark.parametrize(("front", "stream"), ANSWER_FRONTS)
def test_new_pii_in_the_answer_is_masked_even_split_across_chunks(start_server, upstreams, hook, front, stream) -> None:
    srv = _server(start_server, upstreams, hook, "pii", ["response"], action="mask")
    fake = upstreams["anthropic" if front == "messages" else "openai"]
    fake.script({"text": "Write to grace.hopper@navy.example.org or call.", "chunks": 11})
    text, error = answer_or_error(front, srv.url, KEY, "who to write to?", stream)
    assert error is None
    assert text == "Write to [EMAIL_REDACTED] or call."


def test_webhook_sees_the_text_and_its_stage(start_server, upstreams, hook) -> None:
    srv = _server(start_server, upstreams, hook, "webhook", ["request", "response"])
    upstreams["openai"].script({"text": "fine answer"})
    text, error = answer_or_error("chat", srv.url, KEY, "hello there", False)
    assert error is None and text == "fine answer"
    assert [(r["guardrail"], r["stage"], r["text"]) for r in hook.received] == [
        ("g-webhook", "request", "hello there"),
        ("g-webhook", "response", "fine answer"),
    ]


@pytest.mark.parametrize("on_error", ["allow", "block"])
def test_webhook_timeout_follows_on_error(start_server, upstreams, server_loop, on_error) -> None:
    slow = server_loop.run(Hook(delay_ms=3000).start())
    try:
        spec = {"name": "slow", "type": "webhook", "url": slow.url, "timeout_s": 0.3, "on_error": on_error}
        cfg = fake_config({"openai": upstreams["openai"]}, guardrails=[spec])
        cfg["keys"] = [{"key": KEY, "guardrails": ["slow"]}]
        srv = start_server(cfg)
        text, error = answer_or_error("chat", srv.url, KEY, "hello", False)
        if on_error == "allow":
            assert error is None and text
            assert len(upstreams["openai"].requests()) == 1
        else:
            assert isinstance(error, openai.BadRequestError) and "slow" in str(error) and "unavailable" in str(error)
            assert upstreams["openai"].requests() == []
    finally:
        server_loop.run(slow.stop())


def test_moderation_error_status_blocks_by_default(start_server, upstreams, hook) -> None:
    srv = _server(start_server, upstreams, hook, "moderation", ["request"])
    urllib.request.urlopen(
        urllib.request.Request(
            upstreams["openai"].root + "/_fake/moderation",
            data=json.dumps({"status": 503}).encode(),
            headers={"content-type": "application/json"},
        ),
        timeout=10,
    ).read()
    text, error = answer_or_error("chat", srv.url, KEY, "hello", False)
    assert isinstance(error, openai.BadRequestError) and "g-moderation" in str(error)


def test_moderation_categories_narrow_what_blocks(start_server, upstreams, hook) -> None:
    srv = _server(start_server, upstreams, hook, "moderation", ["request"], categories=["violence"])
    text, error = answer_or_error("chat", srv.url, KEY, f"a {BAD}", False)  # harassment: not listed
    assert error is None


def test_fake_moderation_endpoint_shape(upstreams) -> None:
    c = openai.OpenAI(base_url=upstreams["openai"].model_base_url, api_key="sk-x", max_retries=0)
    r = c.moderations.create(model="omni-moderation-latest", input=["all fine", f"a {BAD.upper()}"])
    assert [x.flagged for x in r.results] == [False, True]
    assert r.results[1].categories.harassment is True


def test_remote_guardrails_need_a_url_and_only_block() -> None:
    from faregate.config import GatewayConfig

    with pytest.raises(ValueError, match="need a url"):
        GatewayConfig.model_validate({"guardrails": [{"name": "m", "type": "moderation"}]})
    with pytest.raises(ValueError, match="can only block"):
        GatewayConfig.model_validate(
            {"guardrails": [{"name": "w", "type": "webhook", "url": "http://x", "action": "mask"}]}
        )


@pytest.mark.parametrize("kind", TYPES)
@pytest.mark.parametrize(("front", "stream"), [(f, s) for f in ("chat", "messages") for s in (False, True)])
@pytest.mark.parametrize("where", ["arguments", "result"])
def test_tool_call_request_block_matrix(start_server, upstreams, hook, kind, front, stream, where) -> None:
    from guardrail_tool_calls import send_turn

    srv = _server(start_server, upstreams, hook, kind, ["request"])
    fake = upstreams["anthropic" if front == "messages" else "openai"]
    args, result = ({"note": BAD_TEXT[kind]}, "done") if where == "arguments" else ({"note": "hi"}, BAD_TEXT[kind])
    err = anthropic.BadRequestError if front == "messages" else openai.BadRequestError
    with pytest.raises(err) as e:
        send_turn(front, srv.url, KEY, args, result, stream)
    assert e.value.status_code == 400 and f"g-{kind}" in json.dumps(e.value.body)
    assert fake.requests() == []


@pytest.mark.parametrize("kind", TYPES)
@pytest.mark.parametrize(("front", "stream"), [(f, s) for f in ("chat", "messages") for s in (False, True)])
def test_tool_call_answer_block_matrix(start_server, upstreams, hook, kind, front, stream) -> None:
    from guardrail_tool_calls import tool_answer, tool_answer_or_error

    srv = _server(start_server, upstreams, hook, kind, ["response"], window_chars=16)
    fake = upstreams["anthropic" if front == "messages" else "openai"]
    fake.script({"tool_call": {"name": "send_mail", "arguments": json.dumps({"note": BAD_TEXT[kind]})}})
    err = tool_answer_or_error(front, srv.url, KEY, "a question", stream)
    assert err is not None and f"g-{kind}" in str(err)
    fake.script({"tool_call": {"name": "send_mail", "arguments": json.dumps({"note": "all fine here"})}})
    args, _pieces = tool_answer(front, srv.url, KEY, "a question", stream)  # a clean call passes
    assert json.loads(args) == {"note": "all fine here"}
