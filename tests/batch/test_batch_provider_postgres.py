"""The provider batch path on PostgreSQL (migration request_log/019 there too): a batch run by
the OpenAI fake's batch API, restarted mid-way, completes with every line logged once at the
batch discount. Skips without PostgreSQL unless FAREGATE_REQUIRE_SERVICES=1 (then it fails)."""

from __future__ import annotations

import asyncio
import io
import os
import time

import asyncpg
import orjson
import pytest
from test_batch_provider import _client, _config, _script, _submits
from test_batch_sdk import _jsonl, _wait

from helpers import cost_of

PG_ADMIN = os.environ.get("FAREGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_url():
    from storage.conftest import _pg_up, drop_pg, make_pg_url

    if not _pg_up():
        if os.environ.get("FAREGATE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"PostgreSQL at {PG_ADMIN} is required (FAREGATE_REQUIRE_SERVICES=1) but unreachable")
        pytest.skip(f"PostgreSQL at {PG_ADMIN} unreachable")
    return asyncio.run(make_pg_url()), drop_pg


def _fetch(url: str, sql: str, *args):
    async def run():
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    return asyncio.run(run())


def test_provider_batch_restart_on_postgres(upstreams, start_server):
    (url, name), drop = _pg_url()
    try:
        fake = upstreams["openai"]
        _script(fake, delay_s=3)
        first = start_server(_config(upstreams, url))
        f = _client(first).files.create(file=("in.jsonl", io.BytesIO(_jsonl("fake-openai", 20))), purpose="batch")
        batch = _client(first).batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        deadline = time.monotonic() + 10
        while not _submits(fake, "openai") and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        first.stop()
        state = _fetch(url, "SELECT provider_state FROM batch_job WHERE id = $1", batch.id)[0]["provider_state"]
        assert orjson.loads(state)["batches"][0]["id"]
        second = start_server(_config(upstreams, url))
        done = _wait(_client(second), batch.id)
        assert done.status == "completed" and done.request_counts.completed == 20
        assert len(_submits(fake, "openai")) == 1
        second.stop()
        rows = _fetch(
            url, "SELECT cost_usd, input_tokens, output_tokens FROM request_log WHERE batch_id = $1", batch.id
        )
        assert len(rows) == 20
        for r in rows:
            assert r["cost_usd"] == pytest.approx(cost_of("openai", r["input_tokens"], r["output_tokens"]) * 0.5)
    finally:
        asyncio.run(drop(name))
