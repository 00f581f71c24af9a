"""Keys and limits through a real server: 429s the OpenAI way, headers on success, reconcile,
the budget race, revocation, the allow-list."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from faregate.core.usage import Usage
from keys_harness import StubUpstream, new_key


async def test_rpm_429_the_openai_way(make_app):
    app = await make_app()
    key, kid = await new_key(app, limits={"rpm": 3, "tpm": 100_000})
    ok = [await app.chat(key) for _ in range(3)]
    assert [s for s, _, _ in ok] == [200, 200, 200]
    h = ok[0][1]
    assert h["x-ratelimit-limit-requests"] == "3" and h["x-ratelimit-remaining-requests"] == "2"
    assert h["x-ratelimit-reset-requests"].endswith("s")
    assert h["x-ratelimit-limit-tokens"] == "100000" and int(h["x-ratelimit-remaining-tokens"]) < 100000
    status, headers, body = await app.chat(key)
    assert status == 429
    assert 1 <= int(headers["retry-after"]) <= 60
    assert headers["x-ratelimit-remaining-requests"] == "0"
    err = orjson.loads(body)["error"]
    assert err["type"] == "rate_limit_error" and err["code"] == "rate_limit_exceeded"
    assert "requests per minute" in err["message"] and "key 't'" in err["message"]
    assert key not in body.decode()


async def test_team_limit_applies_to_every_key_of_the_team(make_app):
    app = await make_app()
    assert (await app.admin("PUT", "/admin/teams/red", json={"limits": {"rpm": 2}}))[0] == 200
    k1, _ = await new_key(app, team="red")
    k2, _ = await new_key(app, team="red")
    assert (await app.chat(k1))[0] == 200 and (await app.chat(k2))[0] == 200
    status, _, body = await app.chat(k1)
    assert status == 429 and b"team 'red'" in body


async def test_model_limit_from_config(make_app):
    app = await make_app(overrides={"limits": {"models": {"m2": {"rpm": 1}}}})
    key, _ = await new_key(app)
    assert (await app.chat(key, model="m2"))[0] == 200
    status, _, body = await app.chat(key, model="m2")
    assert status == 429 and b"model 'm2'" in body
    assert (await app.chat(key, model="m1"))[0] == 200


async def test_tokens_reserved_then_reconciled_to_actual_usage(make_app):
    app = await make_app(upstream=StubUpstream(usage=Usage(10, 5)))
    key, kid = await new_key(app, limits={"tpm": 2000})
    status, h, _ = await app.chat(key, max_tokens=1500)
    assert status == 200
    # Reserved ~1500+: a second identical request would not fit if nothing were refunded.
    status, _, _ = await app.chat(key, max_tokens=1500)
    assert status == 200
    st, body = await app.admin("GET", f"/admin/usage?key={kid}")
    tpm = next(c for c in orjson.loads(body)["counters"] if c["limit"] == "tpm")
    assert tpm["used"] == 30  # two answers of 15 tokens, the estimates refunded


async def test_budget_race_overshoots_by_at_most_one_reservation(make_app):
    # Each answer costs $0.01 but is estimated, from max_tokens, at ~$0.0021 + prompt: the
    # budget of $0.05 admits at most what fits; overshoot is bounded by one answer's excess.
    cost = 0.002
    app = await make_app(upstream=StubUpstream(usage=Usage(10, 990), cost_usd=cost, delay=0.05))
    key, kid = await new_key(app, limits={"budget_usd_day": 0.02})
    results = await asyncio.gather(*(app.chat(key, max_tokens=1000) for _ in range(64)))
    admitted = sum(1 for s, _, _ in results if s == 200)
    refused = [b for s, _, b in results if s == 429]
    assert admitted + len(refused) == 64 and refused
    assert b"daily budget" in refused[0]
    est_cost = app.limits.estimate(app.gw.context(_req("m1", 1000)))[1] / 1e9
    spent = admitted * cost
    assert admitted == int(0.02 // est_cost)
    assert spent <= 0.02 + est_cost, (admitted, spent)
    st, body = await app.admin("GET", f"/admin/usage?key={kid}")
    day = next(c for c in orjson.loads(body)["counters"] if c["limit"] == "budget_usd_day")
    assert day["used"] == pytest.approx(spent, abs=1e-6)


def _req(model, max_tokens):
    from faregate.wire.openai_front import parse_chat_request

    return parse_chat_request(
        {"model": model, "max_tokens": max_tokens, "messages": [{"role": "user", "content": "hi"}]}
    )


async def test_soft_budget_alerts_but_serves(make_app):
    app = await make_app(upstream=StubUpstream(cost_usd=0.01))
    key, _ = await new_key(app, limits={"budget_usd_day": 0.015, "budget_soft": True})
    results = [await app.chat(key, max_tokens=10) for _ in range(3)]
    assert all(s == 200 for s, _, _ in results)
    assert "x-faregate-budget-warning" in results[2][1]
    assert app.gw.services.limit_stats.soft_alerts >= 1


async def test_concurrency_limit(make_app):
    app = await make_app(upstream=StubUpstream(delay=0.3))
    key, _ = await new_key(app, limits={"max_concurrent": 2})
    results = await asyncio.gather(*(app.chat(key) for _ in range(5)))
    assert sorted(s for s, _, _ in results) == [200, 200, 429, 429, 429]
    assert (await app.chat(key))[0] == 200  # released when they finished


async def test_allow_list_403_names_the_model_not_the_key(make_app):
    app = await make_app()
    key, _ = await new_key(app, models=["m1"])
    assert (await app.chat(key, model="m1"))[0] == 200
    status, _, body = await app.chat(key, model="m2")
    assert status == 403 and b"'m2'" in body and key.encode() not in body


async def test_team_allow_list_intersects_the_keys(make_app):
    app = await make_app()
    await app.admin("PUT", "/admin/teams/blue", json={"models": ["m2"]})
    key, _ = await new_key(app, team="blue", models=["m1", "m2"])
    assert (await app.chat(key, model="m1"))[0] == 403
    assert (await app.chat(key, model="m2"))[0] == 200


async def test_revoke_and_rotate_and_expiry(make_app):
    app = await make_app()
    key, kid = await new_key(app)
    assert (await app.chat(key))[0] == 200
    st, body = await app.admin("POST", f"/admin/keys/{kid}/rotate")
    new = orjson.loads(body)["key"]
    assert st == 200 and new.startswith("fg-") and new != key
    assert (await app.chat(key))[0] == 401
    assert (await app.chat(new))[0] == 200
    assert (await app.admin("POST", f"/admin/keys/{kid}/revoke"))[0] == 200
    assert (await app.chat(new))[0] == 401
    short, _ = await new_key(app, expires_in_s=0.3)
    assert (await app.chat(short))[0] == 200
    await asyncio.sleep(0.4)
    app.auth.resolver.invalidate()
    assert (await app.chat(short))[0] == 401


async def test_revoked_elsewhere_stops_within_the_ttl(make_app, tmp_path):
    """Two replicas on one database: a revoke on one reaches the other within the cache TTL."""
    a = await make_app(overrides={"limits": {"key_cache_ttl_s": 0.5}})
    b = await make_app(overrides={"limits": {"key_cache_ttl_s": 0.5}})
    key, kid = await new_key(a)
    assert (await b.chat(key))[0] == 200
    assert (await a.admin("POST", f"/admin/keys/{kid}/revoke"))[0] == 200
    assert (await a.chat(key))[0] == 401  # at once where revoked
    await asyncio.sleep(0.6)
    assert (await b.chat(key))[0] == 401


async def test_config_keys_with_limits(make_app):
    from keys_harness import CONFIG_KEY

    app = await make_app(
        overrides={"keys": [{"key": CONFIG_KEY, "name": "cfg", "models": ["m1"], "limits": {"rpm": 1}}]}
    )
    assert (await app.chat(CONFIG_KEY))[0] == 200
    assert (await app.chat(CONFIG_KEY))[0] == 429
    assert (await app.chat(CONFIG_KEY, model="m2"))[0] == 403
    kid = next(iter(app.auth.resolver._config.values())).key_id
    st, body = await app.admin("GET", f"/admin/usage?key={kid}")
    assert st == 200 and orjson.loads(body)["counters"][0]["used"] == 1
    st, body = await app.admin("GET", "/admin/limits")
    assert orjson.loads(body)["refused"] == 1


async def test_a_stream_reconciles_when_it_ends(make_app):
    from faregate.core.types import Finish, TextDelta, UsageEvent
    from faregate.pipeline.context import Reply

    class StreamingStub(StubUpstream):
        async def __call__(self, ctx):
            async def events():
                yield TextDelta("hel")
                yield TextDelta("lo")
                ctx.usage = Usage(10, 20)
                ctx.cost_usd = 0.00005
                yield UsageEvent(Usage(10, 20))
                yield Finish("stop")

            return Reply(events=events())

    app = await make_app(upstream=StreamingStub())
    key, kid = await new_key(app, limits={"tpm": 100_000, "budget_usd_day": 1.0})
    async with app.s.post(
        f"{app.url}/v1/chat/completions",
        headers={"authorization": f"Bearer {key}"},
        json={"model": "m1", "stream": True, "max_tokens": 4000, "messages": [{"role": "user", "content": "hi"}]},
    ) as r:
        assert r.status == 200 and r.headers["x-ratelimit-limit-tokens"] == "100000"
        await r.read()
    await asyncio.sleep(0.05)
    st, body = await app.admin("GET", f"/admin/usage?key={kid}")
    counters = {c["limit"]: c["used"] for c in orjson.loads(body)["counters"]}
    assert counters["tpm"] == 30 and counters["budget_usd_day"] == pytest.approx(0.00005, abs=1e-9)


async def test_the_admin_api_marks_a_key_non_idempotent(make_app):
    app = await make_app()
    raw, key_id = await new_key(app, idempotent=False)
    status, data = await app.admin("GET", f"/admin/keys/{key_id}")
    assert status == 200 and orjson.loads(data)["idempotent"] is False
    assert (await app.auth.authenticate(raw)).idempotent is False
    status, data = await app.admin("PATCH", f"/admin/keys/{key_id}", json={"idempotent": True})
    assert status == 200 and orjson.loads(data)["idempotent"] is True
    assert (await app.auth.authenticate(raw)).idempotent is True
    status, data = await app.admin("POST", "/admin/keys", json={"name": "x", "idempotent": "no"})
    err = orjson.loads(data)["error"]
    assert status == 400 and err["param"] == "idempotent" and "true or false" in err["message"]
    raw_default, _ = await new_key(app)
    assert (await app.auth.authenticate(raw_default)).idempotent is True


async def test_the_admin_api_sets_mode_and_guardrails_on_a_database_key(make_app):
    app = await make_app(overrides={"guardrails": [{"name": "pii", "type": "pii"}]})
    raw, key_id = await new_key(app, mode="quality", guardrails=["pii"])
    status, data = await app.admin("GET", f"/admin/keys/{key_id}")
    d = orjson.loads(data)
    assert status == 200 and (d["mode"], d["guardrails"]) == ("quality", ["pii"])
    p = await app.auth.authenticate(raw)
    assert (p.mode, p.guardrails) == ("quality", ("pii",))
    status, data = await app.admin("PATCH", f"/admin/keys/{key_id}", json={"mode": None, "guardrails": None})
    assert status == 200 and orjson.loads(data)["mode"] is None
    status, data = await app.admin("POST", "/admin/keys", json={"name": "x", "mode": "fastest"})
    err = orjson.loads(data)["error"]
    assert status == 400 and err["param"] == "mode" and "cost" in err["message"]
    status, data = await app.admin("POST", "/admin/keys", json={"name": "x", "guardrails": ["nope"]})
    err = orjson.loads(data)["error"]
    assert status == 409 and err["param"] == "guardrails" and "nope" in err["message"] and "pii" in err["message"]
