"""A deferred request's callback is retried a bounded number of times: a receiver that fails
twice gets the line on the third POST; one that never answers 2xx is given up after
``attempts`` POSTs; an unreachable one too."""

from __future__ import annotations

import asyncio
import hashlib
import hmac

import orjson
from aiohttp import web

from faregate.batch.callbacks import CallbackSender
from faregate.batch.store import BatchStore
from faregate.storage.db import Database
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


async def _ended_job(tmp_path, url: str) -> tuple[Database, BatchStore]:
    """A deferred job that ended (answer in its output file) with its callback still pending, as
    a gateway that stopped before sending it leaves it."""
    db = await Database.open(f"sqlite:///{tmp_path / 'log.db'}")
    await db.migrate("request_log")

    async def opened() -> Database:
        return db

    store = BatchStore(opened)
    await store.save_file({"id": "file-out", "created_at": 1, "purpose": "batch_output", "filename": "o"}, "", "")
    line = {"id": "batch_req_1", "custom_id": "request-1", "response": {"status_code": 200, "body": {}}, "error": None}
    await db.execute("UPDATE batch_file SET content = $2 WHERE id = $1", "file-out", orjson.dumps(line).decode() + "\n")
    job = {
        "id": "batch_1",
        "status": "completed",
        "output_file_id": "file-out",
        "_owner": "",
        "_callback": {"url": url, "state": "pending", "attempts": 0},
    }
    await store.save_job("", job)
    return db, store


def db_of(db: Database):
    async def opened() -> Database:
        return db

    return opened


async def test_replicas_sharing_the_database_send_a_callback_once(tmp_path):
    runner, url, got = await _receiver(fail_first=0)
    db, store = await _ended_job(tmp_path, url)
    try:
        senders = [CallbackSender(store, database=db_of(db), backoff_s=0.01) for _ in range(3)]
        for s in senders:
            await s.resume()  # each replica, starting, finds the pending callback
        await asyncio.gather(*(t for s in senders for t in list(s.tasks.values())))
        assert len(got) == 1 and orjson.loads(got[0])["batch_id"] == "batch_1"
        job = await store.job(None, "batch_1")
        assert job["_callback"]["state"] == "delivered" and job["_callback"]["attempts"] == 1
        late = CallbackSender(store, database=db_of(db))
        await late.resume()
        assert late.tasks == {}  # delivered: nothing is due any more
    finally:
        await runner.cleanup()
        await db.close()
