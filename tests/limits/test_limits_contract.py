"""ONE contract suite for every limits backend (memory and real Redis)."""

from __future__ import annotations

import pytest

from faregate.limits import USD, Limit
from faregate.limits.base import period_end

T0 = 1_800_000_000.0  # a fixed clock, well inside a UTC day


async def test_hit_admits_exactly_the_limit(store):
    lim = Limit("k:rpm", 5, 60)
    res = [await store.hit([lim], now=T0 + i * 0.01) for i in range(8)]
    assert [r.ok for r in res] == [True] * 5 + [False] * 3
    assert res[4].checks[0].remaining == 0 and res[0].checks[0].remaining == 4
    assert res[5].refused == lim
    assert 0 < res[5].retry_after_s <= 60


async def test_sliding_window_forgets_after_the_window(store):
    lim = Limit("k:rpm", 2, 60)
    assert (await store.hit([lim], now=T0)).ok
    assert (await store.hit([lim], now=T0 + 30)).ok
    refused = await store.hit([lim], now=T0 + 45)
    assert not refused.ok
    # The first hit leaves the window within one slot (1 s) of T0 + 60; retry_after says so.
    assert 14 <= refused.retry_after_s <= 16
    assert (await store.hit([lim], now=T0 + 61)).ok
    assert not (await store.hit([lim], now=T0 + 62)).ok
    assert (await store.hit([lim], now=T0 + 91)).ok


async def test_all_or_nothing_across_limits(store):
    a, b = Limit("k:a", 10, 60), Limit("t:b", 1, 60)
    assert (await store.hit([a, b], now=T0)).ok
    g = await store.hit([a, b], now=T0 + 1)
    assert not g.ok and g.refused == b
    assert await store.usage(a, now=T0 + 1) == 1  # the refused request added nothing to a


async def test_reserve_then_reconcile_refunds_the_difference(store):
    tpm = Limit("k:tpm", 1000, 60, kind="tokens")
    g = await store.reserve([tpm], [800], now=T0)
    assert g.ok and g.checks[0].used == 800
    assert not (await store.reserve([tpm], [300], now=T0 + 1)).ok
    await store.reconcile(g, [120])
    assert await store.usage(tpm, now=T0 + 2) == 120
    g2 = await store.reserve([tpm], [300], now=T0 + 2)
    assert g2.ok
    await store.reconcile(g2, [500])  # more than estimated: charged
    assert await store.usage(tpm, now=T0 + 3) == 620


async def test_calendar_budget_resets_at_the_period_end(store):
    budget = Limit("k:budget_usd_day", int(1.0 * USD), calendar="day", kind="cost")
    g = await store.reserve([budget], [int(0.7 * USD)], now=T0)
    assert g.ok
    refused = await store.reserve([budget], [int(0.4 * USD)], now=T0 + 10)
    assert not refused.ok
    assert refused.retry_after_s == pytest.approx(period_end("day", T0 + 10) - (T0 + 10), abs=1)
    next_day = period_end("day", T0) + 5
    assert (await store.reserve([budget], [int(0.4 * USD)], now=next_day)).ok
    await store.reconcile(g, [int(0.1 * USD)])
    assert await store.usage(budget, now=T0 + 20) == int(0.1 * USD)


async def test_soft_limit_never_refuses_and_reports_over(store):
    soft = Limit("k:soft", 100, calendar="month", hard=False, kind="cost")
    g1 = await store.reserve([soft], [80], now=T0)
    g2 = await store.reserve([soft], [80], now=T0)
    assert g1.ok and g2.ok and not g1.checks[0].over and g2.checks[0].over


async def test_amount_over_the_limit_is_refused_for_a_whole_window(store):
    lim = Limit("k:tpm", 100, 60, kind="tokens")
    g = await store.reserve([lim], [101], now=T0)
    assert not g.ok and g.retry_after_s == pytest.approx(60, abs=1)


async def test_concurrency_slots_and_leases(store):
    a = await store.acquire("k:conc", 2, lease_s=30, now=T0)
    b = await store.acquire("k:conc", 2, lease_s=30, now=T0)
    assert a and b and await store.acquire("k:conc", 2, lease_s=30, now=T0) is None
    await store.release("k:conc", a)
    assert await store.acquire("k:conc", 2, lease_s=30, now=T0 + 1) is not None
    # A crashed holder's slots come back when their lease ends.
    assert await store.acquire("k:conc", 2, lease_s=30, now=T0 + 31) is not None


async def test_reset_clears_a_scope(store):
    a, b = Limit("key:x:rpm", 1, 60), Limit("key:y:rpm", 1, 60)
    assert (await store.hit([a], now=T0)).ok and (await store.hit([b], now=T0)).ok
    assert await store.reset("key:x:") >= 1
    assert (await store.hit([a], now=T0 + 1)).ok
    assert not (await store.hit([b], now=T0 + 1)).ok
