"""The floor as a chance constraint: the chosen plan meets the floor with probability at least
``confidence`` whenever any plan within the limits does, it is the cheapest such, and a request
is marked constraint-unmet only when none can."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faregate.config import GatewayConfig
from faregate.core.errors import InvalidRequest
from faregate.routing import chance
from faregate.routing.constraints import resolve_constraints
from faregate.routing.policy import Candidate, select

NAMES = ["a", "b", "c", "d", "e"]


def _cand(i: int, q: float, cost: float, p: float | None) -> Candidate:
    return Candidate((NAMES[i],), q, cost, 100.0, p_meet=p)


cands = st.lists(
    st.tuples(
        st.floats(0.3, 1.0),
        st.floats(1e-6, 1.0),
        st.one_of(st.none(), st.floats(0.0, 1.0)),
    ),
    min_size=1,
    max_size=5,
).map(lambda xs: [_cand(i, *x) for i, x in enumerate(xs)])


@settings(max_examples=300, deadline=None)
@given(cs=cands, floor=st.floats(0.0, 1.0), conf=st.floats(0.5, 0.99))
def test_chosen_plan_is_cheapest_meeting_the_chance_constraint(cs, floor, conf):
    best, unmet = select(cs, min_quality=floor, confidence=conf)
    meeting = [c for c in cs if c.chance(floor) >= conf]
    if meeting:
        assert not unmet
        assert best.chance(floor) >= conf
        assert best.cost_usd == min(c.cost_usd for c in meeting)
    else:
        assert unmet  # only when no plan can meet it
        assert best.chance(floor) == max(c.chance(floor) for c in cs)


def test_p_meet_is_monotone_and_bounded():
    assert chance.p_meet(0.95, 0.9) > chance.p_meet(0.92, 0.9) > chance.p_meet(0.9, 0.9) > chance.p_meet(0.85, 0.9)
    assert chance.p_meet(0.9, 0.9) == pytest.approx(0.5)
    assert chance.p_meet(0.5, 0.0) == 1.0 and chance.p_meet(0.99, 1.0) == 0.0
    # less evidence: a mean above the floor is less sure to meet it
    assert chance.p_meet(0.95, 0.9, chance.PRIOR_CONCENTRATION) < chance.p_meet(0.95, 0.9, 200.0)


def test_a_mean_just_above_the_floor_no_longer_meets_it():
    cheap = Candidate(("small",), 0.91, 0.001, 100.0)
    strong = Candidate(("big",), 0.99, 0.01, 100.0)
    assert select([cheap, strong], min_quality=0.9)[0] is cheap  # the mean against the floor
    best, unmet = select([cheap, strong], min_quality=0.9, confidence=0.9)
    assert best is strong and not unmet
    # a predictor's own calibrated p_meet wins over the mean
    sure = Candidate(("small",), 0.91, 0.001, 100.0, p_meet=0.97)
    assert select([sure, strong], min_quality=0.9, confidence=0.9)[0] is sure


def test_confidence_from_request_route_and_default():
    cfg = GatewayConfig.model_validate({"models": [], "default_confidence": 0.8})
    assert resolve_constraints(None, None, cfg, None).confidence == 0.8
    assert resolve_constraints({"confidence": 0.95}, None, cfg, None).confidence == 0.95
    assert GatewayConfig.model_validate({"models": []}).default_confidence == 0.9
    with pytest.raises(InvalidRequest, match=r"faregate.confidence .* out of range"):
        resolve_constraints({"confidence": 1.5}, None, cfg, None)
