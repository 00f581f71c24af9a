"""Breakers that come back: a flapping primary carries traffic again within the cooldown cap,
driven by real requests (one trial at a time), and the health route reports an honest rate."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from faregate.config import BreakerConfig
from faregate.endpoints.breaker import CircuitBreaker

from .conftest import MASTER, model_config

MSG = [{"role": "user", "content": "hello"}]


async def test_a_flapping_primary_carries_traffic_again_within_the_cap(fakes, serve):
    """The primary fails for 1.5 s, then recovers; requests arrive every 50 ms throughout.
    The breaker (threshold 2, cooldown 0.2 s doubling to a 1 s cap here; the default cap is
    10 s) must send traffic back to it within the cap plus one request interval."""
    primary, backup = fakes
    cap = 1.0
    cfg = model_config(f"{primary.base}/v1", backup.base)
    cfg["models"][0]["breaker"] = {
        "failure_threshold": 2,
        "cooldown_s": 0.2,
        "max_cooldown_s": cap,
        "success_threshold": 1,
    }
    srv = await serve(cfg, real_sleep=True)
    client = srv.client()
    provider = primary.provider
    provider.default = {"status": 503}
    t0 = time.monotonic()
    recovered_at: float | None = None
    back_at: float | None = None
    answered_by: list[str] = []
    while time.monotonic() - t0 < 6.0:
        if recovered_at is None and time.monotonic() - t0 >= 1.5:
            provider.default = {}
            recovered_at = time.monotonic()
        r = await client.chat.completions.with_raw_response.create(model="primary", messages=MSG)
        model = r.headers["x-faregate-model"]
        answered_by.append(model)
        if recovered_at is not None and model == "primary":
            back_at = time.monotonic()
            break
        await asyncio.sleep(0.05)
    assert "backup" in answered_by  # the outage was real and failed over
    assert back_at is not None and recovered_at is not None, answered_by
    recovery_s = back_at - recovered_at
    assert recovery_s <= cap + 0.3, f"traffic came back {recovery_s:.2f} s after recovery"
    assert srv.breaker("primary") == "closed"
    # A trial at a time: while half open, never more than one probe in flight.
    assert srv.deployment("primary").breaker.cfg.half_open_probes == 1


def test_default_cooldown_is_capped_at_ten_seconds():
    cfg = BreakerConfig()
    assert cfg.max_cooldown_s == 10.0
    t = [0.0]
    br = CircuitBreaker(BreakerConfig(failure_threshold=1, cooldown_s=30), clock=lambda: t[0])
    p = br.acquire()
    br.record_failure("x", p)
    assert br.retry_in() == 10.0  # a 30 s cooldown is held to the cap
    for _ in range(5):  # trials keep failing: the cooldown stays at the cap
        t[0] += 10.0
        p = br.acquire()
        assert p is not None and p.probe
        br.record_failure("x", p)
        assert br.retry_in() == 10.0


def test_window_error_rate_is_not_zero_beside_a_run_of_failures():
    t = [0.0]
    br = CircuitBreaker(BreakerConfig(failure_threshold=5, cooldown_s=60, max_cooldown_s=60), clock=lambda: t[0])
    for _ in range(5):
        br.record_failure("x", br.acquire())
    assert br.snapshot()["window_error_rate"] == 1.0
    t[0] += 61  # the window aged out while the circuit was open; the trial fails
    p = br.acquire()
    br.record_failure("x", p)
    snap = br.snapshot()
    assert snap["consecutive_failures"] == 6 and snap["window_error_rate"] == 1.0
    t[0] += 120  # nothing called in the window: no rate, rather than a reassuring 0.0
    snap = br.snapshot()
    assert snap["window_calls"] == 0 and snap["window_error_rate"] is None


async def test_health_route_reports_the_rate_beside_failures(fakes, serve):
    primary, backup = fakes
    srv = await serve(model_config(f"{primary.base}/v1", backup.base))
    await primary.script({"status": 500}, {"status": 500})
    await srv.client().chat.completions.create(model="primary", messages=MSG)
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{srv.url}/v1/health/deployments", headers={"authorization": f"Bearer {MASTER}"}) as r:
            data = await r.json()
    row = {d["deployment"]: d for d in data["data"]}["primary#0"]
    assert row["breaker"]["consecutive_failures"] == 2 and row["breaker"]["window_error_rate"] == 1.0
