"""``faregate demo``'s engine: simulated providers, a gateway on loopback, the workload through
the official ``openai`` SDK, feedback, and the figures for the summary.

    result = await run_demo(DemoOptions(requests=60, seed=1), progress=None)
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from .simulator import CEILINGS_MS, FLOORS, STRONGEST, TIERS, Prompt, Simulator

DEMO_KEY = "fg-demo-key-000000000000"


@dataclass
class DemoOptions:
    requests: int = 400
    seed: int = 7
    monthly_requests: int = 1_000_000
    concurrency: int = 24
    time_scale: float = 0.5
    train_rows: int = 600
    db_path: str | None = None
    baseline: str = "send"  # "send": the same workload sent to the strongest model through faregate
    feedback: bool = True  # send each answer's simulated quality as feedback


@dataclass
class Outcome:
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


@dataclass
class DemoResult:
    options: DemoOptions
    db_path: str
    router_kind: str
    routed: list[Outcome]
    baseline: list[Outcome]
    feedback_sent: int
    feedback_note: str | None
    wall_s: float
    notes: list[str] = field(default_factory=list)


# -- the gateway's config, built in code ----------------------------------------------------------


def build_config(
    base_urls: dict[str, str],
    *,
    db_path: str,
    router_model: str | None,
    calibration_file: str | None,
    time_scale: float,
):
    from ..config import GatewayConfig

    models = []
    for t in TIERS:
        models.append(
            {
                "name": t.name,
                "provider": "openai",
                "model": t.name,
                "base_url": base_urls[t.name],
                "api_key": "simulated",
                "prices": {"input": t.input_price, "output": t.output_price},
                # Priors on the demo's (scaled) clock, refined by live measurements.
                "latency": {"ttft_ms": t.ttft_ms * time_scale, "tokens_per_s": t.tokens_per_s / time_scale},
                "router_name": t.name,
                "max_attempts": 1,
            }
        )
    return GatewayConfig.model_validate(
        {
            "server": {"host": "127.0.0.1", "port": 0},
            "models": models,
            "routes": [{"name": "auto", "candidates": [t.name for t in TIERS], "router_model": router_model}],
            "keys": [{"key": DEMO_KEY, "name": "demo"}],
            "task_quality_defaults": dict(FLOORS),
            "router_model": router_model,
            "calibration_file": calibration_file,
            "cascades": False,
            "database_url": f"sqlite:///{db_path}",
            "limits": {"enabled": True},
        }
    )


def train_router(sim: Simulator, n_rows: int, workdir: Path) -> tuple[str | None, str | None, str]:
    """A router model from synthetic outcomes (the training simulator has its own seed), or,
    if the routing package's trainer is unavailable, per-task quality priors."""
    rows = sim.outcome_rows(n_rows)
    try:
        from ..routing.data import parse_row
        from ..routing.model import RouterModel

        model = RouterModel.fit([parse_row(r) for r in rows], cascades=False)
        path = workdir / "demo-router.model"
        model.save(path)
        return (
            str(path),
            None,
            (
                f"trained router ({model.predictor.kind} on hashed n-grams, "
                f"{n_rows} synthetic outcome rows, seed {sim.seed})"
            ),
        )
    except Exception as exc:  # noqa: BLE001 - the demo still runs on priors
        by: dict[str, dict[str, list[float]]] = {}
        for r in rows:
            for m, o in r["outcomes"].items():
                by.setdefault(m, {}).setdefault(r["task"], []).append(o["quality"])
        cal = {m: {"quality_by_task": {t: {"quality": sum(v) / len(v)} for t, v in ts.items()}} for m, ts in by.items()}
        path = workdir / "demo-priors.json"
        path.write_bytes(orjson.dumps(cal))
        return None, str(path), f"per-task priors (router training unavailable: {type(exc).__name__}: {exc})"


# -- the run ----------------------------------------------------------------------------------


async def run_demo(
    opts: DemoOptions,
    *,
    progress: Callable[[str, int, int], None] | None = None,
    on_phase: Callable[[str], None] | None = None,
) -> DemoResult:
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
    notes: list[str] = []
    try:
        config = build_config(
            {n: f.base_url for n, f in fakes.items()},
            db_path=db_path,
            router_model=router_model,
            calibration_file=calibration,
            time_scale=opts.time_scale,
        )
        # The gateway runs as `faregate serve` in its own process (its own core), as in production;
        # this process runs the clients and the simulated providers.
        say("starting faregate serve (SQLite request log, in-memory limits)")
        server = await _Serve.start(config, workdir)
        base = server.url
        client = AsyncOpenAI(base_url=base + "/v1", api_key=DEMO_KEY, max_retries=0, timeout=60)
        import aiohttp

        async with aiohttp.ClientSession() as http:
            fb = _Feedback(http, base)
            say("routing the workload through faregate (model: auto)")
            routed = await _send_all(
                client,
                world,
                prompts,
                "auto",
                opts,
                fb if opts.feedback else None,
                lambda n: progress and progress("routed", n, len(prompts)),
            )
            baseline: list[Outcome] = []
            if opts.baseline == "send":
                say(f"sending the same workload to {STRONGEST} through faregate")
                baseline = await _send_all(
                    client,
                    world,
                    prompts,
                    STRONGEST,
                    opts,
                    None,
                    lambda n: progress and progress("baseline", n, len(prompts)),
                )
        await client.close()
    finally:
        if server is not None:
            await server.stop()  # SIGTERM: faregate flushes the request log before it exits
        for f in fakes.values():
            await f.stop()
    if opts.baseline != "send":
        baseline = [_priced(world, p) for p in prompts]
    return DemoResult(opts, db_path, router_kind, routed, baseline, fb.sent, fb.note, time.perf_counter() - t0, notes)


