"""What the batch tests share: an ``openai`` client on the gateway, and waiting for a batch."""

from __future__ import annotations

import time

import openai

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
