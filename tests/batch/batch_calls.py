"""What the batch tests share: an ``openai`` client on the gateway, and waiting for a batch."""

from __future__ import annotations

import io
import time

import openai
import orjson

from helpers import GATEWAY_KEY


def batch_client(srv) -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.base_url, api_key=GATEWAY_KEY, max_retries=0)


def wait_batch(client: openai.OpenAI, bid: str, timeout: float = 60.0):
    """The batch once it has ended (completed, failed, cancelled or expired)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = client.batches.retrieve(bid)
        if batch.status in ("completed", "failed", "cancelled", "expired"):
            return batch
        time.sleep(0.1)
    raise AssertionError(f"batch {bid} did not finish")


def run_batch(client: openai.OpenAI, rows: list[dict], endpoint: str):
    """Upload ``rows`` as a batch input file, create the batch on ``endpoint``, wait for its end."""
    data = b"".join(orjson.dumps(r) + b"\n" for r in rows)
    f = client.files.create(file=("in.jsonl", io.BytesIO(data)), purpose="batch")
    return wait_batch(client, client.batches.create(input_file_id=f.id, endpoint=endpoint, completion_window="24h").id)
