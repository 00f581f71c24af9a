"""The runtime-config tables on SQLite and PostgreSQL: encrypted secrets, the version row,
the audit, the key rules; and the analytics group-by of the policy column."""

from __future__ import annotations

import time

import pytest

from faregate.storage import analytics
from faregate.storage.db import Database
from faregate.storage.request_log import LogWriter
from faregate.storage.request_record import RequestRecord
from faregate.storage.runtime_config import RuntimeConfigStore, SecretKeyMissing

SECRET = "sk-store-SECRET-7"


async def test_entries_round_trip_with_secrets_encrypted(db_url):
    store = await RuntimeConfigStore.open(db_url, "a-secret-key")
    try:
        v0 = await store.version()
        entry = {"name": "m", "model": "gpt-4o", "api_key": SECRET, "headers": {"x-org": "org-1"}}
        await store.put("model", "m", entry, actor="master key", action="create")
        assert await store.version() == v0 + 1
        assert (await store.entries("model"))["m"] == entry
        pub = await store.public("model")
        assert pub[0]["secrets"] == ["api_key", "headers.x-org"] and SECRET not in str(pub)
        raw = await store.db.fetch("SELECT body, secret FROM runtime_models")
        assert SECRET not in str(raw) and "org-1" not in str(raw)
        await store.delete("model", "m", actor="master key")
        assert await store.entries("model") == {} and await store.version() == v0 + 2
        audit = await store.audit()
        assert [a["action"] for a in audit] == ["delete", "create"] and SECRET not in str(audit)
    finally:
        await store.close()
    other = await RuntimeConfigStore.open(db_url, "another-key")
    try:
        await other.put("provider", "p", {"name": "p", "api_key": SECRET}, actor="master key", action="create")
        wrong = RuntimeConfigStore(other.db, type(other.box)(db_url, "third-key"))
        with pytest.raises(SecretKeyMissing, match="do not decrypt"):
            await wrong.entries("provider")
    finally:
        await other.close()


async def test_without_a_secret_key_sqlite_generates_one_and_postgres_refuses(db_url, tmp_path):
    store = await RuntimeConfigStore.open(db_url, None)
    try:
        await store.put("model", "plain", {"name": "plain", "model": "gpt-4o"}, actor="master key", action="create")
        if db_url.startswith("sqlite"):
            await store.put("model", "s", {"name": "s", "api_key": SECRET}, actor="master key", action="create")
            assert (tmp_path / "log.db.key").exists()
            assert (await store.entries("model"))["s"]["api_key"] == SECRET
        else:
            with pytest.raises(SecretKeyMissing, match="FAREGATE_SECRET_KEY"):
                await store.put("model", "s", {"name": "s", "api_key": SECRET}, actor="master key", action="create")
    finally:
        await store.close()


async def test_group_by_policy(db_url):
    w = LogWriter(db_url)
    await w.start()
    now = time.time()
    for i, (policy, cost) in enumerate([("aaa", 0.1), ("aaa", 0.2), ("bbb", 0.5), (None, 0.0)]):
        w.append(RequestRecord(id=f"r{i}", ts=now - 10 + i, model="m", cost_usd=cost, policy=policy))
    await w.close()
    db = await Database.open(db_url)
    try:
        s = await analytics.summary(db, since=now - 60, until=now + 1, group_by="policy")
    finally:
        await db.close()
    groups = {g["group"]: g for g in s["groups"]}
    assert groups["aaa"]["requests"] == 2 and groups["aaa"]["spend_usd"] == pytest.approx(0.3)
    assert groups["bbb"]["requests"] == 1 and groups[""]["requests"] == 1
    assert s["total"]["requests"] == 4
