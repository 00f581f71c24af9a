"""The limits interface: one small store per concern, chosen by URL (``memory://``, ``redis://``).

Every counter here is a **bucketed sliding window** or a **calendar window**:

- A sliding window of ``window_s`` seconds is cut into ``SLOTS`` (60) slots; a reservation adds
  its amount to the current slot, and the window's usage is the sum of the last 60 slots
  (the current one included). A limit of N therefore never admits more than N in any span of
  ``window_s - window_s/60`` seconds, and forgets a hit after at most ``window_s``. Memory is
  O(60) per counter whatever the traffic, amounts can be any size (a request, 4,000 tokens, a
  cost in nano-USD), and a reservation can be refunded exactly, because it remembers its slot.
- A calendar window (``calendar="day"`` or ``"month"``, UTC) is one counter per period: budgets
  reset at midnight / on the 1st, as people read a "daily budget".

Beside them, a **token bucket** (``Limit.refill_per_s`` set; ``token_bucket.py``): capacity
``limit`` (the burst), refilled continuously; the same all-or-nothing reservation covers it.

Why not GCRA: GCRA stores one timestamp and is exact for a *rate*, but it spreads a budget of
100/min as one request every 0.6 s after the burst, so "100 per minute" admits 100 plus the
refill during a burst that lasts seconds; a sliding window admits exactly 100 however the
requests arrive, which is what the limit's name promises and what operators test. Why not a
sliding log (one entry per hit): exact too, but O(limit) memory and cannot hold token amounts.

All amounts are integers: requests, tokens, and USD in nano-dollars (``USD = 10**9``), so the
Redis scripts never round.

A reservation across several limits (the key's, its team's, the model's) is all-or-nothing:
if one hard limit refuses, nothing is added anywhere. Soft limits (``hard=False``) always add
and only report that they are over.
"""

from __future__ import annotations

import calendar as _cal
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

USD = 1_000_000_000  # nano-dollars per dollar
SLOTS = 60


@dataclass(frozen=True, slots=True)
class Limit:
    """One counter with its ceiling.

    ``key`` names the counter (``key:<id>:rpm``); ``kind`` is ``requests``, ``tokens`` or
    ``cost`` (nano-USD) and picks the response-header family; ``name`` is what a refused
    client is told (``"requests per minute of key 'ci'"``).
    """

    key: str
    limit: int
    window_s: float = 60.0
    calendar: str | None = None  # "day" | "month" (UTC); then window_s is ignored
    hard: bool = True
    kind: str = "requests"
    name: str = ""
    # Set: a token bucket of capacity ``limit`` refilled at this rate (``token_bucket.py``);
    # ``window_s`` and ``calendar`` are then ignored.
    refill_per_s: float | None = None

    def storage_key(self, now: float) -> str:
        if self.calendar is None:
            return self.key
        return f"{self.key}:{period_id(self.calendar, now)}"

    def slot_s(self) -> float:
        return self.window_s / SLOTS


def period_id(cal: str, now: float) -> str:
    t = time.gmtime(now)
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}" if cal == "day" else f"{t.tm_year:04d}-{t.tm_mon:02d}"


def period_end(cal: str, now: float) -> float:
    """Epoch seconds when the calendar period that contains ``now`` ends."""
    d = datetime.fromtimestamp(now, tz=UTC)
    if cal == "day":
        start = datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()
        return start + 86400
    days = _cal.monthrange(d.year, d.month)[1]
    return datetime(d.year, d.month, 1, tzinfo=UTC).timestamp() + days * 86400


@dataclass(slots=True)
class Check:
    """One limit's state after a reservation (or a refusal)."""

    limit: Limit
    used: int  # usage in the window, this reservation included when granted
    reset_s: float  # seconds until the window's oldest usage leaves it (or the period ends)

    @property
    def remaining(self) -> int:
        return max(0, self.limit.limit - self.used)

    @property
    def over(self) -> bool:
        return self.used > self.limit.limit


@dataclass(slots=True)
class Grant:
    """What ``reserve`` returns. ``ok`` false: ``refused`` names the hard limit that said no."""

    ok: bool
    checks: list[Check] = field(default_factory=list)
    refused: Limit | None = None
    retry_after_s: float = 0.0
    # (storage key, slot or -1 for a calendar counter, amount reserved) per limit, for reconcile.
    entries: list[tuple[str, int, int]] = field(default_factory=list)
    degraded: bool = False  # the backend failed and the failure policy let the request through


class LimitStore(ABC):
    """Atomic counters shared by every replica that uses the same backend.

    Contract (the suite in ``tests/limits/test_contract.py`` runs it against each backend):

    - ``reserve(limits, amounts)``: all-or-nothing. Refused when, for some hard limit,
      ``usage + amount > limit``; then nothing changes and ``retry_after_s`` says when it could
      pass. Granted: every amount is added, soft limits included.
    - ``reconcile(grant, actual)``: replaces each reserved amount by the actual one (a refund
      when smaller, a charge when larger) in the same slot/period; a slot that already left its
      window is not touched. Never raises on a backend failure (logs and counts it).
    - ``hit(limits)``: ``reserve`` with amount 1 each.
    - ``acquire(key, limit, lease_s)`` / ``release(key, token)``: a concurrency slot, held at
      most ``lease_s`` so a crashed replica's slots expire.
    - ``usage(limit)``; ``reset(prefix)`` clears every counter whose key starts with ``prefix``.
    - ``durable``: whether the counters outlive the process (Redis). A store that is not is
      handed the spend read back from the request log at start-up (``restore``).
    """

    durable: bool = False

    async def restore(self, periods: Mapping[str, int], slots: Mapping[str, Mapping[int, int]]) -> None:
        """Add amounts to calendar counters (``periods``: storage key -> amount) and to sliding
        window slots (``slots``: storage key -> slot -> amount). A durable store keeps its own."""

    @abstractmethod
    async def reserve(self, limits: Sequence[Limit], amounts: Sequence[int], now: float | None = None) -> Grant: ...

    @abstractmethod
    async def reconcile(self, grant: Grant, actual: Sequence[int]) -> None: ...

    async def hit(self, limits: Sequence[Limit], now: float | None = None) -> Grant:
        return await self.reserve(limits, [1] * len(limits), now)

    @abstractmethod
    async def acquire(self, key: str, limit: int, lease_s: float, now: float | None = None) -> str | None: ...

    @abstractmethod
    async def release(self, key: str, token: str) -> None: ...

    @abstractmethod
    async def usage(self, limit: Limit, now: float | None = None) -> int: ...

    @abstractmethod
    async def reset(self, prefix: str) -> int: ...

    async def start(self) -> None:
        """Connect ahead of the first request (optional)."""

    async def close(self) -> None:
        """Release connections."""


def open_limit_store(
    url: str | None = None, *, timeout_s: float = 0.1, failure_policy: str = "open", namespace: str = "fg:lim:"
) -> LimitStore:
    """``memory://`` (default, one process) or ``redis://host:port/db`` (shared by replicas)."""
    if not url or url.startswith("memory://"):
        from .memory import MemoryLimitStore

        return MemoryLimitStore()
    if url.startswith(("redis://", "rediss://", "unix://")):
        from .redis_store import RedisLimitStore

        return RedisLimitStore(url, timeout_s=timeout_s, failure_policy=failure_policy, namespace=namespace)
    raise ValueError(f"unknown limits backend {url.split(':', 1)[0]!r}: use memory:// or redis://")
