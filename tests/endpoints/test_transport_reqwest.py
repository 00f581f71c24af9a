"""The pyreqwest calls (``http_pool.client: pyreqwest``) against a real fake provider on loopback:
answers, error kinds, timeouts, caps, streamed chunks passed on as they arrive, a closed stream
dropping the upstream connection, and how the client is chosen."""

from __future__ import annotations

import asyncio
import socket
import sys
import time

import pytest

from faregate.config import ConfigError, GatewayConfig, HttpPoolConfig, UpstreamCapsConfig
from faregate.core.errors import UpstreamError
from faregate.core.types import ChatRequest
from faregate.endpoints.deployments import DeploymentRegistry
from faregate.endpoints.transport import QUICK_RETRY_ATTR
from faregate.endpoints.transport_reqwest import ReqwestCalls, chosen_client, fast_calls
from faregate.testing.fake_provider import FakeProvider

pytest.importorskip("pyreqwest")

REQ = ChatRequest(model="m", messages=[{"role": "user", "content": "hi"}])
CAPS = UpstreamCapsConfig()


def _dep(base_url: str, **timeouts: float):
    t = {"connect": 1, "ttfb": 1, "idle": 1, "total": 10, **timeouts}
    cfg = GatewayConfig.model_validate(
        {"models": [{"name": "m", "provider": "openai", "base_url": base_url, "api_key": "k", "timeouts": t}]}
    )
    return DeploymentRegistry(cfg.models).deployments("m")[0]


@pytest.fixture
async def fake():
    f = await FakeProvider("openai").start()
    f.base = f"http://127.0.0.1:{f.port}/v1"  # type: ignore[attr-defined]
    yield f
    await f.stop()


@pytest.fixture
async def calls():
    c = ReqwestCalls(HttpPoolConfig(client="pyreqwest"))
    yield c
    await c.close()


async def test_a_plain_call_answers(fake, calls):
    fake.queue.append({"text": "hello from the fake"})
    got = await calls.post(_dep(fake.base), REQ, time.monotonic() + 10, CAPS)
    assert got.content == "hello from the fake"
    assert fake.log[-1]["headers"]["authorization"] == "Bearer k"


async def test_error_kinds(fake, calls):
    dep = _dep(fake.base, ttfb=0.3)
    fake.queue.append({"status": 429, "retry_after_s": 2})
    with pytest.raises(UpstreamError) as e:
        await calls.post(dep, REQ, time.monotonic() + 10, CAPS)
    assert e.value.provider_status == 429 and e.value.retry_after_s == 2.0

    fake.queue.append({"delay_ms": 1000})  # no head within ttfb
    with pytest.raises(UpstreamError) as e:
        await calls.post(dep, REQ, time.monotonic() + 10, CAPS)
    assert e.value.kind == "timeout" and "did not answer within its timeout" in e.value.message

    fake.queue.append({"cut_after_chunks": 0})  # the connection dropped mid-answer
    with pytest.raises(UpstreamError) as e:
        await calls.post(dep, REQ, time.monotonic() + 10, CAPS)
    assert e.value.kind == "transient" and getattr(e.value, QUICK_RETRY_ATTR, False)

    fake.queue.append({"content_type": "text/html"})
    with pytest.raises(UpstreamError, match="content type 'text/html'"):
        await calls.post(dep, REQ, time.monotonic() + 10, CAPS)

    fake.queue.append({"text": "x" * 5000})
    with pytest.raises(UpstreamError, match="too large.*over the cap of 1000"):
        await calls.post(dep, REQ, time.monotonic() + 10, UpstreamCapsConfig(max_answer_bytes=1000))


async def test_a_refused_connection_is_transient(calls):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(UpstreamError) as e:
        await calls.post(_dep(f"http://127.0.0.1:{port}/v1"), REQ, time.monotonic() + 10, CAPS)
    assert e.value.kind == "transient" and e.value.message.endswith("Connection refused")
    assert not getattr(e.value, QUICK_RETRY_ATTR, False)


