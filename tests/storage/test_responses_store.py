"""Stored Responses API responses (``storage/responses_store``) on SQLite and the real PostgreSQL,
through the request-log database and its migrations (007_responses), and in memory: saved,
read back whole, scoped to the key that made them, replaced by id, deleted once."""

from __future__ import annotations

import pytest

from faregate.config import LogWriterConfig
from faregate.storage.request_log import LogWriter
from faregate.storage.responses_store import MEMORY_LIMIT, ResponseStore

RESPONSE = {"id": "resp_1", "object": "response", "output": [{"type": "message", "content": "é ✓"}], "usage": None}
HISTORY = [
    {"type": "message", "role": "user", "content": "hi"},
    {"type": "message", "role": "assistant", "content": "é ✓"},
]


async def _check(store: ResponseStore) -> None:
    await store.save("key-a", RESPONSE, HISTORY)
    got = await store.get("key-a", "resp_1")
    assert got is not None and got.response == RESPONSE and got.history == HISTORY
    assert await store.get("key-b", "resp_1") is None  # another key sees nothing
    assert await store.get("", "resp_1") is None
    assert not await store.delete("key-b", "resp_1")  # nor deletes it
    await store.save("key-a", {**RESPONSE, "status": "completed"}, HISTORY[:1])  # the same id again: replaced
    again = await store.get("key-a", "resp_1")
    assert again is not None and again.response["status"] == "completed" and again.history == HISTORY[:1]
    assert await store.delete("key-a", "resp_1")
    assert await store.get("key-a", "resp_1") is None and not await store.delete("key-a", "resp_1")


async def test_stored_responses_in_the_request_log_database(db_url):
    writer = LogWriter(db_url, LogWriterConfig())
    try:
        db = await writer.database()
        assert 7 in {
            r["version"] for r in await db.fetch("SELECT version FROM schema_migrations WHERE concern = 'request_log'")
        }
        await _check(ResponseStore(writer.database))
        # Another store on the same database (another replica) reads what this one wrote.
        await ResponseStore(writer.database).save("key-a", {**RESPONSE, "id": "resp_2"}, HISTORY)
        assert (await ResponseStore(writer.database).get("key-a", "resp_2")) is not None
    finally:
        await writer.close()


async def test_stored_responses_in_memory_when_the_log_is_off():
    store = ResponseStore(None)
    await _check(store)
    for i in range(MEMORY_LIMIT + 5):
        await store.save("k", {"id": f"resp_{i}"}, [])
    assert await store.get("k", "resp_0") is None and await store.get("k", f"resp_{MEMORY_LIMIT + 4}") is not None


@pytest.mark.parametrize("owner", ["", "key-a"])
async def test_an_open_gateway_has_one_owner(owner):
    store = ResponseStore(None)
    await store.save(owner, RESPONSE, HISTORY)
    assert (await store.get(owner, "resp_1")) is not None
