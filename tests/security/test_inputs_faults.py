"""A fault (an exception no step expects) anywhere in the chain ends in the front's own error
envelope with a 500, never aiohttp's HTML page, and the request log records that 500.

Each step of the default chain is replaced in turn by one that raises ``RuntimeError``; the
executor too, and a stream that fails after its first event (200 with an in-band error event,
logged as the failure it is)."""

from __future__ import annotations

import logging

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from inputs_support import AUTH, HELLO, anthropic_error, openai_error

from faregate.config import GatewayConfig
from faregate.core.types import ChatResponse, TextDelta
from faregate.pipeline.auth_step import AllowList, KeyAuth
from faregate.pipeline.context import Reply, RequestContext
from faregate.pipeline.gateway import Gateway
from faregate.pipeline.limits_step import LimitsStep
from faregate.pipeline.request_log_step import RequestLogStep
from faregate.pipeline.resolve import ResolveModel
from faregate.pipeline.routing_step import RoutingStep
from faregate.pipeline.runtime import default_steps
from faregate.pipeline.step import Next, Step
from faregate.server.app import create_app
from faregate.storage.db import Database
from faregate.wire.anthropic_front import AnthropicCodec
from faregate.wire.openai_front import OpenAIChatCodec
from helpers import GATEWAY_KEY

STEPS = {
    "request_log": RequestLogStep,
    "auth": KeyAuth,
    "allow_list": AllowList,
    "limits": LimitsStep,
    "resolve": ResolveModel,
    "routing": RoutingStep,
}
FRONTS = {
    "openai": ("/v1/chat/completions", {"model": "m", "messages": HELLO}, openai_error),
    "anthropic": ("/v1/messages", {"model": "m", "max_tokens": 8, "messages": HELLO}, anthropic_error),
}


class Boom(Step):
    def handle(self, ctx: RequestContext, call_next: Next):
        raise RuntimeError("injected fault")


async def boom_executor(ctx: RequestContext) -> Reply:
    raise RuntimeError("injected fault in the executor")


async def _partial_then_fault():
    yield TextDelta("partial ")
    raise RuntimeError("injected fault mid-stream")


async def stream_then_boom(ctx: RequestContext) -> Reply:
    ctx.answered_model = "m"
    return Reply(events=_partial_then_fault())