async def test_stream_chunks_are_passed_on_as_they_arrive(fake, calls):
    """pyreqwest's default read-ahead would hold the whole (short) stream before the head."""
    fake.queue.append({"text": "one two three four five", "chunks": 5, "chunk_gap_ms": 80})
    dep = _dep(fake.base)
    up = dep.adapter.request_for(REQ, dep.target, stream=True)
    t0 = time.perf_counter()
    resp = await calls.open_stream(dep, up, CAPS)
    opened = time.perf_counter() - t0
    arrivals = []
    while chunk := await resp.content.readany():
        arrivals.append((time.perf_counter() - t0, chunk))
    resp.release()
    assert opened < 0.2, f"the head took {opened:.3f} s: the stream was buffered"
    content = [t for t, c in arrivals if b'"content"' in c]
    assert len(content) >= 4 and content[0] < 0.2 and content[-1] > 0.3
    assert all(b - a > 0.04 for a, b in zip(content[1:], content[2:])), "chunks were coalesced"


async def test_closing_a_stream_drops_the_upstream_connection(fake, calls):
    fake.queue.append({"text": "x" * 200, "chunks": 40, "chunk_gap_ms": 50})
    dep = _dep(fake.base)
    resp = await calls.open_stream(dep, dep.adapter.request_for(REQ, dep.target, stream=True), CAPS)
    assert await resp.content.readany()
    resp.close()
    t_end = time.monotonic() + 1.5
    while not fake.log[-1]["disconnected"]:
        assert time.monotonic() < t_end, "the upstream never saw the client leave"
        await asyncio.sleep(0.02)


async def _upstream_saw_the_client_leave(fake, within_s: float) -> float:
    """Seconds until the fake's last request saw its client leave; fails after ``within_s``."""
    t0 = time.monotonic()
    while not fake.log[-1]["disconnected"]:
        assert time.monotonic() - t0 < within_s, "the upstream never saw the client leave"
        await asyncio.sleep(0.02)
    return time.monotonic() - t0


async def test_a_stream_abandoned_before_its_head_stops_the_upstream(fake, calls):
    """A lost hedge (or a ttfb timeout, or a client that left) cancels ``open_stream`` while the
    head is awaited. pyreqwest detaches the request in Rust on cancel: the stream client's read
    timeout (``max(ttfb, idle)`` and a margin, here 1.5 s) is what stops it, not the head's
    arrival (5 s)."""
    fake.queue.append({"delay_ms": 5000, "text": "x" * 200, "chunks": 40, "chunk_gap_ms": 50})
    dep = _dep(fake.base, ttfb=0.5, idle=0.3)
    t0 = time.monotonic()
    opening = asyncio.create_task(calls.open_stream(dep, dep.adapter.request_for(REQ, dep.target, stream=True), CAPS))
    await asyncio.sleep(0.2)
    opening.cancel()
    with pytest.raises(asyncio.CancelledError):
        await opening
    await _upstream_saw_the_client_leave(fake, within_s=3.0)
    assert time.monotonic() - t0 < 3.2  # well before the head the fake sends at 5 s


async def test_sequential_calls_reuse_one_connection(fake, calls):
    dep = _dep(fake.base)
    for _ in range(4):
        fake.queue.append({"text": "again"})
        assert (await calls.post(dep, REQ, time.monotonic() + 10, CAPS)).content == "again"
    for _ in range(3):  # streams read to their end go back to their pool too
        fake.queue.append({"text": "one two", "chunks": 2})
        resp = await calls.open_stream(dep, dep.adapter.request_for(REQ, dep.target, stream=True), CAPS)
        while await resp.content.readany():
            pass
        resp.release()
    peers = [tuple(r["peer"]) for r in fake.log]
    assert len(peers) == 7 and len(set(peers[:4])) == 1 and len(set(peers[4:])) == 1, peers


