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
from typing import Any, Sequence

from ..core.errors import GatewayError
from .base import Check, Grant, Limit, LimitStore, SLOTS, period_end

log = logging.getLogger("faregate.limits")


class LimitsUnavailable(GatewayError):
    """The shared limits backend is unreachable and the failure policy is fail-closed."""

    status = 503
    type = "server_error"
    code = "limits_unavailable"


_RESERVE = """
local now = tonumber(ARGV[1])
local n = #KEYS
local S = tonumber(ARGV[2])
local used, reset, cur, live = {}, {}, {}, {}
for i = 1, n do
  local b = 2 + (i - 1) * 5
  local slot_ms = tonumber(ARGV[b + 2])
  if slot_ms > 0 then
    local c = math.floor(now / slot_ms)
    cur[i] = c
    local h = redis.call('HGETALL', KEYS[i])
    local sum, oldest, lv = 0, nil, {}
    for j = 1, #h, 2 do
      local s = tonumber(h[j]); local a = tonumber(h[j + 1])
      if s <= c - S then redis.call('HDEL', KEYS[i], h[j])
      elseif a > 0 then
        sum = sum + a; lv[#lv + 1] = {s, a}
        if oldest == nil or s < oldest then oldest = s end
      end
    end
    used[i] = sum; live[i] = lv
    if oldest then reset[i] = (oldest + S) * slot_ms - now else reset[i] = 0 end
  else
    cur[i] = -1
    used[i] = tonumber(redis.call('GET', KEYS[i]) or '0')
    reset[i] = 0
  end
end
for i = 1, n do
  local b = 2 + (i - 1) * 5
  local limit = tonumber(ARGV[b + 1]); local slot_ms = tonumber(ARGV[b + 2]); local amount = tonumber(ARGV[b + 3])
  if ARGV[b + 4] == '1' and used[i] + amount > limit then
    local retry = 0
    if slot_ms > 0 then
      retry = S * slot_ms
      if amount <= limit then
        table.sort(live[i], function(x, y) return x[1] < y[1] end)
        local need, freed = used[i] + amount - limit, 0
        for _, p in ipairs(live[i]) do
          freed = freed + p[2]
          if freed >= need then retry = (p[1] + S) * slot_ms - now; break end
        end
      end
    end
    local out = {0, i, retry}
    for k = 1, n do out[#out + 1] = used[k]; out[#out + 1] = reset[k]; out[#out + 1] = cur[k] end
    return out
  end
end
local out = {1, 0, 0}
for i = 1, n do
  local b = 2 + (i - 1) * 5
  local slot_ms = tonumber(ARGV[b + 2]); local amount = tonumber(ARGV[b + 3]); local ttl = tonumber(ARGV[b + 5])
  if slot_ms > 0 then
    redis.call('HINCRBY', KEYS[i], cur[i], amount)
    if reset[i] == 0 then reset[i] = (cur[i] + S) * slot_ms - now end
  else
    redis.call('INCRBY', KEYS[i], amount)
  end
  redis.call('PEXPIRE', KEYS[i], ttl)
  out[#out + 1] = used[i] + amount; out[#out + 1] = reset[i]; out[#out + 1] = cur[i]
end
return out
"""

_RECONCILE = """
for i = 1, #KEYS do
  local slot = ARGV[2 * i - 1]; local d = tonumber(ARGV[2 * i])
  if d ~= 0 then
    if slot == '-1' then
      if redis.call('EXISTS', KEYS[i]) == 1 then
        if redis.call('INCRBY', KEYS[i], d) < 0 then redis.call('SET', KEYS[i], 0, 'KEEPTTL') end
      end
    elseif redis.call('HEXISTS', KEYS[i], slot) == 1 then
      if redis.call('HINCRBY', KEYS[i], slot, d) < 0 then redis.call('HSET', KEYS[i], slot, 0) end
    end
  end
end
return 1
"""

_USAGE = """
local slot_ms = tonumber(ARGV[2])
if slot_ms <= 0 then return tonumber(redis.call('GET', KEYS[1]) or '0') end
local c = math.floor(tonumber(ARGV[1]) / slot_ms)
local h = redis.call('HGETALL', KEYS[1])
local sum = 0
for j = 1, #h, 2 do
  if tonumber(h[j]) > c - tonumber(ARGV[3]) then sum = sum + tonumber(h[j + 1]) end
end
return sum
"""

