"""Provider prompt caching: Anthropic ``cache_control`` markers pass through from both fronts,
``auto`` places them for clients that send none (at most the provider's four), and cache reads
and writes are priced at their own prices in the cost header, the log and budgets."""

from __future__ import annotations

import sqlite3

import anthropic
import openai
import pytest

from faregate.adapters.anthropic_request import build_body
from faregate.core.types import ChatRequest
from helpers import GATEWAY_KEY, PRICES, fake_config

EPH = {"type": "ephemeral"}
LONG = "You are a meticulous assistant. " * 200  # ~6400 characters: worth caching


def markers(body: dict) -> list[dict]:
    blocks = list(body.get("tools") or [])
    if isinstance(body.get("system"), list):
        blocks += body["system"]
    for m in body["messages"]:
        if isinstance(m["content"], list):
            blocks += m["content"]
    return [b for b in blocks if "cache_control" in b]


def config(upstreams, mode: str = "pass", **extra) -> dict:
    cfg = fake_config(upstreams, cache={"enabled": False, "provider_prompt_caching": mode}, **extra)
    for m in cfg["models"]:
        if m["provider"] == "anthropic":
            m["prices"] = {**PRICES["anthropic"], "cache_write": 3.75}
    return cfg


def test_markers_pass_through_from_the_anthropic_front(start_server, upstreams):
    srv = start_server(config(upstreams))
    ac = anthropic.Anthropic(base_url=srv.url, api_key=GATEWAY_KEY, max_retries=0, timeout=10)
    ac.messages.create(
        model="fake-anthropic",
        max_tokens=20,
        system=[{"type": "text", "text": LONG, "cache_control": EPH}],
        messages=[{"role": "user", "content": [{"type": "text", "text": "Question", "cache_control": EPH}]}],
    )
    body = upstreams["anthropic"].last_request()["body"]
    assert body["system"] == [{"type": "text", "text": LONG, "cache_control": EPH}]
    assert body["messages"][0]["content"] == [{"type": "text", "text": "Question", "cache_control": EPH}]


def test_markers_pass_through_from_the_openai_front(start_server, upstreams):
    srv = start_server(config(upstreams))
    oa = openai.OpenAI(base_url=srv.base_url, api_key=GATEWAY_KEY, max_retries=0, timeout=10)
    oa.chat.completions.create(
        model="fake-anthropic",
        messages=[
            {"role": "system", "content": [{"type": "text", "text": LONG, "cache_control": EPH}]},  # type: ignore[list-item]
            {"role": "user", "content": "Question"},
        ],
    )
    body = upstreams["anthropic"].last_request()["body"]
    assert body["system"] == [{"type": "text", "text": LONG, "cache_control": EPH}]


def test_auto_marks_long_stable_prefixes_only(start_server, upstreams):
    srv = start_server(config(upstreams, mode="auto"))
    oa = openai.OpenAI(base_url=srv.base_url, api_key=GATEWAY_KEY, max_retries=0, timeout=10)
    oa.chat.completions.create(
        model="fake-anthropic",
        messages=[
            {"role": "system", "content": LONG},
            {"role": "user", "content": "First question"},
            {"role": "assistant", "content": "First answer"},
            {"role": "user", "content": "Second question"},
        ],
    )
    body = upstreams["anthropic"].last_request()["body"]
    assert body["system"][-1]["cache_control"] == EPH
    assert body["messages"][1]["content"][-1] == {"type": "text", "text": "First answer", "cache_control": EPH}
    assert len(markers(body)) == 2
    oa.chat.completions.create(model="fake-anthropic", messages=[{"role": "user", "content": "Short"}])
    assert markers(upstreams["anthropic"].last_request()["body"]) == []


def test_at_most_four_breakpoints_and_off_drops_them():
    msgs = [{"role": "system", "content": [{"type": "text", "text": f"s{i}", "cache_control": EPH} for i in range(6)]}]
    msgs.append({"role": "user", "content": "q"})
    body = build_body(ChatRequest(model="m", messages=msgs), "m", stream=False)
    assert [b["text"] for b in markers(body)] == ["s2", "s3", "s4", "s5"]  # the longest prefixes kept
    off = build_body(ChatRequest(model="m", messages=msgs, prompt_caching="off"), "m", stream=False)
    assert markers(off) == []