async def test_a_stalled_stream_is_cut_by_the_idle_timeout(fake, calls):
    """Through the executor and the stream reader: a stall mid-stream ends in-band after
    ``idle`` (the reader's wording: reqwest's read timeout, a backstop, is longer) and drops the
    upstream."""
    import random

    from faregate.core.types import TextDelta
    from faregate.endpoints.http import HttpPool
    from faregate.pipeline.context import RequestContext
    from faregate.pipeline.executor import Executor

    cfg = GatewayConfig.model_validate(
        {
            "models": [
                {
                    "name": "m",
                    "provider": "openai",
                    "base_url": fake.base,
                    "api_key": "k",
                    "timeouts": {"connect": 1, "ttfb": 0.5, "idle": 0.5, "total": 10},
                }
            ]
        }
    )
    pool = HttpPool(HttpPoolConfig(client="pyreqwest"), fast=calls)
    await pool.start()
    try:
        ex = Executor(cfg.models, DeploymentRegistry(cfg.models), pool, retry=cfg.retry, rng=random.Random(1))
        fake.queue.append({"text": "one two three four", "chunks": 4, "stall_after_chunks": 2})
        ctx = RequestContext(request=ChatRequest(model="m", messages=[{"role": "user", "content": "hi"}], stream=True))
        ctx.candidates = ["m"]
        reply = await ex(ctx)
        got, t_stall = [], 0.0
        with pytest.raises(UpstreamError) as e:
            async for ev in reply.events:
                if isinstance(ev, TextDelta):
                    got.append(ev.text)
                    t_stall = time.monotonic()
        waited = time.monotonic() - t_stall
        assert e.value.kind == "timeout" and "stalled: no bytes for 0.5 s" in e.value.message, e.value.message
        assert got and 0.45 < waited < 1.4, (got, waited)
        await _upstream_saw_the_client_leave(fake, within_s=1.5)
    finally:
        await pool.close()


@pytest.mark.xfail(
    strict=True,
    reason="pyreqwest 0.15.1 does not abort a request in Rust when the Python task awaiting it is "
    "cancelled: the upstream finishes (and bills) an answer nobody reads (docs/fast-http.md)",
)
async def test_a_client_leaving_a_plain_call_stops_the_upstream(fake, calls):
    fake.queue.append({"delay_ms": 3000})
    task = asyncio.create_task(calls.post(_dep(fake.base, ttfb=10), REQ, time.monotonic() + 10, CAPS))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    t_end = time.monotonic() + 1.5
    while not fake.log[-1]["disconnected"]:
        assert time.monotonic() < t_end, "the upstream never saw the client leave"
        await asyncio.sleep(0.02)


async def test_a_stream_error_status_is_classified(fake, calls):
    fake.queue.append({"status": 503})
    dep = _dep(fake.base)
    with pytest.raises(UpstreamError) as e:
        await calls.open_stream(dep, dep.adapter.request_for(REQ, dep.target, stream=True), CAPS)
    assert e.value.provider_status == 503


def test_the_client_is_chosen_by_config_or_environment(monkeypatch):
    assert chosen_client(HttpPoolConfig(), {}) == "aiohttp"
    assert chosen_client(HttpPoolConfig(client="pyreqwest"), {}) == "pyreqwest"
    assert chosen_client(HttpPoolConfig(), {"FAREGATE_HTTP_CLIENT": "pyreqwest"}) == "pyreqwest"
    with pytest.raises(ConfigError, match="FAREGATE_HTTP_CLIENT must be one of aiohttp, pyreqwest, not 'curl'"):
        chosen_client(HttpPoolConfig(), {"FAREGATE_HTTP_CLIENT": "curl"})
    monkeypatch.delenv("FAREGATE_HTTP_CLIENT", raising=False)
    assert fast_calls(HttpPoolConfig()) is None
    assert isinstance(fast_calls(HttpPoolConfig(client="pyreqwest")), ReqwestCalls)


