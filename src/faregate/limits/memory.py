"""In-process limits (``memory://``): exact for one process, not shared between replicas."""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Mapping, Sequence

from . import token_bucket as tb
from .base import SLOTS, Check, Grant, Limit, LimitStore, period_end


class MemoryLimitStore(LimitStore):
    """Limits in this process only (one replica, tests); the ``LimitStore`` contract, exactly."""

    def __init__(self) -> None:
        self._slots: dict[str, dict[int, int]] = {}  # sliding: key -> slot -> amount
        self._periods: dict[str, int] = {}  # calendar: key:period -> amount
        self._leases: dict[str, dict[str, float]] = {}
        self._buckets = tb.MemoryBuckets()

    def _state(self, lim: Limit, now: float) -> tuple[str, int, int, float, list[tuple[int, int]]]:
        """(storage key, current slot or -1, usage, reset_s, [(slot, amount)] oldest first)."""
        if lim.refill_per_s is not None:
            level = self._buckets.level(lim, int(now * 1000))
            return lim.key, tb.BUCKET_SLOT, tb.used_of(lim, level), tb.full_in_s(lim, level), []
        skey = lim.storage_key(now)
        if lim.calendar is not None:
            return skey, -1, self._periods.get(skey, 0), period_end(lim.calendar, now) - now, []
        slot_s = lim.slot_s()
        cur = math.floor(now / slot_s)
        slots = self._slots.get(skey, {})
        for s in [s for s in slots if s <= cur - SLOTS]:
            del slots[s]
        live = sorted((s, a) for s, a in slots.items() if a)
        used = sum(a for _, a in live)
        reset = ((live[0][0] + SLOTS) * slot_s - now) if live else 0.0
        return skey, cur, used, max(0.0, reset), live

    async def reserve(self, limits: Sequence[Limit], amounts: Sequence[int], now: float | None = None) -> Grant:
        now = time.time() if now is None else now
        states = [self._state(lim, now) for lim in limits]
        for lim, amount, (_skey, _cur, used, reset, live) in zip(limits, amounts, states):
            if lim.hard and used + amount > lim.limit:
                return Grant(
                    False,
                    [Check(l, st[2], st[3]) for l, st in zip(limits, states)],
                    refused=lim,
                    retry_after_s=tb.retry_after_s(lim, amount, self._buckets.level(lim, int(now * 1000)))
                    if lim.refill_per_s is not None
                    else _retry_after(lim, amount, used, reset, live, now),
                )
        grant = Grant(True)
        for lim, amount, (skey, cur, used, reset, live) in zip(limits, amounts, states):
            if cur == tb.BUCKET_SLOT:
                ms = int(now * 1000)
                level = self._buckets.take(lim, self._buckets.level(lim, ms), amount, ms)
                grant.entries.append((skey, cur, amount))
                grant.checks.append(Check(lim, tb.used_of(lim, level), tb.full_in_s(lim, level)))
                continue
            if cur < 0:
                self._periods[skey] = used + amount
            else:
                slots = self._slots.setdefault(skey, {})
                slots[cur] = slots.get(cur, 0) + amount
                if not live:
                    reset = lim.window_s - (now - cur * lim.slot_s())
            grant.entries.append((skey, cur, amount))
            grant.checks.append(Check(lim, used + amount, max(0.0, reset)))
        return grant

    async def reconcile(self, grant: Grant, actual: Sequence[int]) -> None:
        if not grant.ok or grant.degraded:
            return
        for (skey, slot, reserved), amount in zip(grant.entries, actual):
            delta = int(amount) - reserved
            if not delta:
                continue
            if slot == tb.BUCKET_SLOT:
                self._buckets.refund(skey, delta)
            elif slot < 0:
                if skey in self._periods:
                    self._periods[skey] = max(0, self._periods[skey] + delta)
            else:
                slots = self._slots.get(skey)
                if slots is not None and slot in slots:
                    slots[slot] = max(0, slots[slot] + delta)

    async def restore(self, periods: Mapping[str, int], slots: Mapping[str, Mapping[int, int]]) -> None:
        for skey, amount in periods.items():
            self._periods[skey] = self._periods.get(skey, 0) + int(amount)
        for skey, by_slot in slots.items():
            mine = self._slots.setdefault(skey, {})
            for slot, amount in by_slot.items():
                mine[slot] = mine.get(slot, 0) + int(amount)

    async def acquire(self, key: str, limit: int, lease_s: float, now: float | None = None) -> str | None:
        now = time.time() if now is None else now
        held = self._leases.setdefault(key, {})
        for t in [t for t, exp in held.items() if exp <= now]:
            del held[t]
        if len(held) >= limit:
            return None
        token = secrets.token_hex(8)
        held[token] = now + lease_s
        return token

    async def release(self, key: str, token: str) -> None:
        self._leases.get(key, {}).pop(token, None)

    async def usage(self, limit: Limit, now: float | None = None) -> int:
        now = time.time() if now is None else now
        return self._state(limit, now)[2]

    async def reset(self, prefix: str) -> int:
        n = 0
        for d in (self._slots, self._periods, self._leases, self._buckets.b):
            for k in [k for k in d if k.startswith(prefix)]:
                del d[k]
                n += 1
        return n


def _retry_after(lim: Limit, amount: int, used: int, reset: float, live: list[tuple[int, int]], now: float) -> float:
    """Seconds until ``amount`` more would fit (the whole window when it never can)."""
    if lim.calendar is not None:
        return reset
    if amount > lim.limit:
        return lim.window_s
    need = used + amount - lim.limit
    freed = 0
    for slot, a in live:
        freed += a
        if freed >= need:
            return max(0.0, (slot + SLOTS) * lim.slot_s() - now)
    return lim.window_s
