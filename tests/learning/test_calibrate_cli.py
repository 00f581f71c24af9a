"""`faregate calibrate --from-log` reads the real request log (SQLite) and the routing step uses it."""

import asyncio
import time

import orjson
from click.testing import CliRunner

from faregate.config import GatewayConfig
from faregate.endpoints.deployments import DeploymentRegistry
from faregate.learning.commands import calibrate_cmd
from faregate.pipeline.context import RequestContext
from faregate.pipeline.routing_step import RoutingStep
from faregate.storage.db import Database
from faregate.storage.request_log import LogWriter
from faregate.storage.request_record import RequestRecord
from faregate.wire.openai_front import parse_chat_request


async def _fill(url: str) -> None:
    writer = LogWriter(url)
    await writer.start()
    now = time.time()
    for i in range(10):
        writer.append(
            RequestRecord(
                id=f"r{i}",
                ts=now,
                model="slowpoke",
                task="classify",
                ttft_ms=2000.0 + i,
                latency_ms=3000.0 + i,
                output_tokens=100,
                status=200,
            )
        )
    await writer.close()
    db = await Database.open(url)
    await db.executemany(
        "INSERT INTO feedback (request_id, key_id, ts, score, comment) VALUES ($1, $2, $3, $4, $5)",
        [(f"r{i}", None, now, 0.0, None) for i in range(10)],
    )
    await db.close()


def test_calibrate_from_log_feeds_routing(tmp_path):
    url = f"sqlite:///{tmp_path / 'log.db'}"
    asyncio.run(_fill(url))
    out = tmp_path / "cal.json"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(orjson.dumps({"models": [{"name": "slowpoke", "quality": 0.9}], "database_url": url}).decode())
    res = CliRunner().invoke(calibrate_cmd, ["--from-log", "--config", str(cfg), "-o", str(out)])
    assert res.exit_code == 0, res.output
    cal = orjson.loads(out.read_bytes())["slowpoke"]
    assert cal["requests"] == 10 and 2000 <= cal["ttft_ms_p50"] <= 2010
    assert abs(cal["tokens_per_s"] - 100.0) < 1.0  # 100 tokens over the 1 s after the first token
    assert cal["quality_by_task"]["classify"]["n"] == 10
    assert abs(cal["quality_by_task"]["classify"]["quality"] - 0.9 * 5 / 15) < 1e-6  # ten zeros vs prior 0.9 x 5

    models = [
        {"name": "slowpoke", "quality": 0.9, "prices": {"input": 0.1, "output": 0.1}},
        {"name": "steady", "quality": 0.85, "prices": {"input": 1, "output": 1}},
    ]
    req = {
        "model": "auto",
        "messages": [{"role": "user", "content": "classify this"}],
        "faregate": {"task": "classify", "min_quality": 0.8},
    }
    plain = RoutingStep(
        GatewayConfig.model_validate({"models": models, "learning": {"enabled": False}}),
        DeploymentRegistry(GatewayConfig.model_validate({"models": models}).models),
    )
    assert plain.plan(RequestContext(request=parse_chat_request(req)), "auto").models == ["slowpoke"]
    calibrated_cfg = GatewayConfig.model_validate(
        {"models": models, "learning": {"enabled": False}, "calibration_file": str(out)}
    )
    step = RoutingStep(calibrated_cfg, DeploymentRegistry(calibrated_cfg.models))
    plan = step.plan(RequestContext(request=parse_chat_request(req)), "auto")
    assert plan.models == ["steady"], "measured quality on classify is 0.3: no longer meets 0.8"
    slow = next(c for c in plan.candidates if c["models"] == ["slowpoke"])
    assert slow["predicted_p95_latency_ms"] > 2000, "measured time to first token replaces the 500 ms prior"
