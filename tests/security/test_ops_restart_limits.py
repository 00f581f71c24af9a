"""Budgets survive a restart: exhaust a daily budget (and an rpm limit), start a new gateway on
the same SQLite request log, and the budget is still exhausted (429 budget_exceeded).

With the in-memory store the rpm window starts empty after a restart (documented in
docs/operations.md); with Redis everything is kept."""

from __future__ import annotations

import os
import time
import uuid

import openai
import pytest

from faregate.limits.base import USD, Limit
from faregate.limits.memory import MemoryLimitStore
from faregate.pipeline.limits_restore import restore_spend
from faregate.storage.db import Database
from faregate.storage.request_record import RequestRecord
from helpers import fake_config

REDIS = os.environ.get("FAREGATE_TEST_REDIS", "redis://127.0.0.1:6379/0")


def _redis_up() -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(params=["memory", "redis"])
def limit_store_url(request):
    if request.param == "memory":
        return None
    if not _redis_up():
        if os.environ.get("FAREGATE_REQUIRE_SERVICES") == "1":
            pytest.fail("Redis at 127.0.0.1:6379 is required (FAREGATE_REQUIRE_SERVICES=1) but unreachable")
        pytest.skip("Redis unreachable")
    return REDIS


def _ask(srv, key: str):
    with openai.OpenAI(base_url=srv.base_url, api_key=key, max_retries=0, timeout=10) as c:
        return c.chat.completions.create(
            model="fake-openai", messages=[{"role": "user", "content": "hi"}], max_tokens=1
        )


def _refusal(srv, key: str) -> dict:
    with pytest.raises(openai.RateLimitError) as exc:
        _ask(srv, key)
    return exc.value.response.json()["error"]


def test_a_daily_budget_stays_exhausted_after_a_restart(start_server, upstreams, tmp_path, limit_store_url):
    tag = uuid.uuid4().hex[:10]  # fresh key ids: Redis counters of other runs never apply
    budget_key, rpm_key = f"fg-budget-{tag}", f"fg-rpm-{tag}"
    cfg = fake_config(upstreams, keys=[], database_url=f"sqlite:///{tmp_path / 'log.db'}")
    cfg["keys"] = [
        {"key": budget_key, "name": "budget", "limits": {"budget_usd_day": 0.01}},
        {"key": rpm_key, "name": "rpm", "limits": {"rpm": 1}},
    ]
    if limit_store_url:
        cfg["redis_url"] = limit_store_url
    # One answer that costs 0.075 USD (100k tokens in and out at 0.15 / 0.60 per million).
    upstreams["openai"].script({"usage": {"input_tokens": 100_000, "output_tokens": 100_000}})
    first = start_server(cfg)
    _ask(first, budget_key)
    assert _refusal(first, budget_key)["code"] == "budget_exceeded"
    _ask(first, rpm_key)
    assert _refusal(first, rpm_key)["code"] == "rate_limit_exceeded"
    first.stop()  # flushes the request log

    second = start_server(cfg)  # a new Gateway, a new limit store, the same request log
    err = _refusal(second, budget_key)
    assert err["code"] == "budget_exceeded", err
    assert "daily budget" in err["message"]
    if limit_store_url:
        assert _refusal(second, rpm_key)["code"] == "rate_limit_exceeded"  # Redis keeps the window
    else:
        assert _ask(second, rpm_key).choices  # memory: the rpm window starts empty (documented)


async def test_rolling_and_calendar_spend_is_rebuilt_per_scope(tmp_path):
    """Key, team and model scopes; calendar day and month; the rolling hour window by slot."""
    db = await Database.open(f"sqlite:///{tmp_path / 'log.db'}")
    try:
        await db.migrate("request_log")
        now = time.time()
        rows = [
            RequestRecord(id="a", ts=now - 10, key_id="k1", team="t1", requested_model="m1", cost_usd=0.5),
            RequestRecord(id="b", ts=now - 20, key_id="k1", team=None, requested_model="m1", cost_usd=0.25),
            RequestRecord(id="c", ts=now - 40 * 86400, key_id="k1", team="t1", requested_model="m1", cost_usd=9.0),
        ]
        from faregate.storage.request_record import COLUMNS

        cols = ", ".join(COLUMNS)
        marks = ", ".join(f"${i + 1}" for i in range(len(COLUMNS)))
        await db.executemany(f"INSERT INTO request_log ({cols}) VALUES ({marks})", [r.to_values() for r in rows])
        store = MemoryLimitStore()
        await restore_spend(store, db, now)
    finally:
        await db.close()

    def day(scope: str) -> Limit:
        return Limit(f"{scope}:budget_usd_day", 10 * USD, calendar="day", kind="cost")

    assert await store.usage(day("key:k1"), now) == int(0.75 * USD)
    assert await store.usage(day("team:t1"), now) == int(0.5 * USD)
    assert await store.usage(day("model:m1"), now) == int(0.75 * USD)
    month = Limit("key:k1:budget_usd_month", 10 * USD, calendar="month", kind="cost")
    assert await store.usage(month, now) >= int(0.75 * USD)  # the 40-day-old row is another month
    assert await store.usage(month, now) < int(9 * USD)
    hour = Limit("key:k1:cost_usd_hour", 10 * USD, 3600.0, kind="cost")
    assert await store.usage(hour, now) == int(0.75 * USD)
    assert await store.usage(hour, now + 3600) == 0  # and it leaves the window as it would have