def _config(tmp_path) -> GatewayConfig:
    return GatewayConfig.model_validate(
        {
            "models": [{"name": "m", "provider": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key": "sk-x"}],
            "keys": [{"key": GATEWAY_KEY}],
            "learning": {"enabled": False},
            "cascades": False,
            "database_url": f"sqlite:///{tmp_path / 'log.db'}",
        }
    )


def _faulty_at(kind: type[Step]):
    def steps(config, services, deployments):
        chain = default_steps(config, services, deployments)
        assert any(isinstance(s, kind) for s in chain), f"{kind.__name__} is not in the default chain"
        return [Boom() if isinstance(s, kind) else s for s in chain]

    return steps


async def _serve_and_post(gw: Gateway, path: str, body: dict) -> tuple[int, str, bytes]:
    async with TestClient(TestServer(create_app(gw))) as client:
        r = await client.post(path, data=orjson.dumps(body), headers={**AUTH, "content-type": "application/json"})
        raw = await r.read()
        await gw.services.request_log.flush()
        return r.status, r.headers.get("content-type", ""), raw


async def _rows(tmp_path) -> list[dict]:
    db = await Database.open(f"sqlite:///{tmp_path / 'log.db'}")
    try:
        return await db.fetch("SELECT id, status, error_class FROM request_log")
    finally:
        await db.close()


@pytest.mark.parametrize("front", list(FRONTS))
@pytest.mark.parametrize("where", [*STEPS, "executor"])
async def test_a_fault_in_any_step_is_a_500_in_the_fronts_envelope_and_logged_as_500(tmp_path, caplog, front, where):
    path, body, envelope = FRONTS[front]
    if where == "executor":
        gw = Gateway(_config(tmp_path), executor=boom_executor)
    else:
        gw = Gateway(_config(tmp_path), steps=_faulty_at(STEPS[where]))
    with caplog.at_level(logging.ERROR, logger="faregate"):
        status, ctype, raw = await _serve_and_post(gw, path, body)
    assert status == 500 and ctype.startswith("application/json"), raw[:200]
    err = envelope(orjson.loads(raw))
    assert "failed unexpectedly" in err["message"] and "injected" not in err["message"]
    assert "Traceback" not in raw.decode() and "<html" not in raw.decode().lower()
    assert any("injected fault" in (r.exc_text or "") for r in caplog.records), "the traceback is logged"
    rows = await _rows(tmp_path)
    if where == "request_log":
        assert rows == []  # the step that writes the row is the one that failed: no row, and no 200 row
    else:
        assert [(r["status"], r["error_class"]) for r in rows] == [(500, "internal_error")]


@pytest.mark.parametrize("front", list(FRONTS))
async def test_a_fault_mid_stream_is_an_in_band_error_and_logged_as_500(tmp_path, caplog, front):
    path, body, envelope = FRONTS[front]
    gw = Gateway(_config(tmp_path), executor=stream_then_boom)
    with caplog.at_level(logging.ERROR, logger="faregate"):
        status, ctype, raw = await _serve_and_post(gw, path, {**body, "stream": True})
    assert status == 200 and ctype.startswith("text/event-stream")
    text = raw.decode()
    assert "partial" in text
    last = [ln for ln in text.splitlines() if ln.startswith("data: ")][-1]
    err = envelope(orjson.loads(last.removeprefix("data: ")))
    assert "failed unexpectedly" in err["message"]
    rows = await _rows(tmp_path)
    assert [(r["status"], r["error_class"]) for r in rows] == [(500, "internal_error")]


async def test_without_faults_the_same_harness_logs_the_real_status(tmp_path):
    """The harness itself: an unfaulted request to a dead upstream is a 502, logged as 502."""
    gw = Gateway(_config(tmp_path))
    status, _, raw = await _serve_and_post(gw, "/v1/chat/completions", FRONTS["openai"][1])
    assert status in (502, 503), raw
    assert [r["status"] for r in await _rows(tmp_path)] == [status]


async def answer_executor(ctx: RequestContext) -> Reply:
    ctx.answered_model = "m"
    return Reply(response=ChatResponse(id="r", model="m", content="fine"))


@pytest.mark.parametrize("front", list(FRONTS))
async def test_a_fault_rendering_a_complete_answer_is_a_500_and_logged_as_500(tmp_path, caplog, monkeypatch, front):
    """The answer is rendered inside the pipeline, before the request is finished: a codec that
    fails on it gives the client the front's 500 and the row says 500, never 200."""
    path, body, envelope = FRONTS[front]
    codec = OpenAIChatCodec if front == "openai" else AnthropicCodec

    def boom(self, response, facts):
        raise RuntimeError("injected fault in the renderer")

    monkeypatch.setattr(codec, "encode_reply", boom)
    gw = Gateway(_config(tmp_path), executor=answer_executor)
    with caplog.at_level(logging.ERROR, logger="faregate"):
        status, ctype, raw = await _serve_and_post(gw, path, body)
    assert status == 500 and ctype.startswith("application/json"), raw[:200]
    err = envelope(orjson.loads(raw))
    assert "failed unexpectedly" in err["message"] and "injected" not in err["message"]
    assert any("injected fault in the renderer" in (r.exc_text or "") for r in caplog.records)
    assert [(r["status"], r["error_class"]) for r in await _rows(tmp_path)] == [(500, "internal_error")]


@pytest.mark.parametrize("front", list(FRONTS))
async def test_a_rendered_answer_is_logged_with_its_status(tmp_path, front):
    path, body, _ = FRONTS[front]
    gw = Gateway(_config(tmp_path), executor=answer_executor)
    status, _, raw = await _serve_and_post(gw, path, body)
    assert status == 200 and b"fine" in raw
    assert [(r["status"], r["error_class"]) for r in await _rows(tmp_path)] == [(200, None)]
