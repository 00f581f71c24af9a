"""Over TLS the session cookie is also ``Secure`` (a self-signed certificate on loopback)."""

from __future__ import annotations

import datetime as dt
import ssl

import aiohttp
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from dash_harness import MASTER, dashboard_config

from faregate.config import GatewayConfig
from faregate.dashboard.session import COOKIE
from faregate.pipeline.gateway import Gateway
from faregate.server.app import create_app


def _self_signed(tmp_path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "k.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    return ctx


async def test_the_cookie_is_secure_over_tls(upstreams, tmp_path):
    gw = Gateway(GatewayConfig.model_validate(dashboard_config(upstreams, tmp_path)))
    runner = web.AppRunner(create_app(gw), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=_self_signed(tmp_path))
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        async with aiohttp.ClientSession() as s:
            async with s.post(
                f"https://127.0.0.1:{port}/dashboard/login", data={"key": MASTER}, ssl=False, allow_redirects=False
            ) as r:
                assert r.status == 303
                c = r.cookies[COOKIE]
                assert c["secure"] and c["httponly"] and c["samesite"] == "Strict"
    finally:
        await runner.cleanup()
