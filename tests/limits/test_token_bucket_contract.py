"""The token bucket in the ONE limits contract: the same ``store`` fixture (memory and real Redis)."""

from __future__ import annotations

import asyncio

import pytest

from faregate.limits import Limit

T0 = 1_800_000_000.0


def bucket(key: str = "k:bucket", burst: int = 5, refill: float = 1.0) -> Limit:
    return Limit(key, burst, refill_per_s=refill, name=f"bucket of {key}")


async def test_burst_then_refused(store):
    lim = bucket(burst=5, refill=1.0)
    res = [await store.hit([lim], now=T0) for _ in range(7)]
    assert [r.ok for r in res] == [True] * 5 + [False] * 2
    assert [r.checks[0].remaining for r in res[:5]] == [4, 3, 2, 1, 0]
    assert res[5].refused == lim
    # One token comes back in 1 s at 1/s; the bucket is full again 5 s after the burst.
    assert res[5].retry_after_s == pytest.approx(1.0, abs=0.01)
    assert res[4].checks[0].reset_s == pytest.approx(5.0, abs=0.01)


async def test_refills_at_the_rate_and_never_past_the_burst(store):
    lim = bucket(burst=4, refill=2.0)
    for _ in range(4):
        assert (await store.hit([lim], now=T0)).ok
    assert not (await store.hit([lim], now=T0 + 0.4)).ok  # 0.8 token: not one yet
    g = await store.hit([lim], now=T0 + 0.5)  # 1 token back
    assert g.ok and g.checks[0].remaining == 0
    assert not (await store.hit([lim], now=T0 + 0.6)).ok
    # A long idle fills to the burst, not beyond: exactly 4 pass, then the 5th is refused.
    later = [await store.hit([lim], now=T0 + 100) for _ in range(5)]
    assert [r.ok for r in later] == [True] * 4 + [False]
    assert await store.usage(lim, now=T0 + 100) == 4


async def test_steady_rate_is_admitted_forever(store):
    """At exactly the refill rate a drained bucket never refuses: the smooth shape a window lacks."""
    lim = bucket(burst=2, refill=10.0)
    assert all([(await store.hit([lim], now=T0)).ok for _ in range(2)])
    oks = [(await store.hit([lim], now=T0 + (i + 1) * 0.1)).ok for i in range(50)]
    assert all(oks)
    assert not (await store.hit([lim], now=T0 + 5.0)).ok  # faster than the rate: refused


async def test_all_or_nothing_with_a_sliding_window(store):
    b = bucket(burst=10, refill=1.0)
    w = Limit("k:rpm", 1, 60)
    assert (await store.hit([b, w], now=T0)).ok
    g = await store.hit([b, w], now=T0 + 1)
    assert not g.ok and g.refused == w
    assert await store.usage(b, now=T0 + 1) == 0  # 9 left + 1 refilled: nothing taken by the refusal
    # ...and a refusing bucket takes nothing from the window beside it.
    b2, w2 = bucket("k:b2", burst=1, refill=0.001), Limit("k:rpm2", 100, 60)
    assert (await store.hit([b2, w2], now=T0)).ok
    g2 = await store.hit([b2, w2], now=T0)
    assert not g2.ok and g2.refused == b2
    assert await store.usage(w2, now=T0) == 1


async def test_amount_over_the_burst_never_fits(store):
    lim = Limit("k:tok", 100, kind="tokens", refill_per_s=50.0)
    g = await store.reserve([lim], [101], now=T0)
    assert not g.ok
    assert g.retry_after_s == pytest.approx(2.0, abs=0.01)  # never fits: told a whole refill (100 at 50/s)
    assert (await store.reserve([lim], [100], now=T0)).ok


async def test_reconcile_gives_back_and_charges(store):
    lim = Limit("k:tok", 100, kind="tokens", refill_per_s=0.001)
    g = await store.reserve([lim], [80], now=T0)
    assert g.ok and g.checks[0].used == 80
    await store.reconcile(g, [30])  # 50 back
    assert await store.usage(lim, now=T0) == 30
    g2 = await store.reserve([lim], [60], now=T0)
    assert g2.ok
    await store.reconcile(g2, [90])  # 30 more charged
    assert await store.usage(lim, now=T0) == 120 - 0  # over the burst: in debt until it refills
    assert not (await store.reserve([lim], [1], now=T0)).ok


async def test_reset_clears_a_bucket(store):
    lim = bucket("key:9:bucket", burst=1, refill=0.001)
    assert (await store.hit([lim], now=T0)).ok
    assert not (await store.hit([lim], now=T0)).ok
    await store.reset("key:9:")
    assert (await store.hit([lim], now=T0)).ok


async def test_concurrent_hits_take_exactly_the_burst(store):
    lim = bucket("k:conc", burst=25, refill=0.001)
    res = await asyncio.gather(*(store.hit([lim], now=T0) for _ in range(60)))
    assert sum(r.ok for r in res) == 25
