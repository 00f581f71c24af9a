"""The analytics summary's recommendations: each rule fires on a log that shows its pattern, with
its evidence and a projected monthly saving, and stays quiet on a log that does not."""

from __future__ import annotations

import time

from faregate.core.usage import Prices
from faregate.storage import analytics
from faregate.storage.recommendations import RecommendationContext
from faregate.storage.request_log import LogWriter
from faregate.storage.request_record import RequestRecord

PRICES = {
    "big": Prices(input=10.0, output=30.0, cached_input=1.0),
    "small": Prices(input=0.1, output=0.4, cached_input=0.05),
    "flaky": Prices(input=1.0, output=2.0),
}
LONG = "You are a support agent. " * 80  # a long shared system prompt (~2000 chars)


def _records(now: float) -> list[RequestRecord]:
    out: list[RequestRecord] = []

    def add(i: int, **kw) -> None:
        out.append(RequestRecord(id=f"r{len(out)}", ts=now - 3600 + i, input_tokens=2000, output_tokens=100, **kw))

    for i in range(40):  # route "r": both models meet the floor; "small" is far cheaper
        for model, cost in (("big", 0.023), ("small", 0.00024)):
            add(i, key_id="k1", route="r", model=model, cost_usd=cost, prompt=f"{LONG} question {i % 4}")
    for i in range(30):  # a key whose requests miss their latency ceiling
        add(i, key_id="slow", model="small", cost_usd=0.001, latency_ms=900, latency_ceiling_ms=300, latency_met=False)
    for i in range(30):  # a model failing a third of the time
        add(i, key_id="k2", model="flaky", cost_usd=0.002, status=500 if i % 3 == 0 else 200,
            error_class="transient" if i % 3 == 0 else None)  # fmt: skip
    return out


async def test_every_rule_with_evidence_and_saving(tmp_path):
    url = f"sqlite:///{tmp_path / 'log.db'}"
    now = time.time()
    w = LogWriter(url, spill_path=tmp_path / "spill.jsonl")
    await w.start()
    for r in _records(now):
        w.append(r)
    await w.flush()
    db = await w._ensure_db()
    ctx = RecommendationContext(budgets={("key", "k1"): (0.5, "day")}, fallbacks={"flaky": []})
    s = await analytics.summary(db, since=now - 7200, until=now, prices=PRICES, context=ctx)
    await w.close()
    by_rule: dict[str, list[dict]] = {}
    for rec in s["recommendations"]:
        by_rule.setdefault(rec["rule"], []).append(rec)
        assert rec["message"] and rec["evidence"] and rec["saves_usd_per_month"] >= 0
    assert set(by_rule) == {
        "cheaper_model_for_route",
        "response_cache",
        "latency_ceiling",
        "add_fallback",
        "budget_runs_out",
        "prompt_caching",
    }
    (route,) = by_rule["cheaper_model_for_route"]
    assert route["evidence"]["model"] == "small" and route["saves_usd_per_month"] > 0
    cache = {r["evidence"]["model"]: r for r in by_rule["response_cache"]}
    assert cache["big"]["evidence"]["repeated_share"] == 0.9  # 4 distinct prompts in 40
    assert cache["big"]["saves_usd_per_month"] > cache["small"]["saves_usd_per_month"] > 0
    (slow,) = by_rule["latency_ceiling"]
    assert slow["evidence"] == {"key": "slow", "missed_share": 1.0, "requests_with_ceiling": 30}
    (flaky,) = by_rule["add_fallback"]
    assert flaky["evidence"]["model"] == "flaky" and flaky["evidence"]["error_rate"] == round(10 / 30, 4)
    assert "give it a fallback" in flaky["message"]
    (budget,) = by_rule["budget_runs_out"]
    assert budget["evidence"]["value"] == "k1" and budget["evidence"]["projected_usd"] > 0.5
    caching = {r["evidence"]["model"] for r in by_rule["prompt_caching"]}
    assert "big" in caching
    savings = [r["saves_usd_per_month"] for r in s["recommendations"][1:]]
    assert savings == sorted(savings, reverse=True)


async def test_quiet_on_a_healthy_log(tmp_path):
    url = f"sqlite:///{tmp_path / 'log.db'}"
    now = time.time()
    w = LogWriter(url, spill_path=tmp_path / "spill.jsonl")
    await w.start()
    for i in range(30):
        w.append(RequestRecord(id=f"q{i}", ts=now - 60 + i, key_id="k", model="small", cost_usd=0.001,
                               input_tokens=50, output_tokens=10, prompt=f"distinct prompt {i}"))  # fmt: skip
    await w.flush()
    s = await analytics.summary(await w._ensure_db(), since=now - 3600, until=now, prices=PRICES)
    await w.close()
    assert s["recommendations"] == []


async def test_the_body_rules_say_they_need_log_bodies_when_no_prompt_is_logged(tmp_path):
    """The same log as above but without prompt text (``server.log_bodies: false``): the two rules
    that count repeated prompts are listed as unavailable, with why; the others still fire."""
    url = f"sqlite:///{tmp_path / 'log.db'}"
    now = time.time()
    w = LogWriter(url, spill_path=tmp_path / "spill.jsonl")
    await w.start()
    for r in _records(now):
        r.prompt = None
        w.append(r)
    await w.flush()
    s = await analytics.summary(await w._ensure_db(), since=now - 7200, until=now, prices=PRICES)
    await w.close()
    assert not any(r.get("needs") for r in s["recommendations"])
    needs = {r["rule"]: r for r in s["unavailable_recommendations"]}
    assert set(needs) == {"response_cache", "prompt_caching"}
    for r in needs.values():
        assert r["needs"] == "server.log_bodies" and r["saves_usd_per_month"] == 0
        assert "set server.log_bodies: true" in r["message"] and "prompt text" in r["message"]
        assert r["evidence"]["models"] == ["big", "flaky", "small"] and r["evidence"]["requests"] == 140
    assert {"latency_ceiling", "add_fallback", "cheaper_model_for_route"} <= {r["rule"] for r in s["recommendations"]}
