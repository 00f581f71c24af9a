"""A deferred request's callback is retried a bounded number of times: a receiver that fails
twice gets the line on the third POST; one that never answers 2xx is given up after
``attempts`` POSTs; an unreachable one too."""

from __future__ import annotations

import hashlib
import hmac

import orjson
from aiohttp import web

from faregate.batch.callbacks import CallbackSender
from faregate.batch.store import BatchStore
from helpers import free_port

LINE = {"id": "batch_req_1", "custom_id": "request-1", "response": {"status_code": 200}, "batch_id": "batch_1"}


async def _receiver(fail_first: int, headers: list | None = None) -> tuple[web.AppRunner, str, list[bytes]]:
    got: list[bytes] = []

    async def hook(request: web.Request) -> web.Response:
        got.append(await request.read())
        if headers is not None:
            headers.append({k.lower(): v for k, v in request.headers.items()})
        return web.Response(status=503 if len(got) <= fail_first else 200)

    app = web.Application()
    app.router.add_post("/cb", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/cb", got


def _sender(attempts: int) -> CallbackSender:
    return CallbackSender(BatchStore(None), attempts=attempts, timeout_s=2.0, backoff_s=0.01)


async def test_a_failing_receiver_gets_the_line_on_a_retry():
    runner, url, got = await _receiver(fail_first=2)
    try:
        assert await _sender(5)._deliver(url, LINE) == ("delivered", 3)
        assert [orjson.loads(b) for b in got] == [LINE] * 3
    finally:
        await runner.cleanup()


async def test_retries_are_bounded():
    runner, url, got = await _receiver(fail_first=100)
    try:
        assert await _sender(3)._deliver(url, LINE) == ("failed", 3)
        assert len(got) == 3
    finally:
        await runner.cleanup()


async def test_an_unreachable_receiver_is_given_up():
    url = f"http://127.0.0.1:{free_port()}/cb"
    assert await _sender(2)._deliver(url, LINE) == ("failed", 2)


async def test_a_secret_signs_each_callback():
    seen: list[dict] = []
    runner, url, got = await _receiver(fail_first=0, headers=seen)
    try:
        sender = CallbackSender(BatchStore(None), attempts=1, timeout_s=2.0, secret="s3cret")
        assert await sender._deliver(url, LINE) == ("delivered", 1)
        want = "sha256=" + hmac.new(b"s3cret", got[0], hashlib.sha256).hexdigest()
        assert seen[0]["x-faregate-signature"] == want and seen[0]["x-faregate-batch-id"] == "batch_1"
    finally:
        await runner.cleanup()
