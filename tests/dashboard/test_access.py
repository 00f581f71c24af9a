"""Who opens the dashboard: off by default, the login form and its cookie, sessions that end,
gateway keys refused, every page behind a session."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from dash_harness import MASTER, VIEWER, DashClient, dashboard_config

from faregate.config import GatewayConfig
from faregate.dashboard.session import COOKIE, Sessions
from helpers import GATEWAY_KEY, fake_config

PAGES = [
    "/dashboard",
    "/dashboard/models",
    "/dashboard/requests",
    "/dashboard/requests/req_unknown",
    "/dashboard/keys",
    "/dashboard/alerts",
    "/dashboard/recommendations",
    "/dashboard/experiments",
]
ACTIONS = [
    "/dashboard/keys/k1/revoke",
    "/dashboard/keys/k1/limits",
    "/dashboard/teams/t1/limits",
    "/dashboard/alerts/channels/c1/test",
]


async def test_off_unless_enabled(start_server, upstreams):
    srv = start_server(fake_config(upstreams, master_key=MASTER))
    async with aiohttp.ClientSession() as s:
        for path in ("/dashboard", "/dashboard/login"):
            async with s.get(srv.url + path) as r:
                assert r.status == 404, path
                assert "No route" in (await r.json())["error"]["message"]


async def test_every_page_needs_a_session(dash, client):
    c: DashClient = client()
    for path in PAGES:
        status, _ = await c.get(path + "?period=1d")
        assert status == 303, path
    async with c.s.get(dash.url + "/dashboard/models?period=1d", allow_redirects=False) as r:
        loc = urlsplit(r.headers["Location"])
        assert loc.path == "/dashboard/login" and parse_qs(loc.query)["next"] == ["/dashboard/models?period=1d"]
    for path in ACTIONS:
        status, text, _ = await c.post(path, {"confirm": "yes"}, csrf=False)
        assert status == 401 and "Log in first" in text, path


async def test_login_sets_a_strict_httponly_expiring_cookie(dash, client):
    c = client()
    r = await c.login()
    assert r.status == 303 and r.headers["Location"] == "/dashboard"
    cookie = r.cookies[COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/dashboard"
    assert int(cookie["max-age"]) == 8 * 3600
    assert not cookie["secure"]  # plain http here; request.secure (TLS) sets it
    assert MASTER not in cookie.value
    for path in PAGES[:3] + PAGES[4:]:
        status, text = await c.get(path)
        assert status == 200, (path, text[:300])
        assert MASTER not in text and VIEWER not in text
    status, text = await c.get("/dashboard/requests/req_unknown")
    assert status == 404 and "No request with id" in text


async def test_gateway_keys_and_wrong_keys_never_log_in(dash, client):
    for key in (GATEWAY_KEY, "nope", MASTER + "x", ""):
        c = client()
        r = await c.login(key)
        assert r.status in (400, 401) and COOKIE not in r.cookies, key
        status, _ = await c.get("/dashboard")
        assert status == 303


async def test_login_from_another_origin_is_refused(dash, client):
    c = client()
    async with c.s.post(
        dash.url + "/dashboard/login", data={"key": MASTER}, headers={"Origin": "https://evil.example"}
    ) as r:
        assert r.status == 403 and COOKIE not in r.cookies
    async with c.s.post(
        dash.url + "/dashboard/login", data={"key": MASTER}, headers={"Origin": dash.url}, allow_redirects=False
    ) as r:
        assert r.status == 303 and COOKIE in r.cookies


async def test_login_goes_back_only_to_a_dashboard_path(dash, client):
    for nxt, want in (
        ("/dashboard/keys", "/dashboard/keys"),
        ("https://evil.example/", "/dashboard"),
        ("//evil.example", "/dashboard"),
    ):
        c = client()
        r = await c.s.post(dash.url + "/dashboard/login", data={"key": MASTER, "next": nxt}, allow_redirects=False)
        assert r.headers["Location"] == want, nxt


async def test_logout_ends_the_session_even_for_a_copied_cookie(dash, client):
    c = client()
    await c.login()
    status, _ = await c.get("/dashboard/keys")
    copied = c.cookie()
    status, _, headers = await c.post("/dashboard/logout", {})
    assert status == 303 and headers["Location"] == "/dashboard/login"
    assert (await c.get("/dashboard"))[0] == 303
    async with aiohttp.ClientSession() as s:
        async with s.get(dash.url + "/dashboard", headers={"Cookie": f"{COOKIE}={copied}"}, allow_redirects=False) as r:
            assert r.status == 303


async def test_a_tampered_cookie_is_no_session(dash, client):
    c = client()
    await c.login()
    value = c.cookie()
    forged = value.replace(".admin.", ".viewer.") if ".admin." in value else value + "0"
    async with aiohttp.ClientSession() as s:
        # The last hex digit of the signature changed (to one it is not: "00" was once the real end).
        resigned = value[:-1] + ("1" if value.endswith("0") else "0")
        for v in (forged, resigned, "v1.admin.9999999999.x.y.z"):
            async with s.get(dash.url + "/dashboard", headers={"Cookie": f"{COOKIE}={v}"}, allow_redirects=False) as r:
                assert r.status == 303, v


def test_sessions_expire_and_end_with_the_credential(upstreams, tmp_path):
    cfg = GatewayConfig.model_validate(dashboard_config(upstreams, tmp_path))
    sessions = Sessions()
    admin = sessions.issue(cfg, *Sessions.role_of(cfg, MASTER))
    viewer = sessions.issue(cfg, *Sessions.role_of(cfg, VIEWER))
    assert sessions.verify(cfg, admin).admin and not sessions.verify(cfg, viewer).admin
    later = time.time() + cfg.dashboard.session_ttl_s + 1
    assert sessions.verify(cfg, admin, now=later) is None
    rotated = cfg.model_copy(update={"master_key": MASTER + "-new"})
    assert sessions.verify(rotated, admin) is None and sessions.verify(rotated, viewer) is None
    no_viewers = cfg.model_copy(update={"dashboard": cfg.dashboard.model_copy(update={"viewer_keys": []})})
    assert sessions.verify(no_viewers, viewer) is None and sessions.verify(no_viewers, admin) is not None
    assert Sessions.role_of(cfg, GATEWAY_KEY) is None


def test_viewer_keys_must_be_long():
    with pytest.raises(ValueError, match="at least 16 characters"):
        GatewayConfig.model_validate({"dashboard": {"viewer_keys": ["short"]}})


async def test_pages_send_a_strict_content_security_policy(dash, client):
    c = client()
    await c.login()
    async with c.s.get(dash.url + "/dashboard") as r:
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert r.headers["Cache-Control"] == "no-store" and r.headers["X-Frame-Options"] == "DENY"
    async with c.s.get(dash.url + "/dashboard/static/uPlot.iife.min.js") as r:
        assert r.status == 200 and "uPlot" in await r.text()


async def test_logout_on_one_replica_ends_the_session_on_every_replica(start_server, upstreams, tmp_path):
    config = dashboard_config(upstreams, tmp_path)  # one database, two gateways
    a, b = start_server(config), start_server(config)
    c = DashClient(a.url)
    try:
        await c.login()
        assert (await c.get("/dashboard/keys"))[0] == 200
        cookie = {"Cookie": f"{COOKIE}={c.cookie()}"}
        async with aiohttp.ClientSession() as s:
            async with s.get(b.url + "/dashboard", headers=cookie, allow_redirects=False) as r:
                assert r.status == 200  # the same cookie is a session on B
            assert (await c.post("/dashboard/logout", {}))[0] == 303
            deadline = time.monotonic() + Sessions.SYNC_S + 10  # B re-reads the logouts SYNC_S apart
            status = 200
            while status == 200 and time.monotonic() < deadline:
                async with s.get(b.url + "/dashboard", headers=cookie, allow_redirects=False) as r:
                    status = r.status
                await asyncio.sleep(0.1)
            assert status == 303
    finally:
        await c.close()
