"""The health prober's schedule."""

from __future__ import annotations

from faregate.config import GatewayConfig, ProberConfig
from faregate.endpoints.deployments import DeploymentRegistry
from faregate.endpoints.prober import HealthProber


def test_prober_tick_is_a_share_of_the_shortest_interval_with_a_floor():
    cfg = GatewayConfig.model_validate(
        {
            "models": [
                {"name": "m", "base_url": "http://x/v1", "breaker": {"probe_interval_s": 0.5}},
                {"name": "n", "base_url": "http://x/v1", "breaker": {"probe_interval_s": 3}},
                {"name": "o", "base_url": "http://x/v1"},
            ]
        }
    )
    reg = DeploymentRegistry(cfg.models)
    assert HealthProber(reg, None, cfg.models)._tick_s() == 0.25
    assert HealthProber(reg, None, cfg.models, ProberConfig(min_tick_s=0.4))._tick_s() == 0.4
    assert HealthProber(reg, None, cfg.models, ProberConfig(tick_share=0.1))._tick_s() == 0.05
