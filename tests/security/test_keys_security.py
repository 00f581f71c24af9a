"""Security: hostile keys get a fixed 401, a canary key never leaks, the admin API refuses
escalation, and every route but the listed public ones needs a key."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3

import orjson
import pytest

from faregate.core.errors import AuthenticationFailed
from faregate.pipeline.auth_step import INCORRECT, MISSING
from keys_harness import CONFIG_KEY, MASTER, new_key, start_app

HOSTILE = [
    "' OR '1'='1",
    "fg-x'; DROP TABLE fg_keys; --",
    'fg-" UNION SELECT key_hash FROM fg_keys --',
    "fg-abc\x00def",
    "fg-secret-part\x00",
    "\x00",
    "fg-" + "A" * (1024 * 1024),
    "fg-ключ-🔑-鍵",
    "fg-%00%27",
    "${jndi:ldap://x}",
]


async def test_hostile_keys_get_the_same_401_at_the_auth_step(make_app):
    app = await make_app()
    await new_key(app)  # the gateway is keyed
    for raw in HOSTILE:
        with pytest.raises(AuthenticationFailed) as ei:
            await app.auth.authenticate(raw)
        assert ei.value.message == INCORRECT and ei.value.status == 401
    with pytest.raises(AuthenticationFailed) as ei:
        await app.auth.authenticate("")
    assert ei.value.message == MISSING


async def test_hostile_keys_over_http_are_refused_with_nothing_echoed(make_app, caplog):
    caplog.set_level(logging.DEBUG)
    app = await make_app()
    await new_key(app)
    host, port = app.url.removeprefix("http://").split(":")
    for raw in HOSTILE:
        value = raw.encode("utf-8", "surrogatepass")
        req = (
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + value + b"\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
        )
        reader, writer = await asyncio.open_connection(host, int(port))
        resp = b""
        try:
            writer.write(req)
            await writer.drain()
        except ConnectionError:
            pass  # refused while we were still sending the 1 MB header
        try:
            resp = await reader.read()
        except ConnectionError:
            pass
        writer.close()
        if not resp:
            continue  # the connection was reset: nothing came back at all
        status = int(resp.split(b" ", 2)[1])
        # Keys a header can carry reach auth: 401. A 1 MB header or a NUL byte is refused by the
        # HTTP parser before any handler (400/431); either way nothing of the key comes back.
        assert status == 401 or (status in (400, 431) and (len(raw) > 8000 or "\x00" in raw)), (raw[:40], resp[:200])
        if status == 401:
            assert orjson.loads(resp.split(b"\r\n\r\n", 1)[1])["error"]["message"] == INCORRECT
        for piece in {raw[:64], raw[3:40], raw[-20:]} - {""}:
            if len(piece) >= 4:
                assert piece.encode("utf-8", "surrogatepass") not in resp, (raw[:40], resp[:300])
    logs = "\n".join(r.getMessage() + str(r.exc_text or "") + str(r.exc_info or "") for r in caplog.records)
    assert "secret-part" not in logs and "DROP TABLE" not in logs and "AAAAAAAAAAAAAAAA" not in logs


async def test_a_canary_key_never_leaks(make_app, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    app = await make_app(overrides={"limits": {"models": {"m2": {"rpm": 1}}}})
    canary, kid = await new_key(app, models=["m1", "m2"])
    seen: list[bytes] = []
    for model in ("m1", "m2", "m2", "nope"):
        status, headers, body = await app.chat(canary, model=model)
        seen += [body, orjson.dumps(headers)]
    status, headers, body = await app.chat(canary[:-2] + "zz")  # a near miss
    assert status == 401
    seen += [body, orjson.dumps(headers)]
    for path in ("/admin/keys", f"/admin/keys/{kid}", f"/admin/usage?key={kid}"):
        seen.append((await app.admin("GET", path))[1])
    # Logs (every logger, every level, with tracebacks), bodies, headers, database rows.
    logs = "\n".join(r.getMessage() + str(r.args) + str(r.exc_text or "") for r in caplog.records)
    assert canary not in logs and canary[3:] not in logs
    for blob in seen:
        assert canary.encode() not in blob and canary[3:].encode() not in blob
    db = sqlite3.connect(tmp_path / "keys.db")
    dump = "\n".join(db.iterdump())
    db.close()
    assert canary not in dump and canary[3:] not in dump
    from faregate.keys.secret import hash_key

    assert hash_key(canary) in dump  # only its hash is stored
    assert repr(app.auth.resolver.__dict__).find(canary) == -1


ADMIN_CALLS = [
    ("GET", "/admin/keys"),
    ("POST", "/admin/keys"),
    ("GET", "/admin/keys/{id}"),
    ("PATCH", "/admin/keys/{id}"),
    ("POST", "/admin/keys/{id}/revoke"),
    ("POST", "/admin/keys/{id}/rotate"),
    ("GET", "/admin/teams"),
    ("PUT", "/admin/teams/t"),
    ("GET", "/admin/limits"),
    ("GET", "/admin/usage?key={id}"),
    ("POST", "/admin/resets"),
]


async def test_admin_api_takes_only_the_master_key(make_app):
    app = await make_app()
    key, kid = await new_key(app, limits={"rpm": 1})
    for method, path in ADMIN_CALLS:
        p = path.format(id=kid)
        body = {"json": {"name": "evil", "limits": {"rpm": 10**9}}} if method in ("POST", "PATCH", "PUT") else {}
        for bearer in (key, None, "", MASTER[:-1], MASTER + "x", MASTER.upper(), "fg-" + "0" * 43):
            status, out = await app.admin(method, p, key=bearer, **body)
            assert status == 401, (method, p, bearer and bearer[:8], out[:200])
            assert key.encode() not in out
    st, out = await app.admin("GET", f"/admin/keys/{kid}")
    assert orjson.loads(out)["limits"] == {"rpm": 1} and orjson.loads(out)["active"]


async def test_no_master_key_configured_means_no_admin_api(make_app):
    app = await make_app(overrides={"master_key": None})
    for bearer in (None, "", MASTER, "anything"):
        assert (await app.admin("GET", "/admin/keys", key=bearer))[0] == 401


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "is_admin": True},
        {"name": "x", "role": "admin"},
        {"name": "x", "id": "key_0000"},
        {"name": "x", "key_hash": "0" * 64},
        {"name": "x", "key": "fg-chosen-by-caller"},
        {"name": "x", "revoked_at": None},
        {"name": "x", "limits": {"rpm": 5, "is_admin": True}},
        {"name": "x", "limits": {"rpm": -1}},
        {"name": "x", "models": "not-a-list-of-names" * 50},
        {"name": "x", "__proto__": {"is_admin": True}},
    ],
)
async def test_mass_assignment_refused_on_create(make_app, body):
    app = await make_app()
    status, out = await app.admin("POST", "/admin/keys", json=body)
    assert status == 400, out
    st, listing = await app.admin("GET", "/admin/keys")
    assert orjson.loads(listing)["data"] == []


@pytest.mark.parametrize(
    "body",
    [
        {"is_admin": True},
        {"role": "admin"},
        {"key_hash": "0" * 64},
        {"id": "other"},
        {"revoked_at": None},
        {"created_at": 0},
        {"limits": {"unlimited": True}},
        {"limits": "rpm=999"},
    ],
)
async def test_mass_assignment_refused_on_update(make_app, body):
    app = await make_app()
    key, kid = await new_key(app, limits={"rpm": 1})
    status, out = await app.admin("PATCH", f"/admin/keys/{kid}", json=body)
    assert status == 400, out
    st, out = await app.admin("GET", f"/admin/keys/{kid}")
    assert orjson.loads(out)["limits"] == {"rpm": 1}


async def test_a_key_cannot_raise_its_own_limits_through_the_data_plane(make_app):
    app = await make_app()
    key, kid = await new_key(app, limits={"rpm": 1}, models=["m1"])
    tricks = {"faregate": {"limits": {"rpm": 1000}}, "metadata": {"role": "admin", "is_admin": True}, "user": "admin"}
    assert (await app.chat(key, **tricks))[0] in (200, 400)
    assert (await app.chat(key, **tricks))[0] in (429, 400)
    for hdr in ({"x-faregate-role": "admin"}, {"x-api-key": MASTER}):
        async with app.s.post(
            f"{app.url}/v1/chat/completions",
            headers={"authorization": f"Bearer {key}", **hdr},
            json={"model": "m2", "messages": [{"role": "user", "content": "hi"}]},
        ) as r:
            assert r.status in (403, 429)
    st, out = await app.admin("GET", f"/admin/keys/{kid}")
    d = orjson.loads(out)
    assert d["limits"] == {"rpm": 1} and d["models"] == ["m1"]


# The only routes reachable without a key. Anything else new must need one (or be added here,
# with a reason).
# Liveness and readiness probes, the Prometheus scrape (metrics.require_master_key closes it) and
# the API description are public by design: none carries data.
ALLOWED_PUBLIC = {"/health", "/health/live", "/health/ready", "/metrics", "/openapi.json"}


async def test_route_inventory_every_route_needs_a_key(tmp_path):
    app, runner, web_app = await start_app(
        tmp_path, all_routes=True, overrides={"keys": [{"key": CONFIG_KEY, "name": "cfg"}]}
    )
    try:
        routes = []
        for route in web_app.router.routes():
            info = route.resource.get_info() if route.resource is not None else {}
            path = info.get("path") or info.get("formatter") or info.get("prefix")
            if path is None:
                continue
            routes.append((route.method, path))
        assert ("POST", "/v1/chat/completions") in routes and ("GET", "/admin/keys") in routes
        checked = 0
        for method, path in routes:
            if path in ALLOWED_PUBLIC or method == "*":
                continue
            concrete = re.sub(r"\{[^}]+\}", "x", path)
            for bearer in (None, "fg-wrong-key-000000000000000000000000000000"):
                headers = {"authorization": f"Bearer {bearer}"} if bearer else {}
                async with app.s.request(method, app.url + concrete, headers=headers, json={}) as r:
                    assert r.status == 401, (method, path, bearer, r.status, await r.text())
            checked += 1
            if path.startswith("/admin") or "health/" in path:
                # A valid gateway key is no admin credential.
                async with app.s.request(
                    method, app.url + concrete, json={}, headers={"authorization": f"Bearer {CONFIG_KEY}"}
                ) as r:
                    assert r.status == 401, (method, path, "gateway key", r.status)
        assert checked >= 15
    finally:
        await app.s.close()
        await runner.cleanup()
