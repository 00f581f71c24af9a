"""Graceful drain of ``faregate serve`` (a real process): SIGTERM lets what is in flight finish,
refuses new connections, flushes the request log and exits 0; every answer names its replica."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest
import yaml
from tests.helpers import GATEWAY_KEY, ServeProcess, fake_config


def _post(url: str, body: dict, timeout: float = 30) -> tuple[int, dict, dict]:
    req = urllib.request.Request(
        url + "/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {GATEWAY_KEY}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.status, dict(resp.headers), json.loads(resp.read())


def _serve(tmp_path, upstreams, replica: str, drain_s: float) -> tuple[ServeProcess, str]:
    db = tmp_path / "log.db"
    cfg = fake_config({"openai": upstreams["openai"]}, database_url=f"sqlite:///{db}")
    cfg["server"] = {"drain_timeout_s": drain_s}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "FAREGATE_REPLICA_ID": replica}
    env.pop("FAREGATE_DATABASE_URL", None)
    return ServeProcess(["serve", "--config", str(path)], env=env).start(), str(db)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_drains_in_flight_then_exits_with_the_log_flushed(tmp_path, upstreams):
    upstreams["openai"].script({"text": "slow but whole", "delay_ms": 1500})
    srv, db = _serve(tmp_path, upstreams, "replica-a", drain_s=20)
    try:
        got: dict = {}

        def call() -> None:
            got["answer"] = _post(srv.url, {"model": "fake-openai", "messages": [{"role": "user", "content": "hi"}]})

        t = threading.Thread(target=call)
        t.start()
        time.sleep(0.5)  # the request is in flight (the fake waits 1.5 s)
        assert srv.proc is not None
        srv.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        with pytest.raises(urllib.error.URLError):  # the listening socket is closed: a balancer goes elsewhere
            urllib.request.urlopen(srv.url + "/health/ready", timeout=2)
        t.join(20)
        status, headers, body = got["answer"]
        assert status == 200 and body["choices"][0]["message"]["content"] == "slow but whole"
        assert headers["x-faregate-replica"] == "replica-a"
        assert srv.proc.wait(20) == 0
        rows = sqlite3.connect(db).execute("SELECT status FROM request_log").fetchall()
        assert rows == [(200,)]  # flushed before exit
    finally:
        srv.stop()


def test_second_sigterm_exits_at_once(tmp_path, upstreams):
    upstreams["openai"].script({"text": "never waited for", "delay_ms": 8000})
    srv, _db = _serve(tmp_path, upstreams, "replica-b", drain_s=60)
    try:
        outcome: list[str] = []

        def call() -> None:
            try:
                _post(srv.url, {"model": "fake-openai", "messages": [{"role": "user", "content": "x"}]})
                outcome.append("answered")
            except Exception:  # noqa: BLE001 - the connection is cut: that is the point
                outcome.append("cut")

        t = threading.Thread(target=call, daemon=True)
        t.start()
        time.sleep(0.5)
        assert srv.proc is not None
        srv.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        started = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        assert srv.proc.wait(10) == 0
        assert time.monotonic() - started < 5  # not the 60 s drain, nor the fake's 8 s
        t.join(10)
        assert outcome == ["cut"]
    finally:
        srv.stop()


def test_ready_fails_while_draining_and_every_answer_names_its_replica(start_server, upstreams):
    from faregate.server.probe_routes import DRAIN

    srv = start_server({**fake_config({"openai": upstreams["openai"]}), "server": {"replica_id": "r-in-proc"}})
    with urllib.request.urlopen(srv.url + "/health/ready", timeout=5) as r:
        assert r.status == 200 and r.headers["x-faregate-replica"] == "r-in-proc"
    srv.app[DRAIN].draining = True  # what `faregate serve` sets on SIGTERM
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(srv.url + "/health/ready", timeout=5)
    assert err.value.code == 503 and b"draining" in err.value.read()
    assert err.value.headers["x-faregate-replica"] == "r-in-proc"  # error answers too
