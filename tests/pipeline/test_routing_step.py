"""The routing step's decisions: constraints, hard limits, explanations, rollout arms."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faregate.config import GatewayConfig
from faregate.core.errors import InvalidRequest, PermissionDenied
from faregate.endpoints.deployments import DeploymentRegistry
from faregate.pipeline.context import Principal, Reply, RequestContext
from faregate.pipeline.routing_step import RoutingStep
from faregate.routing.constraints import resolve_constraints
from faregate.routing.policy import Candidate, choose
from faregate.wire.openai_front import parse_chat_request

MODELS = [
    {
        "name": "cheap",
        "base_url": "http://127.0.0.1:1/v1",
        "prices": {"input": 0.1, "output": 0.4},
        "quality": 0.7,
        "latency": {"ttft_ms": 200, "tokens_per_s": 200},
    },
    {
        "name": "mid",
        "base_url": "http://127.0.0.1:1/v1",
        "prices": {"input": 1, "output": 4},
        "quality": 0.85,
        "latency": {"ttft_ms": 400, "tokens_per_s": 100},
        "capabilities": ["json", "streaming"],
    },
    {
        "name": "strong",
        "base_url": "http://127.0.0.1:1/v1",
        "prices": {"input": 10, "output": 30},
        "quality": 0.95,
        "latency": {"ttft_ms": 1500, "tokens_per_s": 30},
    },
]


def step(**cfg):
    config = GatewayConfig.model_validate({"models": MODELS, "learning": {"enabled": False}, **cfg})
    return RoutingStep(config, DeploymentRegistry(config.models))


def ctx_for(body, principal=None):
    req = parse_chat_request(
        {"model": "auto", "messages": [{"role": "user", "content": "Summarize this memo."}], **body}
    )
    return RequestContext(request=req, principal=principal)


def test_cheapest_model_meeting_the_floor():
    s = step()
    # confidence 0.5: the chance constraint at its median, i.e. the mean prior against the floor
    half = {"confidence": 0.5}
    assert s.plan(ctx_for({"faregate": {"min_quality": 0.6, **half}}), "auto").models == ["cheap"]
    assert s.plan(ctx_for({"faregate": {"min_quality": 0.8, **half}}), "auto").models == ["mid"]
    plan = s.plan(ctx_for({"faregate": {"min_quality": 0.9, **half}}), "auto")
    assert plan.models == ["strong"] and not plan.constraint_unmet


def test_default_confidence_needs_a_margin_over_the_floor():
    s = step()
    # cheap's prior 0.7 is only 0.1 above 0.6: P(meets) ~0.84 < 0.9 as a prior, so mid answers
    plan = s.plan(ctx_for({"faregate": {"min_quality": 0.6}}), "auto")
    assert plan.models == ["mid"] and not plan.constraint_unmet
    cheap = next(c for c in plan.candidates if c.get("models") == ["cheap"])
    assert 0.5 < cheap["p_meet"] < 0.9 and cheap["meets_floor"] is False
    body = plan.as_dict()  # POST /v1/route says the prediction is a prior, and how sure it is
    assert body["prediction_source"] == "prior" and 0.9 <= body["p_meet"] < 1.0
    assert s.plan(ctx_for({"faregate": {"min_quality": 0.6, "confidence": 0.8}}), "auto").models == ["cheap"]


def test_latency_ceiling_excludes_slow_models_and_marks_unmet():
    plan = step().plan(ctx_for({"faregate": {"min_quality": 0.9, "max_latency_ms": 3000, "task": "summarize"}}), "auto")
    assert plan.models != ["strong"]
    assert plan.constraint_unmet, "no model meets 0.9 within 3 s: best quality within the ceiling, marked unmet"
    assert plan.models == ["mid"]
    strong = next(c for c in plan.candidates if c["models"] == ["strong"])
    assert not strong["within_limits"]


def test_capabilities_filter_candidates():
    body = {
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "faregate": {"min_quality": 0.8},
    }
    plan = step().plan(ctx_for(body), "auto")
    assert plan.models == ["strong"], "mid lacks tools"


def test_task_defaults_and_route_defaults():
    s = step(
        routes=[{"name": "support", "candidates": ["cheap", "mid"], "min_quality": 0.8}],
        task_quality_defaults={"classify": 0.9},
    )
    assert s.plan(ctx_for({"faregate": {"task": "classify"}}), "auto").constraints.min_quality == 0.9
    plan = s.plan(ctx_for({}), "support")
    assert plan.constraints.min_quality == 0.8 and plan.models == ["mid"]
    assert {c["models"][0] for c in plan.candidates} == {"cheap", "mid"}


@pytest.mark.parametrize(
    "bad",
    [
        {"min_quality": 1.5},
        {"min_quality": -0.1},
        {"max_latency_ms": 0},
        {"max_cost_usd": -1},
        {"min_quality": "high"},
        {"speed": 3},
        {"task": ""},
    ],
)
def test_out_of_range_constraints_are_400_naming_the_range(bad):
    with pytest.raises(InvalidRequest) as e:
        resolve_constraints(bad, None, GatewayConfig(), None)
    assert "faregate" in (e.value.param or "")
    assert "range" in e.value.message or "valid" in e.value.message or "must be" in e.value.message


def test_key_allow_list_restricts_candidates():
    p = Principal(key_id="k", models=("cheap",))
    plan = step().plan(ctx_for({"faregate": {"min_quality": 0.9}}, p), "auto")
    assert plan.models == ["cheap"] and plan.constraint_unmet
    with pytest.raises(PermissionDenied):
        step().plan(ctx_for({}, Principal(key_id="k", models=("other",))), "auto")


async def test_rollout_sends_the_rest_to_the_control_model_and_records_the_arm():
    s = step(routes=[{"name": "r", "rollout": 0.3, "control_model": "strong"}])
    arms = {}
    for _i in range(400):
        ctx = ctx_for({"model": "r"})
        ctx.route = "r"

        async def nxt(c):
            return Reply()

        await s.handle(ctx, nxt)
        arms[ctx.arm] = arms.get(ctx.arm, 0) + 1
        if ctx.arm == "control":
            assert ctx.candidates[0] == "strong"
    assert 0.22 < arms["routed"] / 400 < 0.38


candidate = st.builds(
    lambda name, q, c, l: Candidate((name,), q, c, l),
    st.sampled_from(["a", "b", "c", "d", "e"]),
    st.floats(0, 1),
    st.floats(1e-7, 0.1),
    st.floats(1, 20000),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(candidate, min_size=1, max_size=6, unique_by=lambda c: c.models),
    st.floats(0, 1),
    st.one_of(st.none(), st.floats(1, 20000)),
    st.one_of(st.none(), st.floats(1e-7, 0.1)),
)
def test_plans_never_break_hard_constraints(cands, floor, max_latency, max_cost):
    plan = choose(cands, min_quality=floor, max_latency_ms=max_latency, max_cost_usd=max_cost)
    chosen = next(c for c in cands if list(c.models) == plan.models)
    ok = [
        c
        for c in cands
        if (max_latency is None or c.latency_ms <= max_latency) and (max_cost is None or c.cost_usd <= max_cost)
    ]
    if ok:
        assert chosen in ok, "a plan within the hard limits exists, so the chosen one must be within them"
    meeting = [c for c in ok if c.quality >= floor]
    if meeting:
        assert not plan.constraint_unmet and chosen.quality >= floor
        assert chosen.cost_usd == min(c.cost_usd for c in meeting), "the cheapest plan that meets the floor"
    else:
        assert plan.constraint_unmet
