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


def _prompts(fake) -> list[str]:
    return [r["body"]["messages"][0]["content"] for r in fake.requests() if r.get("body", {}).get("messages")]


def test_a_restarted_gateway_resumes_the_job_without_resending_answered_lines(upstreams, start_server, tmp_path):
    import sqlite3

    db = f"sqlite:///{tmp_path / 'shared.db'}"
    first = start_server(fake_config(upstreams, database_url=db))
    client = openai.OpenAI(base_url=first.base_url, api_key=GATEWAY_KEY, max_retries=0)
    upstreams["openai"].reset()
    upstreams["openai"].script(*[{"delay_ms": 300}] * 200)  # slow lines: the restart comes mid-batch
    f = client.files.create(file=("in.jsonl", io.BytesIO(_jsonl("fake-openai", 20))), purpose="batch")
    batch = client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    time.sleep(1.0)
    first.stop()  # mid-batch: the shutdown gives the lease back (no manual clearing here)
    con = sqlite3.connect(tmp_path / "shared.db")
    answered = {r[0] for r in con.execute("SELECT custom_id FROM batch_line WHERE batch_id = ?", (batch.id,))}
    lease = con.execute("SELECT lease_until FROM batch_job WHERE id = ?", (batch.id,)).fetchone()[0]
    con.close()
    assert 0 < len(answered) < 20, answered
    assert lease == 0  # released on shutdown, so the restarted gateway resumes at once
    upstreams["openai"].reset()
    second = start_server(fake_config(upstreams, database_url=db))
    client = openai.OpenAI(base_url=second.base_url, api_key=GATEWAY_KEY, max_retries=0)
    done = _wait(client, batch.id)
    assert done.status == "completed" and done.request_counts.completed == 20
    out = [orjson.loads(x) for x in client.files.content(done.output_file_id).text.splitlines()]
    assert sorted(o["custom_id"] for o in out) == sorted(f"req-{i}" for i in range(20))
    resent = _prompts(upstreams["openai"])
    # The lines answered before the restart are not sent upstream again; each other line once.
    assert not {f"line {c.split('-')[1]}" for c in answered} & set(resent)
    assert len(resent) == len(set(resent)) == 20 - len(answered)
    # Each line is its own request-log row naming the batch (migration 009's column).
    second.stop()  # flushes the request log
    con = sqlite3.connect(tmp_path / "shared.db")
    rows = con.execute("SELECT count(*) FROM request_log WHERE batch_id = ? AND status = 200", (batch.id,)).fetchone()
    con.close()
    assert rows[0] >= 20
