"""The HTTP side over a real app and a fake provider: every request logged through the
gateway, feedback accepted only from the key that made the request, the summary on the
master key only. Run on both backends."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from faregate.config import GatewayConfig
from faregate.pipeline.gateway import Gateway
from faregate.server.app import create_app
from faregate.storage.db import Database
from helpers import PRICES, UPSTREAM_KEYS, UPSTREAM_MODELS, start_fake

KEY_A, KEY_B, MASTER = "fg-test-key-a", "fg-test-key-b", "fg-master-secret"


@pytest.fixture
async def client(db_url, tmp_path):
    provider, fake = await start_fake("openai")
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
            "keys": [{"key": KEY_A, "name": "a", "team": "t1"}, {"key": KEY_B, "name": "b"}],
            "learning": {"enabled": False},
            "cascades": False,
            "database_url": db_url,
            "master_key": MASTER,
            "server": {"log_bodies": True},
        }
    )
    gw = Gateway(cfg)
    gw.services.request_log.spill_path = tmp_path / "spill.jsonl"
    c = TestClient(TestServer(create_app(gw)))
    await c.start_server()
    try:
        yield c, gw
    finally:
        await c.close()
        await provider.__aexit__(None, None, None)
    assert gw.services.request_log.dropped == 0


def auth(k: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {k}"}


async def chat(c, key: str, text: str = "hello") -> str:
    r = await c.post(
        "/v1/chat/completions",
        headers=auth(key),
        json={"model": "fake-openai", "messages": [{"role": "user", "content": text}]},
    )
    assert r.status == 200, await r.text()
    await r.read()
    return r.headers["x-request-id"]


async def test_every_request_logged_with_its_facts(client, db_url):
    c, gw = client
    rid = await chat(c, KEY_A, "my key is sk-proj-abcdefghijklmnopqrstuvwx")
    w = gw.services.request_log
    await w.flush()
    db = await Database.open(db_url)
    try:
        row = await db.fetchrow("SELECT * FROM request_log WHERE id = $1", rid)
    finally:
        await db.close()
    assert row["model"] == "fake-openai" and row["status"] == 200 and row["attempts"] == 1
    assert row["team"] == "t1" and row["key_id"]
    assert row["input_tokens"] > 0 and row["cost_usd"] > 0 and row["latency_ms"] > 0
    assert "sk-proj-abc" not in row["prompt"] and "[REDACTED]" in row["prompt"]


async def test_feedback_only_from_the_key_that_made_the_request(client):
    c, gw = client
    rid = await chat(c, KEY_A)
    # Still queued in the writer or already written: both are accepted.
    r = await c.post("/v1/feedback", headers=auth(KEY_A), json={"request_id": rid, "thumbs": "up"})
    assert r.status == 200, await r.text()
    await gw.services.request_log.flush()
    r = await c.post("/v1/feedback", headers=auth(KEY_A), json={"request_id": rid, "score": 0.25, "comment": "meh"})
    assert r.status == 200 and (await r.json())["score"] == 0.25
    r = await c.post("/v1/feedback", headers=auth(KEY_B), json={"request_id": rid, "score": 1})
    assert r.status == 403 and "key that made the request" in (await r.json())["error"]["message"]
    gw.services.request_log.recent.clear()  # from the database only now
    r = await c.post("/v1/feedback", headers=auth(KEY_B), json={"request_id": rid, "score": 1})
    assert r.status == 403
    r = await c.post("/v1/feedback", headers=auth(KEY_A), json={"request_id": "req-nope", "score": 1})
    assert r.status == 404 and (await r.json())["error"]["type"]
    for bad in (
        {"request_id": rid, "score": 1.5},
        {"request_id": rid, "score": "x"},
        {"request_id": rid},
        {"request_id": rid, "thumbs": "sideways"},
        {"score": 1},
    ):
        r = await c.post("/v1/feedback", headers=auth(KEY_A), json=bad)
        assert r.status == 400, bad
        assert (await r.json())["error"]["message"]
    r = await c.post("/v1/feedback", headers=auth("fg-unknown"), json={"request_id": rid, "score": 1})
    assert r.status == 401
    # The stored score shows in the summary.
    r = await c.get("/v1/analytics/summary?since=1h&group_by=model", headers=auth(MASTER))
    body = await r.json()
    assert body["groups"][0]["feedback"] == {"mean_score": 0.25, "count": 1}


async def test_summary_is_admin_only_and_validates_params(client):
    c, gw = client
    for _ in range(3):
        await chat(c, KEY_A)
    await chat(c, KEY_B)
    for headers in ({}, auth(KEY_A), auth("wrong")):
        r = await c.get("/v1/analytics/summary", headers=headers)
        assert r.status == 401
        assert (await r.json())["error"]["message"]
    for q, param in (
        ("group_by=colour", "group_by"),
        ("since=yesterdayish", "since"),
        ("baseline=nope", "baseline"),
        ("since=1h&until=2h", "since"),
    ):
        r = await c.get(f"/v1/analytics/summary?{q}", headers=auth(MASTER))
        assert r.status == 400, q
        err = (await r.json())["error"]
        assert err["param"] == param, (q, err)
    await gw.services.request_log.flush()
    r = await c.get("/v1/analytics/summary?since=1h&group_by=key&baseline=fake-openai", headers=auth(MASTER))
    assert r.status == 200
    s = await r.json()
    assert s["total"]["requests"] == 4 and s["total"]["error_rate"] == 0
    assert sorted(g["requests"] for g in s["groups"]) == [1, 3]
    assert s["total"]["savings_usd"] == pytest.approx(0, abs=1e-9)
    assert s["log_writer"]["dropped"] == 0


async def test_feedback_reaches_the_learner(client, monkeypatch):
    c, gw = client

    class Learner:
        calls: list[tuple[str, float]] = []

        def feedback(self, request_id: str, score: float) -> bool:
            self.calls.append((request_id, score))
            return True

    learner = Learner()
    monkeypatch.setattr(gw.services, "learner", learner)
    rid = await chat(c, KEY_A)
    r = await c.post("/v1/feedback", headers=auth(KEY_A), json={"request_id": rid, "score": 0.5})
    assert r.status == 200, await r.text()
    assert learner.calls == [(rid, 0.5)]
