"""A complete answer reaches the client before its request is recorded (the log row, metrics and
access line), and the recording still happens before the gateway serves anything else."""

from __future__ import annotations

import threading
import time
import urllib.request

import openai
from tests.helpers import GATEWAY_KEY, fake_config

from faregate.pipeline.request_log_step import RequestLogStep

HOLD_S = 0.6


def test_the_answer_is_not_held_by_its_recording(start_server, upstreams, monkeypatch):
    recorded = threading.Event()
    original = RequestLogStep._hook

    def slow_hook(self, ctx):  # a slow recording (it blocks the server's loop on purpose)
        time.sleep(HOLD_S)
        original(self, ctx)
        recorded.set()

    monkeypatch.setattr(RequestLogStep, "_hook", slow_hook)
    srv = start_server(fake_config({"openai": upstreams["openai"]}, keys=[GATEWAY_KEY]))
    client = openai.OpenAI(base_url=srv.base_url, api_key=GATEWAY_KEY, max_retries=0, timeout=10)
    t0 = time.perf_counter()
    reply = client.chat.completions.create(model="fake-openai", messages=[{"role": "user", "content": "hi"}])
    took = time.perf_counter() - t0
    assert reply.choices[0].message.content
    assert took < HOLD_S * 0.7, f"the answer waited {took:.3f} s for its recording"
    assert not recorded.is_set(), "the recording ran before the answer was sent"
    # Whatever the client asks next is served after the recording: the request is counted.
    with urllib.request.urlopen(srv.url + "/metrics", timeout=10) as r:
        metrics = r.read().decode()
    assert recorded.is_set()
    assert any(
        line.startswith("faregate_requests_total{") and 'status="200"' in line and line.endswith(" 1.0")
        for line in metrics.splitlines()
    ), metrics


async def test_a_client_gone_before_the_answer_is_written_is_recorded_and_no_error():
    """The answer written to a connection the client closed (a race aiohttp's own writer hides):
    no exception reaches the error middleware, and the request is still recorded."""
    from unittest import mock

    from aiohttp.client_exceptions import ClientConnectionResetError
    from aiohttp.test_utils import make_mocked_request

    from faregate.core.types import ChatRequest
    from faregate.pipeline.context import RequestContext
    from faregate.server.front_handler import _send_then_record

    gone = ClientConnectionResetError("Cannot write to closing transport")
    writer = mock.Mock()
    writer.write_headers = mock.AsyncMock(side_effect=gone)
    writer.send_headers = mock.Mock(side_effect=gone)
    writer.write = mock.AsyncMock(side_effect=gone)
    writer.write_eof = mock.AsyncMock(side_effect=gone)
    request = make_mocked_request("POST", "/v1/chat/completions", writer=writer)
    ctx = RequestContext(request=ChatRequest(model="m", messages=[{"role": "user", "content": "hi"}]))
    seen = []
    ctx.on_record.append(seen.append)
    await ctx.finish(hold_records=True)
    assert seen == [], "held for after the write"
    resp = await _send_then_record(request, ctx, b'{"ok": true}')
    assert seen == [ctx] and resp.status == 200
