"""``faregate demo``'s engine: simulated providers, a gateway on loopback, the workload through
the official ``openai`` SDK, feedback, and the figures for the summary.

    result = await run_demo(DemoOptions(requests=60, seed=1), progress=None)
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .batch_share import can_wait, send_deferred
from .gateway_setup import build_config, train_router
from .options import DEMO_KEY, DemoOptions
from .serve_process import ServeProcess
from .simulator import STRONGEST, TIERS, Prompt, Simulator
from .workload import Feedback, Outcome, priced, send_all

Progress = Callable[[str, int, int], None]
Hold = Callable[["DemoResult", str], Awaitable[None]]


@dataclass
class DemoResult:
    """Both runs' outcomes and what the summary needs to explain them."""

    options: DemoOptions
    db_path: str
    router_kind: str
    routed: list[Outcome]
    baseline: list[Outcome]
    feedback_sent: int
    feedback_note: str | None
    wall_s: float
    notes: list[str] = field(default_factory=list)


async def run_demo(
    opts: DemoOptions,
    *,
    progress: Progress | None = None,
    on_phase: Callable[[str], None] | None = None,
    hold: Hold | None = None,
) -> DemoResult:
    """Train a router, start the simulated providers and ``faregate serve``, send the workload
    routed (and to the strongest model for the baseline), then stop everything; with ``hold``
    (``demo --keep``), first await ``hold(result, gateway URL)`` with everything still running."""
    from openai import AsyncOpenAI

    from ..testing import FakeProvider

    t0 = time.perf_counter()
    say = on_phase or (lambda s: None)
    workdir = Path(tempfile.mkdtemp(prefix="faregate-demo-"))
    db_path = opts.db_path or str(workdir / "faregate-demo.db")
    if os.path.exists(db_path):
        os.remove(db_path)
    world = Simulator(opts.seed, time_scale=opts.time_scale)
    prompts = world.workload(opts.requests)
    say("training the router on synthetic outcomes (a separate seed)")
    router_model, calibration, router_kind = await asyncio.to_thread(
        train_router, Simulator(opts.seed + 1_000_003), opts.train_rows, workdir
    )

    fakes = {t.name: FakeProvider("openai", responder=world.responder, max_log=1) for t in TIERS}
    for f in fakes.values():
        await f.start()
    server = None
    try:
        config = build_config(
            {n: f.base_url for n, f in fakes.items()},
            db_path=db_path,
            router_model=router_model,
            calibration_file=calibration,
            time_scale=opts.time_scale,
            master_key=opts.master_key,
        )
        # The gateway runs as `faregate serve` in its own process (its own core), as in production;
        # this process runs the clients and the simulated providers.
        say("starting faregate serve (SQLite request log, in-memory limits)")
        server = await ServeProcess.start(config, workdir)
        client = AsyncOpenAI(base_url=server.url + "/v1", api_key=DEMO_KEY, max_retries=0, timeout=60)
        routed, baseline, fb = await _send_workloads(client, server.url, world, prompts, opts, progress, say)
        await client.close()
        if hold is not None:
            await hold(_result(opts, db_path, router_kind, routed, baseline, fb, world, prompts, t0), server.url)
    finally:
        if server is not None:
            await server.stop()  # SIGTERM: faregate flushes the request log before it exits
        for f in fakes.values():
            await f.stop()
    return _result(opts, db_path, router_kind, routed, baseline, fb, world, prompts, t0)


def _result(
    opts: DemoOptions,
    db_path: str,
    router_kind: str,
    routed: list[Outcome],
    baseline: list[Outcome],
    fb: Feedback,
    world: Simulator,
    prompts: list[Prompt],
    t0: float,
) -> DemoResult:
    if opts.baseline != "send":
        baseline = [priced(world, p) for p in prompts]
    wall = time.perf_counter() - t0
    return DemoResult(opts, db_path, router_kind, routed, baseline, fb.sent, fb.note, wall, [])


async def _send_workloads(
    client: Any,
    base: str,
    world: Simulator,
    prompts: list[Prompt],
    opts: DemoOptions,
    progress: Progress | None,
    say: Callable[[str], None],
) -> tuple[list[Outcome], list[Outcome], Feedback]:
    """The routed run (with feedback) and, when the baseline is sent, the strongest model's run."""
    import aiohttp

    async with aiohttp.ClientSession() as http:
        fb = Feedback(http, base)
        say("routing the workload through faregate (model: auto)")
        routed = await send_all(
            client,
            world,
            prompts,
            "auto",
            opts,
            fb if opts.feedback else None,
            lambda n: progress and progress("routed", n, len(prompts)),
            defer=(can_wait, send_deferred),
        )
        baseline: list[Outcome] = []
        if opts.baseline == "send":
            say(f"sending the same workload to {STRONGEST} through faregate")
            baseline = await send_all(
                client,
                world,
                prompts,
                STRONGEST,
                opts,
                None,
                lambda n: progress and progress("baseline", n, len(prompts)),
            )
    return routed, baseline, fb
