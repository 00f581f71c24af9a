"""The pyreqwest calls (``http_pool.client: pyreqwest``) against a real fake provider on loopback:
answers, error kinds, timeouts, caps, streamed chunks passed on as they arrive, a closed stream
dropping the upstream connection, and how the client is chosen."""

from __future__ import annotations

import asyncio
import socket
import sys
import time

import pytest

from faregate.config import ConfigError, GatewayConfig, HttpPoolConfig, UpstreamCapsConfig
from faregate.core.errors import UpstreamError
from faregate.core.types import ChatRequest
from faregate.endpoints.deployments import DeploymentRegistry
from faregate.endpoints.transport import QUICK_RETRY_ATTR
from faregate.endpoints.transport_reqwest import ReqwestCalls, chosen_client, fast_calls
from faregate.testing.fake_provider import FakeProvider

pytest.importorskip("pyreqwest")

REQ = ChatRequest(model="m", messages=[{"role": "user", "content": "hi"}])
CAPS = UpstreamCapsConfig()


def _dep(base_url: str, **timeouts: float):
    t = {"connect": 1, "ttfb": 1, "idle": 1, "total": 10, **timeouts}
    cfg = GatewayConfig.model_validate(
        {"models": [{"name": "m", "provider": "openai", "base_url": base_url, "api_key": "k", "timeouts": t}]}
    )
    return DeploymentRegistry(cfg.models).deployments("m")[0]


@pytest.fixture
async def fake():
    f = await FakeProvider("openai").start()
    f.base = f"http://127.0.0.1:{f.port}/v1"  # type: ignore[attr-defined]
    yield f
    await f.stop()


@pytest.fixture
async def calls():
    c = ReqwestCalls(HttpPoolConfig(client="pyreqwest"))
    yield c
    await c.close()


async def test_a_plain_call_answers(fake, calls):
    fake.queue.append({"text": "hello from the fake"})
    got = await calls.post(_dep(fake.base), REQ, time.monotonic() + 10, CAPS)
    assert got.content == "hello from the fake"
    assert fake.log[-1]["headers"]["authorization"] == "Bearer k"


async def test_error_kinds(fake, calls):
    dep = _dep(fake.base, ttfb=0.3)
    fake.queue.append({"status": 429, "retry_after_s": 2})
    with pytest.raises(UpstreamError) as e:
        await calls.post(dep, REQ, time.monotonic() + 10, CAPS)
    assert e.value.provider_status == 429 and e.value.retry_after_s == 2.0

    fake.queue.append({"delay_ms": 1000})  # no head within ttfb
    with pytest.raises(UpstreamError) as e:
        await calls.post(dep, REQ, time.monotonic() + 10, CAPS)
    assert e.value.kind == "timeout" and "did not answer within its timeout" in e.value.message

    fake.queue.append({"cut_after_chunks": 0})  # the connection dropped mid-answer
    with pytest.raises(UpstreamError) as e:
        await calls.post(dep, REQ, time.monotonic() + 10, CAPS)
    assert e.value.kind == "transient" and getattr(e.value, QUICK_RETRY_ATTR, False)

    fake.queue.append({"content_type": "text/html"})
    with pytest.raises(UpstreamError, match="content type 'text/html'"):
        await calls.post(dep, REQ, time.monotonic() + 10, CAPS)

    fake.queue.append({"text": "x" * 5000})
    with pytest.raises(UpstreamError, match="too large.*over the cap of 1000"):
        await calls.post(dep, REQ, time.monotonic() + 10, UpstreamCapsConfig(max_answer_bytes=1000))


async def test_a_refused_connection_is_transient(calls):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(UpstreamError) as e:
        await calls.post(_dep(f"http://127.0.0.1:{port}/v1"), REQ, time.monotonic() + 10, CAPS)
    assert e.value.kind == "transient" and e.value.message.endswith("Connection refused")
    assert not getattr(e.value, QUICK_RETRY_ATTR, False)


async def test_stream_chunks_are_passed_on_as_they_arrive(fake, calls):
    """pyreqwest's default read-ahead would hold the whole (short) stream before the head."""
    fake.queue.append({"text": "one two three four five", "chunks": 5, "chunk_gap_ms": 80})
    dep = _dep(fake.base)
    up = dep.adapter.request_for(REQ, dep.target, stream=True)
    t0 = time.perf_counter()
    resp = await calls.open_stream(dep, up, CAPS)
    opened = time.perf_counter() - t0
    arrivals = []
    while chunk := await resp.content.readany():
        arrivals.append((time.perf_counter() - t0, chunk))
    resp.release()
    assert opened < 0.2, f"the head took {opened:.3f} s: the stream was buffered"
    content = [t for t, c in arrivals if b'"content"' in c]
    assert len(content) >= 4 and content[0] < 0.2 and content[-1] > 0.3
    assert all(b - a > 0.04 for a, b in zip(content[1:], content[2:])), "chunks were coalesced"


async def test_closing_a_stream_drops_the_upstream_connection(fake, calls):
    fake.queue.append({"text": "x" * 200, "chunks": 40, "chunk_gap_ms": 50})
    dep = _dep(fake.base)
    resp = await calls.open_stream(dep, dep.adapter.request_for(REQ, dep.target, stream=True), CAPS)
    assert await resp.content.readany()
    resp.close()
    t_end = time.monotonic() + 1.5
    while not fake.log[-1]["disconnected"]:
        assert time.monotonic() < t_end, "the upstream never saw the client leave"
        await asyncio.sleep(0.02)


async def test_a_stream_error_status_is_classified(fake, calls):
    fake.queue.append({"status": 503})
    dep = _dep(fake.base)
    with pytest.raises(UpstreamError) as e:
        await calls.open_stream(dep, dep.adapter.request_for(REQ, dep.target, stream=True), CAPS)
    assert e.value.provider_status == 503


def test_the_client_is_chosen_by_config_or_environment(monkeypatch):
    assert chosen_client(HttpPoolConfig(), {}) == "aiohttp"
    assert chosen_client(HttpPoolConfig(client="pyreqwest"), {}) == "pyreqwest"
    assert chosen_client(HttpPoolConfig(), {"FAREGATE_HTTP_CLIENT": "pyreqwest"}) == "pyreqwest"
    with pytest.raises(ConfigError, match="FAREGATE_HTTP_CLIENT must be one of aiohttp, pyreqwest, not 'curl'"):
        chosen_client(HttpPoolConfig(), {"FAREGATE_HTTP_CLIENT": "curl"})
    monkeypatch.delenv("FAREGATE_HTTP_CLIENT", raising=False)
    assert fast_calls(HttpPoolConfig()) is None
    assert isinstance(fast_calls(HttpPoolConfig(client="pyreqwest")), ReqwestCalls)


def test_without_the_extra_the_error_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyreqwest", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "pyreqwest.client", None)
    with pytest.raises(ConfigError, match=r"pip install 'faregate\[fast\]'"):
        ReqwestCalls(HttpPoolConfig(client="pyreqwest"))
