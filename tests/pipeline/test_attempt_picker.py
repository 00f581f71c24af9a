"""The attempt picker on its own: the model sequence, deployment order, cooldowns."""

from __future__ import annotations

import time

from faregate.config import GatewayConfig
from faregate.endpoints.balancer import Balancer
from faregate.endpoints.deployments import DeploymentRegistry
from faregate.endpoints.health import DeploymentHealth
from faregate.pipeline.attempt_picker import AttemptPicker, ModelQueue, ModelTries, cool_down, pause


def test_model_queue_yields_each_once_and_queues_a_context_fallback_next():
    q = ModelQueue(["a", "b", "c"])
    seen = []
    for name in q:
        seen.append(name)
        if name == "a":
            assert q.has_next()
            q.queue_next("c")  # still to come: not queued twice
            q.queue_next("big")
    assert seen == ["a", "big", "b", "c"] and not q.has_next() and q.first == "a"


def registry():
    cfg = GatewayConfig.model_validate(
        {
            "models": [
                {
                    "name": "m",
                    "base_url": "http://x/v1",
                    "strategy": "priority",
                    "deployments": [{"name": "a", "priority": 0}, {"name": "b", "priority": 1}],
                }
            ]
        }
    )
    return DeploymentRegistry(cfg.models)


def test_failed_deployments_go_last_and_cooling_ones_are_left_out():
    deps = registry().deployments("m")
    picker = AttemptPicker(Balancer(), DeploymentHealth())
    model = ModelTries(deps)
    assert picker.pick("m", "priority", model)[0].id == "a"
    model.failed.add("a")
    assert picker.pick("m", "priority", model)[0].id == "b" and picker.has_fresh(model)
    pause(deps[1], 60)
    assert picker.pick("m", "priority", model)[0].id == "a" and not picker.has_fresh(model)
    pause(deps[0], 30)
    assert picker.pick("m", "priority", model) is None
    err = picker.unavailable("m", deps)
    assert err.kind == "unavailable" and 29 < err.retry_after_s <= 30


def test_cool_down_keeps_its_length_and_never_shortens():
    dep = registry().deployments("m")[0]
    pause(dep, 10)
    cool_down(dep, 2.0)
    assert dep.cooldown_s == 2.0 and dep.cooldown_until - time.monotonic() > 9
