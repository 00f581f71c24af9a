"""``faregate serve --server granian`` (a real process on granian's Rust HTTP server): the
official SDK's calls, streams that end however they end, the body cap, a client that leaves,
and the drain that flushes the request log. The whole in-process suite runs on granian too
with ``FAREGATE_TEST_SERVER=granian`` (docs/fast-http.md)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import openai
import pytest
import yaml
from tests.helpers import GATEWAY_KEY, ServeProcess, fake_config

pytest.importorskip("granian", reason="the fast extra (pip install 'faregate[fast]')")

MSG = [{"role": "user", "content": "hi"}]


@pytest.fixture
def served(tmp_path, upstreams):
    db = tmp_path / "log.db"
    cfg = fake_config({"openai": upstreams["openai"]}, database_url=f"sqlite:///{db}")
    cfg["server"] = {"max_body_bytes": 4096, "drain_timeout_s": 10}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {k: v for k, v in os.environ.items() if k not in ("FAREGATE_DATABASE_URL", "FAREGATE_SERVER")}
    srv = ServeProcess(["serve", "--config", str(path), "--server", "granian"], env=env).start()
    srv.db = str(db)  # type: ignore[attr-defined]
    yield srv
    srv.stop()


def _client(srv: ServeProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.url + "/v1", api_key=GATEWAY_KEY, max_retries=0)


def _raw(srv: ServeProcess, body: bytes, headers: dict[str, str], timeout: float = 10) -> tuple[int, bytes]:
    req = urllib.request.Request(srv.url + "/v1/chat/completions", data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_the_sdk_gets_answers_and_streams(served, upstreams):
    upstreams["openai"].script({"text": "plain answer"}, {"text": "one two three", "chunks": 3, "chunk_gap_ms": 30})
    r = _client(served).chat.completions.with_raw_response.create(model="fake-openai", messages=MSG)
    assert r.parse().choices[0].message.content == "plain answer"
    assert r.headers["x-faregate-model"] == "fake-openai" and r.headers["x-request-id"].startswith("req_")
    parts = [
        c.choices[0].delta.content or ""
        for c in _client(served).chat.completions.create(model="fake-openai", messages=MSG, stream=True)
        if c.choices
    ]
    assert "".join(parts) == "one two three"


def test_errors_come_in_the_front_envelope(served):
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=served.url + "/v1", api_key="wrong", max_retries=0).models.list()
    with pytest.raises(openai.NotFoundError) as missing:
        _client(served).chat.completions.create(model="no-such-model", messages=MSG)
    assert "no-such-model" in missing.value.message
    status, body = _raw(served, b"{not json", {"authorization": f"Bearer {GATEWAY_KEY}"})
    assert status == 400 and json.loads(body)["error"]["type"] == "invalid_request_error"


def test_a_body_over_the_cap_is_refused_with_413(served):
    big = json.dumps({"model": "fake-openai", "messages": [{"role": "user", "content": "x" * 8000}]}).encode()
    headers = {"authorization": f"Bearer {GATEWAY_KEY}", "content-type": "application/json"}
    status, body = _raw(served, big, headers)
    assert status == 413 and "server.max_body_bytes" in json.loads(body)["error"]["message"]
    # Without a Content-Length (chunked), read up to the cap and refused the same way.
    chunks = iter([big[:3000], big[3000:]])
    status, body = _raw(served, chunks, {**headers, "transfer-encoding": "chunked"})  # type: ignore[arg-type]
    assert status == 413


def _expecting_continue(srv: ServeProcess, body: bytes) -> http.client.HTTPResponse:
    """POST with ``Expect: 100-continue`` as a careful client does: the head, then the body only
    once the server says "100 Continue" (a server that refuses at once answers without it)."""
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    s.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
        + f"authorization: Bearer {GATEWAY_KEY}\r\ncontent-length: {len(body)}\r\n".encode()
        + b"expect: 100-continue\r\nconnection: close\r\n\r\n"
    )
    first = b""
    while len(first) < 12:  # the status line's start, left in the socket for the parser
        first = s.recv(12, socket.MSG_PEEK)
        assert first, "the server closed the connection without answering"
    if first.startswith(b"HTTP/1.1 100"):
        s.sendall(body)
    resp = http.client.HTTPResponse(s)  # skips the interim 100 as any client does
    resp.begin()
    s.close()  # the response keeps its own file on the socket
    return resp


def test_expect_100_continue_gets_the_real_answer(served, upstreams):
    """aiohttp's expect handler writes "100 Continue" itself; granian sends its own, and that
    write must not open the response as a 200 with the interim line as its body."""
    missing = json.dumps({"model": "no-such-model", "messages": MSG}).encode()
    resp = _expecting_continue(served, missing)
    assert resp.status == 404 and resp.getheader("content-type") == "application/json"
    assert resp.getheader("x-request-id", "").startswith("req_")
    assert json.loads(resp.read())["error"]["code"] == "model_not_found"

    big = json.dumps({"model": "fake-openai", "messages": [{"role": "user", "content": "x" * 8000}]}).encode()
    resp = _expecting_continue(served, big)  # refused by its length, before any 100
    assert resp.status == 413 and json.loads(resp.read())["error"]["code"] == "request_too_large"

    upstreams["openai"].script({"text": "continued"})
    resp = _expecting_continue(served, json.dumps({"model": "fake-openai", "messages": MSG}).encode())
    assert resp.status == 200 and resp.getheader("content-type") == "application/json"
    assert json.loads(resp.read())["choices"][0]["message"]["content"] == "continued"


def test_a_stream_that_fails_in_band_still_ends(served, upstreams):
    upstreams["openai"].script({"text": "partial answer here", "chunks": 4, "error_event_after_200": 3})
    body = json.dumps({"model": "fake-openai", "messages": MSG, "stream": True}).encode()
    status, raw = _raw(served, body, {"authorization": f"Bearer {GATEWAY_KEY}", "content-type": "application/json"})
    assert status == 200
    events = [line[6:] for line in raw.decode().splitlines() if line.startswith("data: ")]
    assert '"content":"parti"' in raw.decode() and json.loads(events[-1])["error"]["code"] == "upstream_error"


def test_a_client_that_leaves_cancels_the_upstream_call(served, upstreams):
    upstreams["openai"].script({"text": "never read", "delay_ms": 3000})
    body = json.dumps({"model": "fake-openai", "messages": MSG}).encode()
    host, port = "127.0.0.1", served.port
    with socket.create_connection((host, port)) as s:
        s.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
            + f"authorization: Bearer {GATEWAY_KEY}\r\ncontent-length: {len(body)}\r\n\r\n".encode()
            + body
        )
        time.sleep(0.5)  # the upstream call is in flight
    t_end = time.monotonic() + 2.5
    while not upstreams["openai"].last_request().get("disconnected"):
        assert time.monotonic() < t_end, "the upstream call went on after the client left"
        time.sleep(0.05)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_lets_the_call_in_flight_finish_and_flushes_the_log(served, upstreams):
    upstreams["openai"].script({"text": "slow but whole", "delay_ms": 1000})
    got: list[str | None] = []
    call = threading.Thread(
        target=lambda: got.append(
            _client(served).chat.completions.create(model="fake-openai", messages=MSG).choices[0].message.content
        )
    )
    call.start()
    time.sleep(0.5)  # the call is in flight (the fake waits 1 s)
    assert served.proc is not None
    served.proc.send_signal(signal.SIGTERM)
    call.join(20)
    assert got == ["slow but whole"]
    assert served.proc.wait(20) == 0
    assert sqlite3.connect(served.db).execute("SELECT status FROM request_log").fetchall() == [(200,)]


def test_granian_serves_one_process_only(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "faregate", "serve", "--server", "granian", "--workers", "2", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("FAREGATE_")},
    )
    assert out.returncode != 0 and "--server granian serves one process" in out.stderr
