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


class _FloorRouter:
    """A router whose ``candidates`` takes ``floor`` (the interface contract): it fills p_meet."""

    models = {"m"}

    def __init__(self) -> None:
        self.floors: list[float | None] = []

    def candidates(self, feats, *, latency_ms, names=None, cost_usd=None, cascades=True, floor=None):
        self.floors.append(floor)
        return [Candidate(("m",), 0.91, 0.001, 10.0, p_meet=0.99)]


class _OldRouter(_FloorRouter):
    def candidates(self, feats, *, latency_ms, names=None, cost_usd=None, cascades=True):  # type: ignore[override]
        return [Candidate(("m",), 0.91, 0.001, 10.0)]


def test_router_source_passes_the_floor_when_the_router_takes_it():
    from faregate.config import ModelConfig
    from faregate.routing import features as F
    from faregate.routing.sources import RouterSource

    m = ModelConfig.model_validate({"name": "m", "base_url": "http://127.0.0.1:1/v1"})
    prior = ModelConfig.model_validate({"name": "p", "base_url": "http://127.0.0.1:1/v1", "quality": 0.95})
    feats = F.extract([{"role": "user", "content": "hi"}])
    kw = {"latency_ms": {"m": 10.0, "p": 10.0}, "cost_usd": {"m": 0.001, "p": 0.002}, "cascades": False}
    router = _FloorRouter()
    out = RouterSource(router).candidates(feats, [m, prior], floor=0.9, **kw)
    assert router.floors == [0.9] and out[0].p_meet == 0.99
    # the prior's p_meet comes from little evidence: 0.95 over a 0.9 floor is far from sure
    assert out[1].p_meet is not None and 0.5 < out[1].p_meet < 0.9
    old = RouterSource(_OldRouter()).candidates(feats, [m], floor=0.9, **kw)
    assert old[0].p_meet is None and old[0].chance(0.9) == pytest.approx(chance.p_meet(0.91, 0.9))


def test_the_learner_moves_the_mean_and_keeps_the_calibrated_spread():
    from faregate.routing import chance
    from faregate.routing.planner import shifted
    from faregate.routing.policy import Candidate

    floor = 0.85
    for k in (20.0, 105.0, 400.0):
        p = chance.p_meet(0.9, floor, k)
        assert chance.implied_concentration(0.9, floor, p) == pytest.approx(k, rel=1e-6)
    tight = Candidate(("m",), 0.9, 1e-4, 100.0, p_meet=chance.p_meet(0.9, floor, 400.0))
    assert shifted(tight, 0.9, floor) is tight  # no correction: the calibration stands
    lower = shifted(tight, 0.88, floor)
    assert lower.p_meet == pytest.approx(chance.p_meet(0.88, floor, 400.0), rel=1e-6)  # its spread kept
    # A prior (20 pseudo-observations) corrected by the learner rests on measured outcomes too.
    prior = Candidate(("m",), 0.5, 1e-4, 100.0, p_meet=chance.p_meet(0.5, floor, chance.PRIOR_CONCENTRATION))
    moved = shifted(prior, 0.95, floor)
    assert moved.p_meet == pytest.approx(chance.p_meet(0.95, floor, chance.TRAINED_CONCENTRATION), rel=1e-6)
    assert chance.implied_concentration(0.9, floor, 1.0) is None  # p 1 says nothing about the spread
