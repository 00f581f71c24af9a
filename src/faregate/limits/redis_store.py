"""Limits in Redis (``redis://``): atomic Lua scripts, so every replica shares exact counters.

Each reservation is one script call that reads every counter it touches, refuses if any hard
limit would pass, and otherwise adds to all of them: no other client can run between the check
and the add, so three replicas limited to 100/min admit exactly 100 together.

Outages: every call is bounded by ``timeout_s`` (socket and overall; default 100 ms), so a Redis
that accepts connections and never answers costs a request at most that. After a failure Redis
is skipped for ``down_s`` (1 s) instead of being waited for again by every request. While it is
unreachable, ``failure_policy`` decides: ``open`` serves the request unlimited (logged, counted in
``failures``/``degraded``), ``closed`` refuses with 503.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Sequence
from typing import Any

from ..core.errors import GatewayError
from . import token_bucket as tb
from .base import SLOTS, Check, Grant, Limit, LimitStore, period_end
from .redis_scripts import ACQUIRE, RECONCILE, RESERVE, USAGE

log = logging.getLogger("faregate.limits")


class LimitsUnavailable(GatewayError):
    """The shared limits backend is unreachable and the failure policy is fail-closed."""

    status = 503
    type = "server_error"
    code = "limits_unavailable"


class RedisLimitStore(LimitStore):
    """Limits in Redis; see the module docstring."""

    durable = True  # counters live in Redis: a restart of the gateway keeps them all

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 0.1,
        failure_policy: str = "open",
        namespace: str = "fg:lim:",
        down_s: float = 1.0,
        max_connections: int = 128,
    ) -> None:
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        if failure_policy not in ("open", "closed"):
            raise ValueError("failure_policy must be 'open' or 'closed'")
        self.timeout_s = timeout_s
        self.failure_policy = failure_policy
        self.ns = namespace
        self.down_s = down_s
        self.failures = 0  # backend calls that failed or timed out
        self.degraded = 0  # requests served unlimited because of them (fail-open)
        self._down_until = 0.0
        self._last_log = 0.0

        # A blocking pool: a burst waits for a free connection instead of failing (waiting for
        # our own pool is queueing here, not an outage there).
        def client(socket_timeout: float) -> Any:
            pool = aioredis.BlockingConnectionPool.from_url(
                url,
                max_connections=max_connections,
                timeout=10.0,
                socket_timeout=socket_timeout,
                socket_connect_timeout=socket_timeout,
                retry=Retry(NoBackoff(), 0),
                retry_on_timeout=False,
                health_check_interval=0,
            )
            return aioredis.Redis(connection_pool=pool)

        self.r = client(timeout_s)
        # For the one retry of a call that timed out while THIS process was overloaded (see _call).
        self.r_patient = client(max(2.0, timeout_s))
        self.overload_retries = 0
        self._tick = 0.0
        self._lag = 0.0
        self._lag_at = 0.0
        self._last_ok = 0.0
        self._consecutive = 0
        self.down_after = 3
        self._monitor: asyncio.Task | None = None
        self._reserve = self.r.register_script(RESERVE)
        self._reconcile = self.r.register_script(RECONCILE)
        self._usage = self.r.register_script(USAGE)
        self._acquire = self.r.register_script(ACQUIRE)

    # -- failure handling -------------------------------------------------------------------

    async def start(self) -> None:
        """Connect and load the scripts before the first request (errors only logged): a first
        request should not pay for a connection and a script upload inside its short timeout."""
        try:
            await asyncio.wait_for(self._warm(), 2.0)
        except Exception as exc:  # noqa: BLE001
            log.warning(
                "limits backend not reachable at start (%s); policy fail-%s", type(exc).__name__, self.failure_policy
            )

    async def _warm(self) -> None:
        for client in (self.r, self.r_patient):
            await client.ping()
            for script in (self._reserve, self._reconcile, self._usage, self._acquire):
                await client.script_load(script.script)

    async def _watch_lag(self) -> None:
        """Ticks every 10 ms and remembers how late it woke (the worst of the last second).

        A late loop means this process is congested: a timeout then says nothing about Redis
        (its answer may be sitting unread in the socket)."""
        loop = asyncio.get_running_loop()
        while True:
            prev = self._tick = loop.time()
            await asyncio.sleep(0.01)
            now = loop.time()
            lag = now - prev - 0.01
            if lag >= self._lag or now - self._lag_at > 1.0:
                self._lag, self._lag_at = lag, now

    def _congested(self, started: float) -> bool:
        now = asyncio.get_running_loop().time()
        return (
            now - self._tick > 0.03  # stalled right now
            or (self._lag > self.timeout_s / 2 and now - self._lag_at < 2.0)  # was lately
            or time.monotonic() - started > self.timeout_s * 3  # this call's timer fired late
            or self._last_ok > started
        )  # Redis answered others meanwhile

    async def _call(self, make: Any) -> Any:
        """Run one Redis call (``make(client)`` -> awaitable) within the timeout.

        Raises ``_Failed`` when Redis is down or does not answer. A timeout while this process's
        event loop is itself running late (an overload, measured by ``_watch_lag``) is not taken
        for an outage, which would fail open a whole burst: the call is asked once more on a
        patient connection (reservations are idempotent: the script remembers its answer).
        """
        if time.monotonic() < self._down_until:
            raise _Failed()
        if self._monitor is None:
            self._tick = asyncio.get_running_loop().time()
            self._monitor = asyncio.get_running_loop().create_task(self._watch_lag())
        from redis.exceptions import NoScriptError, ResponseError
        from redis.exceptions import TimeoutError as RedisTimeout

        for attempt in (0, 1):
            client = self.r if attempt == 0 else self.r_patient
            t0 = time.monotonic()
            try:
                out = await asyncio.wait_for(make(client), 10.0 if attempt else max(self.timeout_s * 5, 1.0))
                self._last_ok = time.monotonic()
                self._consecutive = 0
                return out
            except Exception as exc:
                if isinstance(exc, ResponseError) and not isinstance(exc, NoScriptError):
                    raise  # a bug in a script, not an outage
                timed_out = isinstance(exc, (asyncio.TimeoutError, RedisTimeout, TimeoutError))
                # Evidence that Redis is alive and this process is the slow one: the loop is
                # congested right now, or another call got its answer since this one started.
                late = timed_out and self._congested(t0)
                if attempt == 0 and timed_out and late:
                    self.overload_retries += 1
                    continue
                self.failures += 1
                self._consecutive += 1
                if self._consecutive >= self.down_after:
                    # Several calls in a row failed: stop asking for ``down_s`` (one slow answer on
                    # a noisy machine only fails its own request).
                    self._down_until = time.monotonic() + self.down_s
                now = time.monotonic()
                if now - self._last_log > 10:
                    self._last_log = now
                    log.warning(
                        "limits backend unreachable (%s after %.0f ms, attempt %d); policy fail-%s",
                        type(exc).__name__,
                        (now - t0) * 1000,
                        attempt + 1,
                        self.failure_policy,
                    )
                raise _Failed() from None
        raise _Failed()

    def _on_failure(self) -> Grant:
        if self.failure_policy == "closed":
            raise LimitsUnavailable(
                "Rate limiting is temporarily unavailable (its backend is unreachable); retry shortly.",
                headers={"retry-after": "1"},
            )
        self.degraded += 1
        return Grant(True, degraded=True)

    # -- operations -------------------------------------------------------------------------

    async def reserve(self, limits: Sequence[Limit], amounts: Sequence[int], now: float | None = None) -> Grant:
        if not limits:
            return Grant(True)
        now = time.time() if now is None else now
        now_ms = int(now * 1000)
        keys: list[str] = []
        args: list[int | float] = [now_ms, SLOTS]
        token = self.ns + "rsv:" + secrets.token_hex(10)
        for lim, amount in zip(limits, amounts):
            keys.append(self.ns + lim.storage_key(now))
            if lim.refill_per_s is not None:
                args += [int(lim.limit), 0, int(amount), 1 if lim.hard else 0, tb.ttl_ms(lim), lim.refill_per_s]
                continue
            if lim.calendar is None:
                slot_ms = lim.window_s * 1000 / SLOTS
                ttl = int(lim.window_s * 1000 + slot_ms) + 1000
            else:
                slot_ms = 0
                ttl = int((period_end(lim.calendar, now) - now) * 1000) + 86_400_000
            args += [int(lim.limit), slot_ms, int(amount), 1 if lim.hard else 0, ttl, 0]
        try:
            out = await self._call(lambda c: self._reserve(keys=[*keys, token], args=args, client=c))
        except _Failed:
            return self._on_failure()
        ok, refused_i, retry_ms = int(out[0]), int(out[1]), int(out[2])
        checks, entries = [], []
        for i, lim in enumerate(limits):
            used, reset_ms, cur = int(out[3 + 3 * i]), int(out[4 + 3 * i]), int(out[5 + 3 * i])
            reset = (period_end(lim.calendar, now) - now) if lim.calendar else max(0, reset_ms) / 1000
            checks.append(Check(lim, used, reset))
            entries.append((keys[i], cur, int(amounts[i])))
        if not ok:
            lim = limits[refused_i - 1]
            retry = checks[refused_i - 1].reset_s if lim.calendar else max(0, retry_ms) / 1000
            return Grant(False, checks, refused=lim, retry_after_s=retry)
        return Grant(True, checks, entries=entries)

    async def reconcile(self, grant: Grant, actual: Sequence[int]) -> None:
        if not grant.ok or grant.degraded or not grant.entries:
            return
        keys, args = [], []
        for (skey, slot, reserved), amount in zip(grant.entries, actual):
            keys.append(skey)
            args += [slot, int(amount) - reserved]
        try:
            await self._call(lambda c: self._reconcile(keys=keys, args=args, client=c))
        except _Failed:
            pass

    async def acquire(self, key: str, limit: int, lease_s: float, now: float | None = None) -> str | None:
        now = time.time() if now is None else now
        token = secrets.token_hex(8)
        try:
            ok = await self._call(
                lambda c: self._acquire(
                    keys=[self.ns + "conc:" + key],
                    args=[int(now * 1000), limit, int((now + lease_s) * 1000), token, int(lease_s * 1000) + 1000],
                    client=c,
                )
            )
        except _Failed:
            if self.failure_policy == "closed":
                self._on_failure()
            self.degraded += 1
            return "degraded"
        return token if int(ok) else None

    async def release(self, key: str, token: str) -> None:
        if token == "degraded":
            return
        try:
            await self._call(lambda c: c.zrem(self.ns + "conc:" + key, token))
        except _Failed:
            pass  # the lease expires on its own

    async def usage(self, limit: Limit, now: float | None = None) -> int:
        now = time.time() if now is None else now
        if limit.refill_per_s is not None:
            try:
                raw = await self._call(lambda c: c.hmget(self.ns + limit.key, "l", "t"))
            except _Failed:
                return 0
            stored = None if raw[0] is None else (int(float(raw[0])), int(float(raw[1])))
            return tb.used_of(limit, tb.level_at(limit, stored, int(now * 1000)))
        slot_ms = 0 if limit.calendar else limit.window_s * 1000 / SLOTS
        try:
            return int(
                await self._call(
                    lambda c: self._usage(
                        keys=[self.ns + limit.storage_key(now)], args=[int(now * 1000), slot_ms, SLOTS], client=c
                    )
                )
            )
        except _Failed:
            return 0

    async def reset(self, prefix: str) -> int:
        n = 0
        for pat in (self.ns + prefix + "*", self.ns + "conc:" + prefix + "*"):
            async for k in self.r.scan_iter(match=pat, count=500):
                n += await self.r.delete(k)
        return n

    async def close(self) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
            self._monitor = None
        await self.r.aclose()
        await self.r_patient.aclose()


class _Failed(Exception):
    """Redis is down or did not answer in time (the failure policy decides what follows)."""
