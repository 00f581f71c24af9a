"""Exact limits under concurrency: a burst of simultaneous hits admits exactly the limit, and
simultaneous reservations never pass a budget, on every limits backend (memory, real Redis).
Part of the limits contract (``tests/limits``), kept here with the rest of the attacks."""

from __future__ import annotations

import asyncio

from faregate.limits import Limit


async def test_concurrent_hits_admit_exactly_the_limit(store):
    lim = Limit("k:burst", 50, 60)
    res = await asyncio.gather(*(store.hit([lim]) for _ in range(300)))
    assert sum(r.ok for r in res) == 50


async def test_concurrent_reservations_never_pass_a_budget(store):
    budget = Limit("k:b", 1000, calendar="day", kind="cost")
    res = await asyncio.gather(*(store.reserve([budget], [70]) for _ in range(64)))
    assert sum(r.ok for r in res) == 1000 // 70
