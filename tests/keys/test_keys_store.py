"""The key store on sqlite and real PostgreSQL (skipped when unreachable unless
FAREGATE_REQUIRE_SERVICES=1), and the TTL-cached resolver."""

from __future__ import annotations

import asyncio
import secrets
import time

import pytest

from faregate.config import load_config
from faregate.keys import KeyResolver, KeyStore, hash_key
from faregate.keys.commands import parse_expires
from keys_harness import PG_URL, need_service


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request, tmp_path):
    if request.param == "postgres":
        need_service("PostgreSQL", "127.0.0.1", 5432)
        url = PG_URL
    else:
        url = f"sqlite:///{tmp_path / 'k.db'}"
    s = await KeyStore(url).open()
    made: list[str] = []
    s.made = made  # type: ignore[attr-defined]
    yield s
    for kid in made:  # PostgreSQL is shared: remove only what this test made
        await s.db.execute("DELETE FROM fg_keys WHERE id = $1", kid)
    await s.db.execute("DELETE FROM fg_teams WHERE name LIKE $1", "t-test-%")
    await s.close()


async def _create(store, **kw):
    raw, rec = await store.create_key(kw.pop("name", "n"), **kw)
    store.made.append(rec.id)
    return raw, rec


async def test_keys_are_high_entropy_and_stored_only_as_hashes(store):
    raw, rec = await _create(store, models="m1, m2", limits={"rpm": 5, "budget_usd_day": 1.5})
    assert raw.startswith("fg-") and len(raw) >= 40 and rec.prefix == raw[:7]
    assert rec.models == ["m1", "m2"] and rec.limits == {"rpm": 5, "budget_usd_day": 1.5}
    rows = await store.db.fetch("SELECT * FROM fg_keys WHERE id = $1", rec.id)
    assert raw not in repr(rows) and rows[0]["key_hash"] == hash_key(raw)
    assert "key_hash" not in rec.public()
    raws = {(await _create(store))[0] for _ in range(20)}
    assert len(raws) == 20


async def test_revoke_rotate_update_and_teams(store):
    team = f"t-test-{secrets.token_hex(3)}"
    await store.upsert_team(team, models=["m1"], limits={"rpm": 100})
    raw, rec = await _create(store, team=team, limits={"rpm": 5})
    found = await store.by_hash(hash_key(raw))
    assert found and found[0].id == rec.id and found[1].limits == {"rpm": 100}
    upd = await store.update_key(rec.id, limits={"tpm": 1000, "rpm": None})
    assert upd.limits == {"tpm": 1000}
    with pytest.raises(ValueError):
        await store.update_key(rec.id, limits={"is_admin": True})
    new_raw, rotated = await store.rotate_key(rec.id)
    assert rotated.id == rec.id and rotated.limits == {"tpm": 1000}
    assert await store.by_hash(hash_key(raw)) is None
    assert await store.find_key(rotated.prefix) is not None
    assert await store.revoke_key(rec.id) and not await store.revoke_key(rec.id)
    assert await store.rotate_key(rec.id) is None  # a revoked key cannot be brought back


async def test_resolver_caches_for_the_ttl_then_sees_revocation(store):
    raw, rec = await _create(store, models=["m1"])
    r = KeyResolver(load_config(env={}), store, ttl_s=0.3)
    assert (await r.resolve(raw)).key_id == rec.id
    await store.revoke_key(rec.id)
    assert (await r.resolve(raw)) is not None  # cached
    await asyncio.sleep(0.35)
    assert await r.resolve(raw) is None


async def test_resolver_collapses_concurrent_lookups(store):
    raw, rec = await _create(store)
    r = KeyResolver(load_config(env={}), store, ttl_s=5)
    calls = 0
    orig = store.by_hash

    async def counting(d):
        nonlocal calls
        calls += 1
        return await orig(d)

    store.by_hash = counting
    out = await asyncio.gather(*(r.resolve(raw) for _ in range(50)))
    assert all(o and o.key_id == rec.id for o in out) and calls == 1


def test_parse_expires():
    now = 1_000_000.0
    assert parse_expires("30d", now) == now + 30 * 86400
    assert parse_expires("12h", now) == now + 12 * 3600
    assert parse_expires("2030-01-01", now) == 1893456000.0
    assert parse_expires(None) is None


def test_cli_create_prints_the_key_last(tmp_path):
    from click.testing import CliRunner

    from faregate.keys.commands import keys_group

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    r = CliRunner().invoke(
        keys_group,
        [
            "create",
            "--name",
            "ci",
            "--team",
            "a",
            "--models",
            "m1,m2",
            "--rpm",
            "5",
            "--tpm",
            "1000",
            "--budget-usd-day",
            "2",
            "--budget-usd-month",
            "20",
            "--expires",
            "30d",
            "--database-url",
            url,
        ],
    )
    assert r.exit_code == 0, r.output
    key = r.stdout.strip().splitlines()[-1]
    assert key.startswith("fg-") and len(key) > 40
    r = CliRunner().invoke(keys_group, ["list", "--json", "--database-url", url])
    assert key not in r.output and '"rpm":5' in r.output and '"budget_usd_month":20.0' in r.output
    kid = r.output.split('"id":"')[1].split('"')[0]
    r = CliRunner().invoke(keys_group, ["rotate", kid, "--database-url", url])
    new = r.stdout.strip().splitlines()[-1]
    assert r.exit_code == 0 and new.startswith("fg-") and new != key
    assert CliRunner().invoke(keys_group, ["revoke", kid, "--database-url", url]).exit_code == 0
    assert "revoked" in CliRunner().invoke(keys_group, ["list", "--database-url", url]).output
    _ = time


async def test_a_key_marked_non_idempotent_keeps_the_mark_through_store_and_resolver(store):
    raw_default, default = await _create(store)
    raw, rec = await _create(store, idempotent=False)
    assert default.idempotent and default.public()["idempotent"] is True
    assert not rec.idempotent and rec.public()["idempotent"] is False
    found = await store.by_hash(hash_key(raw))
    assert found and found[0].idempotent is False
    resolver = KeyResolver(load_config(env={}, overrides={}), store, ttl_s=0)
    assert (await resolver.resolve(raw)).idempotent is False
    assert (await resolver.resolve(raw_default)).idempotent is True
    upd = await store.update_key(rec.id, idempotent=True)
    assert upd.idempotent and (await store.get_key(rec.id)).idempotent
    assert (await store.update_key(rec.id, name="renamed")).idempotent  # left as is when not given
    assert (await resolver.resolve(raw)).idempotent is True


def test_cli_marks_a_key_non_idempotent_and_back(tmp_path):
    from click.testing import CliRunner

    from faregate.keys.commands import keys_group

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    r = CliRunner().invoke(keys_group, ["create", "--name", "ci", "--non-idempotent", "--database-url", url])
    assert r.exit_code == 0, r.output
    raw = r.output.strip().splitlines()[-1]

    async def mark() -> tuple[str, bool]:
        async with KeyStore(url) as s:
            found = await s.by_hash(hash_key(raw))
            assert found is not None
            return found[0].id, found[0].idempotent

    key_id, idem = asyncio.run(mark())
    assert idem is False and "non-idempotent" in r.output
    r = CliRunner().invoke(keys_group, ["update", key_id, "--idempotent", "--database-url", url])
    assert r.exit_code == 0 and "idempotent=true" in r.output, r.output
    assert asyncio.run(mark())[1] is True