_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return 1
end
return 0
"""


class RedisLimitStore(LimitStore):
    def __init__(self, url: str, *, timeout_s: float = 0.1, failure_policy: str = "open",
                 namespace: str = "fg:lim:", down_s: float = 1.0, max_connections: int = 128) -> None:
        import redis.asyncio as aioredis
        from redis.backoff import NoBackoff
        from redis.asyncio.retry import Retry

        if failure_policy not in ("open", "closed"):
            raise ValueError("failure_policy must be 'open' or 'closed'")
        self.timeout_s = timeout_s
        self.failure_policy = failure_policy
        self.ns = namespace
        self.down_s = down_s
        self.failures = 0      # backend calls that failed or timed out
        self.degraded = 0      # requests served unlimited because of them (fail-open)
        self._down_until = 0.0
        self._last_log = 0.0
        # A blocking pool: a burst waits (bounded) for a free connection instead of failing, which
        # would otherwise look like an outage and, fail-open, let the burst through unlimited.
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=max_connections, timeout=max(timeout_s * 3, 0.5), socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s, retry=Retry(NoBackoff(), 0), retry_on_timeout=False,
            health_check_interval=0)
        self.r = aioredis.Redis(connection_pool=pool)
        self._reserve = self.r.register_script(_RESERVE)
        self._reconcile = self.r.register_script(_RECONCILE)
        self._usage = self.r.register_script(_USAGE)
        self._acquire = self.r.register_script(_ACQUIRE)

    # -- failure handling -------------------------------------------------------------------

    async def _call(self, coro: Any) -> Any:
        """Run one Redis call within the timeout; ``_Failed`` when Redis is down or slow."""
        if time.monotonic() < self._down_until:
            coro.close()
            raise _Failed()
        try:
            return await asyncio.wait_for(coro, max(self.timeout_s * 3, 0.5))
        except (asyncio.TimeoutError, OSError, Exception) as exc:  # noqa: BLE001 - any backend failure
            from redis.exceptions import NoScriptError, ResponseError
            if isinstance(exc, ResponseError) and not isinstance(exc, NoScriptError):
                raise  # a bug in a script, not an outage
            self.failures += 1
            self._down_until = time.monotonic() + self.down_s
            now = time.monotonic()
            if now - self._last_log > 10:
                self._last_log = now
                log.warning("limits backend unreachable (%s); policy fail-%s", type(exc).__name__,
                            self.failure_policy)
            raise _Failed() from None

    def _on_failure(self) -> Grant:
        if self.failure_policy == "closed":
            raise LimitsUnavailable("Rate limiting is temporarily unavailable (its backend is unreachable); "
                                    "retry shortly.", headers={"retry-after": "1"})
        self.degraded += 1
        return Grant(True, degraded=True)

    # -- operations -------------------------------------------------------------------------

    async def reserve(self, limits: Sequence[Limit], amounts: Sequence[int], now: float | None = None) -> Grant:
        if not limits:
            return Grant(True)
        now = time.time() if now is None else now
        now_ms = int(now * 1000)
        keys, args = [], [now_ms, SLOTS]
        for lim, amount in zip(limits, amounts):
            keys.append(self.ns + lim.storage_key(now))
            if lim.calendar is None:
                slot_ms = lim.window_s * 1000 / SLOTS
                ttl = int(lim.window_s * 1000 + slot_ms) + 1000
            else:
                slot_ms = 0
                ttl = int((period_end(lim.calendar, now) - now) * 1000) + 86_400_000
            args += [int(lim.limit), slot_ms, int(amount), 1 if lim.hard else 0, ttl]
        try:
            out = await self._call(self._reserve(keys=keys, args=args))
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
            await self._call(self._reconcile(keys=keys, args=args))
        except _Failed:
            pass

    async def acquire(self, key: str, limit: int, lease_s: float, now: float | None = None) -> str | None:
        now = time.time() if now is None else now
        token = secrets.token_hex(8)
        try:
            ok = await self._call(self._acquire(keys=[self.ns + "conc:" + key],
                                                args=[int(now * 1000), limit, int((now + lease_s) * 1000), token,
                                                      int(lease_s * 1000) + 1000]))
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
            await self._call(self.r.zrem(self.ns + "conc:" + key, token))
        except _Failed:
            pass  # the lease expires on its own

    async def usage(self, limit: Limit, now: float | None = None) -> int:
        now = time.time() if now is None else now
        slot_ms = 0 if limit.calendar else limit.window_s * 1000 / SLOTS
        try:
            return int(await self._call(self._usage(keys=[self.ns + limit.storage_key(now)],
                                                    args=[int(now * 1000), slot_ms, SLOTS])))
        except _Failed:
            return 0

    async def reset(self, prefix: str) -> int:
        n = 0
        for pat in (self.ns + prefix + "*", self.ns + "conc:" + prefix + "*"):
            async for k in self.r.scan_iter(match=pat, count=500):
                n += await self.r.delete(k)
        return n

    async def close(self) -> None:
        await self.r.aclose()


class _Failed(Exception):
    pass
