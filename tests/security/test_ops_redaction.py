"""An upstream that echoes its credentials, raw and masked, in its errors: none of them reaches
``/v1/health/deployments``, the request log, the client, attempts or the process's log output.

The upstream here is a real HTTP server on loopback that answers every call with an error
quoting the API key and the custom auth header value it was sent, whole and in the masked
forms providers use (``sk-ab***...wxyz``, first and last four characters, ``…``)."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3

import openai
import orjson
import pytest
from aiohttp import web

from faregate.core.redact import redact
from helpers import GATEWAY_KEY, free_port

API_KEY = "sk-proj-Zq81LmNoPqRsTuVwXy42abcd"
HEADER_VALUE = "tnt-Vx93ab71Kd0QwErTy55z"
MASTER = "fg-master-ops-redaction-test"


def masked_forms(secret: str) -> list[str]:
    """What providers echo back instead of the whole secret."""
    return [
        f"{secret[:5]}{'*' * 11}{secret[-4:]}",  # "Incorrect API key provided: sk-ab***********wxyz"
        f"{secret[:4]}...{secret[-4:]}",  # first / last four
        f"{secret[:6]}\u2026{secret[-3:]}",
        f"{secret[:3]}{'*' * 20}{secret[-4:]}",
    ]


# Fragments that only a leak contains (the masked forms keep the secret's head and tail).
def leaked(text: str) -> list[str]:
    out = []
    for secret in (API_KEY, HEADER_VALUE):
        if secret in text or secret[-4:] in text or secret[5:12] in text:
            out.append(secret)
    return out


def echo_text(headers) -> str:
    key = (headers.get("authorization") or "").removeprefix("Bearer ")
    tenant = headers.get("x-tenant-token") or ""
    forms = ", ".join(masked_forms(key) + masked_forms(tenant))
    return (
        f"Incorrect API key provided: {masked_forms(key)[0]}. You sent key {key} and x-tenant-token={tenant} "
        f"(tenant {tenant}); as shown on the dashboard: {forms}"
    )


class EchoUpstream:
    """An OpenAI-protocol upstream answering 401 with the echo, or (stream) one chunk then an in-band echo."""

    def __init__(self) -> None:
        self.runner: web.AppRunner | None = None
        self.port = free_port()
        self.stream_ok_first = False

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        msg = echo_text(request.headers)
        if body.get("stream") and self.stream_ok_first:
            resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
            await resp.prepare(request)
            chunk = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m"}
            delta = {**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "partial"}}]}
            await resp.write(b"data: " + orjson.dumps(delta) + b"\n\n")
            await asyncio.sleep(0.2)  # the first chunk reaches the client before the error
            await resp.write(b"data: " + orjson.dumps({"error": {"message": msg, "type": "server_error"}}) + b"\n\n")
            return resp
        status = 500 if body.get("messages", [{}])[0].get("content") == "five hundred" else 401
        err = {"error": {"message": msg, "type": "invalid_request_error", "code": "invalid_api_key"}}
        return web.json_response(err, status=status)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.fixture
def echo_upstream(server_loop):
    up = EchoUpstream()
    server_loop.run(up.start())
    yield up
    server_loop.run(up.stop())


@pytest.fixture
def gateway(start_server, echo_upstream, tmp_path):
    db = tmp_path / "log.db"
    cfg = {
        "models": [
            {
                "name": "echo",
                "provider": "openai",
                "model": "gpt-4o-mini",
                "base_url": f"http://127.0.0.1:{echo_upstream.port}/v1",
                "api_key": API_KEY,
                "headers": {"X-Tenant-Token": HEADER_VALUE},
                "max_attempts": 1,
                "breaker": {"failure_threshold": 100},
                "timeouts": {"connect": 2, "ttfb": 5, "idle": 5, "total": 10},
            }
        ],
        "keys": [{"key": GATEWAY_KEY}],
        "master_key": MASTER,
        "learning": {"enabled": False},
        "cascades": False,
        "database_url": f"sqlite:///{db}",
    }
    srv = start_server(cfg)
    return srv, db


def _rows(server_loop, srv, db) -> list[str]:
    server_loop.run(srv.gateway.services.request_log.flush())
    con = sqlite3.connect(db)
    try:
        return [json.dumps(r) for r in con.execute("SELECT * FROM request_log").fetchall()]
    finally:
        con.close()


def _health(srv) -> str:
    import urllib.request

    req = urllib.request.Request(srv.url + "/v1/health/deployments", headers={"Authorization": f"Bearer {MASTER}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read().decode()


@pytest.mark.parametrize("prompt", ["four oh one", "five hundred"])
def test_echoed_credentials_reach_no_sink(gateway, server_loop, caplog, prompt):
    srv, db = gateway
    caplog.set_level(logging.DEBUG)
    with (
        openai.OpenAI(base_url=srv.base_url, api_key=GATEWAY_KEY, max_retries=0, timeout=10) as c,
        pytest.raises(openai.APIStatusError) as exc,
    ):
        c.chat.completions.create(model="echo", messages=[{"role": "user", "content": prompt}])
    client_text = exc.value.response.text + json.dumps(dict(exc.value.response.headers))
    assert "Incorrect API key provided" in client_text  # the provider's words still get through
    health = _health(srv)
    assert "Incorrect API key provided" in health  # last_error is there, redacted
    rows = _rows(server_loop, srv, db)
    assert rows
    for where, text in (("client", client_text), ("health", health), ("log", caplog.text), ("rows", " ".join(rows))):
        assert not leaked(text), f"{where} leaks: {text[:600]}"


async def test_in_band_stream_error_is_redacted_in_every_sink(gateway, server_loop, echo_upstream, caplog):
    srv, db = gateway
    echo_upstream.stream_ok_first = True
    caplog.set_level(logging.DEBUG)
    async with openai.AsyncOpenAI(base_url=srv.base_url, api_key=GATEWAY_KEY, max_retries=0, timeout=10) as c:
        stream = await c.chat.completions.create(
            model="echo", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        with pytest.raises(openai.APIError) as exc:
            async for _ in stream:
                pass
    await asyncio.sleep(0.2)
    health = await asyncio.to_thread(_health, srv)
    rows = await asyncio.to_thread(_rows, server_loop, srv, db)
    assert "Incorrect API key provided" in str(exc.value)
    for where, text in (("client", str(exc.value)), ("health", health), ("log", caplog.text), ("rows", " ".join(rows))):
        assert not leaked(text), f"{where} leaks: {text[:600]}"


@pytest.mark.parametrize("stream", [False, True])
async def test_attempts_and_the_context_hold_only_redacted_text(gateway, echo_upstream, stream):
    """In process: every attempt's error and the context's error message, for a refused call
    and for an in-band error after the first chunk (captured before the attempt settles)."""
    from faregate.config import GatewayConfig
    from faregate.pipeline.gateway import Gateway
    from faregate.wire.openai_front import parse_chat_request

    srv, _db = gateway
    echo_upstream.stream_ok_first = stream
    cfg = GatewayConfig.model_validate({**srv.config, "database_url": ""})
    async with Gateway(cfg) as gw:
        req = parse_chat_request({"model": "echo", "messages": [{"role": "user", "content": "x"}], "stream": stream})
        ctx = gw.context(req, credential=GATEWAY_KEY)
        with pytest.raises(Exception) as exc:
            reply = await gw.handle(ctx)
            async for _ in reply.events:  # type: ignore[union-attr]
                pass
        texts = [str(exc.value), ctx.error_message or "", *[a.error or "" for a in ctx.attempts]]
        assert ctx.attempts and ctx.error_message and "Incorrect API key provided" in ctx.error_message
        dep = gw.registry.all()[0]
        texts += [dep.last_error or "", (dep.breaker.last_reason or "") if dep.breaker else ""]
    for text in texts:
        assert not leaked(text), text


@pytest.mark.parametrize("form", masked_forms(API_KEY) + masked_forms(HEADER_VALUE) + [API_KEY, HEADER_VALUE])
def test_every_masked_form_is_redacted(form):
    out = redact(f"provided: {form}.", [API_KEY, HEADER_VALUE])
    assert not leaked(out), out


def test_ordinary_text_with_ellipses_is_left_alone():
    text = "The model is loading... please retry in 3 s *** (not a key) … done"
    assert redact(text, [API_KEY, HEADER_VALUE]) == text


def _echo_config(srv, **model) -> object:
    from faregate.config import GatewayConfig

    cfg = dict(srv.config)
    cfg["models"] = [{**m, **model} for m in cfg["models"]]
    return GatewayConfig.model_validate({**cfg, "database_url": ""})


async def test_an_active_probe_keeps_only_redacted_text(gateway):
    """The prober captures its own errors, outside any request: redacted there too, before the
    deployment's last error, its last probe and its breaker's reason keep them."""
    from faregate.pipeline.gateway import Gateway

    srv, _db = gateway
    cfg = _echo_config(srv, breaker={"failure_threshold": 1, "probe_interval_s": 3600})
    async with Gateway(cfg) as gw:
        dep = gw.registry.all()[0]
        assert dep.breaker is not None
        dep.breaker.record_failure("opened by the test")
        assert dep.breaker.state == "open"
        assert await gw.executor.probe(dep) is False
        probe_error = str((dep.last_probe or {}).get("error"))
        assert "Incorrect API key provided" in probe_error  # the provider's words are kept
        for text in (probe_error, dep.last_error or "", dep.breaker.last_reason or ""):
            assert not leaked(text), text


async def test_a_stream_that_tries_to_resume_keeps_only_redacted_text(gateway, echo_upstream):
    """A cut stream settles its attempt before resuming: that attempt's error is redacted too."""
    from faregate.pipeline.gateway import Gateway
    from faregate.wire.openai_front import parse_chat_request

    srv, _db = gateway
    echo_upstream.stream_ok_first = True
    async with Gateway(_echo_config(srv, stream_resume=True)) as gw:
        req = parse_chat_request({"model": "echo", "messages": [{"role": "user", "content": "x"}], "stream": True})
        ctx = gw.context(req, credential=GATEWAY_KEY)
        reply = await gw.handle(ctx)
        with pytest.raises(Exception) as exc:
            async for _ in reply.events:  # type: ignore[union-attr]
                pass
    assert "Incorrect API key provided" in str(exc.value)
    errors = [a.error or "" for a in ctx.attempts]
    assert errors and all(not leaked(e) for e in errors), errors