# (protocol, usage the fake reports, the hand-computed cost in USD)
CASES = [
    # OpenAI: 3000 prompt tokens of which 2048 cached at $0.075/M, the rest $0.15/M; 100 out at $0.60/M:
    # 952 x 0.15 + 2048 x 0.075 + 100 x 0.60 = 142.8 + 153.6 + 60 = 356.4 micro-dollars.
    ("openai", {"input_tokens": 3000, "output_tokens": 100, "cache_read_tokens": 2048}, 0.0003564),
    # Anthropic: 500 fresh at $3/M, 2000 read at $0.30/M, 4000 written at $3.75/M; 100 out at $15/M:
    # 1500 + 600 + 15000 + 1500 = 18600 micro-dollars.
    (
        "anthropic",
        {"input_tokens": 500, "output_tokens": 100, "cache_read_tokens": 2000, "cache_write_tokens": 4000},
        0.0186,
    ),
    # Gemini: 3000 prompt tokens of which 1000 cached at $0.075/M, the rest $0.30/M; 100 out at $2.50/M:
    # 2000 x 0.30 + 1000 x 0.075 + 100 x 2.50 = 600 + 75 + 250 = 925 micro-dollars.
    ("gemini", {"input_tokens": 3000, "output_tokens": 100, "cache_read_tokens": 1000}, 0.000925),
]


@pytest.mark.parametrize(("protocol", "usage", "expected"), CASES, ids=[c[0] for c in CASES])
def test_cost_of_cache_reads_and_writes_matches_a_hand_computation(
    start_server, upstreams, tmp_path, protocol, usage, expected
):
    db = tmp_path / "log.db"
    srv = start_server(config(upstreams, database_url=f"sqlite:///{db}"))
    upstreams[protocol].script({"text": "cached prefix answer", "usage": usage})
    oa = openai.OpenAI(base_url=srv.base_url, api_key=GATEWAY_KEY, max_retries=0, timeout=10)
    raw = oa.chat.completions.with_raw_response.create(
        model=f"fake-{protocol}", messages=[{"role": "user", "content": "Hi"}]
    )
    assert float(raw.headers["x-faregate-cost-usd"]) == pytest.approx(expected, rel=1e-9)
    srv.stop()
    row = sqlite3.connect(db).execute("SELECT cost_usd, cached_tokens FROM request_log").fetchone()
    assert row[0] == pytest.approx(expected, rel=1e-9) and row[1] == usage["cache_read_tokens"]


TOOLS_ANTHROPIC = [
    {"name": "lookup", "description": "Look a thing up", "input_schema": {"type": "object"}},
    {"name": "search", "description": LONG, "input_schema": {"type": "object"}, "cache_control": EPH},
]


def test_tool_markers_pass_through_and_cache_writes_then_reads_are_priced(start_server, upstreams):
    """A breakpoint on the last tool definition (caching the tools prefix) reaches Anthropic;
    the first call writes the cache at the write price, the second reads it at the read price."""
    srv = start_server(config(upstreams))
    upstreams["anthropic"].script(
        {"text": "first", "usage": {"input_tokens": 200, "output_tokens": 50, "cache_write_tokens": 3000}},
        {"text": "second", "usage": {"input_tokens": 200, "output_tokens": 50, "cache_read_tokens": 3000}},
    )
    ac = anthropic.Anthropic(base_url=srv.url, api_key=GATEWAY_KEY, max_retries=0, timeout=10)
    costs, usages = [], []
    for _ in range(2):
        raw = ac.messages.with_raw_response.create(
            model="fake-anthropic", max_tokens=20, tools=TOOLS_ANTHROPIC, messages=[{"role": "user", "content": "Q"}]
        )
        costs.append(float(raw.headers["x-faregate-cost-usd"]))
        usages.append(raw.parse().usage)
        body = upstreams["anthropic"].last_request()["body"]
        assert [t.get("cache_control") for t in body["tools"]] == [None, EPH]
    # 200 fresh x $3 + 3000 written x $3.75 + 50 out x $15 = 600 + 11250 + 750 micro-dollars.
    assert costs[0] == pytest.approx(0.0126, rel=1e-9)
    # 200 fresh x $3 + 3000 read x $0.30 + 50 out x $15 = 600 + 900 + 750 micro-dollars.
    assert costs[1] == pytest.approx(0.00225, rel=1e-9)
    assert usages[0].cache_creation_input_tokens == 3000 and usages[1].cache_read_input_tokens == 3000
    assert usages[0].input_tokens == usages[1].input_tokens == 200


def test_tool_markers_from_the_openai_front_reach_anthropic_only(start_server, upstreams):
    srv = start_server(config(upstreams))
    oa = openai.OpenAI(base_url=srv.base_url, api_key=GATEWAY_KEY, max_retries=0, timeout=10)
    tools = [
        {"type": "function", "function": {"name": "search", "description": LONG, "parameters": {"type": "object"}}}
        | {"cache_control": EPH}
    ]
    for model in ("fake-anthropic", "fake-openai"):
        oa.chat.completions.create(model=model, tools=tools, messages=[{"role": "user", "content": "Q"}])  # type: ignore[arg-type]
    assert upstreams["anthropic"].last_request()["body"]["tools"][0]["cache_control"] == EPH
    assert "cache_control" not in upstreams["openai"].last_request()["body"]["tools"][0]  # not OpenAI's field
    off = build_body(
        ChatRequest(model="m", messages=[{"role": "user", "content": "q"}], tools=tools), "m", stream=False
    )
    assert markers(off) == [off["tools"][0]]
