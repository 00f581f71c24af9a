"""``charge``: one booking of an attempt's usage and cost, on the context and on the attempt."""

from __future__ import annotations

import pytest

from faregate.config import GatewayConfig
from faregate.core.errors import UpstreamError
from faregate.core.types import ChatRequest
from faregate.core.usage import Usage
from faregate.endpoints.deployments import DeploymentRegistry
from faregate.pipeline.charge import charge, mark_disconnected, mark_failed
from faregate.pipeline.context import Attempt, RequestContext
from faregate.pipeline.executor import Executor

CFG = GatewayConfig.model_validate(
    {"models": [{"name": "m", "base_url": "http://x/v1", "prices": {"input": 1, "output": 2}}]}
)


def setup():
    dep = DeploymentRegistry(CFG.models).deployments("m")[0]
    ctx = RequestContext(request=ChatRequest(model="m", messages=[{"role": "user", "content": "x"}]))
    return ctx, dep


def test_charge_books_usage_and_cost_once_on_ctx_and_attempt():
    ctx, dep = setup()
    first, second = Attempt(dep.id, "m", "ok"), Attempt(dep.id, "m", "ok")
    cost = charge(ctx, first, dep, Usage(10, 5))
    assert cost == pytest.approx((10 * 1 + 5 * 2) / 1e6)
    assert (first.usage, first.cost_usd) == (Usage(10, 5), cost)
    assert ctx.usage == Usage(10, 5) and ctx.cost_usd == cost
    charge(ctx, second, dep, Usage(1, 1))
    assert ctx.usage == Usage(11, 6) and ctx.cost_usd == pytest.approx(cost + 3 / 1e6)
    assert first.usage == Usage(10, 5)  # each attempt keeps its own


def test_charge_without_usage_books_nothing():
    ctx, dep = setup()
    a = Attempt(dep.id, "m", "transient")
    assert charge(ctx, a, dep, None) == 0.0
    assert a.usage is None and a.cost_usd == 0.0 and ctx.usage == Usage() and ctx.cost_usd == 0.0


def test_failed_attempt_with_partial_usage_is_charged_once():
    ctx, dep = setup()
    ex = Executor(CFG.models, DeploymentRegistry(CFG.models), None)
    err = UpstreamError("overloaded mid-stream", kind="transient")
    err.partial_usage = Usage(7, 0)  # type: ignore[attr-defined]
    ex._record_failure(ctx, dep, err, 0.0, ex.health.acquire(dep))
    (a,) = ctx.attempts
    assert (a.status, a.usage, a.error) == ("transient", Usage(7, 0), "overloaded mid-stream")
    assert a.cost_usd == pytest.approx(7 / 1e6) and ctx.cost_usd == a.cost_usd and ctx.usage == Usage(7, 0)
    assert dep.failures == 1


def test_mark_failed_and_disconnected():
    ctx, dep = setup()
    mark_failed(ctx, UpstreamError("slow", kind="timeout"))
    assert (ctx.status, ctx.error_class, ctx.error_message) == (504, "timeout", "slow")
    a = Attempt(dep.id, "m", "streaming")
    mark_disconnected(ctx, a)
    assert (a.status, a.error) == ("cancelled", "the client disconnected")
    assert ctx.client_disconnected and (ctx.status, ctx.error_class) == (499, "client_disconnected")
