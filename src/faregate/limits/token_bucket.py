"""The token bucket: a burst of ``limit`` requests, then a steady ``refill_per_s``.

A bucket holds up to ``limit`` (the burst) tokens and gains ``refill_per_s`` tokens a second;
a request takes its amount or is refused. Where a sliding window of 60/min admits 60 at once
and then nothing until the window moves, a bucket with ``burst: 10, refill_per_s: 1`` admits 10
at once and then one a second, smoothly: the right shape to protect an upstream with a steady
rate; the window is the right shape for a quota ("100 per minute" means exactly that).

State is two integers, so memory and Redis (``redis_scripts.RESERVE``) compute the same:
the level in **milli-tokens** and the time (ms) it was last written. An absent bucket is full.
Level at ``now``: ``min(cap, level + floor(elapsed_ms * refill_per_s))`` (``refill_per_s``
tokens a second is ``refill_per_s`` milli-tokens a millisecond). ``Check.used`` is the burst
minus the whole tokens left, so ``remaining`` is what can still pass now, and ``reset_s`` the
time until the bucket is full again.
"""

from __future__ import annotations

import math

from .base import Limit

MILLI = 1000
BUCKET_SLOT = -2  # the "slot" a bucket's reservation entry records (sliding >= 0, calendar -1)


def level_at(lim: Limit, stored: tuple[int, int] | None, now_ms: int) -> int:
    """The bucket's level (milli-tokens) at ``now_ms`` from its stored (level, written_ms)."""
    cap = lim.limit * MILLI
    if stored is None:
        return cap
    level, ts = stored
    gain = math.floor(max(0, now_ms - ts) * float(lim.refill_per_s or 0.0))
    return min(cap, level + gain)


def used_of(lim: Limit, level: int) -> int:
    """Usage as a window would report it: the burst minus the whole tokens left."""
    return lim.limit - level // MILLI


def full_in_s(lim: Limit, level: int) -> float:
    """Seconds until the bucket is full again (0 when it is)."""
    rate = float(lim.refill_per_s or 0.0)
    missing = lim.limit * MILLI - level
    return 0.0 if missing <= 0 or rate <= 0 else math.ceil(missing / rate) / 1000


def retry_after_s(lim: Limit, amount: int, level: int) -> float:
    """Seconds until ``amount`` tokens are in the bucket (a full refill when it never holds them)."""
    rate = float(lim.refill_per_s or 0.0)
    if rate <= 0:
        return 60.0
    # More than the burst never fits: the client is told a whole refill, as a window says its length.
    need = lim.limit * MILLI if amount > lim.limit else amount * MILLI - level
    return max(0.0, math.ceil(need / rate) / 1000)


def ttl_ms(lim: Limit) -> int:
    """How long Redis keeps an untouched bucket: once it is full again it equals an absent one."""
    rate = float(lim.refill_per_s or 0.0)
    return int(math.ceil(lim.limit * MILLI / rate)) + 1000 if rate > 0 else 86_400_000


class MemoryBuckets:
    """The buckets of ``MemoryLimitStore``: key -> (level, written_ms, capacity in milli-tokens)."""

    def __init__(self) -> None:
        self.b: dict[str, tuple[int, int, int]] = {}

    def level(self, lim: Limit, now_ms: int) -> int:
        st = self.b.get(lim.key)
        return level_at(lim, None if st is None else (st[0], st[1]), now_ms)

    def take(self, lim: Limit, level: int, amount: int, now_ms: int) -> int:
        """Store ``level - amount`` at ``now_ms``; the new level."""
        new = level - amount * MILLI
        self.b[lim.key] = (new, now_ms, lim.limit * MILLI)
        return new

    def refund(self, key: str, delta: int) -> None:
        """Give back ``-delta`` tokens (a charge when ``delta`` > 0), never past the capacity."""
        if key in self.b:
            level, ts, cap = self.b[key]
            self.b[key] = (min(cap, level - delta * MILLI), ts, cap)
