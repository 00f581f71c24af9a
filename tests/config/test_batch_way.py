"""The discount the router may promise is the one the batch executor really gets: only where the
provider's batch API runs the lines."""

from __future__ import annotations

import pytest

from faregate.config import GatewayConfig
from faregate.config.batch_way import effective_discount
from faregate.routing.constraints import Constraints
from faregate.routing.features import extract
from faregate.routing.planner import Planner, PlanRequest


def _model(**kw):
    return {"name": "m", "provider": "openai", "prices": {"input": 1, "output": 2}, "batch_discount": 0.5, **kw}


@pytest.mark.parametrize(
    ("model", "gateway_batch", "off"),
    [
        (_model(), "auto", 0.5),  # the public API: its Batch API runs the lines
        (_model(base_url="http://127.0.0.1:9/v1"), "auto", 0.0),  # a local server: self-run
        (_model(base_url="http://127.0.0.1:9/v1"), "provider", 0.5),
        (_model(batch="self"), "auto", 0.0),
        (_model(batch="provider", base_url="http://127.0.0.1:9/v1"), "self", 0.5),  # the model's own wins
        (_model(provider="azure", base_url="https://x.openai.azure.com"), "provider", 0.0),  # no batch API
        (_model(deployments=[{"base_url": "http://127.0.0.1:9/v1"}, {}]), "auto", 0.5),  # one deployment can
    ],
)
def test_effective_discount_follows_where_the_lines_run(model, gateway_batch, off):
    cfg = GatewayConfig.model_validate({"models": [model], "batch": gateway_batch, "database_url": ""})
    assert effective_discount(cfg.models[0], cfg.batch) == off


def test_a_self_run_model_is_never_planned_onto_the_batch_tier():
    models = [_model(base_url="http://127.0.0.1:9/v1", quality=0.9)]
    cfg = GatewayConfig.model_validate({"models": models, "database_url": "", "learning": {"enabled": False}})
    cons = Constraints(min_quality=0.5, deadline_s=86400.0)
    req = PlanRequest(extract([{"role": "user", "content": "hi"}]), cons, max_tokens=100, batch_ok=True)
    plan = Planner(cfg).plan("auto", req)
    assert plan.tier == "sync" and not [c for c in plan.candidates if c.get("tier") == "batch"]
    cfg = GatewayConfig.model_validate(
        {"models": [{**models[0], "batch": "provider"}], "database_url": "", "learning": {"enabled": False}}
    )
    assert Planner(cfg).plan("auto", req).tier == "batch"
