"""Optimisation modes change the plan the way ``routing/modes.py`` (and docs/routing.md) say:
a property test over random candidates and constraints."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faregate.config import GatewayConfig, RouteConfig
from faregate.core.errors import InvalidRequest
from faregate.routing.constraints import resolve_constraints
from faregate.routing.mode_select import balanced_score, select_mode
from faregate.routing.modes import LATENCY_COST_FACTOR, MODES, QUALITY_MAX_LATENCY_MS
from faregate.routing.policy import Candidate, select, within_limits

cand = st.builds(
    lambda i, q, c, lat, extra: Candidate((f"m{i}",), q, c, lat, worst_cost_usd=c + extra),
    st.integers(0, 10_000),
    st.floats(0, 1),
    st.floats(1e-6, 1.0),
    st.floats(10, 60_000),
    st.sampled_from([0.0, 0.0, 0.01]),
)
cands = st.lists(cand, min_size=1, max_size=8, unique_by=lambda c: c.models)
floor = st.floats(0, 1)
cap = st.none() | st.floats(1e-6, 1.0)
ceiling = st.none() | st.floats(10, 60_000)


@settings(max_examples=300, deadline=None)
@given(cands, floor, cap, ceiling)
def test_every_mode_keeps_the_hard_limits_and_the_floor_when_cost_does(cs, q, max_cost, max_lat):
    base, base_unmet = select(cs, min_quality=q, max_latency_ms=max_lat, max_cost_usd=max_cost)
    for mode in MODES:
        chosen, unmet = select_mode(cs, mode, min_quality=q, max_latency_ms=max_lat, max_cost_usd=max_cost)
        assert unmet == base_unmet  # a mode never makes a satisfiable request unsatisfied, nor the reverse
        if base_unmet:
            assert chosen == base  # nothing meets the floor: every mode falls back as cost does
            continue
        assert within_limits(chosen, max_lat, max_cost)  # explicit limits always win
        if mode != "quality":
            assert chosen.quality >= q


@settings(max_examples=300, deadline=None)
@given(cands, floor, cap, ceiling)
def test_each_mode_optimises_its_objective(cs, q, max_cost, max_lat):
    kw = {"min_quality": q, "max_latency_ms": max_lat, "max_cost_usd": max_cost}
    cheapest, unmet = select(cs, **kw)
    if unmet:
        return
    ok = [c for c in cs if within_limits(c, max_lat, max_cost)]
    meeting = [c for c in ok if c.quality >= q]
    assert select_mode(cs, "cost", **kw)[0] == cheapest == select_mode(cs, None, **kw)[0]
    assert cheapest.cost_usd == min(c.cost_usd for c in meeting)

    fast = select_mode(cs, "latency", **kw)[0]
    cap_usd = cheapest.cost_usd * LATENCY_COST_FACTOR if max_cost is None else float("inf")
    assert fast.latency_ms == min(c.latency_ms for c in meeting if c.cost_usd <= cap_usd)
    assert fast.latency_ms <= cheapest.latency_ms and fast.cost_usd >= cheapest.cost_usd

    best = select_mode(cs, "quality", **kw)[0]
    assert best.quality == max(c.quality for c in ok) >= cheapest.quality

    mix = select_mode(cs, "balanced", **kw)[0]
    assert mix in meeting
    assert balanced_score(mix, meeting) == min(balanced_score(c, meeting) for c in meeting)


@settings(max_examples=100, deadline=None)
@given(cands, floor)
def test_quality_mode_accepts_a_dearer_plan_than_cost_mode(cs, q):
    """Without limits, quality mode's plan is never worse in quality nor cheaper than cost mode's."""
    a, unmet = select_mode(cs, "cost", min_quality=q)
    b, _ = select_mode(cs, "quality", min_quality=q)
    if not unmet:
        assert b.quality >= a.quality
        assert b.quality == max(c.quality for c in cs)


CFG = GatewayConfig.model_validate({"models": [{"name": "m", "base_url": "http://127.0.0.1:1/v1"}]})


def test_preset_defaults_and_explicit_constraints_win():
    c = resolve_constraints({"mode": "quality"}, None, CFG, None)
    assert c.mode == "quality" and c.max_latency_ms == QUALITY_MAX_LATENCY_MS
    c = resolve_constraints({"mode": "quality", "max_latency_ms": 900}, None, CFG, None)
    assert c.max_latency_ms == 900  # the request's own ceiling replaces the preset
    route = RouteConfig(name="r", max_latency_ms=1200, mode="latency")
    c = resolve_constraints({"mode": "quality"}, route, CFG, None)
    assert c.mode == "quality" and c.max_latency_ms == 1200  # the route's explicit ceiling too
    assert resolve_constraints({}, route, CFG, None).mode == "latency"  # the route's mode
    assert resolve_constraints({}, route, CFG, None, key_mode="balanced").mode == "balanced"  # key over route
    assert resolve_constraints({"mode": "cost"}, route, CFG, None, key_mode="balanced").mode == "cost"
    assert resolve_constraints({}, None, CFG, None).mode is None
    assert resolve_constraints({}, None, CFG, None).as_dict()["mode"] == "cost"


def test_unknown_mode_is_a_400_naming_the_valid_ones():
    with pytest.raises(InvalidRequest, match="cost, latency, quality, balanced") as e:
        resolve_constraints({"mode": "cheap"}, None, CFG, None)
    assert e.value.param == "faregate.mode"
