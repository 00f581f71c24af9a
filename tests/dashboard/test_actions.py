"""The dashboard's changes: revoke a key and edit limits (confirmed, CSRF-protected, admin
only) through the admin API's code, and the alert channel's send-test button."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web
from dash_harness import MASTER, VIEWER, DashClient, dashboard_config

from helpers import GATEWAY_KEY


async def _new_key(dash, **body) -> dict:
    async with aiohttp.ClientSession() as s:
        async with s.post(
            dash.url + "/admin/keys", json={"name": "team-a-bot", **body}, headers={"authorization": f"Bearer {MASTER}"}
        ) as r:
            assert r.status == 201, await r.text()
            return await r.json()


async def _chat(dash, key: str) -> int:
    async with aiohttp.ClientSession() as s:
        async with s.post(
            dash.url + "/v1/chat/completions",
            json={"model": "fake-openai", "messages": [{"role": "user", "content": "hi"}]},
            headers={"authorization": f"Bearer {key}"},
        ) as r:
            await r.read()
            return r.status


async def _key(dash, key_id: str) -> dict:
    async with aiohttp.ClientSession() as s:
        async with s.get(dash.url + f"/admin/keys/{key_id}", headers={"authorization": f"Bearer {MASTER}"}) as r:
            return await r.json()


async def test_revoke_is_confirmed_then_the_key_is_refused(dash, client):
    made = await _new_key(dash)
    assert await _chat(dash, made["key"]) == 200
    c = client()
    await c.login()
    status, page = await c.get("/dashboard/keys")
    assert status == 200 and made["id"] in page and made["key"] not in page and made["prefix"] in page
    status, text, _ = await c.post(f"/dashboard/keys/{made['id']}/revoke", {})
    assert status == 200 and "Confirm: Revoke key team-a-bot" in text and 'name="confirm" value="yes"' in text
    assert (await _key(dash, made["id"]))["active"] is True  # nothing changed before the confirmation
    status, _, headers = await c.post(f"/dashboard/keys/{made['id']}/revoke", {"confirm": "yes"})
    assert status == 303 and headers["Location"].startswith("/dashboard/keys")
    assert (await _key(dash, made["id"]))["active"] is False
    assert await _chat(dash, made["key"]) == 401
    status, text, _ = await c.post(f"/dashboard/keys/{made['id']}/revoke", {"confirm": "yes"})
    assert status == 404 and "No active key" in text


async def test_changes_without_the_csrf_token_or_from_another_site_are_refused(dash, client):
    made = await _new_key(dash)
    c = client()
    await c.login()
    await c.get("/dashboard/keys")
    path = f"/dashboard/keys/{made['id']}/revoke"
    status, text, _ = await c.post(path, {"confirm": "yes"}, csrf=False)
    assert status == 403 and "CSRF" in text
    status, text, _ = await c.post(path, {"confirm": "yes", "csrf": "0" * 32}, csrf=False)
    assert status == 403 and "CSRF" in text
    status, text, _ = await c.post(path, {"confirm": "yes"}, headers={"Origin": "https://evil.example"})
    assert status == 403 and "another site" in text
    other = client()  # another session's token is no good either
    await other.login()
    await other.get("/dashboard/keys")
    status, _, _ = await c.post(path, {"confirm": "yes", "csrf": other.csrf}, csrf=False)
    assert status == 403
    assert (await _key(dash, made["id"]))["active"] is True and await _chat(dash, made["key"]) == 200


async def test_a_viewer_sees_numbers_but_cannot_change_anything(dash, client):
    made = await _new_key(dash, limits={"rpm": 100})
    c = client()
    await c.login(VIEWER)
    status, page = await c.get("/dashboard/keys")
    assert status == 200 and made["id"] in page
    assert "Revoke" not in page and "Edit limits" not in page and "viewer" in page
    for path, data in (
        (f"/dashboard/keys/{made['id']}/revoke", {"confirm": "yes"}),
        (f"/dashboard/keys/{made['id']}/limits", {"confirm": "yes", "rpm": "1"}),
        ("/dashboard/teams/ops/limits", {"confirm": "yes", "rpm": "1"}),
        ("/dashboard/alerts/channels/any/test", {}),
    ):
        status, text, _ = await c.post(path, data)  # with the viewer session's own valid token
        assert status == 403 and "viewer" in text, path
    rec = await _key(dash, made["id"])
    assert rec["active"] is True and rec["limits"] == {"rpm": 100}


async def test_key_limits_are_validated_confirmed_and_applied(dash, client):
    made = await _new_key(dash, limits={"rpm": 100})
    c = client()
    await c.login()
    await c.get("/dashboard/keys")
    path = f"/dashboard/keys/{made['id']}/limits"
    status, text, _ = await c.post(path, {"rpm": "lots"})
    assert status == 400 and "limits.rpm" in text and "not a number" in text
    status, text, _ = await c.post(path, {"rpm": "-3"})
    assert status == 400 and "limits.rpm" in text
    status, text, _ = await c.post(path, {"rpm": "1", "budget_usd_day": "2.5"})
    assert status == 200 and "rpm" in text and "100 → 1" in text and "unset → 2.5" in text
    assert (await _key(dash, made["id"]))["limits"] == {"rpm": 100}
    status, _, _ = await c.post(path, {"rpm": "1", "budget_usd_day": "2.5", "confirm": "yes"})
    assert status == 303
    assert (await _key(dash, made["id"]))["limits"] == {"rpm": 1, "budget_usd_day": 2.5}
    assert await _chat(dash, made["key"]) == 200
    assert await _chat(dash, made["key"]) == 429  # the new rpm applies at once on this replica
    status, page = await c.get("/dashboard/keys")
    assert 'class="bar red"' in page  # 1 of 1 requests this minute: the bar is red


async def test_team_limits_through_the_admin_api(dash, client):
    c = client()
    await c.login()
    await c.get("/dashboard/keys")
    status, _, _ = await c.post("/dashboard/teams/ops/limits", {"rpm": "7", "confirm": "yes"})
    assert status == 303
    async with aiohttp.ClientSession() as s:
        async with s.get(dash.url + "/admin/teams/ops", headers={"authorization": f"Bearer {MASTER}"}) as r:
            assert (await r.json())["limits"] == {"rpm": 7}
    status, page = await c.get("/dashboard/keys")
    assert "ops" in page


async def test_alerts_page_hides_secrets_and_sends_a_test(start_server, upstreams, tmp_path, client):
    got: list[bytes] = []

    async def hook(request: web.Request) -> web.Response:
        got.append(await request.read())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/{tail:.*}", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    secret, path_token = "whsec-dashboard-secret-0001", "T0KEN-IN-THE-PATH"
    channel = {"id": "ops-hook", "type": "webhook", "url": f"http://127.0.0.1:{port}/{path_token}", "secret": secret}
    alerts = {"enabled": True, "interval_s": 3600, "channels": [channel], "rules": []}
    srv = start_server(dashboard_config(upstreams, tmp_path, alerts=alerts))
    try:
        c = DashClient(srv.url)
        await c.login()
        status, page = await c.get("/dashboard/alerts")
        assert status == 200 and "ops-hook" in page and "Send test" in page
        assert secret not in page and path_token not in page
        status, _, headers = await c.post("/dashboard/alerts/channels/ops-hook/test", {})
        assert status == 303 and "outcome=sent" in headers["Location"]
        for _ in range(50):
            if got:
                break
            await asyncio.sleep(0.05)
        assert got and b"test message to channel ops-hook" in got[0]
        status, page = await c.get("/dashboard/alerts")
        assert "test message to channel ops-hook" in page  # the history
        await c.close()
    finally:
        await runner.cleanup()


async def test_gateway_key_cannot_use_the_admin_forms(dash, client):
    async with aiohttp.ClientSession() as s:
        async with s.post(
            dash.url + "/dashboard/keys/x/revoke",
            data={"confirm": "yes"},
            headers={"authorization": f"Bearer {GATEWAY_KEY}"},
            allow_redirects=False,
        ) as r:
            assert r.status == 401