class _Serve:
    """``faregate serve`` in a child process on a free loopback port."""

    def __init__(self, proc, url: str, log_path: Path) -> None:
        self.proc, self.url, self.log_path = proc, url, log_path

    @classmethod
    async def start(cls, config, workdir: Path, timeout: float = 30.0) -> _Serve:
        import socket
        import sys

        import aiohttp
        import yaml

        cfg_path = workdir / "faregate-demo.yaml"
        cfg_path.write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("FAREGATE_")}
        log_path = workdir / "faregate-serve.log"
        with open(log_path, "wb") as err:  # the child keeps its own copy of the descriptor
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "faregate",
                "serve",
                "--config",
                str(cfg_path),
                "--port",
                str(port),
                env=env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=err,
            )
        self = cls(proc, f"http://127.0.0.1:{port}", log_path)
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while True:
                if proc.returncode is not None:
                    raise RuntimeError(f"faregate serve exited: {log_path.read_text()[-2000:]}")
                try:
                    async with http.get(self.url + "/health") as r:
                        if r.status < 500:
                            return self
                except aiohttp.ClientError:
                    pass
                if time.monotonic() > deadline:
                    await self.stop()
                    raise RuntimeError(f"faregate serve did not come up: {log_path.read_text()[-2000:]}")
                await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


class _Feedback:
    def __init__(self, http, base: str) -> None:
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


async def _send_all(
    client,
    world: Simulator,
    prompts: list[Prompt],
    model: str,
    opts: DemoOptions,
    fb: _Feedback | None,
    tick: Callable[[int], Any],
) -> list[Outcome]:
    sem = asyncio.Semaphore(opts.concurrency)
    done = 0
    out: list[Outcome | None] = [None] * len(prompts)

    async def one(i: int, p: Prompt) -> None:
        nonlocal done
        async with sem:
            out[i] = await _send_one(client, world, p, model, opts, fb)
        done += 1
        tick(done)

    await asyncio.gather(*(one(i, p) for i, p in enumerate(prompts)))
    return [o for o in out if o is not None]


async def _send_one(
    client, world: Simulator, p: Prompt, model: str, opts: DemoOptions, fb: _Feedback | None
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


def _priced(world: Simulator, p: Prompt) -> Outcome:
    q = world.quality(STRONGEST, p)
    ttft, gen = world.timing_ms(STRONGEST, p)
    return Outcome(p, STRONGEST, world.cost_usd(STRONGEST, p), ttft + gen, q, q >= FLOORS[p.task], None, ttft_ms=ttft)


# -- figures ----------------------------------------------------------------------------------


def percentile(xs: list[float], pct: float) -> float:
    if not xs:
        return 0.0
    s = sorted(xs)
    k = (len(s) - 1) * pct / 100.0
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def figures(outs: list[Outcome]) -> dict[str, float]:
    ok = [o for o in outs if o.error is None]
    spend = sum(o.cost_usd for o in ok)
    lat = [o.latency_ms for o in ok]
    ttft = [o.ttft_ms for o in ok if o.ttft_ms is not None]
    return {
        "requests": len(outs),
        "ok": len(ok),
        "errors": len(outs) - len(ok),
        "spend": spend,
        "per_request": spend / len(ok) if ok else 0.0,
        "quality_met": sum(o.met for o in ok) / len(ok) if ok else 0.0,
        "mean_quality": sum(o.quality or 0 for o in ok) / len(ok) if ok else 0.0,
        "p50": percentile(lat, 50),
        "p95": percentile(lat, 95),
        "ttft_p50": percentile(ttft, 50),
        "constraint_unmet": sum(o.constraint_unmet for o in ok) / len(ok) if ok else 0.0,
        "latency_met": sum(o.latency_ms <= CEILINGS_MS[o.prompt.task] for o in ok) / len(ok) if ok else 0.0,
    }


def prediction_error(outs: list[Outcome]) -> float | None:
    """Mean |predicted - simulated| quality of the model that answered (routed requests)."""
    e = [
        abs(o.predicted_quality - o.quality) for o in outs if o.predicted_quality is not None and o.quality is not None
    ]
    return sum(e) / len(e) if e else None


def model_mix(outs: list[Outcome]) -> dict[str, dict[str, int]]:
    mix: dict[str, dict[str, int]] = {}
    for o in outs:
        mix.setdefault(o.prompt.task, {})
        key = o.model or "error"
        mix[o.prompt.task][key] = mix[o.prompt.task].get(key, 0) + 1
    return mix
