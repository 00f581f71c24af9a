"""Routing over HTTP: the official ``openai`` SDK against a real faregate on loopback whose four
models (one OpenAI fake, four upstream ids) carry RouterBench ``router_name``s, with a router trained
in the test. The plan ``POST /v1/route`` shows, the response headers and what the fake actually
received all agree."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import openai
import pytest

from helpers import GATEWAY_KEY, fake_model

DATA = Path(__file__).resolve().parents[2].parent / "shared/data/routing/routerbench-0shot-train.jsonl"
# gateway name -> (RouterBench name, upstream id, USD per M tokens in/out, p95-ish latency prior)
MODELS = {
    "m7b": ("mistralai/mistral-7b-chat", "up-m7b", (0.2, 0.2)),
    "mixtral": ("mistralai/mixtral-8x7b-chat", "up-mixtral", (0.6, 0.6)),
    "yi": ("zero-one-ai/Yi-34B-Chat", "up-yi", (0.8, 0.8)),
    "gpt4": ("gpt-4-1106-preview", "up-gpt4", (10.0, 30.0)),
}
UPSTREAM_TO_NAME = {up: name for name, (_, up, _) in MODELS.items()}
OTHER_KEY = "fg-only-cheap"
ARC = (
    "Which of these is a mammal?\nA) shark\nB) dolphin\nC) trout\nD) octopus\n"
    'Print only a single choice from "A" or "B" or "C" or "D" without explanation.\nAnswer:'
)


@pytest.fixture(scope="module")
def router_file(tmp_path_factory):
    if not DATA.exists():
        pytest.skip("shared RouterBench data is not present")
    from faregate.routing.data import Row, load_rows
    from faregate.routing.model import RouterModel

    names = [v[0] for v in MODELS.values()]
    rows = [
        Row(r.id, r.task, r.messages, {m: r.outcomes[m] for m in names})
        for r in load_rows(DATA)[::3]
        if all(m in r.outcomes for m in names)
    ]
    path = tmp_path_factory.mktemp("router") / "router.model"
    RouterModel.fit(rows).save(path)
    return path


@pytest.fixture
def routed(start_server, upstreams, router_file):
    fake = upstreams["openai"]
    models = [
        fake_model(
            fake,
            name,
            up,
            p,
            router_name=rb,
            **({"latency": {"ttft_ms": 2000}} if name == "gpt4" else {}),  # the strong model is slow
            timeouts={"connect": 2, "ttfb": 10, "idle": 5, "total": 20},
        )
        for name, (rb, up, p) in MODELS.items()
    ]
    cfg = {
        "models": models,
        "router_model": str(router_file),
        "learning": {"enabled": False},
        "keys": [{"key": GATEWAY_KEY}, {"key": OTHER_KEY, "models": ["m7b", "mixtral"]}],
    }
    srv = start_server(cfg)
    srv.fake = fake
    return srv


def called(fake) -> list[str]:
    return [UPSTREAM_TO_NAME[r["body"]["model"]] for r in fake.requests()]


def dry_run(srv, body, key=GATEWAY_KEY, headers=None):
    req = urllib.request.Request(
        srv.url + "/v1/route",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"content-type": "application/json", "authorization": f"Bearer {key}", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def chat(srv, floor=None, key=GATEWAY_KEY, prompt=ARC, confidence=None, **kw):
    c = openai.OpenAI(base_url=srv.base_url, api_key=key, max_retries=0, timeout=10)
    extra = {"faregate": {"min_quality": floor}} if floor is not None else None
    if extra is not None and confidence is not None:
        extra["faregate"]["confidence"] = confidence
    return c.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": prompt}], extra_body=extra, **kw
    )


USAGE = {"input_tokens": 100, "output_tokens": 10}


def cost(name: str) -> float:
    p = MODELS[name][2]
    return (USAGE["input_tokens"] * p[0] + USAGE["output_tokens"] * p[1]) / 1e6


def test_dry_run_headers_and_calls_agree_and_floors_change_the_choice(routed):
    # The low floor at confidence 0.5 (at the default 0.9 even a 0.3 floor needs a strong plan on ARC's 0/1 grades)
    low_status, low = dry_run(
        routed,
        {
            "model": "auto",
            "messages": [{"role": "user", "content": ARC}],
            "faregate": {"min_quality": 0.3, "confidence": 0.5},
        },
    )
    high_status, high = dry_run(
        routed, {"model": "auto", "messages": [{"role": "user", "content": ARC}], "faregate": {"min_quality": 0.9}}
    )
    assert low_status == high_status == 200
    assert low["models"] == ["m7b"] and low["kind"] == "single"
    assert high["models"][-1] == "gpt4" and high["models"] != low["models"]
    assert {c["models"][0] for c in low["candidates"]} >= set(MODELS)  # every candidate's predictions
    routed.fake.script({"text": "B", "usage": USAGE})
    raw = chat(routed, floor=0.3, confidence=0.5)
    h = raw.headers
    assert h["x-faregate-route"] == "auto" and h["x-faregate-model"] == "m7b"
    assert float(h["x-faregate-predicted-quality"]) == pytest.approx(low["predicted_quality"], abs=1e-3)
    assert called(routed.fake) == low["models"] == ["m7b"]
    assert float(h["x-faregate-cost-usd"]) == pytest.approx(cost("m7b"), rel=1e-3)


def test_cascade_that_agrees_stops_before_the_strong_model(routed):
    _, plan = dry_run(
        routed, {"model": "auto", "messages": [{"role": "user", "content": ARC}], "faregate": {"min_quality": 0.9}}
    )
    assert plan["kind"] == "cascade" and plan["judge"] == "agree"
    routed.fake.script({"text": "B", "usage": USAGE}, {"text": "B", "usage": USAGE}, {"text": "B", "usage": USAGE})
    raw = chat(routed, floor=0.9)
    resp = raw.parse()
    cheap = plan["models"][:2]
    assert called(routed.fake) == cheap  # the strong model was never called
    assert resp.choices[0].message.content == "B"
    assert plan["models"][0] in raw.headers["x-faregate-plan"] and "gpt4" in raw.headers["x-faregate-plan"]
    assert resp.usage.prompt_tokens == 2 * USAGE["input_tokens"]
    assert resp.usage.completion_tokens == 2 * USAGE["output_tokens"]
    assert float(raw.headers["x-faregate-cost-usd"]) == pytest.approx(sum(cost(m) for m in cheap), rel=1e-3)


def test_cascade_that_disagrees_escalates_to_the_strong_model(routed):
    _, plan = dry_run(
        routed, {"model": "auto", "messages": [{"role": "user", "content": ARC}], "faregate": {"min_quality": 0.9}}
    )
    routed.fake.script({"text": "A", "usage": USAGE}, {"text": "C", "usage": USAGE}, {"text": "B", "usage": USAGE})
    raw = chat(routed, floor=0.9)
    resp = raw.parse()
    assert called(routed.fake) == plan["models"] and plan["models"][-1] == "gpt4"
    assert resp.choices[0].message.content == "B"
    assert raw.headers["x-faregate-model"] == "gpt4"
    n = len(plan["models"])
    assert resp.usage.prompt_tokens == n * USAGE["input_tokens"]
    assert resp.usage.completion_tokens == n * USAGE["output_tokens"]
    assert float(raw.headers["x-faregate-cost-usd"]) == pytest.approx(sum(cost(m) for m in plan["models"]), rel=1e-3)


def test_streaming_through_a_cascade(routed):
    routed.fake.script(
        {"text": "A", "usage": USAGE},
        {"text": "C", "usage": USAGE},
        {"text": "the answer is B", "chunks": 3, "usage": USAGE},
    )
    c = openai.OpenAI(base_url=routed.base_url, api_key=GATEWAY_KEY, max_retries=0, timeout=10)
    with c.chat.completions.with_streaming_response.create(
        model="auto",
        messages=[{"role": "user", "content": ARC}],
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"faregate": {"min_quality": 0.9}},
    ) as raw:
        plan = raw.headers["x-faregate-plan"]
        chunks = list(raw.parse())
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == "the answer is B"
    calls = called(routed.fake)
    assert calls[-1] == "gpt4" and len(calls) == 3 and "gpt4" in plan
    usage = [ch.usage for ch in chunks if ch.usage]
    assert usage and usage[-1].completion_tokens == 3 * USAGE["output_tokens"]


def test_constraint_headers(routed):
    c = openai.OpenAI(base_url=routed.base_url, api_key=GATEWAY_KEY, max_retries=0, timeout=10)
    routed.fake.script({"text": "B"}, {"text": "B"}, {"text": "B"})
    low = c.chat.completions.with_raw_response.create(
        model="auto",
        messages=[{"role": "user", "content": ARC}],
        extra_headers={"x-faregate-min-quality": "0.3", "x-faregate-confidence": "0.5"},
    )
    assert low.headers["x-faregate-model"] == "m7b" and called(routed.fake) == ["m7b"]
    status, plan = dry_run(
        routed,
        {"model": "auto", "messages": [{"role": "user", "content": ARC}]},
        headers={"x-faregate-min-quality": "0.9"},
    )
    assert status == 200 and plan["constraints"]["min_quality"] == 0.9 and plan["models"][-1] == "gpt4"


@pytest.mark.parametrize(
    "field,value,needle", [("min_quality", 1.5, "1"), ("max_latency_ms", -5, "0"), ("max_cost_usd", -1, "0")]
)
def test_out_of_range_constraints_are_400_naming_the_range(routed, field, value, needle):
    status, body = dry_run(
        routed, {"model": "auto", "messages": [{"role": "user", "content": ARC}], "faregate": {field: value}}
    )
    assert status == 400
    msg = body["error"]["message"]
    assert field in msg and needle in msg
    with pytest.raises(openai.BadRequestError) as e:
        openai.OpenAI(base_url=routed.base_url, api_key=GATEWAY_KEY, max_retries=0).chat.completions.create(
            model="auto", messages=[{"role": "user", "content": ARC}], extra_body={"faregate": {field: value}}
        )
    assert field in str(e.value)
    assert routed.fake.requests() == []


def test_latency_ceiling_no_model_meets_takes_best_quality_and_marks_unmet(routed):
    body = {
        "model": "auto",
        "messages": [{"role": "user", "content": ARC}],
        "faregate": {"min_quality": 0.95, "max_latency_ms": 1500},
    }
    status, plan = dry_run(routed, body)
    assert status == 200 and plan["constraint_unmet"] is True
    within = [c for c in plan["candidates"] if c["predicted_p95_latency_ms"] <= 1500]
    assert within and all("gpt4" not in c["models"] for c in within)
    assert not any(c["predicted_quality"] >= 0.95 for c in within)
    best = max(within, key=lambda c: c["predicted_quality"])
    assert plan["models"] == best["models"] and "gpt4" not in plan["models"]
    routed.fake.script({"text": "B"})
    c = openai.OpenAI(base_url=routed.base_url, api_key=GATEWAY_KEY, max_retries=0, timeout=10)
    raw = c.chat.completions.with_raw_response.create(
        model="auto", messages=body["messages"], extra_body={"faregate": body["faregate"]}
    )
    assert raw.headers["x-faregate-constraint-unmet"] == "true" and called(routed.fake) == plan["models"]


def test_key_allow_list_routes_only_among_its_models(routed):
    status, plan = dry_run(
        routed,
        {"model": "auto", "messages": [{"role": "user", "content": ARC}], "faregate": {"min_quality": 0.95}},
        key=OTHER_KEY,
    )
    assert status == 200 and set(plan["models"]) <= {"m7b", "mixtral"}
    scored = [c for c in plan["candidates"] if "excluded_because" not in c]
    assert scored and all(set(c["models"]) <= {"m7b", "mixtral"} for c in scored)
    assert {c["models"][0] for c in plan["candidates"] if "excluded_because" in c} == {"yi", "gpt4"}
    routed.fake.script({"text": "A"}, {"text": "C"}, {"text": "B"})
    raw = chat(routed, floor=0.95, key=OTHER_KEY)
    assert set(called(routed.fake)) <= {"m7b", "mixtral"} and raw.headers["x-faregate-model"] in {"m7b", "mixtral"}
