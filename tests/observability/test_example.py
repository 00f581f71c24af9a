"""``examples/observability.yaml`` as shipped (only its loopback ports moved to the test's): 30
requests to fake-openai cross the $0.0001 daily spend rule, and within the 5 s evaluation
interval the signed webhook gets the alert; metrics and traces flow too."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json

import openai
import pytest
from tests.helpers import REPO
from tests.observability.test_alerts import Receiver
from tests.observability.test_metrics import samples, scrape, total

from faregate.config import load_config
from faregate.testing import OtlpReceiver


@pytest.fixture
def receivers(server_loop):
    hook, rx = Receiver(), OtlpReceiver()
    url = server_loop.run(hook.start())
    server_loop.run(rx.start())
    yield hook, url, rx
    server_loop.run(hook.runner.cleanup())
    server_loop.run(rx.stop())


def test_the_example_alerts_after_30_requests(server_loop, start_server, upstreams, receivers, tmp_path):
    hook, hook_url, rx = receivers
    text = (REPO / "examples/observability.yaml").read_text()
    for old, new in (
        ("http://127.0.0.1:9101/v1", upstreams["openai"].model_base_url),
        ("http://127.0.0.1:9109/alerts", hook_url),
        ("http://127.0.0.1:4318/v1/traces", rx.endpoint),
        ("sqlite:///faregate-observability.db", f"sqlite:///{tmp_path / 'log.db'}"),
    ):
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "observability.yaml"
    path.write_text(text)
    cfg = load_config(path, env={})
    assert cfg.alerts.interval_s == 5 and cfg.metrics.enabled and cfg.metrics.port is None
    srv = start_server(cfg)
    client = openai.OpenAI(base_url=srv.base_url, api_key="fg-demo-key", max_retries=0, timeout=10)
    for _ in range(30):
        client.chat.completions.create(
            model="fake-openai", messages=[{"role": "user", "content": "Tell me about observability."}]
        )

    async def wait_for_alert() -> None:
        for _ in range(150):
            if hook.bodies:
                return
            await asyncio.sleep(0.1)

    server_loop.run(wait_for_alert(), timeout=20)
    (body,) = hook.bodies
    alert = json.loads(body)
    assert alert["rule"] == "daily-spend" and alert["event"] == "alert" and alert["value"] > 0.0001
    sig = "sha256=" + hmac.new(b"demo-webhook-secret", body, hashlib.sha256).hexdigest()
    assert hook.headers[0]["X-Faregate-Signature"] == sig
    assert total(samples(scrape(srv.url)), "faregate_requests_total", status="200") == 30
    assert srv.gateway.services.tracing.flush()
    spans = server_loop.run(rx.wait_for(30))
    assert sum(1 for s in spans if s["kind"] == "server") == 30
