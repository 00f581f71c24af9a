"""The pure planner makes the same plan as the routing step for the same inputs."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faregate.config import GatewayConfig
from faregate.core.errors import GatewayError
from faregate.endpoints.deployments import DeploymentRegistry
from faregate.pipeline.context import Principal, RequestContext
from faregate.pipeline.routing_step import RoutingStep
from faregate.routing import features as F
from faregate.routing.constraints import resolve_constraints
from faregate.routing.planner import Catalogue, PlanRequest, Stats, plan
from faregate.routing.sources import RouterSource
from faregate.wire.openai_front import parse_chat_request

OUTPUT_TOKENS = {
    "classify": 16,
    "extract_json": 150,
    "summarize": 200,
    "chat": 250,
    "generate": 500,
    "code": 400,
    "multiple_choice": 8,
}
PROMPTS = ["Summarize this memo.", "Classify the sentiment: great!", "Write a poem about the sea.", "hello there"]

model = st.fixed_dictionaries(
    {
        "prices": st.fixed_dictionaries({"input": st.floats(0, 30), "output": st.floats(0, 60)}),
        "quality": st.floats(0, 1),
        "latency": st.fixed_dictionaries({"ttft_ms": st.floats(0, 3000), "tokens_per_s": st.floats(1, 300)}),
        "capabilities": st.sampled_from([["json", "streaming"], ["streaming"], ["tools", "json"]]),
        "context_window": st.sampled_from([8, 128_000]),
    }
)
routing = st.fixed_dictionaries(
    {},
    optional={
        "min_quality": st.floats(0, 1),
        "max_latency_ms": st.floats(1, 20_000),
        "max_cost_usd": st.floats(1e-7, 0.1),
        "task": st.sampled_from(["classify", "chat", "code", "unknown-task"]),
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(model, min_size=1, max_size=5),
    routing,
    st.sampled_from(PROMPTS),
    st.one_of(st.none(), st.integers(1, 2000)),
    st.lists(st.one_of(st.none(), st.floats(1, 5000)), min_size=5, max_size=5),
    st.booleans(),
    st.booleans(),
)
def test_pure_planner_matches_the_step(models, constraints, prompt, max_tokens, ttfts, json_mode, restricted):
    cfg = [{"name": f"m{i}", "base_url": "http://127.0.0.1:1/v1", **m} for i, m in enumerate(models)]
    config = GatewayConfig.model_validate({"models": cfg, "learning": {"enabled": False}})
    registry = DeploymentRegistry(config.models)
    observed = {}
    for i, t in enumerate(ttfts[: len(models)]):
        if t is not None:
            registry.deployments(f"m{i}")[0].ttft_ewma_ms = t
            observed[f"m{i}"] = t
    body = {"model": "auto", "messages": [{"role": "user", "content": prompt}], "faregate": constraints}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    if json_mode:
        body["response_format"] = {"type": "json_object"}
    allowed = ("m0",) if restricted else None
    req = parse_chat_request(body)
    principal = Principal(key_id="k", models=allowed) if restricted else None
    step = RoutingStep(config, registry)

    def outcome(f):
        try:
            return f()
        except GatewayError as exc:  # both must refuse alike
            return type(exc), str(exc)

    via_step = outcome(lambda: step.plan(RequestContext(request=req, principal=principal), "auto"))
    feats = F.extract(req.messages, req.tools, req.response_format, req.routing.get("task"))
    route = step.routes["auto"]

    def pure():
        cons = resolve_constraints(req.routing, route, config, feats.task)
        request = PlanRequest(feats, cons, max_tokens, bool(req.response_format), allowed)
        return plan(route, request, Stats(RouterSource(), observed), Catalogue.from_config(config))

    via_pure = outcome(pure)
    if isinstance(via_step, tuple):
        assert via_step == via_pure
        return
    assert via_step.as_dict() == via_pure.as_dict()
    assert via_step.offline_quality == via_pure.offline_quality
    # And the numbers are today's formulas: prices x (input + expected output tokens).
    chosen = config.model(via_pure.models[0])
    task = via_pure.constraints.task
    out = max_tokens or OUTPUT_TOKENS.get(task or "", 256)
    want = (feats.input_tokens * chosen.prices.input + out * chosen.prices.output) / 1e6
    assert via_pure.predicted_cost_usd == want
    ttft = 1.5 * (observed.get(chosen.name) if chosen.name in observed else chosen.latency.ttft_ms)
    assert via_pure.predicted_latency_ms == ttft + 1000.0 * out / chosen.latency.tokens_per_s


def _cheap_and_dear(dear_quality: float, **constraints):
    """A two-model route ("cheap" at quality 0.5, "dear"), a "hi" request and its constraints."""
    config = GatewayConfig.model_validate(
        {
            "models": [
                {"name": "cheap", "prices": {"input": 1, "output": 1}, "quality": 0.5},
                {"name": "dear", "prices": {"input": 9, "output": 9}, "quality": dear_quality},
            ]
        }
    )
    route = RoutingStep(config, DeploymentRegistry(config.models)).routes["auto"]
    feats = F.extract([{"role": "user", "content": "hi"}])
    return config, route, feats, resolve_constraints(constraints, route, config, feats.task)


def test_adjust_is_applied_and_explored_reported():
    config, route, feats, cons = _cheap_and_dear(0.9, min_quality=0.8)
    seen = {}

    def adjust(offline):
        seen.update(offline)
        return {"cheap": 0.85, "dear": 0.9}, True

    p = plan(route, PlanRequest(feats, cons), Stats(adjust=adjust), Catalogue.from_config(config))
    assert seen == {"cheap": 0.5, "dear": 0.9} == p.offline_quality
    assert p.models == ["cheap"] and p.explored and not p.constraint_unmet
    assert p.as_dict()["explored"] is True


def test_an_explored_sample_below_the_floor_is_not_constraint_unmet_when_a_model_meets_it():
    config, route, feats, cons = _cheap_and_dear(0.95, min_quality=0.8, confidence=0.5)

    def sampled(offline):  # the exploring draw put every model under the floor
        return {"cheap": 0.55, "dear": 0.7}, True

    def means(offline):
        return dict(offline)

    cat = Catalogue.from_config(config)
    alone = plan(route, PlanRequest(feats, cons), Stats(adjust=sampled), cat)
    assert alone.explored and alone.constraint_unmet, "without the means the sample is all there is"
    p = plan(route, PlanRequest(feats, cons), Stats(adjust=sampled, adjust_mean=means), cat)
    assert p.explored and not p.constraint_unmet, "dear meets the floor on its mean"

    def nobody(offline):
        return {"cheap": 0.5, "dear": 0.6}

    q = plan(route, PlanRequest(feats, cons), Stats(adjust=sampled, adjust_mean=nobody), cat)
    assert q.constraint_unmet, "no model meets the floor on the means either"


def test_a_learned_correction_is_shown_beside_the_prediction_source():
    config = GatewayConfig.model_validate(
        {"models": [{"name": "cheap", "prices": {"input": 1, "output": 1}, "quality": 0.9}]}
    )
    route = RoutingStep(config, DeploymentRegistry(config.models)).routes["auto"]
    feats = F.extract([{"role": "user", "content": "hi"}])
    cons = resolve_constraints({"min_quality": 0.5}, route, config, feats.task)
    cat = Catalogue.from_config(config)
    fresh = plan(route, PlanRequest(feats, cons), Stats(adjust=lambda o: (dict(o), False)), cat).as_dict()
    assert fresh["learned_shift"] == {} and "corrected online" not in fresh["prediction_note"]
    moved = plan(route, PlanRequest(feats, cons), Stats(adjust=lambda o: ({"cheap": 0.85}, False)), cat).as_dict()
    assert moved["prediction_source"] == "prior" and moved["learned_shift"] == {"cheap": -0.05}
    assert "corrected online" in moved["prediction_note"] and "cheap -0.0500" in moved["prediction_note"]
