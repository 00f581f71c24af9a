"""Feedback behind a balancer: a request answered by replica A is accepted by replica B before
A has flushed its log row (B waits for it), while an id that cannot be pending (not one of
ours, or issued long ago) is refused at once. Two gateway apps on one database (SQLite and
PostgreSQL)."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiohttp.test_utils import TestClient, TestServer

from faregate.config import GatewayConfig
from faregate.core.ids import issued_at, issued_within, new_request_id
from faregate.pipeline.gateway import Gateway
from faregate.server import analytics_routes
from faregate.server.app import create_app
from helpers import PRICES, UPSTREAM_KEYS, UPSTREAM_MODELS, start_fake

KEY = "fg-test-key-fb"


def test_issue_time_is_read_from_our_ids_only():
    rid = new_request_id()
    assert abs(issued_at(rid) - time.time()) < 5 and issued_within(rid, 10)
    old = f"req_{int((time.time() - 3600) * 1000):012x}{'0' * 12}"
    assert issued_at(old) is not None and not issued_within(old, 600)
    for not_ours in ("req-nope", "req_unknown", rid + "0", rid.upper(), ""):
        assert issued_at(not_ours) is None and not issued_within(not_ours, 600)


@pytest.fixture
async def replicas(db_url, tmp_path):
    provider, fake = await start_fake("openai")
    clients = []
    for name, flush_s in (("a", 2.0), ("b", 0.25)):  # A flushes its log slowly: B looks before A wrote
        cfg = GatewayConfig.model_validate(
            {
                "models": [
                    {
                        "name": "fake-openai",
                        "provider": "openai",
                        "model": UPSTREAM_MODELS["openai"],
                        "base_url": fake.model_base_url,
                        "api_key": UPSTREAM_KEYS["openai"],
                        "prices": PRICES["openai"],
                        "max_attempts": 1,
                    }
                ],
                "keys": [{"key": KEY, "name": "fb"}],
                "cascades": False,
                "database_url": db_url,
                "log_writer": {"flush_interval_s": flush_s, "batch_size": 1000},
            }
        )
        gw = Gateway(cfg)
        gw.services.request_log.spill_path = tmp_path / f"spill-{name}.jsonl"
        c = TestClient(TestServer(create_app(gw)))
        await c.start_server()
        clients.append(c)
    try:
        yield clients
    finally:
        for c in clients:
            await c.close()
        await provider.__aexit__(None, None, None)


async def _feedback(c: TestClient, rid: str) -> int:
    r = await c.post("/v1/feedback", headers={"Authorization": f"Bearer {KEY}"}, json={"request_id": rid, "score": 1})
    await r.read()
    return r.status


async def test_cross_replica_feedback_waits_unknown_ids_do_not(replicas, monkeypatch):
    a, b = replicas
    monkeypatch.setattr(analytics_routes, "FEEDBACK_LOOKUP_S", 30.0)  # a wait would show as 30 s
    r = await a.post(
        "/v1/chat/completions",
        headers={"Authorization": f"Bearer {KEY}"},
        json={"model": "fake-openai", "messages": [{"role": "user", "content": "hello"}]},
    )
    assert r.status == 200
    rid = r.headers["x-request-id"]
    assert await _feedback(b, rid) == 200  # not in B's memory nor (yet) in the database: B waited
    old = f"req_{int((time.time() - 3600) * 1000):012x}{'ab' * 6}"
    for unknown in ("req-nope", old):
        t0 = time.monotonic()
        assert await asyncio.wait_for(_feedback(b, unknown), 20) == 404
        assert time.monotonic() - t0 < 15, f"{unknown} cannot be pending: no wait"
