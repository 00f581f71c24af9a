"""``faregate logs export`` and ``faregate report`` over a written log (both backends)."""

from __future__ import annotations

import asyncio
import csv
import io
import json

from click.testing import CliRunner

from faregate.cli import main as cli_main
from faregate.storage.request_log import LogWriter
from faregate.storage.request_record import RequestRecord

DAY0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


async def _fill(url: str) -> None:
    w = LogWriter(url, batch_size=3)
    for i in range(10):
        w.append(
            RequestRecord(
                id=f"r{i}",
                ts=DAY0 + i * 3600,
                key_id="k",
                route="support",
                model="fake-openai",
                models_called=["fake-openai"],
                input_tokens=100,
                output_tokens=10,
                cost_usd=0.001,
                latency_ms=100.0 + i,
                status=200,
                arm="control" if i < 4 else "routed",
                prompt='a, "quoted"\nline' if i == 0 else None,
            )
        )
    await w.close()


def test_export_jsonl_and_csv(db_url):
    asyncio.run(_fill(db_url))
    r = CliRunner().invoke(cli_main, ["logs", "export", "--database-url", db_url, "--since", "2025-12-31T00:00:00Z"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in r.output.splitlines()]
    assert [x["id"] for x in rows] == [f"r{i}" for i in range(10)]
    assert rows[0]["models_called"] == ["fake-openai"] and rows[0]["prompt"] == 'a, "quoted"\nline'
    r = CliRunner().invoke(
        cli_main,
        [
            "logs",
            "export",
            "--format",
            "csv",
            "--database-url",
            db_url,
            "--since",
            str(DAY0 + 3600 * 2),
            "--until",
            str(DAY0 + 3600 * 5),
        ],
    )
    assert r.exit_code == 0, r.output
    table = list(csv.DictReader(io.StringIO(r.output)))
    assert [x["id"] for x in table] == ["r2", "r3", "r4"] and table[0]["cost_usd"] == "0.001"
    r = CliRunner().invoke(cli_main, ["logs", "export", "--database-url", db_url, "--since", "last tuesday"])
    assert r.exit_code != 0 and "since" in r.output


def test_report_tables_and_compare(db_url):
    asyncio.run(_fill(db_url))
    r = CliRunner().invoke(
        cli_main,
        [
            "report",
            "--database-url",
            db_url,
            "--since",
            "2026-01-01T00:00:00Z",
            "--until",
            "2026-01-02T00:00:00Z",
            "--group-by",
            "route",
            "--compare",
        ],
        env={"COLUMNS": "240"},
    )
    assert r.exit_code == 0, r.output
    assert "support" in r.output and "TOTAL" in r.output and "control" in r.output and "routed" in r.output
    r = CliRunner().invoke(
        cli_main,
        [
            "report",
            "--database-url",
            db_url,
            "--since",
            "2026-01-01T00:00:00Z",
            "--until",
            "2026-01-02T00:00:00Z",
            "--json",
            "--compare",
        ],
    )
    s = json.loads(r.output)
    assert s["total"]["requests"] == 10 and s["arms"]["control"]["requests"] == 4


def test_report_stays_readable_at_80_columns(db_url):
    asyncio.run(_fill(db_url))
    args = ["report", "--database-url", db_url, "--since", "2026-01-01T00:00:00Z", "--until", "2026-01-02T00:00:00Z"]
    narrow = CliRunner().invoke(cli_main, args, env={"COLUMNS": "80"})
    assert narrow.exit_code == 0, narrow.output
    assert "…" not in narrow.output, narrow.output
    assert max(len(line) for line in narrow.output.splitlines()) <= 80
    assert all(h in narrow.output for h in ("spend", "p95 ms", "ceiling met", "TOTAL"))
    wide = CliRunner().invoke(cli_main, args, env={"COLUMNS": "240"})
    assert wide.output.count("TOTAL") == 1 and narrow.output.count("TOTAL") == 3
