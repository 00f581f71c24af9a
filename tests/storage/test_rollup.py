"""The writer's grouped rollup deltas equal the plain definition: ``add_row`` per record and dim."""

from __future__ import annotations

import random

import pytest

from faregate.storage import rollup
from faregate.storage.request_record import COLUMNS, RequestRecord


def _records(n: int, seed: int = 7) -> list[RequestRecord]:
    rng = random.Random(seed)
    t0 = 1_700_000_000.0
    out = []
    for i in range(n):
        out.append(
            RequestRecord(
                id=f"req_{i}",
                ts=t0 + rng.uniform(0, 3 * 86400),  # three days, many hours
                key_id=rng.choice(["k1", "k2", None]),
                route=rng.choice([None, "auto", "cheap"]),
                requested_model="m-req",
                model=rng.choice(["a", "b", None]),
                task=rng.choice([None, "code", "chat"]),
                arm=rng.choice([None, "router", "control"]),
                input_tokens=rng.randint(0, 900),
                output_tokens=rng.randint(0, 300),
                cached_tokens=rng.randint(0, 50),
                cost_usd=rng.random() / 1000,
                ttft_ms=rng.choice([None, rng.uniform(0, 5000)]),
                latency_ms=rng.choice([0.0, rng.uniform(0, 90_000)]),
                status=rng.choice([200, 200, 200, 429, 502]),
                error_class=rng.choice([None, None, "timeout"]),
                fallback_used=rng.random() < 0.2,
                cache_hit=rng.random() < 0.1,
                constraint_unmet=rng.random() < 0.1,
                client_disconnect=rng.random() < 0.05,
                latency_met=rng.choice([None, True, False]),
            )
        )
    return out


def _reference(records: list[RequestRecord]) -> dict[int, dict[tuple, dict]]:
    """What each upsert must add: every record's row, added to each of its dims, per span."""
    out: dict[int, dict[tuple, dict]] = {}
    for span in rollup.TABLES:
        agg: dict[tuple, dict] = {}
        for r in records:
            row = r.to_row()
            for dim, value in rollup.dim_values(row):
                key = (int(r.ts // span) * span, dim, value)
                rollup.add_row(agg.setdefault(key, rollup.empty()), row)
        out[span] = agg
    return out


def _by_key(params: list[tuple]) -> dict[tuple, dict]:
    return {p[:3]: dict(zip(rollup.ALL_COLS, p[3:])) for p in params}


def test_grouped_deltas_equal_per_row_definition():
    records = _records(2_000)
    ref = _reference(records)
    acc = rollup.Accumulator()
    for i in range(0, len(records), 300):  # added a slice at a time, as the writer does
        acc.add(records[i : i + 300])
    stmts = acc.statements()
    assert [sql for sql, _ in stmts] == [rollup.UPSERTS[span] for span in rollup.TABLES]
    for span, (_, params) in zip(rollup.TABLES, stmts):
        got = _by_key(params)
        assert got.keys() == ref[span].keys()
        for key, want in ref[span].items():
            for col in rollup.ALL_COLS:
                assert got[key][col] == pytest.approx(want[col], rel=1e-12, abs=1e-12), (span, key, col)
    # Every record counted once per dim and span: the 'all' rows sum to the batch.
    for _, params in stmts:
        assert sum(v["requests"] for k, v in _by_key(params).items() if k[1] == "all") == len(records)


def test_integer_columns_stay_integers():
    """PostgreSQL's BIGINT columns take Python ints only (asyncpg refuses floats there)."""
    _, params = rollup.statements(_records(50))[0]
    for p in params:
        for col, v in zip(rollup.ALL_COLS, p[3:]):
            assert isinstance(v, float) if col in ("cost_usd", "latency_sum", "cache_saved_usd") else type(v) is int, (
                col
            )


def test_values_follow_columns():
    r = _records(1)[0]
    r.plan_models = ["a", "b"]
    r.fallback_used = True
    v = dict(zip(COLUMNS, r.to_values()))
    assert v["plan_models"] == '["a","b"]' and v["fallback_used"] == 1 and v["id"] == r.id
    assert RequestRecord.from_row(r.to_row()) == r


def test_flags_are_never_null_and_an_unknown_ceiling_stays_null():
    r = RequestRecord(id="req_x", ts=1.0, fallback_used=None, latency_met=None)  # type: ignore[arg-type]
    v = dict(zip(COLUMNS, r.to_values()))
    assert v["fallback_used"] == 0 and v["cache_hit"] == 0 and v["latency_met"] is None
    assert dict(zip(COLUMNS, RequestRecord(id="req_y", ts=1.0, latency_met=False).to_values()))["latency_met"] == 0
