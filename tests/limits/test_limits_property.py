"""Property: whatever the arrival pattern and amounts, the sliding window never admits more than
the limit within any span of ``window - window/60``, and never refuses what an exact count allows
over the full window."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from faregate.limits import Limit
from faregate.limits.memory import MemoryLimitStore

T0 = 1_800_000_000.0


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 5, allow_nan=False), st.integers(1, 30)), min_size=1, max_size=80),
    st.integers(1, 100),
)
def test_sliding_window_bounds(steps, limit):
    async def run():
        store = MemoryLimitStore()
        lim = Limit("p", limit, 60.0, kind="tokens")
        now, admitted = T0, []
        for dt, amount in steps:
            now += dt
            g = await store.reserve([lim], [amount], now=now)
            if g.ok:
                admitted.append((now, amount))
            else:
                # A refusal is justified: within the last full window, usage + amount > limit.
                recent = sum(a for t, a in admitted if t > now - 60.0)
                assert recent + amount > limit
        span = 60.0 - 1.0
        for t, _ in admitted:
            assert sum(a for u, a in admitted if t - span < u <= t) <= limit

    asyncio.run(run())
