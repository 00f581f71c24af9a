"""Implicit retry signals through a running gateway, with the official ``openai`` SDK: a quick
burst of the same prompt is not a retry (the predicted quality stays put, no signal header); the
same prompt again after the answer was read is, and says so in ``x-faregate-signals`` (which
signal, which model, by how much); each key's retry signals are bounded per window."""

from __future__ import annotations

import json
import time

import openai

from helpers import GATEWAY_KEY, UPSTREAM_KEYS

PROMPT = "Write a limerick about a cat who audits the accounts of a small bakery."


def test_a_burst_is_not_a_retry_and_a_genuine_retry_moves_the_model_boundedly(start_server, upstreams):
    fake = upstreams["openai"]
    srv = start_server(
        {
            "models": [{"model": "gpt-4.1-mini", "base_url": fake.model_base_url, "api_key": UPSTREAM_KEYS["openai"]}],
            "keys": [{"key": GATEWAY_KEY}],
            "learning": {"enabled": True, "explore_rate": 0.0, "retry_min_gap_s": 1.0, "max_retry_signals": 2},
        }
    )
    c = openai.OpenAI(base_url=srv.base_url, api_key=GATEWAY_KEY, max_retries=0, timeout=10)

    def ask():
        fake.script({"text": "There once was a cat..."})
        raw = c.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": PROMPT}], extra_body={"faregate": {"min_quality": 0.5}}
        )
        return float(raw.headers["x-faregate-predicted-quality"]), raw.headers.get("x-faregate-signals")

    burst = [ask() for _ in range(5)]  # by hand, quickly: each sooner than 1 s after the last answer
    assert [s for _, s in burst] == [None] * 5
    assert len({q for q, _ in burst}) == 1, "a burst of the same prompt moved the predicted quality"
    q0 = burst[0][0]

    moves = []
    for _ in range(4):
        time.sleep(1.5)  # the answer was read, then the same prompt sent again: a retry
        moves.append(ask())
    (q1, s1), (q2, s2), (q3, s3), (q4, s4) = moves
    assert s1 is not None and s1.startswith("retried;model=gpt-4.1-mini;weight=0.5;moved=-")
    moved = float(s1.split("moved=")[1].split(";")[0])
    assert -0.5 < moved < 0  # bounded: half weight, one step of the posterior
    # A request's signal is learned after its own plan: the next plan shows it.
    assert q1 == q0 and abs(q2 - (q0 + moved)) < 2e-4
    assert s2 is not None and q3 < q2
    assert s3 is None and s4 is None, "a key's third retry signal in one window must be dropped"
    assert q4 == q3, "a dropped retry signal moved the model"

    # faregate report says which signals moved which model (the learner shares its updates
    # through the request-log database every sync interval, 1 s)
    from click.testing import CliRunner

    from faregate.storage.commands import report_cmd

    rows: list = []
    for _ in range(20):
        time.sleep(0.5)
        out = CliRunner().invoke(report_cmd, ["--signals", "--json", "--database-url", srv.config["database_url"]])
        assert out.exit_code == 0, out.output
        rows = json.loads(out.output)["signals"]
        if rows:
            break
    assert rows == [
        {
            "model": "gpt-4.1-mini",
            "signal": "retried",
            "count": 2,
            "weight": 1.0,
            "mean_residual": rows[0]["mean_residual"],
        }
    ]
    assert rows[0]["mean_residual"] < 0
