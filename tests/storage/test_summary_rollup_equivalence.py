"""``analytics.summary`` reads whole days and hours from the rollups (only the grouped dim's
histograms) and the partial edges from the rows; on a generated log its answer equals the one
computed from the raw rows alone, for every group-by, with savings and recommendations, on
SQLite and PostgreSQL. Costs and latencies are dyadic (exact in binary floating point), so the
sums agree to the last bit whatever order they are added in."""

from __future__ import annotations

import random

import pytest

from faregate.core.usage import Prices
from faregate.storage import analytics
from faregate.storage.recommendations import RecommendationContext
from faregate.storage.request_log import LogWriter
from faregate.storage.request_record import RequestRecord

DAY = 86400
NOW = 1_790_000_000.0 + 0.37 * DAY  # fixed, mid-day, so the windows below cross day and hour edges
PRICES = {"big": Prices(8.0, 32.0), "mid": Prices(1.0, 4.0), "small": Prices(0.25, 1.0)}
CONTEXT = RecommendationContext(
    budgets={("key", "k1"): (0.5, "day"), ("model", "big"): (1.0, "month")},
    fallbacks={"big": ["mid"]},
    min_requests=5,
)


def _log(seed: int) -> list[RequestRecord]:
    rnd = random.Random(seed)
    out = []
    for i in range(900):
        ceiling = rnd.choice([None, 256.0, 1024.0])
        lat = float(rnd.randint(1, 4000))
        status = rnd.choice([200] * 12 + [429, 502])
        hit = rnd.random() < 0.1
        out.append(
            RequestRecord(
                id=f"r{i}",
                ts=NOW - rnd.uniform(0, 3.2 * DAY),
                key_id=rnd.choice(["k1", "k2", "k3", None]),
                route=rnd.choice(["support", "code", None]),
                requested_model="auto",
                model=rnd.choice(["big", "mid", "small", "small", None]),
                input_tokens=rnd.randint(0, 3000),
                output_tokens=rnd.randint(0, 900),
                cached_tokens=rnd.choice([0, 0, 128]),
                cost_usd=rnd.randint(0, 4096) / 65536,
                ttft_ms=None if rnd.random() < 0.3 else float(rnd.randint(1, 900)),
                latency_ms=lat,
                status=status,
                error_class=None if status == 200 else "upstream",
                fallback_used=rnd.random() < 0.1,
                cache_hit=hit,
                cache_saved_usd=rnd.randint(0, 64) / 1024 if hit else 0.0,  # the writer counts it on hits
                constraint_unmet=rnd.random() < 0.1,
                client_disconnect=rnd.random() < 0.05,
                latency_ceiling_ms=ceiling,
                latency_met=None if ceiling is None else lat <= ceiling,
                arm=rnd.choice(["routed", "control", None]),
                task=rnd.choice(["chat", "classify", None]),
                policy=rnd.choice(["v1", "v2", None]),
                complexity=rnd.choice(["simple", "complex", None]),
            )
        )
    return out


async def _raw_only(db, since, until, dims, counters_only=frozenset()):
    """The reference: every row of the window read and added up, no rollup."""
    acc = analytics._Accumulation(db, dims)
    await acc.raw(since, until)
    return acc.out


def _summary(db, since, until, group_by):
    return analytics.summary(
        db, since=since, until=until, group_by=group_by, baseline="big", prices=PRICES, min_requests=5, context=CONTEXT
    )


WINDOWS = [
    (NOW - 2.5 * DAY - 1234.5, NOW - 1777.25),  # whole days, whole hours and partial hours at both ends
    (NOW - 3 * DAY, NOW + 1),
    ((NOW // DAY - 2) * DAY, (NOW // DAY) * DAY),  # day-aligned: rollup_day only
    (NOW - 7000.0, NOW - 3000.0),  # inside a day: hourly rollup and raw edges
    (NOW - 1500.0, NOW - 1000.0),  # inside one hour: raw rows only
]


@pytest.mark.parametrize("group_by", analytics.GROUP_BYS)
async def test_rollup_summary_equals_the_raw_rows(db_url, tmp_path, monkeypatch, group_by):
    w = LogWriter(db_url, spill_path=tmp_path / "spill.jsonl")
    await w.start()
    for r in _log(7):
        w.append(r)
    await w.flush()
    db = await w._ensure_db()
    try:
        assert await db.fetchval("SELECT COUNT(*) FROM request_rollup_day") > 0  # the rollups are there to read
        for since, until in WINDOWS:
            got = await _summary(db, since, until, group_by)
            with monkeypatch.context() as m:
                m.setattr(analytics, "_accumulate", _raw_only)
                want = await _summary(db, since, until, group_by)
            assert got == want, (since, until)
            if since == WINDOWS[0][0]:  # the window has something to compare
                assert got["total"]["requests"] > 300 and got["total"]["latency_ms"]["p95"] is not None
                assert got["recommendations"]
    finally:
        await w.close()
