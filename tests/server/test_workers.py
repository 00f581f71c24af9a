"""``faregate serve --workers N`` as real processes: the workers share one port and all answer,
a taken port still fails with its one-line error, in-memory limits are refused with more than
one worker, SIGTERM drains and stops every worker, and each worker's requests are in the log."""

from __future__ import annotations

import http.client
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from helpers import GATEWAY_KEY, ServeProcess, clean_env, fake_config
from limits_services import need_redis

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="fork and POSIX signals")


def _post(url: str) -> tuple[str, str]:
    """One chat call on a fresh connection: (the replica that answered, the request id)."""
    body = {"model": "fake-openai", "messages": [{"role": "user", "content": "hi"}]}
    req = urllib.request.Request(
        url + "/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {GATEWAY_KEY}", "Content-Type": "application/json", "Connection": "close"},
    )
    with urllib.request.urlopen(req, timeout=20) as resp:
        assert resp.status == 200
        return resp.headers["x-faregate-replica"], resp.headers["x-request-id"]


def _burst(port: int, n: int = 24) -> list[str]:
    """Open ``n`` connections at once (as a load generator does), then one request on each: the replicas."""
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=20) for _ in range(n)]
    for c in conns:
        c.connect()
    body = json.dumps({"model": "fake-openai", "messages": [{"role": "user", "content": "hi"}]})
    headers = {"Authorization": f"Bearer {GATEWAY_KEY}", "Content-Type": "application/json"}
    replicas = []
    for c in conns:
        c.request("POST", "/v1/chat/completions", body=body, headers=headers)
        resp = c.getresponse()
        resp.read()
        replicas.append(resp.headers["x-faregate-replica"])
        c.close()
    return replicas


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _config(tmp_path: Path, upstreams, **extra) -> Path:
    cfg = fake_config({"openai": upstreams["openai"]}, database_url=f"sqlite:///{tmp_path / 'log.db'}", **extra)
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_two_workers_answer_log_and_stop_on_sigterm(tmp_path, upstreams):
    redis_url = need_redis()
    upstreams["openai"].script(*[{"text": "ok", "delay_ms": 30}] * 400)
    cfg = _config(tmp_path, upstreams, redis_url=redis_url, server={"replica_id": "rep"})
    srv = ServeProcess(["serve", "--config", str(cfg), "--workers", "2"], env=clean_env()).start()
    try:
        assert srv.proc is not None
        t_end = time.monotonic() + 20  # /health answers once worker 0 serves; worker 1 starts after it
        while len(workers := _children(srv.proc.pid)) < 2 and time.monotonic() < t_end:
            time.sleep(0.05)
        assert len(workers) == 2, workers
        # Connections opened together are spread too (each worker has its own SO_REUSEPORT socket;
        # on one shared socket, the first worker to wake accepted the whole burst).
        assert set(_burst(srv.port)) == {"rep-w0", "rep-w1"}
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda _: _post(srv.url), range(48)))
        by_worker: dict[str, set[str]] = {}
        for replica, rid in answers:
            by_worker.setdefault(replica, set()).add(rid)
        assert set(by_worker) == {"rep-w0", "rep-w1"}, f"both workers answer, each under its own id: {by_worker.keys()}"

        srv.proc.send_signal(signal.SIGTERM)
        assert srv.proc.wait(30) == 0, srv.proc.stderr.read().decode() if srv.proc.stderr else ""
        for pid in workers:  # every worker is gone (reaped by the parent)
            assert not _alive(pid)
        logged = {r for (r,) in sqlite3.connect(tmp_path / "log.db").execute("SELECT id FROM request_log")}
        for replica, ids in by_worker.items():
            assert ids <= logged, f"{len(ids - logged)} of {replica}'s requests are missing from the log"
    finally:
        srv.stop()


def test_a_second_serve_on_the_taken_port_fails_clearly(tmp_path, upstreams):
    redis_url = need_redis()
    cfg = _config(tmp_path, upstreams, redis_url=redis_url)
    srv = ServeProcess(["serve", "--config", str(cfg), "--workers", "2"], env=clean_env()).start()
    try:
        second = subprocess.run(
            [
                sys.executable,
                "-m",
                "faregate",
                "serve",
                "--config",
                str(cfg),
                "--workers",
                "2",
                "--port",
                str(srv.port),
            ],
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert second.returncode == 2
        assert f"cannot listen on 127.0.0.1:{srv.port}: Address already in use" in second.stderr
        assert "Traceback" not in second.stderr
        assert _post(srv.url)[0]  # the first one still serves
    finally:
        srv.stop()


def test_more_than_one_worker_refuses_limits_in_memory(tmp_path, upstreams):
    cfg = _config(tmp_path, upstreams)
    out = subprocess.run(
        [sys.executable, "-m", "faregate", "serve", "--config", str(cfg), "--workers", "2", "--port", "0"],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2
    assert "--workers 2 needs limits shared by the workers" in out.stderr and "redis_url" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_worker_that_cannot_start_stops_the_start(tmp_path, upstreams):
    """A worker's start-up error is the command's error; no worker is left behind."""
    redis_url = need_redis()
    cfg = _config(tmp_path, upstreams, redis_url=redis_url, router_model=str(tmp_path / "missing.json"))
    env = clean_env()
    env.pop("FAREGATE_ROUTER_MODEL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "faregate", "serve", "--config", str(cfg), "--workers", "2", "--port", "0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
    assert proc.returncode == 2, err
    assert "missing.json" in err and "does not exist" in err


def test_workers_leave_when_their_parent_is_killed(tmp_path, upstreams):
    redis_url = need_redis()
    cfg = _config(tmp_path, upstreams, redis_url=redis_url)
    srv = ServeProcess(["serve", "--config", str(cfg), "--workers", "2"], env=clean_env()).start()
    workers: list[int] = []
    try:
        assert srv.proc is not None
        t_end = time.monotonic() + 20
        while len(workers := _children(srv.proc.pid)) < 2 and time.monotonic() < t_end:
            time.sleep(0.05)
        assert len(workers) == 2
        srv.proc.kill()  # SIGKILL: the parent cannot pass anything on
        srv.proc.wait(10)
        t_end = time.monotonic() + 15
        while any(_alive(pid) for pid in workers):
            assert time.monotonic() < t_end, "a worker kept serving after its parent was killed"
            time.sleep(0.1)
    finally:
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        srv.stop()


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper that is not there counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False
