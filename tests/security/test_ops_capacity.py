"""Caps of ``faregate serve`` with real sockets: a slow request head is cut within the head
timeout, a slow body gets a 408, past the in-flight cap a request gets 503 + Retry-After,
past the connection cap a connection gets 503 and is closed; ``/health`` is never refused."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from faregate.config import GatewayConfig, ServerConfig
from faregate.pipeline.gateway import Gateway
from faregate.server.app import create_app
from faregate.server.serve import Serving, bind_socket
from helpers import GATEWAY_KEY, fake_config


@pytest.fixture
def serve(server_loop, upstreams, tmp_path):
    started: list[Serving] = []

    def _serve(**server: object) -> Serving:
        cfg = fake_config(upstreams, database_url=f"sqlite:///{tmp_path / f'log{len(started)}.db'}")
        cfg["server"] = server
        config = GatewayConfig.model_validate(cfg)

        async def start() -> Serving:
            app = create_app(Gateway(config))
            return await Serving(app, bind_socket("127.0.0.1", 0), config.server, shutdown_timeout=2).start()

        s = server_loop.run(start())
        started.append(s)
        return s

    yield _serve
    for s in started:
        server_loop.run(s.stop())


def _post(port: int, timeout: float = 10.0) -> tuple[int, dict, dict]:
    body = json.dumps({"model": "fake-openai", "messages": [{"role": "user", "content": "hi"}]}).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/chat/completions",
        data=body,
        headers={"Authorization": f"Bearer {GATEWAY_KEY}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, json.loads(e.read())


def _closed_after(sock: socket.socket, send: bytes, gap_s: float, give_up_s: float) -> float:
    """Send ``send`` a byte at a time every ``gap_s``; seconds until the server closed the connection."""
    t0 = time.monotonic()
    sock.settimeout(gap_s)
    for b in send:
        try:
            sock.sendall(bytes([b]))
            if sock.recv(4096) == b"":
                return time.monotonic() - t0
        except TimeoutError:
            pass
        except OSError:  # reset or broken pipe: closed
            return time.monotonic() - t0
        if time.monotonic() - t0 > give_up_s:
            break
    return float("inf")


def test_a_slow_request_head_is_cut_within_the_head_timeout(serve):
    s = serve(header_timeout_s=0.6)
    head = b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 200 + b"\r\n\r\n"
    with socket.create_connection(("127.0.0.1", s.port)) as sock:
        took = _closed_after(sock, head, 0.05, give_up_s=8)
    assert took < 0.6 + 1.5, f"a byte-a-time head was held {took:.1f} s"
    assert s.guard.cut_slow_heads == 1
    # A normal client on the same server is unaffected.
    with urllib.request.urlopen(f"http://127.0.0.1:{s.port}/health", timeout=5) as r:
        assert r.status == 200


def test_a_slow_body_gets_a_408_within_the_body_timeout(serve):
    s = serve(body_timeout_s=0.6)
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {GATEWAY_KEY}\r\nContent-Length: 500\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", s.port), timeout=5) as sock:
        t0 = time.monotonic()
        sock.sendall(head + b'{"model": ')
        data = b""
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        took = time.monotonic() - t0
    assert data.startswith(b"HTTP/1.1 408"), data[:200]
    assert b"server.body_timeout_s" in data
    assert took < 0.6 + 2.0


def test_past_the_in_flight_cap_a_request_gets_503_with_retry_after(serve, upstreams):
    s = serve(max_in_flight=2, overload_retry_after_s=3)
    upstreams["openai"].script({"delay_ms": 1500}, {"delay_ms": 1500})  # two held requests
    results: list[int] = []
    held = [threading.Thread(target=lambda: results.append(_post(s.port)[0])) for _ in range(2)]
    for t in held:
        t.start()
    deadline = time.monotonic() + 5
    while s.guard.in_flight < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    status, headers, body = _post(s.port)
    with urllib.request.urlopen(f"http://127.0.0.1:{s.port}/health", timeout=5) as r:
        health_status = r.status
    for t in held:
        t.join()
    assert status == 503, body
    assert headers.get("retry-after") == "3"
    assert body["error"]["code"] == "server_overloaded" and "server.max_in_flight" in body["error"]["message"]
    assert health_status == 200  # never refused
    assert results == [200, 200]
    assert _post(s.port)[0] == 200  # and once they finished, there is room again


def test_past_the_connection_cap_a_connection_gets_503_and_is_closed(serve):
    s = serve(max_connections=4, header_timeout_s=30)
    idle = [socket.create_connection(("127.0.0.1", s.port)) for _ in range(4)]
    try:
        deadline = time.monotonic() + 5
        while len(s.runner.server.connections) < 4 and time.monotonic() < deadline:  # type: ignore[union-attr]
            time.sleep(0.01)
        with socket.create_connection(("127.0.0.1", s.port), timeout=5) as extra:
            data = b""
            while chunk := extra.recv(4096):
                data += chunk
        assert data.startswith(b"HTTP/1.1 503"), data[:200]
        assert b"Retry-After: 1" in data and b"server.max_connections" in data
    finally:
        for c in idle:
            c.close()
    deadline = time.monotonic() + 5
    while True:  # the idle ones are gone: a new connection is served
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{s.port}/health", timeout=5) as r:
                assert r.status == 200
            break
        except (urllib.error.URLError, ConnectionError):
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_the_defaults_hold_normal_load():
    cfg = ServerConfig()
    assert cfg.max_connections >= 1000 and cfg.max_in_flight >= 500
    assert cfg.header_timeout_s <= 30 and cfg.keepalive_timeout_s <= 75