def test_without_the_extra_the_error_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyreqwest", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "pyreqwest.client", None)
    with pytest.raises(ConfigError, match=r"pip install 'faregate\[fast\]'"):
        ReqwestCalls(HttpPoolConfig(client="pyreqwest"))


_H2_APP = """
import json
class App:
    async def __rsgi__(self, scope, proto):
        await proto()
        message = {"role": "assistant", "content": "http " + scope.http_version}
        body = {"id": "x", "object": "chat.completion", "created": 1, "model": "m",
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
        proto.response_bytes(200, [("content-type", "application/json")], json.dumps(body).encode())
app = App()
"""

_H2_CLIENT = """
import asyncio, os, sys, time
from faregate.config import GatewayConfig, HttpPoolConfig, UpstreamCapsConfig
from faregate.core.types import ChatRequest
from faregate.endpoints.deployments import DeploymentRegistry
from faregate.endpoints.transport_reqwest import ReqwestCalls

async def main(url):
    for http2 in (True, False):
        calls = ReqwestCalls(HttpPoolConfig(client="pyreqwest", http2=http2))
        cfg = GatewayConfig.model_validate({"models": [{"name": "m", "provider": "openai", "base_url": url}]})
        dep = DeploymentRegistry(cfg.models).deployments("m")[0]
        req = ChatRequest(model="m", messages=[{"role": "user", "content": "hi"}])
        print((await calls.post(dep, req, time.monotonic() + 10, UpstreamCapsConfig())).content)
        await calls.close()

asyncio.run(main(sys.argv[1]))
# Exit without interpreter finalization: pyreqwest's runtime threads can still be releasing the GIL
# then, which aborts the process (seen once in CI, after both answers were printed).
sys.stdout.flush()
os._exit(0)
"""


def _tls_files(tmp_path):
    """A CA and a localhost certificate it signed (rustls refuses a CA certificate as the server's)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def cert(subject, issuer, public, signer, ca, sans=None):
        b = x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public)
        b = b.serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        b = b.not_valid_after(now + datetime.timedelta(days=1)).add_extension(x509.BasicConstraints(ca, None), True)
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName(sans), False)
        return b.sign(signer, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "faregate test CA")])
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    (tmp_path / "ca.pem").write_bytes(cert(ca_name, ca_name, ca_key.public_key(), ca_key, True))
    (tmp_path / "cert.pem").write_bytes(cert(name, ca_name, key.public_key(), ca_key, False, sans))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (tmp_path / "key.pem").write_bytes(pem)


def test_http2_when_an_https_upstream_offers_it(tmp_path):
    """granian offers h2 over TLS (ALPN): ``http_pool.http2`` (the default) takes it; off, HTTP/1.1."""
    import os
    import shutil
    import subprocess

    pytest.importorskip("granian")
    granian = shutil.which("granian", path=os.path.dirname(sys.executable)) or shutil.which("granian")
    assert granian, "granian is installed but its command is not on the path"
    _tls_files(tmp_path)
    (tmp_path / "h2app.py").write_text(_H2_APP)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tls = ["--ssl-certificate", str(tmp_path / "cert.pem"), "--ssl-keyfile", str(tmp_path / "key.pem")]
    args = [granian, "--interface", "rsgi", "--port", str(port), "--http", "auto", *tls, "--log-level", "error"]
    srv = subprocess.Popen([*args, "h2app:app"], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        t_end = time.monotonic() + 20
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert srv.poll() is None and time.monotonic() < t_end, "granian did not start"
            time.sleep(0.05)
        env = {**os.environ, "SSL_CERT_FILE": str(tmp_path / "ca.pem")}  # the platform verifier reads it
        out = subprocess.run(
            [sys.executable, "-c", _H2_CLIENT, f"https://localhost:{port}/v1"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.split("\n")[:2] == ["http 2", "http 1.1"]
    finally:
        srv.terminate()
        srv.wait(10)
