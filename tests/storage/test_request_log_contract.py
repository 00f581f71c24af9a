"""The request-log contract, run against SQLite and the real PostgreSQL (see conftest)."""

from __future__ import annotations

import asyncio
import time

import pytest

from faregate.core.redact import LOG_MARKER, redact
from faregate.core.usage import Prices
from faregate.storage import analytics
from faregate.storage.db import Database, DatabaseUnavailable, migration_files
from faregate.storage.request_log import LogWriter
from faregate.storage.request_record import RequestRecord

from .conftest import closed_port


def rec(i: int, ts: float, **kw) -> RequestRecord:
    base = {
        "id": f"r{i}",
        "ts": ts,
        "key_id": "k1",
        "route": "support",
        "requested_model": "auto",
        "model": "big",
        "input_tokens": 1000,
        "output_tokens": 100,
        "cost_usd": 0.01,
        "latency_ms": 100.0,
        "ttft_ms": 50.0,
    }
    base.update(kw)
    return RequestRecord(**base)


async def count(url: str, table: str = "request_log") -> int:
    db = await Database.open(url)
    try:
        return int(await db.fetchval(f"SELECT COUNT(*) FROM {table}"))
    finally:
        await db.close()


async def wait_for(pred, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < end, "timed out"
        await asyncio.sleep(0.01)


async def test_migrations_apply_once_and_paramstyle(db_url):
    db = await Database.open(db_url)
    try:
        every = [v for v, _name, _sql in migration_files("request_log", db.dialect)]
        assert every[:2] == [1, 2]
        assert await db.migrate("request_log") == every
        assert await db.migrate("request_log") == []
        rows = await db.fetch("SELECT concern, version FROM schema_migrations WHERE concern = $1", "request_log")
        assert [(r["concern"], r["version"]) for r in rows] == [("request_log", v) for v in every]
        await db.executemany(
            "INSERT INTO feedback (request_id, key_id, ts, score) VALUES ($1, $2, $3, $4)",
            [("a", "k", 1.0, 0.5), ("b", "k", 2.0, 1.0)],
        )
        assert await db.fetchval("SELECT SUM(score) FROM feedback WHERE key_id = $1", "k") == 1.5
        assert (await db.fetchrow("SELECT request_id FROM feedback WHERE ts > $1", 1.5))["request_id"] == "b"
        assert await db.fetchrow("SELECT request_id FROM feedback WHERE ts > $1", 5.0) is None
        # A batch is one transaction: a failing statement rolls back the others.
        with pytest.raises(Exception):
            await db.batch(
                [
                    (
                        "INSERT INTO feedback (request_id, key_id, ts, score) VALUES ($1, $2, $3, $4)",
                        [("c", "k", 3.0, 0.1)],
                    ),
                    (
                        "INSERT INTO feedback (request_id, key_id, ts, score) VALUES ($1, $2, $3, $4)",
                        [("a", "k", 3.0, 0.1)],
                    ),
                ]
            )
        assert await db.fetchval("SELECT COUNT(*) FROM feedback") == 2
    finally:
        await db.close()


async def test_writer_batches_and_round_trips(db_url):
    w = LogWriter(db_url, batch_size=50, flush_interval=0.02)
    await w.start()
    t = time.time()
    for i in range(230):
        w.append(
            rec(
                i,
                t,
                models_called=["small", "big"],
                fallback_used=True,
                latency_ceiling_ms=200.0,
                latency_met=True,
                extra={"x": 1},
            )
        )
    await wait_for(lambda: w.written == 230)
    assert w.batches >= 5 and w.batches < 230  # batched, not one write per record
    await w.close()
    assert w.dropped == 0
    assert await count(db_url) == 230
    db = await Database.open(db_url)
    try:
        row = await db.fetchrow("SELECT * FROM request_log WHERE id = $1", "r7")
        back = RequestRecord.from_row(row)
        assert back == rec(
            7,
            t,
            models_called=["small", "big"],
            fallback_used=True,
            latency_ceiling_ms=200.0,
            latency_met=True,
            extra={"x": 1},
        )
        assert await db.fetchval("SELECT SUM(requests) FROM request_rollup WHERE dim = 'all'") == 230
        assert await db.fetchval("SELECT SUM(requests) FROM request_rollup_day WHERE dim = 'model'") == 230
    finally:
        await db.close()


async def test_close_flushes_everything_pending(db_url):
    w = LogWriter(db_url, batch_size=10_000, flush_interval=3600)
    await w.start()
    t = time.time()
    for i in range(1500):
        w.append(rec(i, t))
    assert w.pending == 1500
    await w.close()
    assert (w.pending, w.dropped, w.written) == (0, 0, 1500)
    assert await count(db_url) == 1500


async def test_append_never_blocks_when_the_database_is_down(tmp_path):
    w = LogWriter(
        f"postgresql://postgres@127.0.0.1:{closed_port()}/x",
        max_queue=1000,
        spill_path=tmp_path / "spill.jsonl",
        retry_interval=0.05,
    )
    await w.start()
    t0 = time.perf_counter()
    for i in range(20_000):
        w.append(rec(i, time.time()))
    assert time.perf_counter() - t0 < 1.0
    assert w.pending <= 1000 and w.pending + w.spilled == 20_000 and w.dropped == 0
    await w.close()
    assert w.spilled == 20_000 and w.dropped == 0


async def test_spill_when_down_then_replay_when_back(db_url, tmp_path):
    spill = tmp_path / "spill.jsonl"
    down = LogWriter(
        f"postgresql://postgres@127.0.0.1:{closed_port()}/x",
        max_queue=100,
        batch_size=50,
        spill_path=spill,
        retry_interval=0.05,
        flush_interval=0.02,
    )
    await down.start()
    t = time.time()
    for i in range(300):
        down.append(rec(i, t + i / 1000))
    await asyncio.sleep(0.2)  # the writer keeps failing, records stay queued (up to the bound)
    assert down.pending <= 100 and down.pending + down.spilled == 300 and down.written == 0
    await down.close()  # the database never came back: the rest goes to the spill file too
    assert down.spilled == 300 and down.dropped == 0
    assert len(spill.read_bytes().splitlines()) == 300

    up = LogWriter(db_url, spill_path=spill, flush_interval=0.02)
    await up.start()
    up.append(rec(1000, t))
    await wait_for(lambda: up.written == 301)
    await up.close()
    assert up.replayed == 300 and up.dropped == 0 and not spill.exists()
    assert await count(db_url) == 301
    db = await Database.open(db_url)
    try:  # the rollup counted each replayed record once
        assert await db.fetchval("SELECT SUM(requests) FROM request_rollup WHERE dim = 'all'") == 301
    finally:
        await db.close()


async def test_database_going_away_mid_run_then_back(tmp_path):
    """PostgreSQL URL on a closed port first, then the writer is pointed at a working one."""
    spill = tmp_path / "s.jsonl"
    url_ok = f"sqlite:///{tmp_path / 'ok.db'}"
    w = LogWriter(
        f"postgresql://postgres@127.0.0.1:{closed_port()}/x",
        max_queue=20,
        batch_size=10,
        spill_path=spill,
        retry_interval=0.02,
        flush_interval=0.01,
    )
    await w.start()
    for i in range(100):
        w.append(rec(i, time.time()))
    await asyncio.sleep(0.1)
    assert w.written == 0 and w.spilled >= 80
    w.url = url_ok  # the database "returns"
    await wait_for(lambda: w.written == 100)
    await w.close()
    assert w.dropped == 0 and w.replayed == w.spilled
    assert await count(url_ok) == 100


def test_redaction():
    text = (
        "key sk-proj-abcdefghijklmnopqrstuvwx and fg-live_0123456789abcdef, "
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig and AKIAIOSFODNN7EXAMPLE "
        "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY1 mail bob@example.com "
        "google AIzaSyA-1234567890abcdefghijklmnopqrstu"
    )
    out = redact(text, marker=LOG_MARKER)
    for secret in ("sk-proj-abc", "fg-live_0123", "eyJhbGci", "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI", "AIzaSyA"):
        assert secret not in out, secret
    assert "Bearer [REDACTED]" in out and "bob@example.com" in out
    assert "bob@example.com" not in redact(text, emails=True, marker=LOG_MARKER)
    assert redact("nothing secret here", marker=LOG_MARKER) == "nothing secret here"


PRICES = {"big": Prices(10.0, 30.0), "small": Prices(1.0, 2.0, 0.5)}


async def _write(url: str, records: list[RequestRecord]) -> None:
    w = LogWriter(url, batch_size=7)  # several batches, so rollup rows are upserted more than once
    for r in records:
        w.append(r)
    await w.close()
    assert w.dropped == 0


async def test_analytics_against_hand_computed_values(db_url):
    day0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
    recs = []
    # 10 requests on "big": latencies 100..1000 ms, 2 errors, 1 fallback, ceiling 500 ms on all.
    for i in range(10):
        lat = 100.0 * (i + 1)
        recs.append(
            rec(
                i,
                day0 + 3600 * 5 + i * 60,
                model="big",
                input_tokens=1000,
                output_tokens=100,
                cost_usd=PRICES["big"].cost(_usage(1000, 100)),
                latency_ms=lat,
                ttft_ms=lat / 2,
                status=502 if i in (3, 4) else 200,
                error_class="transient" if i in (3, 4) else None,
                fallback_used=i == 5,
                latency_ceiling_ms=500.0,
                latency_met=lat <= 500,
            )
        )
    # 30 requests on "small" (200 in, 50 out, 100 cached), one cache hit, 3 constraint_unmet, another key.
    for i in range(30):
        recs.append(
            rec(
                100 + i,
                day0 + 86400 + 3600 * 2 + i * 100,
                model="small",
                key_id="k2",
                input_tokens=200,
                output_tokens=50,
                cached_tokens=100,
                cost_usd=PRICES["small"].cost(_usage(200, 50, 100)),
                latency_ms=40.0,
                ttft_ms=None,
                cache_hit=i == 0,
                constraint_unmet=i < 3,
                task="classify",
                arm="control" if i < 10 else "routed",
            )
        )
    await _write(db_url, recs)
    db = await Database.open(db_url)
    try:
        big_cost = 10 * (1000 * 10 + 100 * 30) / 1e6
        small_cost = 30 * (100 * 1.0 + 100 * 0.5 + 50 * 2.0) / 1e6
        # Windows: unaligned (raw edges + hourly + daily), whole days, and entirely within one hour's edges.
        for since, until in (
            (day0 + 1234.5, day0 + 2 * 86400 + 77.0),
            (day0, day0 + 3 * 86400),
            (day0 - 86400 * 3, day0 + 86400 * 9),
        ):
            s = await analytics.summary(
                db, since=since, until=until, group_by="model", baseline="big", prices=PRICES, min_requests=5
            )
            tot = s["total"]
            assert tot["requests"] == 40
            assert tot["spend_usd"] == pytest.approx(big_cost + small_cost, abs=1e-6)
            assert tot["tokens"] == {"input": 16000, "output": 2500, "cached": 3000}
            base = (16000 * 10 + 2500 * 30) / 1e6  # cached priced as input on "big" (no cached price)
            assert tot["baseline_cost_usd"] == pytest.approx(base, abs=1e-6)
            assert tot["savings_usd"] == pytest.approx(base - big_cost - small_cost, abs=1e-6)
            assert tot["error_rate"] == pytest.approx(2 / 40)
            assert tot["fallback_rate"] == pytest.approx(1 / 40)
            assert tot["cache_hit_rate"] == pytest.approx(1 / 40)
            assert tot["constraint_unmet_rate"] == pytest.approx(3 / 40)
            assert tot["latency_ceiling_met"] == pytest.approx(5 / 10)
            g = {x["group"]: x for x in s["groups"]}
            assert g["big"]["requests"] == 10 and g["small"]["requests"] == 30
            assert g["big"]["spend_usd"] == pytest.approx(big_cost, abs=1e-6)
            assert g["big"]["latency_ms"]["mean"] == pytest.approx(550.0)
            # Bucketed percentiles: within one bucket (26%) of the exact value.
            assert g["big"]["latency_ms"]["p50"] == pytest.approx(500, rel=0.27)
            assert g["big"]["latency_ms"]["p99"] == pytest.approx(1000, rel=0.27)
            assert g["big"]["ttft_ms"]["p50"] == pytest.approx(250, rel=0.27)
            assert g["small"]["latency_ms"]["p95"] == pytest.approx(40, rel=0.27)
            assert g["small"]["ttft_ms"]["p50"] is None
        by_day = await analytics.summary(db, since=day0, until=day0 + 3 * 86400, group_by="day")
        assert [(x["group"], x["requests"]) for x in by_day["groups"]] == [("2026-01-01", 10), ("2026-01-02", 30)]
        by_key = await analytics.summary(db, since=day0, until=day0 + 3 * 86400, group_by="key")
        assert {x["group"]: x["requests"] for x in by_key["groups"]} == {"k1": 10, "k2": 30}
        # A window holding only part of the records: from 05:04:30 to 05:07:30 on day 0 -> i = 5, 6, 7.
        part = await analytics.summary(db, since=day0 + 5 * 3600 + 270, until=day0 + 5 * 3600 + 450)
        assert part["total"]["requests"] == 3
        arms = await analytics.compare_arms(db, since=day0, until=day0 + 3 * 86400)
        assert arms["control"]["requests"] == 10 and arms["routed"]["requests"] == 20
        assert arms["(none)"]["requests"] == 10
    finally:
        await db.close()


async def test_recommendation_names_route_model_and_monthly_savings(db_url):
    day0 = 1_767_225_600.0
    recs = []
    # route "support" over one day: 20 requests on big, 20 on small of which 2 constraint_unmet (90% met).
    for i in range(40):
        m = "big" if i < 20 else "small"
        recs.append(
            rec(
                i,
                day0 + i * 60,
                model=m,
                input_tokens=1000,
                output_tokens=100,
                cost_usd=PRICES[m].cost(_usage(1000, 100)),
                constraint_unmet=i >= 38,
            )
        )
    await _write(db_url, recs)
    db = await Database.open(db_url)
    try:
        s = await analytics.summary(db, since=day0, until=day0 + 86400, prices=PRICES, min_requests=10)
        [r] = s["recommendations"]
        spend = 20 * PRICES["big"].cost(_usage(1000, 100)) + 20 * PRICES["small"].cost(_usage(1000, 100))
        all_small = 40 * PRICES["small"].cost(_usage(1000, 100))
        assert (r["route"], r["model"], r["share_met"]) == ("support", "small", 0.9)
        assert r["saves_usd_per_month"] == pytest.approx((spend - all_small) * 30, abs=0.01)
        assert "route support: 90% of requests met the floor on model small" in r["message"]
    finally:
        await db.close()


async def test_bad_parameters():
    with pytest.raises(analytics.BadParameter, match="group_by"):
        await analytics.summary(None, group_by="colour")  # type: ignore[arg-type]
    with pytest.raises(analytics.BadParameter, match="since"):
        analytics.parse_time("yesterday-ish")
    assert analytics.parse_time("1h", now=10_000) == 10_000 - 3600
    assert analytics.parse_time("2026-01-01T00:00:00Z") == 1_767_225_600.0


async def test_unreachable_database_raises_unavailable():
    with pytest.raises(DatabaseUnavailable):
        await Database.open(f"postgresql://postgres@127.0.0.1:{closed_port()}/x")


def _usage(i: int, o: int, c: int = 0):
    from faregate.core.usage import Usage

    return Usage(i, o, c)


async def test_a_record_written_twice_counts_once(db_url):
    """A batch retried after its commit was in fact done: rows and rollups count each id once."""
    t = time.time()
    w = LogWriter(db_url)
    w.append(rec(1, t))
    await w.flush()
    w.append(rec(1, t))
    w.append(rec(2, t))
    await w.close()
    assert w.dropped == 0 and w.pending == 0
    assert await count(db_url) == 2
    db = await Database.open(db_url)
    try:
        assert await db.fetchval("SELECT SUM(requests) FROM request_rollup WHERE dim = 'all'") == 2
    finally:
        await db.close()


async def test_append_after_close_goes_to_the_spill_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'late.db'}"
    w = LogWriter(url, spill_path=tmp_path / "late.jsonl")
    await w.start()
    await w.close()
    w.append(rec(1, time.time()))  # a request that finished after shutdown
    assert (w.spilled, w.dropped) == (1, 0)
    again = LogWriter(url, spill_path=tmp_path / "late.jsonl")
    await again.close()
    assert again.replayed == 1 and await count(url) == 1


async def test_concurrent_starters_apply_each_migration_once(db_url):
    dbs = [await Database.open(db_url) for _ in range(4)]
    try:
        applied = await asyncio.gather(*(d.migrate("request_log") for d in dbs))
        every = [v for v, _name, _sql in migration_files("request_log", dbs[0].dialect)]
        assert sorted(v for one in applied for v in one) == every  # each version applied by exactly one
        assert await dbs[0].fetchval("SELECT COUNT(*) FROM schema_migrations WHERE concern = 'request_log'") == len(
            every
        )
    finally:
        for d in dbs:
            await d.close()
