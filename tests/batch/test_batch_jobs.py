"""Batch jobs in the request-log database: a restarted gateway resumes an unfinished job (run
as the key that created it), and two replicas on one database never both claim a job."""

from __future__ import annotations

import asyncio
import io
import time

import openai
import orjson
from test_batch_sdk import _jsonl, _wait

from faregate.batch.store import BatchStore
from faregate.storage.db import Database
from helpers import GATEWAY_KEY, fake_config


def test_two_replicas_never_claim_the_same_job(tmp_path):
    async def run() -> list[bool]:
        db = await Database.open(f"sqlite:///{tmp_path / 'log.db'}")
        await db.migrate("request_log")

        async def opened() -> Database:
            return db

        a, b = BatchStore(opened), BatchStore(opened)
        await a.save_job("", {"id": "batch_x", "status": "validating"})
        wins = await asyncio.gather(a.claim("batch_x", 60), b.claim("batch_x", 60), a.claim("batch_x", 60))
        await db.close()
        return list(wins)

    assert sorted(asyncio.run(run())) == [False, False, True]


def test_a_restarted_gateway_resumes_the_job(upstreams, start_server, tmp_path):
    db = f"sqlite:///{tmp_path / 'shared.db'}"
    first = start_server(fake_config(upstreams, database_url=db))
    client = openai.OpenAI(base_url=first.base_url, api_key=GATEWAY_KEY, max_retries=0)
    upstreams["openai"].script(*[{"delay_ms": 300}] * 200)  # slow lines: the restart comes mid-batch
    f = client.files.create(file=("in.jsonl", io.BytesIO(_jsonl("fake-openai", 20))), purpose="batch")
    batch = client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    time.sleep(0.5)
    first.stop()  # the job is in progress, its lease still held
    upstreams["openai"].reset()
    # A restarted gateway waits for the lease to expire; shorten it by clearing the row's lease.
    import sqlite3

    con = sqlite3.connect(tmp_path / "shared.db")
    con.execute("UPDATE batch_job SET lease_until = 0")
    con.commit()
    con.close()
    second = start_server(fake_config(upstreams, database_url=db))
    client = openai.OpenAI(base_url=second.base_url, api_key=GATEWAY_KEY, max_retries=0)
    done = _wait(client, batch.id)
    assert done.status == "completed" and done.request_counts.completed == 20
    out = [orjson.loads(x) for x in client.files.content(done.output_file_id).text.splitlines()]
    assert sorted(o["custom_id"] for o in out) == sorted(f"req-{i}" for i in range(20))
