"""The router's batch tier, as a property over random models, floors and deadlines: it is chosen
for a deadline that allows it (the turnaround fits, a batch candidate meets the floor at a lower
cost than the synchronous plan) and never otherwise (no deadline, whatever ``max_latency_ms``
says; a deadline shorter than the turnaround; a stream; a caller that cannot take a 202)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from faregate.config import GatewayConfig
from faregate.routing import features as F
from faregate.routing.constraints import resolve_constraints
from faregate.routing.planner import Planner, PlanRequest

MESSAGES = [{"role": "user", "content": "Summarise the attached quarterly report in three bullet points."}]
FEATURES = F.extract(MESSAGES, None, None, None)

model = st.fixed_dictionaries(
    {
        "quality": st.floats(0.3, 1.0),
        "input": st.floats(0.05, 20.0),
        "output": st.floats(0.1, 60.0),
        "batch_discount": st.none() | st.sampled_from([0.5, 0.5, 0.4, 0.1, 0.0, 1.0]),
    }
)
models = st.lists(model, min_size=1, max_size=5)
deadline = st.none() | st.sampled_from(["30m", "1h", "2h", "12h", "24h", "1d", "36h", "7d"]) | st.floats(60, 8 * 86400)
turnaround = st.sampled_from(["1h", "24h", "48h"])


def _planner(ms: list[dict], turnaround: str) -> Planner:
    cfg = GatewayConfig.model_validate(
        {
            "models": [
                {
                    "name": f"m{i}",
                    "base_url": "http://127.0.0.1:9/v1",
                    "batch": "provider",
                    "quality": m["quality"],
                    "prices": {"input": m["input"], "output": m["output"]},
                    **({"batch_discount": m["batch_discount"]} if m["batch_discount"] is not None else {}),
                }
                for i, m in enumerate(ms)
            ],
            "cascades": False,
            "batch_tier": {"turnaround": turnaround},
            "learning": {"enabled": False},
            "database_url": "",
        }
    )
    return Planner(cfg)


def _plan(planner: Planner, routing: dict, *, stream: bool = False, batch_ok: bool = True):
    cons = resolve_constraints(routing, None, planner.config, None)
    return planner.plan("auto", PlanRequest(FEATURES, cons, max_tokens=200, stream=stream, batch_ok=batch_ok))


@settings(max_examples=250, deadline=None)
@given(models, st.floats(0.0, 1.0), deadline, turnaround, st.booleans(), st.none() | st.floats(1, 3_600_000))
def test_the_batch_tier_is_chosen_exactly_when_a_deadline_allows_it(ms, floor, dl, turn, stream, max_lat):
    planner = _planner(ms, turn)
    routing = {"min_quality": floor, **({"deadline": dl} if dl is not None else {})}
    if max_lat is not None:
        routing["max_latency_ms"] = max_lat
    plan = _plan(planner, routing, stream=stream)
    turnaround_s = planner.config.batch_tier.turnaround_s
    deadline_s = plan.constraints.deadline_s
    batch = [c for c in plan.candidates if c.get("tier") == "batch"]
    if deadline_s is None or deadline_s < turnaround_s or stream:
        assert plan.tier == "sync" and batch == []  # never without a deadline that allows it
        return
    sync = _plan(planner, {k: v for k, v in routing.items() if k != "deadline"})
    assert sync.tier == "sync"
    good = [c for c in batch if c["meets_floor"] and c["within_limits"]]
    cheaper = [c for c in good if sync.constraint_unmet or c["predicted_cost_usd"] < sync.predicted_cost_usd]
    assert (plan.tier == "batch") == bool(cheaper)
    if plan.tier == "batch":
        assert not plan.constraint_unmet and plan.predicted_quality >= 0  # it meets the floor
        assert plan.predicted_cost_usd == min(c["predicted_cost_usd"] for c in good)
        assert sync.constraint_unmet or plan.predicted_cost_usd < sync.predicted_cost_usd
        assert plan.predicted_latency_ms == turnaround_s * 1000.0 <= deadline_s * 1000.0
    else:
        assert (plan.kind, plan.models, plan.predicted_cost_usd) == (sync.kind, sync.models, sync.predicted_cost_usd)


@settings(max_examples=100, deadline=None)
@given(models, st.floats(0.0, 1.0), st.floats(60, 8 * 86400))
def test_a_caller_that_cannot_take_a_202_is_never_planned_onto_the_batch_tier(ms, floor, dl):
    plan = _plan(_planner(ms, "1h"), {"min_quality": floor, "deadline": dl}, batch_ok=False)
    assert plan.tier == "sync" and not [c for c in plan.candidates if c.get("tier") == "batch"]


@settings(max_examples=100, deadline=None)
@given(models, st.floats(0.0, 1.0))
def test_a_batch_twin_costs_its_list_price_less_the_discount(ms, floor):
    plan = _plan(_planner(ms, "24h"), {"min_quality": floor, "deadline": "24h"})
    sync = {c["models"][0]: c for c in plan.candidates if c.get("tier") == "sync"}
    for c in (c for c in plan.candidates if c.get("tier") == "batch"):
        m = ms[int(c["models"][0][1:])]
        assert m["batch_discount"]  # a share off above 0
        want = sync[c["models"][0]]["predicted_cost_usd"] * (1 - m["batch_discount"])
        assert abs(c["predicted_cost_usd"] - want) < 1e-15
        assert c["predicted_quality"] == sync[c["models"][0]]["predicted_quality"]
