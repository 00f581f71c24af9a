"""The access log: one line per request on stdout (text or JSON), upstream failures and breaker
transitions on stderr as they happen, secrets never in either; off when configured off."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time

import openai
import pytest
import yaml
from tests.helpers import UPSTREAM_KEYS, clean_env, fake_config, free_port

from faregate.observability.access_log import AccessFormatter

KEY = "fg-access-log-key-CANARY-0000001"


def _serve(tmp_path, cfg, *args):
    path = tmp_path / "faregate.yaml"
    path.write_text(yaml.safe_dump(cfg))
    port = free_port()
    out, err = open(tmp_path / "out.log", "wb"), open(tmp_path / "err.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "faregate", "serve", "--config", str(path), "--port", str(port), *args],
        env=clean_env(),
        cwd=tmp_path,
        stdout=out,
        stderr=err,
    )
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, max_retries=0, timeout=10)
    for _ in range(200):
        try:
            client.models.list()
            break
        except openai.APIConnectionError:
            time.sleep(0.05)
    return proc, client


def _stop(proc, tmp_path):
    proc.terminate()
    proc.wait(15)
    return (tmp_path / "out.log").read_text(), (tmp_path / "err.log").read_text()


def test_json_lines_and_upstream_events(tmp_path, upstreams):
    cfg = fake_config({"openai": upstreams["openai"]}, keys=[KEY], database_url=f"sqlite:///{tmp_path / 'l.db'}")
    cfg["models"][0]["breaker"] = {"failure_threshold": 1, "cooldown_s": 60}
    proc, client = _serve(tmp_path, cfg, "--log-format", "json")
    try:
        ids = [
            client.chat.completions.with_raw_response.create(
                model="fake-openai", messages=[{"role": "user", "content": "hi"}]
            ).headers["x-request-id"]
            for _ in range(2)
        ]
        upstreams["openai"].script({"status": 500, "error_message": "boom " + UPSTREAM_KEYS["openai"]})
        with pytest.raises(openai.APIStatusError):
            client.chat.completions.create(model="fake-openai", messages=[{"role": "user", "content": "hi"}])
    finally:
        out, err = _stop(proc, tmp_path)
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert [line["request_id"] for line in lines[:2]] == ids
    ok = lines[0]
    assert ok["status"] == 200 and ok["model"] == "fake-openai" and ok["deployment"] == "fake-openai#0"
    assert ok["input_tokens"] > 0 and ok["cost_usd"] > 0 and ok["attempts"] == 1 and ok["latency_ms"] > 0
    assert ok["key"] and ok["error"] is None
    failed = lines[2]
    assert failed["status"] >= 500 and failed["error"] and failed["attempts"] == 1
    assert len(lines) == 3
    assert "upstream failure" in err and "fake-openai#0" in err
    assert "breaker closed -> open" in err
    for secret in (KEY, UPSTREAM_KEYS["openai"]):
        assert secret not in out and secret not in err


def test_text_format_and_switching_it_off(tmp_path, upstreams, caplog):
    fields = {"request_id": "req_1", "model": "m", "status": 200, "latency_ms": 1.5, "error": None, "route": "a b"}
    record = logging.LogRecord("faregate.access", logging.INFO, "", 0, "%s", (fields,), None)
    record.args = fields  # what logging does with one dict argument
    assert (
        AccessFormatter("text").format(record)
        == 'request_id=req_1 model=m status=200 latency_ms=1.5 error=- route="a b"'
    )
    assert json.loads(AccessFormatter("json").format(record)) == fields
    with pytest.raises(ValueError, match="text, json"):
        AccessFormatter("xml")


async def test_access_log_off_writes_no_line(upstreams, caplog):
    from faregate.config import GatewayConfig
    from faregate.pipeline.gateway import Gateway

    for enabled, expected in ((True, 1), (False, 0)):
        cfg = fake_config({"openai": upstreams["openai"]}, keys=[], database_url="", access_log={"enabled": enabled})
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="faregate.access"):
            async with Gateway(GatewayConfig.model_validate(cfg)) as gw:
                await gw.chat({"model": "fake-openai", "messages": [{"role": "user", "content": "x"}]})
        assert len([r for r in caplog.records if r.name == "faregate.access"]) == expected
