"""Experiment analytics from the request log (migration 012): rows per arm with feedback, on
SQLite and PostgreSQL, through ``faregate experiments report``."""

from __future__ import annotations

import asyncio
import json
import time

from click.testing import CliRunner

from faregate.cli import main as cli_main
from faregate.storage.db import Database
from faregate.storage.experiments import experiment_rows
from faregate.storage.request_log import LogWriter
from faregate.storage.request_record import RequestRecord


async def _fill(url: str) -> None:
    now = time.time() - 60
    w = LogWriter(url, batch_size=50)
    for i in range(80):
        arm = "a" if i % 2 == 0 else "b"
        cost = 0.010 if arm == "a" else 0.005  # arm b is half the price
        w.append(
            RequestRecord(
                id=f"x{i}",
                ts=now + i * 0.01,
                model="m",
                cost_usd=cost + 0.0001 * (i % 7),
                latency_ms=100 + i % 11,
                experiment="exp1",
                experiment_arm=arm,
            )
        )
    w.append(RequestRecord(id="other", ts=now, model="m", experiment="exp2", experiment_arm="a"))
    await w.close()
    db = await Database.open(url)
    try:
        for i in range(0, 20):
            await db.execute(
                "INSERT INTO feedback (request_id, key_id, ts, score) VALUES ($1, $2, $3, $4)", f"x{i}", None, now, 0.8
            )
    finally:
        await db.close()


def test_rows_per_arm_with_feedback_and_cli_report(db_url):
    asyncio.run(_fill(db_url))

    async def rows():
        db = await Database.open(db_url)
        try:
            return await experiment_rows(db, "exp1", 0, time.time() + 1)
        finally:
            await db.close()

    arms = asyncio.run(rows())
    assert sorted(arms) == ["a", "b"] and len(arms["a"]) == len(arms["b"]) == 40
    assert sum(r["score"] is not None for r in arms["a"] + arms["b"]) == 20
    r = CliRunner().invoke(cli_main, ["experiments", "report", "exp1", "--database-url", db_url, "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    assert rep["arms"]["a"]["requests"] == 40 and rep["arms"]["a"]["rated_requests"] == 10
    diff = rep["comparisons"][0]["differences"]["cost_per_request_usd"]
    assert diff["significant"] and diff["ci95"][1] < 0  # b is cheaper
    assert "cheaper by" in rep["comparisons"][0]["verdict"]
    text = CliRunner().invoke(cli_main, ["experiments", "report", "exp1", "--database-url", db_url])
    assert text.exit_code == 0 and "arm b vs a: cheaper by" in text.output
    missing = CliRunner().invoke(cli_main, ["experiments", "report", "nope", "--database-url", db_url])
    assert missing.exit_code != 0 and "no requests logged" in missing.output
