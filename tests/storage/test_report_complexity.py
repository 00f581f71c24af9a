"""``faregate report --group-by complexity``: requests grouped by their complexity class (log column, migration 008)."""

from __future__ import annotations

import asyncio
import json

from click.testing import CliRunner

from faregate.cli import main as cli_main
from faregate.storage.request_log import LogWriter
from faregate.storage.request_record import RequestRecord

DAY0 = 1767225600.0  # 2026-01-01T00:00:00Z


async def _fill(url: str) -> None:
    w = LogWriter(url, batch_size=2)
    for i, level in enumerate(["simple", "simple", "complex", "medium", "simple"]):
        w.append(RequestRecord(id=f"c{i}", ts=DAY0 + i * 60, model="m", cost_usd=0.001 * (i + 1), complexity=level))
    await w.close()


def test_report_groups_by_complexity(db_url):
    asyncio.run(_fill(db_url))
    args = ["report", "--database-url", db_url, "--since", "2026-01-01T00:00:00Z", "--until", "2026-01-02T00:00:00Z"]
    r = CliRunner().invoke(cli_main, [*args, "--group-by", "complexity", "--json"])
    assert r.exit_code == 0, r.output
    groups = {g["group"]: g["requests"] for g in json.loads(r.output)["groups"]}
    assert groups == {"simple": 3, "medium": 1, "complex": 1}
