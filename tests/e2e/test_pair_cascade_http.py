"""The strong/weak pair's answer-observing cascade, live: a router trained with ``scorer=True`` on
arena-hard restricted to GPT-4-1106 vs Mixtral offers ``[weak, strong]`` plans judged by the
learned scorer; when the planner picks one, the gateway calls the weak model, scores its answer
and calls the strong model only when the score is below the plan's threshold. The official
``openai`` SDK is the client; the fake records what was really called."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from helpers import GATEWAY_KEY, fake_model, http_json

DATA = Path(__file__).resolve().parents[2].parent / "shared/data/routing/arena-hard-v1.jsonl"
STRONG, WEAK = "gpt-4-1106-preview", "mixtral-8x7b-instruct-v0.1"
# gateway name -> (data name, upstream id, USD per M tokens in/out)
MODELS = {"gpt4": (STRONG, "up-gpt4", (10.0, 30.0)), "mixtral": (WEAK, "up-mixtral", (0.6, 0.6))}
UPSTREAM_TO_NAME = {up: name for name, (_, up, _) in MODELS.items()}
USAGE = {"input_tokens": 100, "output_tokens": 10}


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    if not DATA.exists():
        pytest.skip("shared arena-hard data is not present")
    from faregate.routing.data import load_rows, restrict
    from faregate.routing.model import RouterModel

    rows = restrict(load_rows(DATA), [STRONG, WEAK])
    model = RouterModel.fit(rows, scorer=True)
    path = tmp_path_factory.mktemp("pair-router") / "router.model"
    model.save(path)
    prompt = rows[0].messages[-1]["content"]
    # Candidate weak answers: every recorded answer of the weak model, scored by the saved router.
    answers = [r.outcomes[WEAK]["response"] for r in rows if r.outcomes[WEAK].get("response")]
    return path, prompt, answers


@pytest.fixture
def routed(start_server, upstreams, pair):
    fake = upstreams["openai"]
    cfg = {
        "models": [fake_model(fake, name, up, p, router_name=data_name) for name, (data_name, up, p) in MODELS.items()],
        "router_model": str(pair[0]),
        "learning": {"enabled": False},
        "keys": [{"key": GATEWAY_KEY}],
    }
    srv = start_server(cfg)
    srv.fake = fake
    return srv


def _route(srv, prompt: str, floor: float, confidence: float) -> dict:
    body = {
        "model": "auto",
        "messages": [{"role": "user", "content": prompt}],
        "faregate": {"min_quality": floor, "confidence": confidence},
    }
    return http_json("POST", srv.url + "/v1/route", body, key=GATEWAY_KEY)


def _scorer_plan(srv, prompt: str) -> tuple[dict, float, float]:
    for floor in (0.5, 0.6, 0.7, 0.8):
        for confidence in (0.5, 0.6, 0.7, 0.8, 0.85, 0.9):
            plan = _route(srv, prompt, floor, confidence)
            if (plan.get("judge") or "").startswith("scorer@"):
                return plan, floor, confidence
    raise AssertionError("no floor/confidence made the planner choose the pair's scorer cascade")


def test_pair_router_offers_scorer_cascades(pair):
    from faregate.routing.model import RouterModel

    model = RouterModel.load(pair[0])
    cascades = [a for a in model.arms if a.judge and a.judge.startswith("scorer@")]
    assert cascades and all(a.models == (WEAK, STRONG) for a in cascades)
    assert model.scorer is not None and WEAK in model.scorer.per_model


def test_live_pair_cascade_escalates_only_when_the_scorer_rejects_the_weak_answer(routed, pair):
    from faregate.routing import features as F
    from faregate.routing.model import RouterModel

    _, prompt, answers = pair
    plan, floor, confidence = _scorer_plan(routed, prompt)
    assert plan["kind"] == "cascade" and plan["models"] == ["mixtral", "gpt4"]
    model = RouterModel.load(pair[0])
    feats = F.extract([{"role": "user", "content": prompt}])
    accepted = [a for a in answers if model.accept(plan["judge"], feats, [WEAK], [a])]
    rejected = [a for a in answers if not model.accept(plan["judge"], feats, [WEAK], [a])]
    assert accepted and rejected  # the judge discriminates at the plan's threshold
    client = openai.OpenAI(base_url=routed.base_url, api_key=GATEWAY_KEY, max_retries=0, timeout=10)

    def ask():
        return client.chat.completions.with_raw_response.create(
            model="auto",
            messages=[{"role": "user", "content": prompt}],
            extra_body={"faregate": {"min_quality": floor, "confidence": confidence}},
        )

    routed.fake.script({"text": accepted[0], "usage": USAGE})
    raw = ask()
    assert [UPSTREAM_TO_NAME[r["body"]["model"]] for r in routed.fake.requests()] == ["mixtral"]
    assert raw.headers["x-faregate-model"] == "mixtral"
    assert raw.parse().choices[0].message.content == accepted[0]

    routed.fake.reset()
    routed.fake.script({"text": rejected[0], "usage": USAGE}, {"text": "the strong answer", "usage": USAGE})
    raw = ask()
    assert [UPSTREAM_TO_NAME[r["body"]["model"]] for r in routed.fake.requests()] == ["mixtral", "gpt4"]
    assert raw.headers["x-faregate-model"] == "gpt4"
    assert raw.parse().choices[0].message.content == "the strong answer"
