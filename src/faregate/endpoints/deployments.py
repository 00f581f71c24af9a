"""Deployments: the places a model is served, with their live state (in-flight, latency, health)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..adapters.base import Adapter, Target
from ..adapters.registry import provider_spec
from ..config import DeploymentConfig, ModelConfig, TimeoutsConfig
from .breaker import CircuitBreaker


@dataclass(slots=True)
class Deployment:
    """One deployment and what is known about it right now."""

    target: Target
    adapter: Adapter
    weight: float = 1.0
    priority: int = 0
    timeouts: TimeoutsConfig = field(default_factory=TimeoutsConfig)
    in_flight: int = 0
    ttft_ewma_ms: float | None = None
    cooldown_until: float = 0.0
    cooldown_s: float = 0.0  # last cooldown length, doubled on repeat credential errors
    last_error: str | None = None
    tokens_per_s: float = 80.0  # the model's configured output speed, to split whole-answer latency
    last_error_kind: str | None = None
    last_error_at: float | None = None  # wall-clock time (time.time())
    successes: int = 0
    failures: int = 0
    breaker: CircuitBreaker | None = None  # None: breakers disabled for this model
    last_probe: dict | None = None  # the last active health probe: {"at", "ok", "error"}

    @property
    def id(self) -> str:
        return self.target.deployment

    def cooling(self, now: float | None = None) -> bool:
        return (now if now is not None else time.monotonic()) < self.cooldown_until

    def observe_ttft(self, ms: float) -> None:
        self.ttft_ewma_ms = ms if self.ttft_ewma_ms is None else 0.8 * self.ttft_ewma_ms + 0.2 * ms


def _responses_api(model: ModelConfig, provider: str, base_url: str) -> bool:
    """Whether this deployment serves the Responses API: only a provider whose wire has it, then
    the model's ``responses_api``, else whether it is the provider's own public endpoint."""
    spec = provider_spec(provider)
    if not spec.responses_api:
        return False
    return model.responses_api if model.responses_api is not None else base_url == spec.default_base_url


def build_deployments(model: ModelConfig) -> list[Deployment]:
    """The deployments of one configured model (its own fields when it lists none)."""
    specs: list[DeploymentConfig | None] = list(model.deployments) or [None]
    out = []
    for i, d in enumerate(specs):
        provider = d.provider if d and d.provider else model.provider
        base_url = (d.base_url if d and d.base_url else model.base_url) or provider_spec(provider).default_base_url
        prices = (d.prices if d and d.prices else model.prices).prices()
        target = Target(
            deployment=(d.name if d and d.name else f"{model.name}#{i}"),
            model_name=model.name,
            provider=provider,
            upstream_model=(d.model if d and d.model else None) or model.model or model.name,
            base_url=base_url,
            api_key=(d.api_key if d and d.api_key else model.api_key),
            headers={**model.headers, **(d.headers if d else {})},
            prices=prices,
            options={"api_version": model.azure.api_version, "auth": model.azure.auth} if provider == "azure" else {},
            responses_api=_responses_api(model, provider, base_url),
        )
        out.append(
            Deployment(
                target,
                provider_spec(provider).load(),
                weight=d.weight if d else 1.0,
                priority=d.priority if d else 0,
                timeouts=model.timeouts,
                tokens_per_s=model.latency.tokens_per_s,
                breaker=CircuitBreaker(model.breaker) if model.breaker.enabled else None,
            )
        )
    return out


def _same_endpoint(a: Deployment, b: Deployment) -> bool:
    """Whether ``b`` (freshly compiled) describes the same endpoint as ``a`` (live)."""
    return (a.target, a.weight, a.priority, a.timeouts, a.tokens_per_s) == (
        b.target,
        b.weight,
        b.priority,
        b.timeouts,
        b.tokens_per_s,
    ) and (a.breaker.cfg if a.breaker else None) == (b.breaker.cfg if b.breaker else None)


class DeploymentRegistry:
    """Every model's deployments, built once per config snapshot.

    ``previous``: the registry of the snapshot this one replaces. A deployment whose endpoint,
    credentials, prices and timeouts are unchanged keeps its live object (breaker, latency
    estimate, in-flight count, cooldown), so a config change does not reset what was learned.
    """

    def __init__(self, models: Sequence[ModelConfig], previous: DeploymentRegistry | None = None) -> None:
        self.by_model: dict[str, list[Deployment]] = {}
        old = {d.id: d for d in previous.all()} if previous is not None else {}
        for m in models:
            deps = []
            for fresh in build_deployments(m):
                kept = old.get(fresh.id)
                same = kept is not None and _same_endpoint(kept, fresh)
                deps.append(kept if same and kept is not None else fresh)
            self.by_model[m.name] = deps

    def deployments(self, model: str) -> list[Deployment]:
        return self.by_model.get(model, [])

    def all(self) -> list[Deployment]:
        return [d for ds in self.by_model.values() for d in ds]
