"""The demo's batch tier: the share of the workload that can wait (about one request in twelve,
as the "batch-cheap" share of the traffic faregate replaces) is sent with ``deadline: "24h"``.

Such a request gets ``202 Accepted`` and a batch; the client polls ``GET /v1/batches/{id}``
and reads the answer from the output file, as a real batch client does. The simulated providers
serve OpenAI's Batch API, so faregate submits these lines there and they are billed at the
tiers' batch discount (the spend figures count them at the price paid)."""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

import orjson

from .options import DemoOptions
from .simulator import FLOORS, TIERS, Prompt, Simulator
from .workload import Feedback, Outcome

SHARE = 12  # one request in SHARE can wait
DEADLINE = "24h"
BATCH_DISCOUNT = 0.5  # share off: the tiers' real models (GPT-4o, Claude 3.5 Haiku, GPT-4o mini) pay half in batch
POLL_S = 0.1
TIMEOUT_S = 120.0


def can_wait(p: Prompt) -> bool:
    """Whether ``p`` is one of the requests that can wait (stable per prompt id)."""
    return hashlib.sha256(p.id.encode()).digest()[0] % SHARE == 0


async def send_deferred(client: Any, world: Simulator, p: Prompt, opts: DemoOptions, fb: Feedback | None) -> Outcome:
    """``p`` with a deadline: a 202 and a batch polled to its end, or an answer at once."""
    body = {"faregate": {"task": p.task, "min_quality": FLOORS[p.task], "deadline": DEADLINE}}
    t = time.perf_counter()
    try:
        raw = await client.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": p.text}], extra_body=body
        )
        data = orjson.loads(raw.http_response.content)
        tier = "batch" if raw.http_response.status_code == 202 else "sync"
        if tier == "batch":
            data = await _answer(client, str(data["id"]))
    except Exception as exc:  # noqa: BLE001 - counted, shown in the summary
        ms = (time.perf_counter() - t) * 1000 / opts.time_scale
        return Outcome(p, None, 0.0, ms, None, False, None, f"{type(exc).__name__}", tier="batch")
    elapsed = (time.perf_counter() - t) * 1000 / opts.time_scale
    answered = data.get("model")
    cost = float((data.get("usage") or {}).get("cost_usd") or 0.0)
    q = world.quality(answered, p) if answered in {t.name for t in TIERS} else None
    rid = data.get("id")
    if fb is not None and q is not None and rid:
        await fb.send(rid, q)
    met = q is not None and q >= FLOORS[p.task]
    return Outcome(p, answered, cost, elapsed, q, met, rid, tier=tier)


async def _answer(client: Any, batch_id: str) -> dict[str, Any]:
    """The chat completion the batch's one output line holds, once the batch has ended."""
    end = time.monotonic() + TIMEOUT_S
    while True:
        batch = await client.batches.retrieve(batch_id)
        if batch.status in ("completed", "failed", "cancelled", "expired"):
            break
        if time.monotonic() > end:
            raise TimeoutError(f"batch {batch_id} still {batch.status}")
        await asyncio.sleep(POLL_S)
    fid = batch.output_file_id or batch.error_file_id
    if not fid:
        raise RuntimeError(f"batch {batch_id} ended {batch.status} without an answer")
    line = orjson.loads((await client.files.content(fid)).text.splitlines()[0])
    if line["response"]["status_code"] != 200:
        raise RuntimeError(f"batch line answered HTTP {line['response']['status_code']}")
    return dict(line["response"]["body"])


def batch_figures(outs: list[Outcome]) -> dict[str, float]:
    """The batch tier's share of the run and what it saved: what the batched requests were billed
    (at the batch price) against the same tokens at list price."""
    waited = [o for o in outs if can_wait(o.prompt)]
    batched = [o for o in waited if o.tier == "batch" and o.error is None]
    billed = sum(o.cost_usd for o in batched)
    at_list = billed / (1.0 - BATCH_DISCOUNT)
    spend = sum(o.cost_usd for o in outs if o.error is None)
    return {
        "could_wait": len(waited),
        "share": len(waited) / len(outs) if outs else 0.0,
        "batched": len(batched),
        "billed": billed,
        "at_list": at_list,
        "saved": at_list - billed,
        "saved_of_spend": (at_list - billed) / (spend + at_list - billed) if spend else 0.0,
        "p50_s": sorted(o.latency_ms for o in batched)[len(batched) // 2] * 0.001 if batched else 0.0,
    }
