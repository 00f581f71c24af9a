"""The demo's workload through the official ``openai`` SDK: one ``Outcome`` per prompt, plus feedback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .options import DEMO_KEY, DemoOptions
from .simulator import CEILINGS_MS, FLOORS, STRONGEST, TIERS, Prompt, Simulator


@dataclass
class Outcome:
    """One request of the workload, as the client saw it."""

    prompt: Prompt
    model: str | None
    cost_usd: float
    latency_ms: float  # simulated ms (measured / time_scale)
    quality: float | None  # the simulator's quality of the model that answered
    met: bool
    request_id: str | None
    error: str | None = None
    ttft_ms: float | None = None  # simulated ms
    predicted_quality: float | None = None  # x-faregate-predicted-quality (routed requests)
    constraint_unmet: bool = False  # x-faregate-constraint-unmet: no plan met both bounds
    tier: str = "sync"  # "batch": answered through a batch (a request with a deadline)


class Feedback:
    """Sends each answer's simulated quality to ``POST /v1/feedback`` (skipped if absent)."""

    def __init__(self, http: Any, base: str) -> None:
        self.http, self.url = http, base + "/v1/feedback"
        self.available: bool | None = None
        self.sent = 0
        self.refused = 0
        self.note: str | None = None

    async def send(self, request_id: str, score: float) -> None:
        if self.available is False:
            return
        for attempt in range(3):  # a 5xx (e.g. the log database still starting) is retried
            async with self.http.post(
                self.url,
                json={"request_id": request_id, "score": score},
                headers={"authorization": f"Bearer {DEMO_KEY}"},
            ) as r:
                text = (await r.text())[:300]
                if r.status in (404, 405) and self.available is None and "No route" in text:
                    self.available = False
                    self.note = "POST /v1/feedback is not in this build: feedback skipped"
                    return
                if r.status < 400:
                    self.available = True
                    self.sent += 1
                    return
                if r.status < 500 or attempt == 2:
                    self.refused += 1
                    self.note = f"{self.refused} refused (last: HTTP {r.status} {text[:160]})"
                    return
            await asyncio.sleep(0.2 * (attempt + 1))


async def send_all(
    client: Any,
    world: Simulator,
    prompts: list[Prompt],
    model: str,
    opts: DemoOptions,
    fb: Feedback | None,
    tick: Callable[[int], Any],
    defer: tuple[Callable[[Prompt], bool], Callable[..., Awaitable[Outcome]]] | None = None,
) -> list[Outcome]:
    """Every prompt through ``client`` (``opts.concurrency`` at a time), outcomes in prompt order;
    ``defer``: which prompts can wait and how they are sent (``batch_share``)."""
    sem = asyncio.Semaphore(opts.concurrency)
    done = 0
    out: list[Outcome | None] = [None] * len(prompts)

    async def one(i: int, p: Prompt) -> None:
        nonlocal done
        async with sem:
            if defer is not None and defer[0](p):  # the share of the workload that can wait
                out[i] = await defer[1](client, world, p, opts, fb)
            else:
                out[i] = await _send_one(client, world, p, model, opts, fb)
        done += 1
        tick(done)

    await asyncio.gather(*(one(i, p) for i, p in enumerate(prompts)))
    return [o for o in out if o is not None]


async def _send_one(
    client: Any, world: Simulator, p: Prompt, model: str, opts: DemoOptions, fb: Feedback | None
) -> Outcome:
    extra = {
        "faregate": {
            "task": p.task,
            "min_quality": FLOORS[p.task],
            "max_latency_ms": CEILINGS_MS[p.task] * opts.time_scale,
        }
    }
    t = time.perf_counter()
    ttft = None
    usage = None
    try:
        # Streaming, the main path: time to first token is measured as such on every side.
        raw = await client.chat.completions.with_raw_response.create(
            model=model,
            messages=[{"role": "user", "content": p.text}],
            stream=True,
            stream_options={"include_usage": True},
            extra_body=extra if model == "auto" else None,
        )
        answered = raw.headers.get("x-faregate-model")
        rid = raw.headers.get("x-request-id")
        pq = raw.headers.get("x-faregate-predicted-quality")
        unmet = raw.headers.get("x-faregate-constraint-unmet") == "true"
        stream = raw.parse()
        async for chunk in stream:
            if ttft is None and chunk.choices and chunk.choices[0].delta.content:
                ttft = time.perf_counter() - t
            if chunk.usage is not None:
                usage = chunk.usage
            answered = answered or chunk.model
            rid = rid or chunk.id
    except Exception as exc:  # noqa: BLE001 - counted, shown in the summary
        return Outcome(
            p, None, 0.0, (time.perf_counter() - t) * 1000 / opts.time_scale, None, False, None, f"{type(exc).__name__}"
        )
    elapsed = (time.perf_counter() - t) * 1000 / opts.time_scale
    # faregate adds what the request cost to the final usage chunk.
    cost = float((getattr(usage, "model_extra", None) or {}).get("cost_usd") or 0.0)
    q = world.quality(answered, p) if answered in {t.name for t in TIERS} else None
    met = q is not None and q >= FLOORS[p.task]
    if fb is not None and q is not None and rid:
        await fb.send(rid, q)
    return Outcome(
        p,
        answered,
        cost,
        elapsed,
        q,
        met,
        rid,
        ttft_ms=None if ttft is None else ttft * 1000 / opts.time_scale,
        predicted_quality=float(pq) if pq else None,
        constraint_unmet=unmet,
    )


def priced(world: Simulator, p: Prompt) -> Outcome:
    """The strongest tier's simulated outcome for ``p``, without sending it."""
    q = world.quality(STRONGEST, p)
    ttft, gen = world.timing_ms(STRONGEST, p)
    return Outcome(p, STRONGEST, world.cost_usd(STRONGEST, p), ttft + gen, q, q >= FLOORS[p.task], None, ttft_ms=ttft)
