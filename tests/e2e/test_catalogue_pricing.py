"""A config naming only the model (and a key) serves and prices requests from the catalogue."""

from __future__ import annotations

import sqlite3
import time

import openai

from faregate.catalogue import shipped
from helpers import GATEWAY_KEY


def test_named_only_model_is_priced_from_the_catalogue_end_to_end(start_server, upstreams, tmp_path):
    db = tmp_path / "log.db"
    fake = upstreams["openai"]
    srv = start_server(
        {
            "models": [{"model": "gpt-4o-mini", "api_key": "sk-upstream", "base_url": fake.model_base_url}],
            "keys": [{"key": GATEWAY_KEY}],
            "learning": {"enabled": False},
            "database_url": f"sqlite:///{db}",
        }
    )
    fake.script({"text": "hello", "usage": {"input_tokens": 1200, "output_tokens": 340}})
    client = openai.OpenAI(base_url=srv.base_url, api_key=GATEWAY_KEY, max_retries=0, timeout=10)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )
    reply = raw.parse()
    p = shipped().get("gpt-4o-mini").prices
    u = reply.usage
    expected = (u.prompt_tokens * p.input + u.completion_tokens * p.output) / 1e6
    assert (u.prompt_tokens, u.completion_tokens) == (1200, 340)
    assert abs(float(raw.headers["x-faregate-cost-usd"]) - expected) < 1e-12
    policy = raw.headers["x-faregate-policy"]
    assert policy == srv.gateway.runtime.policy and len(policy) == 12
    assert fake.last_request()["body"]["model"] == "gpt-4o-mini"
    deadline = time.monotonic() + 10
    row = None
    while time.monotonic() < deadline and row is None:
        with sqlite3.connect(db) as con:
            try:
                row = con.execute("SELECT policy, cost_usd FROM request_log").fetchone()
            except sqlite3.OperationalError:
                row = None
        time.sleep(0.1)
    assert row is not None and row[0] == policy and abs(row[1] - expected) < 1e-12
