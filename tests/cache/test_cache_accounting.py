"""What a hit costs and counts: $0 upstream, logged with its kind and the cost it saved,
one request against rate limits, nothing against token budgets; the analytics summary and
``faregate report`` show the hit rate and the dollars saved."""

from __future__ import annotations

import sqlite3

import openai
import pytest

from helpers import cost_of

from .test_cache_e2e import ask, cache_config


def test_hits_are_logged_with_kind_and_saved_cost(start_server, upstreams, tmp_path):
    db = tmp_path / "log.db"
    srv = start_server(cache_config(upstreams) | {"database_url": f"sqlite:///{db}"})
    upstreams["openai"].script({"text": "logged", "usage": {"input_tokens": 1000, "output_tokens": 500}})
    _, h1 = ask(srv, "Log me")
    _, h2 = ask(srv, "Log me")
    srv.stop()
    con = sqlite3.connect(db)
    rows = {
        r[0]: r[1:]
        for r in con.execute("SELECT id, cache_hit, cache_kind, cache_saved_usd, cost_usd, model FROM request_log")
    }
    saved = cost_of("openai", 1000, 500)
    assert rows[h1["x-request-id"]][:3] == (0, None, 0.0)
    assert rows[h1["x-request-id"]][3] == pytest.approx(saved)
    hit = rows[h2["x-request-id"]]
    assert hit[0] == 1 and hit[1] == "exact" and hit[2] == pytest.approx(saved) and hit[3] == 0.0
    assert hit[4] == "fake-openai"
    total = con.execute("SELECT cache_hits, cache_saved_usd FROM request_rollup WHERE dim = 'all'").fetchone()
    assert total[0] == 1 and total[1] == pytest.approx(saved)


def test_summary_and_report_show_cache_savings(start_server, upstreams, tmp_path):
    from click.testing import CliRunner

    from faregate.cli import main

    db = tmp_path / "log.db"
    srv = start_server(cache_config(upstreams) | {"database_url": f"sqlite:///{db}"})
    upstreams["openai"].script({"text": "x", "usage": {"input_tokens": 1_000_000, "output_tokens": 0}})
    for _ in range(4):
        ask(srv, "Report me")
    srv.stop()
    out = CliRunner().invoke(main, ["report", "--database-url", f"sqlite:///{db}", "--since", "1d"])
    assert out.exit_code == 0, out.output
    flat = " ".join(out.output.split())  # rich wraps at the terminal width
    assert "75.0% of requests answered from the cache" in flat
    assert "saving $0.4500 upstream" in flat  # 3 hits x 1M input tokens x $0.15


def test_hits_count_against_rpm_but_not_token_budgets(start_server, upstreams):
    limits = {"keys": {"rpm": 5, "tpm": 150}}
    srv = start_server(cache_config(upstreams) | {"limits": limits})
    upstreams["openai"].script({"text": "budget", "usage": {"input_tokens": 50, "output_tokens": 30}})
    ask(srv, "Budget me")  # 80 tokens of 150
    for _ in range(4):  # hits: each would add 80 tokens if they counted
        _, h = ask(srv, "Budget me")
        assert h["x-faregate-cache"] == "hit"
    with pytest.raises(openai.RateLimitError, match="requests per minute"):
        ask(srv, "Budget me")  # the sixth request in the minute


def test_hits_can_count_in_budgets_when_configured(start_server, upstreams):
    limits = {"keys": {"tpm": 150}}
    srv = start_server(cache_config(upstreams, hits_count_in_budgets=True) | {"limits": limits})
    upstreams["openai"].script({"text": "budget", "usage": {"input_tokens": 50, "output_tokens": 30}})
    ask(srv, "Budget me")
    _, h = ask(srv, "Budget me")
    assert h["x-faregate-cache"] == "hit" and float(h["x-faregate-cost-usd"]) > 0
    with pytest.raises(openai.RateLimitError, match="tokens per minute"):
        ask(srv, "Budget me")
