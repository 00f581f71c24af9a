"""A short `faregate demo` run: the figures it prints agree with the request log it wrote."""

from __future__ import annotations

import re
import sqlite3

from click.testing import CliRunner

from faregate.demo.commands import demo_cmd
from faregate.demo.simulator import FLOORS, STRONGEST

N = 60


def _row(out: str, label: str) -> list[str]:
    """The two cells (faregate, baseline) of a summary-table row."""
    for line in out.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) >= 4 and cells[1].startswith(label):
            return cells[2:4]
    raise AssertionError(f"no row {label!r} in:\n{out}")


def _usd(cell: str) -> float:
    return float(cell.replace("$", "").replace(",", ""))


def test_demo_figures_match_the_request_log(tmp_path):
    db_path = tmp_path / "demo.db"
    result = CliRunner().invoke(
        demo_cmd,
        [
            "--requests",
            str(N),
            "--seed",
            "3",
            "--time-scale",
            "0.1",
            "--concurrency",
            "16",
            "--monthly-requests",
            "1000000",
            "--db",
            str(db_path),
        ],
        terminal_width=200,
    )
    out = result.output
    assert result.exit_code == 0, out
    assert "errors" not in out.split("savings:")[0]

    requests = _row(out, "requests")
    assert requests == [str(N), str(N)]
    spend, base_spend = (_usd(c) for c in _row(out, "spend"))
    met_cell, base_met_cell = _row(out, "quality met")
    savings = float(re.search(r"savings: ([\d.]+)%", out).group(1)) / 100
    monthly = _usd(re.search(r"a month: (\$[\d,.]+) saved", out).group(1))

    db = sqlite3.connect(db_path)
    routed = db.execute(
        "SELECT id, task, cost_usd, model FROM request_log "
        # A request that could wait was answered by a batch line, which names its planned model.
        "WHERE (requested_model = 'auto' OR batch_id IS NOT NULL) AND status = 200"
    ).fetchall()
    base = db.execute(
        "SELECT cost_usd FROM request_log WHERE requested_model = ? AND batch_id IS NULL", (STRONGEST,)
    ).fetchall()
    assert len(routed) == N and len(base) == N
    log_spend = sum(r[2] for r in routed)
    log_base = sum(r[0] for r in base)
    # Printed to 4 significant decimals.
    assert abs(log_spend - spend) <= 0.00006 + 1e-3 * spend, (log_spend, spend)
    assert abs(log_base - base_spend) <= 0.00006 + 1e-3 * base_spend, (log_base, base_spend)
    assert abs((1 - log_spend / log_base) - savings) < 0.0006
    assert abs((log_base - log_spend) / N * 1_000_000 - monthly) <= 1.0
    assert log_spend < log_base  # routing is cheaper than always the strongest tier

    # Quality met: every routed answer's simulated quality went back as feedback; the printed
    # share is the share of those scores at or above the request's task floor.
    scores = dict(db.execute("SELECT request_id, score FROM feedback").fetchall())
    assert set(scores) == {r[0] for r in routed}
    met = sum(scores[rid] >= FLOORS[task] for rid, task, _, _ in routed) / N
    assert met_cell == f"{met:.1%}", (met_cell, met)
    assert base_met_cell.endswith("%")
    # The model mix printed is the log's mix.
    models = {r[3] for r in routed}
    assert models <= {"sim-frontier", "sim-mid", "sim-small"} and len(models) >= 2
