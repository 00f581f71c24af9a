"""A calibration published to the database reaches every running replica (SQLite and
PostgreSQL): two gateway apps on one database, ``POST /v1/route`` plans on each."""

from __future__ import annotations

import asyncio
import time

import orjson
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner

from faregate.config import GatewayConfig
from faregate.learning.commands import calibrate_cmd
from faregate.pipeline.gateway import Gateway
from faregate.server.app import create_app
from faregate.server.http import GATEWAY
from faregate.storage.calibration_store import CalibrationStore

MODELS = [
    {"name": "slowpoke", "quality": 0.9, "prices": {"input": 0.1, "output": 0.1}},
    {"name": "steady", "quality": 0.85, "prices": {"input": 1, "output": 1}},
]
ASK = {
    "model": "auto",
    "messages": [{"role": "user", "content": "classify this"}],
    "faregate": {"task": "classify", "min_quality": 0.8},
}
# What `faregate calibrate --from-log` measures when slowpoke's classify answers score 0.
MEASURED = {"slowpoke": {"requests": 10, "quality_by_task": {"classify": {"quality": 0.3, "n": 10}}}}


def _config(db_url: str) -> GatewayConfig:
    return GatewayConfig.model_validate(
        {
            "models": MODELS,
            "learning": {"enabled": False},
            "cascades": False,
            "database_url": db_url,
            "runtime_config": {"poll_interval_s": 0.2},
        }
    )


async def _replica(db_url: str, tmp_path, name: str) -> TestClient:
    gw = Gateway(_config(db_url))
    if gw.services.request_log is not None:
        gw.services.request_log.spill_path = tmp_path / f"spill-{name}.jsonl"
    c = TestClient(TestServer(create_app(gw)))
    await c.start_server()
    return c


async def _planned(c: TestClient) -> list[str]:
    r = await c.post("/v1/route", json=ASK)
    assert r.status == 200, await r.text()
    return (await r.json())["models"]


def _policy(c: TestClient) -> str:
    """The policy version a request is recorded with on this replica (x-faregate-policy)."""
    gw = c.server.app[GATEWAY]
    return gw.policy(gw.runtime.policy)


async def _until(c: TestClient, want: list[str], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while (got := await _planned(c)) != want:
        assert time.monotonic() < deadline, f"still planned {got}, wanted {want}"
        await asyncio.sleep(0.1)


async def test_published_calibration_moves_every_replica(db_url, tmp_path):
    a, b = await _replica(db_url, tmp_path, "a"), await _replica(db_url, tmp_path, "b")
    try:
        assert await _planned(a) == ["slowpoke"] and await _planned(b) == ["slowpoke"]  # prior 0.9: cheapest
        before = a.server.app[GATEWAY].services.calibration
        assert before is not None and before.seq == 0
        base_policy = _policy(a)
        store = await CalibrationStore.open(db_url)
        try:
            await store.publish(MEASURED, "test")
        finally:
            await store.close()
        await _until(a, ["steady"])  # measured 0.3 on classify: below the 0.8 floor
        await _until(b, ["steady"])
        assert _policy(a) == _policy(b) != base_policy  # which calibration decided is in the log
        c = await _replica(db_url, tmp_path, "c")  # a replica started later starts with it
        try:
            assert await _planned(c) == ["steady"]
        finally:
            await c.close()
        better = {"slowpoke": {"requests": 20, "quality_by_task": {"classify": {"quality": 0.95, "n": 20}}}}
        store = await CalibrationStore.open(db_url)
        try:
            await store.publish(better, "test")  # the newest one wins
        finally:
            await store.close()
        await _until(a, ["slowpoke"])
        await _until(b, ["slowpoke"])
    finally:
        await a.close()
        await b.close()


def test_calibrate_publish_stores_what_it_wrote(tmp_path):
    url = f"sqlite:///{tmp_path / 'log.db'}"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(orjson.dumps({"models": MODELS, "database_url": url}).decode())
    out = tmp_path / "cal.json"

    async def empty_log() -> None:  # a request log with nothing in it yet
        await (await CalibrationStore.open(url)).close()

    asyncio.run(empty_log())
    res = CliRunner().invoke(calibrate_cmd, ["--from-log", "--config", str(cfg), "-o", str(out), "--publish"])
    assert res.exit_code == 0, res.output
    assert "published as calibration 1" in res.output

    async def latest():
        store = await CalibrationStore.open(url)
        try:
            return await store.latest()
        finally:
            await store.close()

    assert asyncio.run(latest()) == (1, orjson.loads(out.read_bytes()))
