"""The one estimator of tokens, latency and cost, and its config defaults."""

import math

import pytest

from faregate.config import GatewayConfig, ModelConfig, RoutingEstimatesConfig
from faregate.limits.base import USD
from faregate.pipeline.context import RequestContext
from faregate.pipeline.limits_step import LimitsStep
from faregate.routing import features as F
from faregate.routing.estimate import LatencyStats, estimate, latency_ms, output_tokens, prompt_tokens
from faregate.wire.openai_front import parse_chat_request

M = ModelConfig(name="m", prices={"input": 2, "output": 8}, latency={"ttft_ms": 400, "tokens_per_s": 50}, quality=0.8)


def test_config_defaults_are_the_historic_table():
    est = RoutingEstimatesConfig()
    assert est.output_tokens_by_task == {
        "classify": 16,
        "extract_json": 150,
        "summarize": 200,
        "chat": 250,
        "generate": 500,
        "code": 400,
        "multiple_choice": 8,
    }
    assert est.default_output_tokens == 256 and est.p95_factor == 1.5
    assert GatewayConfig().routing_estimates == est
    custom = GatewayConfig.model_validate({"routing_estimates": {"output_tokens_by_task": {"chat": 9}}})
    assert output_tokens(None, "chat", custom.routing_estimates) == 9
    assert output_tokens(None, "code", custom.routing_estimates) == 256


def test_token_formulas():
    assert prompt_tokens("x" * 41, 2) == 10 + 8
    assert prompt_tokens("x" * 41, 2, overhead=3) == 21
    assert prompt_tokens("", 0) == 0
    assert F.extract([{"role": "user", "content": "y" * 17}]).input_tokens == prompt_tokens("y" * 17, 1) == 8
    assert output_tokens(100, "classify") == 100
    assert output_tokens(None, "classify") == 16
    assert output_tokens(None, None) == 256
    assert output_tokens(None, "classify", default=4096) == 4096
    assert output_tokens(7, "classify", default=4096) == 7


def test_cost_and_latency_formulas():
    e = estimate([M], input_tokens=1000, output_tokens=100)
    assert e.cost_usd == {"m": (1000 * 2 + 100 * 8) / 1e6} and e.latency_ms == {}
    assert e.total_tokens == 1100 and e.max_cost_usd == e.cost_usd["m"]
    assert estimate([], input_tokens=1, output_tokens=1).max_cost_usd == 0.0
    assert latency_ms(M, 100, LatencyStats()) == 1.5 * 400 + 1000 * 100 / 50
    assert latency_ms(M, 100, LatencyStats({"m": 200.0})) == 1.5 * 200 + 2000
    cal = {"m": {"ttft_ms_p95": 900.0, "tokens_per_s": 100.0}}
    assert latency_ms(M, 100, LatencyStats(calibration=cal)) == 900 + 1000
    assert latency_ms(M, 100, LatencyStats({"m": 200.0}, cal, p95_factor=2.0)) == 400 + 1000
    assert estimate([M], input_tokens=0, output_tokens=100, latency=LatencyStats()).latency_ms == {"m": 2600.0}


@pytest.mark.parametrize("max_tokens", [None, 50])
def test_limits_reservation_is_the_upper_bound(max_tokens):
    config = GatewayConfig.model_validate(
        {
            "models": [
                {"name": "a", "prices": {"input": 1, "output": 2}},
                {"name": "b", "prices": {"input": 3, "output": 1}},
            ],
            "limits": {"default_max_tokens": 1000},
        }
    )
    step = LimitsStep(config.limits, config.models)
    msgs = [{"role": "system", "content": "s" * 10}, {"role": "user", "content": "u" * 30}]
    body = {"model": "auto", "messages": msgs, **({"max_tokens": max_tokens} if max_tokens else {})}
    ctx = RequestContext(request=parse_chat_request(body))
    prompt = len(ctx.request.prompt_text()) // 4 + 4 * 2 + 3
    out = max_tokens or 1000
    cost = max((prompt * 1 + out * 2) / 1e6, (prompt * 3 + out * 1) / 1e6)
    tokens, nano = step.estimate(ctx)
    assert tokens == prompt + out
    assert nano == math.ceil(cost * USD)
