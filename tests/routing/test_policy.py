from hypothesis import given, settings
from hypothesis import strategies as st

from faregate.routing.policy import Candidate, choose, choose_tradeoff

cand = st.builds(
    lambda names, q, c, extra, lat, judge: Candidate(
        tuple(names), q, c, lat, judge if len(names) > 1 else None, c + extra
    ),
    st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=3, unique=True),
    st.floats(0, 1),
    st.floats(1e-6, 1e-2),
    st.floats(0, 1e-2),
    st.floats(10, 5000),
    st.just("agree"),
)
opt_lat = st.none() | st.floats(10, 6000)
opt_cost = st.none() | st.floats(1e-6, 3e-2)


def _ok(c, lat, cost):
    return (lat is None or c.latency_ms <= lat) and (cost is None or c.worst_cost <= cost)


@settings(max_examples=300, deadline=None)
@given(st.lists(cand, min_size=1, max_size=8), st.floats(0, 1), opt_lat, opt_cost)
def test_choose_never_violates_hard_limits_when_possible(cands, floor, lat, cost):
    plan = choose(cands, min_quality=floor, max_latency_ms=lat, max_cost_usd=cost)
    feasible = [c for c in cands if _ok(c, lat, cost)]
    chosen = next(
        c
        for c in cands
        if list(c.models) == plan.models
        and c.quality == plan.predicted_quality
        and c.cost_usd == plan.predicted_cost_usd
        and c.latency_ms == plan.predicted_latency_ms
    )
    if feasible:
        assert _ok(chosen, lat, cost)
    meeting = [c for c in feasible if c.quality >= floor]
    if meeting:
        assert not plan.constraint_unmet
        assert plan.predicted_quality >= floor
        assert plan.predicted_cost_usd == min(c.cost_usd for c in meeting)
    else:
        assert plan.constraint_unmet
        if feasible:
            assert plan.predicted_quality == max(c.quality for c in feasible)
    assert len(plan.candidates) == len(cands)


@settings(max_examples=200, deadline=None)
@given(st.lists(cand, min_size=1, max_size=8), st.floats(0, 1e5), opt_lat, opt_cost)
def test_tradeoff_respects_hard_limits(cands, lam, lat, cost):
    plan = choose_tradeoff(cands, lam, max_latency_ms=lat, max_cost_usd=cost)
    if any(_ok(c, lat, cost) for c in cands):
        assert not plan.constraint_unmet
        assert lat is None or plan.predicted_latency_ms <= lat


def test_cheapest_meeting_floor_and_cascade_shape():
    a = Candidate(("small",), 0.7, 1e-4, 500)
    b = Candidate(("big",), 0.9, 5e-3, 2000)
    c = Candidate(("small", "mid", "big"), 0.88, 1e-3, 4000, "agree", 5.6e-3)
    plan = choose([a, b, c], min_quality=0.85)
    assert (plan.kind, plan.models, plan.judge) == ("cascade", ["small", "mid", "big"], "agree")
    plan = choose([a, b, c], min_quality=0.85, max_latency_ms=3000)
    assert plan.models == ["big"] and not plan.constraint_unmet
    plan = choose([a, b, c], min_quality=0.95, max_latency_ms=1000)
    assert plan.models == ["small"] and plan.constraint_unmet
