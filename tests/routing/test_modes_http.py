"""Modes and complexity through a real app and a real fake provider: the plan ``POST /v1/route``
shows per mode (request > key > route; explicit constraints win), the ``x-faregate-complexity``
header, the request log's column and ``group_by=complexity``."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from faregate.config import GatewayConfig
from faregate.pipeline.gateway import Gateway
from faregate.server.app import create_app
from helpers import UPSTREAM_KEYS, start_fake

KEY, QKEY, MASTER = "fg-modes-key", "fg-modes-quality", "fg-modes-master"
# name -> (quality prior, USD per M tokens, ttft prior ms)
MODELS = {"cheap": (0.6, 0.1, 300), "mid": (0.8, 1.0, 3000), "fast": (0.82, 2.0, 100), "strong": (0.95, 20.0, 1000)}
HARD = (
    "Prove that the algorithm terminates, derive its time complexity step by step and compare the trade-offs "
    "of the design. Why does it fail? What about duplicates? And cycles?"
)


@pytest.fixture
async def client(tmp_path):
    provider, fake = await start_fake("openai")
    models = [
        {
            "name": n,
            "provider": "openai",
            "model": n,
            "base_url": fake.model_base_url,
            "api_key": UPSTREAM_KEYS["openai"],
            "prices": {"input": p, "output": p},
            "quality": q,
            "latency": {"ttft_ms": t},
            "max_attempts": 1,
        }
        for n, (q, p, t) in MODELS.items()
    ]
    cfg = GatewayConfig.model_validate(
        {
            "models": models,
            "routes": [{"name": "speedy", "mode": "latency"}],
            "keys": [{"key": KEY}, {"key": QKEY, "mode": "quality"}],
            "learning": {"enabled": False},
            "cascades": False,
            "database_url": f"sqlite:///{tmp_path / 'log.db'}",
            "master_key": MASTER,
        }
    )
    gw = Gateway(cfg)
    c = TestClient(TestServer(create_app(gw)))
    await c.start_server()
    try:
        yield c, gw, fake
    finally:
        await c.close()
        await provider.__aexit__(None, None, None)


async def plan(c, routing=None, key=KEY, model="auto", text="What is the capital of France?"):
    body = {"model": model, "messages": [{"role": "user", "content": text}], "faregate": routing or {}}
    r = await c.post("/v1/route", json=body, headers={"Authorization": f"Bearer {key}"})
    return r.status, await r.json()


async def test_modes_pick_the_plan_their_docs_promise(client):
    c, _, _ = client
    # confidence 0.5: a plan meets the floor when its mean does (the chance constraint at its median)
    floor = {"min_quality": 0.7, "confidence": 0.5}
    s, cost = await plan(c, floor)
    assert s == 200 and cost["models"] == ["mid"] and cost["constraints"]["mode"] == "cost"
    _, fast = await plan(c, {**floor, "mode": "latency"})
    assert fast["models"] == ["fast"]  # fastest meeting the floor within 3x the cheapest one's cost
    _, best = await plan(c, {**floor, "mode": "quality"})
    assert best["models"] == ["strong"] and best["constraints"]["max_latency_ms"] == 30000
    # An explicit cost cap wins over the preset: quality mode within it.
    strong_cost = next(x for x in best["candidates"] if x["models"] == ["strong"])["worst_cost_usd"]
    _, capped = await plan(c, {**floor, "mode": "quality", "max_cost_usd": strong_cost / 2})
    assert capped["models"] == ["fast"]
    _, mix = await plan(c, {**floor, "mode": "balanced"})
    assert mix["models"] == ["fast"] and mix["constraints"]["mode"] == "balanced"


async def test_route_and_key_modes_and_precedence(client):
    c, _, _ = client
    _, r = await plan(c, {"min_quality": 0.7, "confidence": 0.5}, model="speedy")
    assert r["models"] == ["fast"] and r["constraints"]["mode"] == "latency"  # the route's mode
    _, k = await plan(c, {"min_quality": 0.7, "confidence": 0.5}, key=QKEY, model="speedy")
    assert k["models"] == ["strong"] and k["constraints"]["mode"] == "quality"  # the key's over the route's
    _, q = await plan(c, {"min_quality": 0.7, "confidence": 0.5, "mode": "cost"}, key=QKEY)
    assert q["models"] == ["mid"]  # the request's own over the key's
    s, err = await plan(c, {"mode": "fastest"})
    assert s == 400 and err["error"]["param"] == "faregate.mode" and "balanced" in err["error"]["message"]


async def test_complexity_in_plan_header_log_and_analytics(client):
    c, gw, _ = client
    _, easy = await plan(c)
    _, hard = await plan(c, text=HARD)
    assert (easy["complexity"], easy["complexity_source"]) == ("simple", "heuristic")
    assert hard["complexity"] == "complex"
    auth = {"Authorization": f"Bearer {KEY}"}
    for text, model in ((HARD, "auto"), ("hi", "auto"), ("hi", "cheap")):
        r = await c.post(
            "/v1/chat/completions", json={"model": model, "messages": [{"role": "user", "content": text}]}, headers=auth
        )
        assert r.status == 200, await r.text()
        assert r.headers["x-faregate-complexity"] == ("complex" if text == HARD else "simple")
    await gw.services.request_log.flush()
    rows = await gw.services.request_log.db.fetch("SELECT complexity FROM request_log ORDER BY ts")
    assert [x["complexity"] for x in rows] == ["complex", "simple", "simple"]
    r = await c.get("/v1/analytics/summary?since=1h&group_by=complexity", headers={"Authorization": f"Bearer {MASTER}"})
    assert r.status == 200
    groups = {g["group"]: g["requests"] for g in (await r.json())["groups"]}
    assert groups == {"complex": 1, "simple": 2}
