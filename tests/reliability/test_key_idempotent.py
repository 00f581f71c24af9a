"""A key marked ``idempotent: false`` is never hedged, whatever its requests say: a config key
and a database key (made through the admin API), beside a default key that is hedged."""

from __future__ import annotations

import time

import aiohttp

from .conftest import KEY, MASTER
from .test_hedging import MSG, _config

NON_IDEMPOTENT = "fg-test-key-non-idempotent"


async def _ask(srv, key: str) -> float:
    t0 = time.monotonic()
    r = await srv.client(api_key=key).chat.completions.create(model="primary", messages=MSG)
    assert r.choices[0].message.content
    return time.monotonic() - t0


async def test_a_non_idempotent_key_is_never_hedged(fakes, serve, tmp_path):
    openai_fake, anthropic_fake = fakes
    cfg = _config(anthropic_fake.base, f"{openai_fake.base}/v1")
    cfg["keys"] = [{"key": KEY}, {"key": NON_IDEMPOTENT, "idempotent": False}]
    cfg["database_url"] = f"sqlite:///{tmp_path / 'keys.db'}"
    srv = await serve(cfg, real_sleep=True)
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            f"{srv.url}/admin/keys",
            json={"name": "db-non-idempotent", "idempotent": False},
            headers={"authorization": f"Bearer {MASTER}"},
        ) as r,
    ):
        assert r.status == 201, await r.text()
        db_key = (await r.json())["key"]
    await anthropic_fake.script({"ttft_ms": 800})  # slow: hedged after 0.3 s for a default key
    await _ask(srv, KEY)
    assert (await srv.last_context()).hedged and len(await openai_fake.requests()) == 1
    for key in (NON_IDEMPOTENT, db_key):
        await openai_fake.reset()
        await anthropic_fake.script({"ttft_ms": 800})
        assert await _ask(srv, key) >= 0.8  # waited for the one call
        ctx = await srv.last_context()
        assert ctx.principal is not None and not ctx.principal.idempotent
        assert not ctx.hedged and await openai_fake.requests() == []
        assert [a.deployment for a in ctx.attempts] == [srv.deployment("primary").id]
